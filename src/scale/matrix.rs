//! A CI matrix: one entry per shard, in the shape GitHub Actions' `strategy.matrix` takes from
//! `fromJSON` (`{"include": [{...}, ...]}`), and a table of the split for people.

use serde_json::{json, Value};

use super::job::JobSpec;

/// `{"include": [{"shard": "0/4", "index": 0, "count": 4, "cells": 37, "estimated_s": 412}, …]}`.
pub fn github(job: &JobSpec) -> Value {
    let include: Vec<Value> = (0..job.shards)
        .map(|i| {
            json!({
                "shard": format!("{i}/{}", job.shards),
                "index": i,
                "count": job.shards,
                "cells": job.cells_per_shard[i],
                "estimated_s": job.estimated_s[i].round() as u64,
            })
        })
        .collect();
    json!({ "include": include })
}

/// The split as a table: shard, cells, estimated time, and how it was made.
pub fn table(job: &JobSpec) -> String {
    let mut out = format!("{:<7}  {:>6}  {:>10}\n", "shard", "cells", "estimated");
    for i in 0..job.shards {
        out.push_str(&format!(
            "{:<7}  {:>6}  {:>10}\n",
            format!("{i}/{}", job.shards),
            job.cells_per_shard[i],
            crate::format::elapsed(job.estimated_s[i])
        ));
    }
    out.push_str(&format!(
        "\n{}.\nper-shard time limit for engines: {} s\n",
        job.basis, job.time_limit_s
    ));
    if job.gpus > 0 {
        out.push_str(&format!("GPUs per shard: {}\n", job.gpus));
    }
    out
}
