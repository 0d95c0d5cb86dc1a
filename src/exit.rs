//! Every exit status benchplan gives, in one place. Commands return an [`ExitStatus`]; `main`
//! turns it into the process's exit code. Scripts and CI jobs rely on these numbers: they only
//! ever gain meanings, never change them.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the command did what was asked. `run`: every cell is `ok` or `skipped`; `check`:
    /// every plan is valid; `diff`: nothing regressed (as `--fail-on` counts it); `merge
    /// --plan`: the merged set has every cell of the plan.
    Success,
    /// 1: the command finished, and what it found is bad news. `run`: some cells `failed`;
    /// `diff`: a regression (or, with `--fail-on any`, a change); `merge --plan`: cells of the
    /// plan have no row.
    Failure,
    /// 2: bad input or another error (a plan that does not check, an unreadable result set, a
    /// write that failed); nothing was run, or the run could not go on. Finished cells are kept.
    Error,
}

impl ExitStatus {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
        }
    }

    /// `Failure` when `bad`, else `Success`.
    pub fn failure_if(bad: bool) -> ExitStatus {
        if bad {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_the_documented_ones() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Error.code(), 2);
        assert_eq!(ExitStatus::failure_if(true), ExitStatus::Failure);
        assert_eq!(ExitStatus::failure_if(false), ExitStatus::Success);
    }
}
