//! `matmul`: C = A·B for square n×n matrices drawn from N(0, 1) with the cell's seed
//! (docs/src/canonical-workloads.md §1). GFLOP/s = 2n³ / t.

use anyhow::Result;
use candle_core::{Device, Tensor};

use super::{dtype_of, normal_tensor, seed_of, Bench, BenchInfo, Prepared};
use crate::plan::Cell;

struct Matmul {
    a: Tensor,
    b: Tensor,
}

impl Bench for Matmul {
    fn iterate(&mut self) -> candle_core::Result<()> {
        self.a.matmul(&self.b)?;
        Ok(())
    }
}

pub fn prepare(cell: &Cell, device: &Device) -> Result<Prepared> {
    let n = cell.usize_param("n");
    let dtype = dtype_of(cell)?;
    let seed = seed_of(cell);
    let a = normal_tensor(&[n, n], seed, "matmul.a", dtype, device)?;
    let b = normal_tensor(&[n, n], seed, "matmul.b", dtype, device)?;
    Ok(Prepared {
        bench: Box::new(Matmul { a, b }),
        info: BenchInfo {
            flops_per_iteration: Some(2.0 * (n as f64).powi(3)),
            ..BenchInfo::default()
        },
    })
}
