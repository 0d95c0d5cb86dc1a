//! AdamW, written out so that its state can be measured (candle-nn's keeps it private) and its
//! step timed apart from the backward pass. Same update as candle-nn's `AdamW` and PyTorch's:
//! decoupled weight decay, bias-corrected moments.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::ParamsAdamW;

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

    /// Same trajectory as candle-nn's AdamW on a small least-squares problem.
    #[test]
    fn matches_candle_nn_adamw() {
        let params = ParamsAdamW {
            lr: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        };
        let x = Tensor::new(&[[1f32, 2.0], [3.0, -1.0], [0.5, 0.25]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[[1f32], [-2.0], [0.5]], &Device::Cpu).unwrap();
        let init = Tensor::new(&[[0.3f32], [-0.2]], &Device::Cpu).unwrap();
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
        let diff = (w1.as_tensor() - w2.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        assert_eq!(ours.state_bytes(), 2 * 2 * 4);
    }
}
