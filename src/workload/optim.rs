//! AdamW, written out so that its state can be measured (candle-nn's keeps it private) and its
//! step timed apart from the backward pass. Same update as candle-nn's `AdamW` and PyTorch's:
//! decoupled weight decay, bias-corrected moments.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::ParamsAdamW;

use super::kernels::{adamw_update, AdamWStep};

struct Slot {
    var: Var,
    m: Var,
    v: Var,
}

pub struct AdamW {
    slots: Vec<Slot>,
    params: ParamsAdamW,
    t: i32,
}

impl AdamW {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<AdamW> {
        let slots = vars
            .into_iter()
            .map(|var| {
                let zeros = || Var::zeros(var.shape(), var.dtype(), var.device());
                Ok(Slot {
                    m: zeros()?,
                    v: zeros()?,
                    var,
                })
            })
            .collect::<Result<_>>()?;
        Ok(AdamW {
            slots,
            params,
            t: 0,
        })
    }

    /// Bytes of the moment estimates the optimizer holds (two per parameter).
    pub fn state_bytes(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| ((s.m.elem_count() + s.v.elem_count()) * s.var.dtype().size_in_bytes()) as u64)
            .sum()
    }

    /// Applies one update from `grads`. A parameter without a gradient is left alone, as in
    /// candle-nn (which is why a test checks that every parameter gets one).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let p = &self.params;
        let (b1, b2) = (p.beta1, p.beta2);
        let correction1 = 1.0 - b1.powi(self.t);
        let correction2 = 1.0 - b2.powi(self.t);
        for slot in &self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let fused = AdamWStep {
                lr: p.lr as f32,
                beta1: b1 as f32,
                beta2: b2 as f32,
                eps: p.eps as f32,
                weight_decay: p.weight_decay as f32,
                correction1: correction1 as f32,
                correction2: correction2 as f32,
            };
            // Contiguous f32 on the CPU: three fused parallel passes, in place.
            if adamw_update(
                slot.var.as_tensor(),
                slot.m.as_tensor(),
                slot.v.as_tensor(),
                g,
                fused,
            )? {
                continue;
            }
            let m = ((slot.m.as_tensor() * b1)? + (g * (1.0 - b1))?)?;
            let v = ((slot.v.as_tensor() * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let m_hat = (&m / correction1)?;
            let v_hat = (&v / correction2)?;
            let decayed = (slot.var.as_tensor() * (1.0 - p.lr * p.weight_decay))?;
            let update = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            slot.var.set(&(decayed - (update * p.lr)?)?)?;
            slot.m.set(&m)?;
            slot.v.set(&v)?;
        }
        Ok(())
    }

    /// Backward pass of `loss`, then a step.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use candle_nn::Optimizer;

    /// The weights after 20 steps of ours and of candle-nn's AdamW on a small least-squares
    /// problem in `dtype`: their largest difference.
    fn divergence_from_candle_nn(dtype: candle_core::DType) -> f64 {
        let params = ParamsAdamW {
            lr: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        };
        let t = |v: &[[f32; 2]]| {
            let flat: Vec<f32> = v.iter().flatten().copied().collect();
            Tensor::from_vec(flat, (v.len(), 2), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap()
        };
        let x = t(&[[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]]);
        let y = t(&[[1.0, -2.0], [0.5, 0.0], [0.25, 1.0]]);
        let init = t(&[[0.3, 0.1], [-0.2, 0.4]]);
        let (w1, w2) = (
            Var::from_tensor(&init).unwrap(),
            Var::from_tensor(&init).unwrap(),
        );
        let mut ours = AdamW::new(vec![w1.clone()], params.clone()).unwrap();
        let mut theirs = candle_nn::AdamW::new(vec![w2.clone()], params).unwrap();
        for _ in 0..20 {
            let loss = |w: &Var| {
                x.matmul(w.as_tensor())
                    .unwrap()
                    .sub(&y)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .mean_all()
                    .unwrap()
            };
            ours.backward_step(&loss(&w1)).unwrap();
            theirs.backward_step(&loss(&w2)).unwrap();
        }
        assert_eq!(ours.state_bytes(), (2 * 4 * dtype.size_in_bytes()) as u64);
        (w1.as_tensor() - w2.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// f64 takes the general path (candle ops): the same arithmetic as candle-nn's.
    /// f32 on the CPU takes the fused kernel, whose different order of f32 operations moves
    /// the weights (of size ~0.3) by a few f32 roundings over 20 steps, no more.
    #[test]
    fn follows_candle_nn_adamw_on_both_paths() {
        let general = divergence_from_candle_nn(candle_core::DType::F64);
        assert!(general < 1e-12, "{general}");
        let fused = divergence_from_candle_nn(candle_core::DType::F32);
        assert!(fused < 2e-5, "{fused}");
    }
}
