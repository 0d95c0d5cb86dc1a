//! The closed sets of flag values, as `clap::ValueEnum`s so that `--help` lists them (each
//! variant's doc comment is its help) and clap refuses anything else with the list. Each maps
//! onto the library's own type.

use clap::ValueEnum;

use crate::diff::FailOn;
use crate::scale::select::DeviceChoice;
use crate::stats::compare::Correction;

/// `--format` of `list` and `explain`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// For people
    Text,
    /// For programs
    Json,
}

/// `--format` of `devices`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// For people
    Table,
    /// For programs
    Json,
}

/// `--format` of `diff`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    /// A table for the terminal (coloured when stdout is one, unless NO_COLOR is set)
    Table,
    /// Markdown, through templates/diff.md.j2 (or --template)
    Markdown,
    /// Every figure, for programs
    Json,
}

/// `--format` of `shards`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardsFormat {
    /// For people
    Table,
    /// The CI matrix, pretty-printed
    Json,
    /// The CI matrix on one line, for `strategy.matrix: ${{ fromJSON(...) }}`
    Github,
}

/// `--format` of `schema`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaFormat {
    /// The JSON Schema of plan files (plans/plan.schema.json)
    Json,
    /// The plan reference, as the book holds it
    Markdown,
}

/// `--fail-on` of `diff`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOnArg {
    /// Exit 1 when a cell got slower beyond threshold and noise
    Regressions,
    /// Exit 1 when any cell changed, faster or slower
    Any,
    /// Never exit 1
    Never,
}

impl From<FailOnArg> for FailOn {
    fn from(v: FailOnArg) -> FailOn {
        match v {
            FailOnArg::Regressions => FailOn::Regressions,
            FailOnArg::Any => FailOn::Any,
            FailOnArg::Never => FailOn::Never,
        }
    }
}

/// `--correction` of `diff`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrectionArg {
    /// Holm–Bonferroni: bounds the chance of any false alarm (family-wise)
    Holm,
    /// Benjamini–Hochberg: bounds the share of false alarms among flagged cells
    #[value(alias = "benjamini-hochberg")]
    Bh,
    /// No adjustment
    None,
}

impl From<CorrectionArg> for Correction {
    fn from(v: CorrectionArg) -> Correction {
        match v {
            CorrectionArg::Holm => Correction::Holm,
            CorrectionArg::Bh => Correction::BenjaminiHochberg,
            CorrectionArg::None => Correction::None,
        }
    }
}

/// `--devices` of `run`, `list` and the job generators.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicesArg {
    /// Every cell of the plan
    All,
    /// Only the cells of devices this machine and build have (the others are left out, not recorded)
    Available,
}

impl From<DevicesArg> for DeviceChoice {
    fn from(v: DevicesArg) -> DeviceChoice {
        match v {
            DevicesArg::All => DeviceChoice::All,
            DevicesArg::Available => DeviceChoice::Available,
        }
    }
}
