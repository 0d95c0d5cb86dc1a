//! Writing plans: `check`, `init`, `explain`, `schema` and `completions`.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

use super::values::{SchemaFormat, TextFormat};
use super::{report_error, Outcome};
use crate::exit::ExitStatus;
use crate::plan::{explain as explaining, init as starter, listing, schema as plan_schema};
use crate::results::history::Durations;
use crate::runner::plan_run::load_plan;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Plan files
    #[arg(required = true)]
    plans: Vec<PathBuf>,
    /// Results folder, for warnings about cells that took far longer than the others before
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Study name; the plan is written to DIR/NAME.toml
    #[arg(default_value = "my-study")]
    name: String,
    /// Folder to write the plan into
    #[arg(long, value_name = "DIR", default_value = "plans")]
    dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The plan file
    plan: PathBuf,
    /// Output: text or json
    #[arg(long, value_enum, default_value_t = TextFormat::Text)]
    format: TextFormat,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Output: json (the schema) or markdown (the plan reference)
    #[arg(long, value_enum, default_value_t = SchemaFormat::Json)]
    format: SchemaFormat,
    /// Print the columns of a result row instead (Markdown: the book's results-format table)
    #[arg(long, conflicts_with = "format")]
    results: bool,
}

/// Every plan is checked (and its problems printed) even after one fails.
pub fn check(args: CheckArgs) -> Outcome {
    let mut failed = 0;
    for path in &args.plans {
        match load_plan(path, false) {
            Ok(plan) => {
                crate::outln!("{}", listing::check_line(&plan))?;
                crate::out!("{}", listing::programs(&plan))?;
                // Earlier results only add warnings: unreadable ones add none.
                let earlier = Durations::from_results(&args.results, &plan.name, "", None)
                    .map(|d| d.seconds)
                    .unwrap_or_default();
                for w in explaining::machine_warnings(&plan, &earlier) {
                    crate::errln!("warning: {}: {w}", path.display());
                }
            }
            Err(e) => {
                report_error(&e);
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

pub fn init(args: InitArgs) -> Outcome {
    let devices = starter::local_devices();
    let path = starter::write(&args.dir, &args.name, &devices)?;
    // Results go to `results/` under the current folder unless `run --results` says otherwise.
    if starter::write_results_gitignore(Path::new("results"))? {
        crate::note!("wrote results/.gitignore (lock files and pending rows are not results)");
    }
    crate::outln!("{}", path.display())?;
    crate::note!("{}", starter::next_steps(&path, &devices));
    Ok(ExitStatus::Success)
}

pub fn explain(args: ExplainArgs) -> Outcome {
    let plan = load_plan(&args.plan, true)?;
    let x = explaining::explain(&plan);
    match args.format {
        TextFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(&x)?)?,
        TextFormat::Text => crate::out!("{}", explaining::render(&x))?,
    }
    Ok(ExitStatus::Success)
}

pub fn schema(args: SchemaArgs) -> Outcome {
    if args.results {
        crate::out!("{}", crate::results::schema::reference_markdown())?;
        return Ok(ExitStatus::Success);
    }
    match args.format {
        SchemaFormat::Markdown => crate::out!("{}", plan_schema::reference_markdown())?,
        SchemaFormat::Json => crate::out!("{}", plan_schema::plan_schema_text())?,
    }
    Ok(ExitStatus::Success)
}

pub fn completions<C: CommandFactory>(args: CompletionsArgs) -> Outcome {
    let mut cmd = C::command();
    clap_complete::generate(args.shell, &mut cmd, "benchplan", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}
