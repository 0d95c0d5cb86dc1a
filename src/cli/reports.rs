//! Reading stored results: `report` and `diff`.

use std::path::PathBuf;

use clap::Args;

use super::values::{CorrectionArg, DiffFormat, FailOnArg};
use super::Outcome;
use crate::diff::{self, output, resolve, FailOn, Settings};
use crate::exit::ExitStatus;
use crate::report::publish::{publish, Publish};
use crate::report::{render_value, TemplateSource, DIFF_TEMPLATE, DIFF_TEMPLATE_NAME};
use crate::results::calibration::Calibration;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Folder that holds result sets
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Report only these studies (repeatable; default: every study with results)
    #[arg(long, value_name = "NAME")]
    study: Vec<String>,
    /// Report this result set instead: a cells.parquet file or its folder
    #[arg(long, value_name = "PATH", conflicts_with = "study")]
    set: Option<PathBuf>,
    /// Template to render (default: templates/report.md.j2 if present, else the built-in one)
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Where to write the report (default: REPORT.md beside the study's result sets; `-` for stdout)
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old side: a git revision or a result-set path (default: HEAD~1)
    old: Option<String>,
    /// The new side: a git revision or a result-set path (default: HEAD)
    new: Option<String>,
    /// Folder that holds result sets
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// The study to compare, when a revision has results for several
    #[arg(long, value_name = "NAME")]
    study: Option<String>,
    /// The machine to compare, when a revision has results from several
    #[arg(long, value_name = "NAME")]
    machine: Option<String>,
    /// Compare result sets from different machines (such a diff measures the machines)
    #[arg(long)]
    allow_cross_machine: bool,
    /// Compare result sets of different studies (given by path)
    #[arg(long)]
    allow_cross_study: bool,
    #[command(flatten)]
    verdicts: VerdictArgs,
}

/// How a diff judges and shows its cells: the flags `diff` and `ab` share.
#[derive(Args, Debug)]
pub struct VerdictArgs {
    /// Smallest change that counts, e.g. `5%` or `0.05`; an experiment's `diff_threshold` overrides it
    #[arg(long, value_name = "CHANGE", default_value = "5%")]
    threshold: String,
    /// Significance level for the adjusted p-values
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Multiple-comparison adjustment
    #[arg(long, value_enum, default_value_t = CorrectionArg::Holm)]
    correction: CorrectionArg,
    /// Output
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    format: DiffFormat,
    /// Template for `--format markdown`
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// What makes the exit status 1
    #[arg(long, value_enum, default_value_t = FailOnArg::Regressions)]
    fail_on: FailOnArg,
    /// Ignore this machine's calibration (results/<study>/<machine>/calibration.json from
    /// `benchplan calibrate`), which raises each noisy cell's threshold to what it can detect
    #[arg(long)]
    pub no_calibration: bool,
}

impl VerdictArgs {
    /// The diff settings these flags ask for, checked before any result is read or measured.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Settings::from_flags(
            &self.threshold,
            self.alpha,
            self.correction.into(),
            Default::default(),
        )
    }

    /// Prints `d` in the asked format and says whether it fails the `--fail-on` rule.
    pub fn show(&self, d: &diff::Diff) -> Outcome {
        match self.format {
            DiffFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(d)?)?,
            DiffFormat::Markdown => {
                let template = TemplateSource::choose(
                    self.template.as_deref(),
                    DIFF_TEMPLATE_NAME,
                    DIFF_TEMPLATE,
                );
                crate::out!(
                    "{}",
                    render_value(minijinja::Value::from_serialize(d), &template)?
                )?;
            }
            DiffFormat::Table => crate::out!("{}", output::table(d, output::colour_stdout()))?,
        }
        Ok(ExitStatus::failure_if(FailOn::from(self.fail_on).fails(d)))
    }
}

pub fn report(args: ReportArgs) -> Outcome {
    publish(&Publish {
        results: args.results,
        studies: args.study,
        set: args.set,
        template: args.template,
        output: args.output,
    })?;
    Ok(ExitStatus::Success)
}

pub fn diff(args: DiffArgs) -> Outcome {
    // Flags are checked before any result set is read.
    let settings = args.verdicts.settings()?;
    let choice = resolve::Choice {
        results: &args.results,
        study: args.study.as_deref(),
        machine: args.machine.as_deref(),
        allow_cross_machine: args.allow_cross_machine,
        allow_cross_study: args.allow_cross_study,
    };
    let (old, new) = resolve::resolve(args.old.as_deref(), args.new.as_deref(), &choice)?;
    let cell_thresholds = match new.records.first() {
        Some(r) if !args.verdicts.no_calibration => {
            Calibration::thresholds_stored(&args.results, &r.study, &r.meta.machine, false)?
        }
        _ => Default::default(),
    };
    let settings = Settings {
        experiment_thresholds: new.set.diff_thresholds(),
        cell_thresholds,
        ..settings
    };
    let d = diff::compare(
        &old.records,
        &new.records,
        &old.label,
        &new.label,
        &settings,
    );
    args.verdicts.show(&d)
}
