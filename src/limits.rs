//! Size limits on what benchplan reads whole, each with the environment variable that raises
//! it. A hostile or mistaken input (`check /dev/zero`, a 2 GB sparse file named as a plan or a
//! data source) ends with an error naming the file, the limit and how to raise it, instead of
//! reading gigabytes or aborting on an allocation.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One limit: its default and the variable that overrides it (in bytes).
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub what: &'static str,
    pub default: u64,
    pub variable: &'static str,
}

/// A plan file (the largest real plan is a few KB).
pub const PLAN: Limit = Limit {
    what: "a plan",
    default: 8 << 20,
    variable: "BENCHPLAN_MAX_PLAN_BYTES",
};

/// A data source's CSV file.
pub const SOURCE: Limit = Limit {
    what: "a data source",
    default: 256 << 20,
    variable: "BENCHPLAN_MAX_SOURCE_BYTES",
};

impl Limit {
    /// The limit in force: the variable's value when it is a number, else the default.
    pub fn bytes(&self) -> u64 {
        std::env::var(self.variable)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(self.default)
    }

    /// The error for `path` of `size` bytes (or more) over the limit.
    pub fn exceeded(&self, path: &Path, size: u64) -> String {
        format!(
            "`{}` is more than {} bytes ({size} read or stated), the most {} may be; set {}=BYTES to raise the limit",
            path.display(),
            self.bytes(),
            self.what,
            self.variable
        )
    }

    /// Reads `path` whole, refusing it past the limit (a device like `/dev/zero`, whose size
    /// says nothing, is read up to the limit and no further).
    pub fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let limit = self.bytes();
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if bytes.len() as u64 > limit {
            bail!(self.exceeded(path, bytes.len() as u64));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_read_only_up_to_the_limit() {
        let tiny = Limit {
            what: "a test file",
            default: 1000,
            variable: "BENCHPLAN_TEST_LIMIT_UNSET",
        };
        let e = tiny.read(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            e.contains("more than 1000 bytes") && e.contains("BENCHPLAN_TEST_LIMIT_UNSET"),
            "{e}"
        );
    }
}
