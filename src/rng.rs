//! Seeded random numbers for inputs and weights.
//!
//! candle 0.9 cannot seed its CPU generator, and `rand`'s `StdRng` may change its stream between
//! versions. A recorded seed must reproduce the same tensors for as long as results are kept,
//! so the generator is defined here: xoshiro256++ seeded through splitmix64, normals by
//! Box–Muller. Each tensor draws from its own stream, derived from the seed and its name, so
//! adding a layer does not shift the values of the others.

use crate::hash::fnv1a64;

/// xoshiro256++ (Blackman & Vigna), a small fast generator with a 2²⁵⁶ period.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        Rng {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
            spare_normal: None,
        }
    }

    /// A stream of its own for the tensor called `name` under `seed`.
    pub fn for_stream(seed: u64, name: &str) -> Rng {
        Rng::new(seed ^ fnv1a64(name.as_bytes()))
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = (self.s[0].wrapping_add(self.s[3]))
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Shuffles `items` in place (Fisher–Yates, from the last item down).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }

    /// Uniform in [0, 1), 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn uniform(&mut self, lo: f64, up: f64) -> f64 {
        lo + (up - lo) * self.next_f64()
    }

    /// Standard normal by the Box–Muller transform (two values per pair of uniforms).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 − u keeps the logarithm's argument in (0, 1].
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    pub fn normal_vec(&mut self, n: usize, mean: f64, std: f64) -> Vec<f32> {
        (0..n)
            .map(|_| (mean + std * self.normal()) as f32)
            .collect()
    }

    pub fn uniform_vec(&mut self, n: usize, lo: f64, up: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, up) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_fixed_forever() {
        // Golden values: if these change, every recorded seed stops reproducing its inputs.
        let mut r = Rng::new(0);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            first,
            [0x53175d61490b23df, 0x61da6f3dc380d507, 0x5c0fdf91ec9a7bfc]
        );
    }

    #[test]
    fn normals_have_the_right_moments() {
        let mut r = Rng::new(42);
        let v = r.normal_vec(200_000, 0.0, 1.0);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn streams_differ_by_name_and_repeat_by_seed() {
        let a = Rng::for_stream(7, "l0.weight").normal_vec(4, 0.0, 1.0);
        let b = Rng::for_stream(7, "l1.weight").normal_vec(4, 0.0, 1.0);
        let a2 = Rng::for_stream(7, "l0.weight").normal_vec(4, 0.0, 1.0);
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }
}
