//! Running a `command` cell: an external program that times its own iterations and reports
//! them on standard output, one JSON object per line (the protocol below). benchplan starts
//! it in its own process group, reads its samples as they come, stops it once the cell's
//! budget is met, and kills it when the cell's timeout passes — so a hung program cannot hang
//! the study.
//!
//! # Protocol (version 1)
//! The program gets the cell in environment variables: `BENCHPLAN_PROTOCOL=1`,
//! `BENCHPLAN_CELL_ID`, `BENCHPLAN_PARAMS` (a JSON object of the cell's parameters),
//! `BENCHPLAN_MODEL` (the declaration of the model its `model` parameter names, as JSON, when
//! there is one), the warm-up as `BENCHPLAN_WARMUP_ITERATIONS` or `BENCHPLAN_WARMUP_SECONDS`,
//! the timed budget as `BENCHPLAN_ITERATIONS` or `BENCHPLAN_SECONDS`, and
//! `BENCHPLAN_MIN_ITERATIONS`, `BENCHPLAN_MAX_ITERATIONS`. It writes lines such as:
//! ```text
//! {"event": "info", "device_name": "NVIDIA H100", "samples_per_iteration": 32, "param_count": 86544}
//! {"event": "warmup", "ms": 1.92}
//! {"event": "sample", "ms": 1.31}
//! {"event": "skip", "reason": "CUDA is not available to PyTorch"}
//! {"event": "error", "message": "out of memory"}
//! ```
//! Other lines (anything that is not a JSON object with an `event` key) are ordinary output
//! and ignored, except that their tail explains a failure. A `sample` is the time of one
//! iteration in milliseconds, measured by the program with its device synchronized. Exit 0
//! after at least one sample is success.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::child::{how_it_ended, signal_group};
use super::measure::{enough, millis, Samples};
use super::Outcome;
use crate::plan::measure::{format_duration, Budget};
use crate::plan::{Cell, ParamValue, Plan};
use crate::results::Status;
use crate::workload::BenchInfo;

/// One protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Info(serde_json::Map<String, Value>),
    Warmup(f64),
    Sample(f64),
    Skip(String),
    Error(String),
}

/// Reads one line of the program's output: `Ok(None)` for ordinary output, `Err` for a
/// protocol message that breaks the rules (its cell fails: a mistyped event silently
/// ignored would lose samples).
/// The longest sample the protocol accepts: a week. Longer is a program's bug (`1e308`), and
/// would overflow the clock arithmetic that places the budget's start.
const MAX_SAMPLE_MS: f64 = 7.0 * 24.0 * 3600e3;

/// A program's line as an error quotes it: at most 200 characters (a program can print one
/// line of gigabytes).
fn quote(line: &str) -> String {
    cut(line, 200)
}

/// `line` cut to `max` characters, saying how long it was.
fn cut(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}… ({} bytes)", &line[..at], line.len()),
        None => line.to_owned(),
    }
}

pub fn parse_line(line: &str) -> Result<Option<Message>, String> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return Ok(None);
    }
    let map = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => map,
        // A line that means to be a protocol event but is not valid JSON (`"ms": 1e309` is
        // out of JSON's number range) fails the cell rather than passing as chatter.
        Err(e) if trimmed.contains("\"event\"") => {
            return Err(format!(
                "protocol: {} is not valid JSON ({e})",
                quote(trimmed)
            ));
        }
        _ => return Ok(None),
    };
    let Some(event) = map.get("event") else {
        return Ok(None);
    };
    let ms = || match map.get("ms").and_then(Value::as_f64) {
        Some(ms) if (0.0..=MAX_SAMPLE_MS).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "protocol: {} needs `ms`, a number of milliseconds from 0 to {MAX_SAMPLE_MS:e}",
            quote(trimmed)
        )),
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or("no reason given")
            .to_owned()
    };
    match event.as_str() {
        Some("sample") => ms().map(|m| Some(Message::Sample(m))),
        Some("warmup") => ms().map(|m| Some(Message::Warmup(m))),
        Some("info") => Ok(Some(Message::Info(map.clone()))),
        Some("skip") => Ok(Some(Message::Skip(text("reason")))),
        Some("error") => Ok(Some(Message::Error(text("message")))),
        _ => Err(format!(
            "protocol: unknown event in {}; events are `info`, `warmup`, `sample`, `skip`, `error`",
            quote(trimmed)
        )),
    }
}

fn param_json(v: &ParamValue) -> Value {
    match v {
        ParamValue::Str(s) => Value::from(s.as_str()),
        ParamValue::Int(i) => Value::from(*i),
        ParamValue::Float(x) => Value::from(*x),
        ParamValue::Bool(b) => Value::from(*b),
    }
}

/// The environment a program of `cell` starts with (besides benchplan's own).
pub fn environment(plan: &Plan, cell: &Cell) -> Vec<(String, String)> {
    let m = &cell.measure;
    let params: serde_json::Map<String, Value> = cell
        .params
        .iter()
        .map(|(k, v)| (k.clone(), param_json(v)))
        .collect();
    let mut env = vec![
        ("BENCHPLAN_PROTOCOL".to_owned(), "1".to_owned()),
        ("BENCHPLAN_CELL_ID".to_owned(), cell.id.clone()),
        (
            "BENCHPLAN_PARAMS".to_owned(),
            Value::Object(params).to_string(),
        ),
        (
            "BENCHPLAN_MIN_ITERATIONS".to_owned(),
            m.min_iterations.to_string(),
        ),
        (
            "BENCHPLAN_MAX_ITERATIONS".to_owned(),
            m.max_iterations.to_string(),
        ),
    ];
    let budget = |prefix: &str, b: Budget| match b {
        Budget::Iterations(n) => (format!("{prefix}ITERATIONS"), n.to_string()),
        Budget::Time(d) => (format!("{prefix}SECONDS"), d.as_secs_f64().to_string()),
    };
    env.push(budget("BENCHPLAN_WARMUP_", m.warmup));
    env.push(budget("BENCHPLAN_", m.iterations));
    if let Some(spec) = cell
        .get("model")
        .and_then(ParamValue::as_str)
        .and_then(|name| plan.model(name))
    {
        env.push(("BENCHPLAN_MODEL".to_owned(), spec.to_json().to_string()));
    }
    env
}

/// What the program said and did, as far as the cell is concerned.
#[derive(Debug, Default)]
struct Transcript {
    samples: Samples,
    info: serde_json::Map<String, Value>,
    skip: Option<String>,
    error: Option<String>,
    /// The last lines of ordinary output, stdout and stderr, for failure messages.
    tail: VecDeque<String>,
    stopped_by_us: bool,
    timed_out: bool,
}

const TAIL_LINES: usize = 6;

/// How long a program asked to stop (SIGTERM) may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

fn keep_tail(tail: &mut VecDeque<String>, line: String) {
    if line.trim().is_empty() {
        return;
    }
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    // The tail ends up in the cell's `reason`: a traceback's line, not a megabyte of output.
    tail.push_back(if line.len() > 2000 {
        cut(&line, 2000)
    } else {
        line
    });
}

/// Runs the program of `cell` and turns what it reports into the cell's outcome.
pub(super) fn run(
    plan: &Plan,
    cell: &Cell,
    template: &[String],
    cell_start: Instant,
    target: Result<crate::energy::Target, String>,
    on_sample: &mut dyn FnMut(&[f64]),
) -> (Outcome, Option<String>) {
    let argv = match crate::plan::command::render(template, cell, &plan.name) {
        Ok(a) => a,
        Err(e) => return (Outcome::failed(e), None),
    };
    let dir = plan
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .envs(environment(plan, cell))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    super::child::die_with_parent(&mut command);
    // The energy counter and the device's state are found before the program starts.
    let mut readings = crate::energy::Marked::new(target);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                Outcome::failed(format!(
                    "cannot start `{}` (in `{}`): {e}; check `command` in the plan",
                    argv[0],
                    dir.display()
                )),
                None,
            )
        }
    };
    let mut transcript = converse(&mut child, cell, cell_start, &mut readings, on_sample);
    transcript.samples.phase = Box::new(readings.finish());
    let deadline = if transcript.timed_out {
        Instant::now()
    } else if transcript.stopped_by_us {
        Instant::now() + STOP_GRACE
    } else {
        // The program closed its output; it may still be running. Its timeout still holds.
        cell_start + cell.measure.timeout
    };
    let exit = wait(&mut child, deadline);
    let device_name = transcript
        .info
        .get("device_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    (outcome(cell, transcript, exit), device_name)
}

enum Line {
    Out(String),
    Err(String),
}

/// Reads the program's output until it ends, the cell has enough samples, or the timeout.
/// The most bytes of one output line benchplan keeps: a protocol line is short, and a program
/// that prints a line of gigabytes must not make benchplan hold it.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Calls `send` with each line of `stream` (lossy UTF-8, end of line trimmed), each cut at
/// [`MAX_LINE_BYTES`] with the rest of it read and dropped, until the stream ends or `send`
/// returns false.
fn each_line(stream: impl Read, mut send: impl FnMut(String) -> bool) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut line = String::from_utf8_lossy(&buf).trim_end().to_owned();
        if buf.len() >= MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            let dropped = reader.skip_until(b'\n').unwrap_or(0);
            line.push_str(&format!(
                " … (line cut at {MAX_LINE_BYTES} bytes; {dropped} more dropped)"
            ));
        }
        if !send(line) {
            return;
        }
    }
}

fn converse(
    child: &mut Child,
    cell: &Cell,
    cell_start: Instant,
    readings: &mut crate::energy::Marked,
    on_sample: &mut dyn FnMut(&[f64]),
) -> Transcript {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_tx = tx.clone();
    std::thread::spawn(move || each_line(stdout, |line| out_tx.send(Line::Out(line)).is_ok()));
    std::thread::spawn(move || each_line(stderr, |line| tx.send(Line::Err(line)).is_ok()));

    let settings = &cell.measure;
    let mut t = Transcript::default();
    let mut budget_start: Option<Instant> = None;
    loop {
        let left = settings.timeout.saturating_sub(cell_start.elapsed());
        if left.is_zero() {
            t.timed_out = true;
            break;
        }
        let line = match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let text = match line {
            Line::Err(text) => {
                keep_tail(&mut t.tail, text);
                continue;
            }
            Line::Out(text) => text,
        };
        match parse_line(&text) {
            Ok(None) => keep_tail(&mut t.tail, text),
            Ok(Some(Message::Info(map))) => t.info.extend(map),
            Ok(Some(Message::Warmup(ms))) => {
                readings.warmup();
                t.samples.warmup_ms.push(ms);
            }
            Ok(Some(Message::Sample(ms))) => {
                readings.sample();
                // The budget runs from the start of the first timed iteration.
                let start = *budget_start.get_or_insert_with(|| {
                    let now = Instant::now();
                    now.checked_sub(Duration::from_secs_f64(ms / 1e3))
                        .unwrap_or(now)
                });
                t.samples.timed_ms.push(ms);
                t.samples.timed_wall_ms = millis(start.elapsed());
                on_sample(&t.samples.timed_ms);
                if enough(settings, &t.samples.timed_ms, start) {
                    // Enough samples: ask the program to stop; `wait` kills it after a grace.
                    t.stopped_by_us = true;
                    #[cfg(unix)]
                    signal_group(child, libc::SIGTERM);
                    break;
                }
            }
            Ok(Some(Message::Skip(reason))) => t.skip = Some(reason),
            Ok(Some(Message::Error(message))) => t.error = Some(message),
            Err(problem) => {
                t.error.get_or_insert(problem);
            }
        }
    }
    t
}

/// How the program ended, with its peak resident memory where the system tells it.
#[derive(Debug, Clone, Copy)]
struct Exit {
    code: Option<i32>,
    signal: Option<i32>,
    peak_rss_bytes: Option<u64>,
}

/// Waits for the program to end, killing its group once `deadline` passes. Polls with
/// `WNOHANG` rather than blocking, so that a program that closed its output but kept running
/// cannot outlive its cell; reaps with `wait4` for the child's peak RSS.
#[cfg(unix)]
fn wait(child: &mut Child, deadline: Instant) -> Exit {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, which wait4 fills for our own child's pid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let mut killed = false;
    loop {
        let flags = if killed { 0 } else { libc::WNOHANG };
        // SAFETY: valid pointers to locals; pid is our child's.
        let rc = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if rc == pid {
            break;
        }
        if rc < 0 {
            return Exit {
                code: None,
                signal: None,
                peak_rss_bytes: None,
            };
        }
        if Instant::now() >= deadline {
            signal_group(child, libc::SIGKILL);
            killed = true;
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // Linux reports ru_maxrss in KiB, macOS in bytes.
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    let peak = (usage.ru_maxrss > 0).then(|| usage.ru_maxrss as u64 * unit);
    Exit {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        peak_rss_bytes: peak,
    }
}

#[cfg(not(unix))]
fn wait(child: &mut Child, _deadline: Instant) -> Exit {
    let code = child.wait().ok().and_then(|s| s.code());
    Exit {
        code,
        signal: None,
        peak_rss_bytes: None,
    }
}

/// What a program says of itself in its `info` events, beyond the figures benchplan reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ProgramFacts {
    /// `framework` (`PyTorch`, `onnxruntime`, `CoreML`…).
    pub framework: Option<String>,
    /// `framework_version`.
    pub framework_version: Option<String>,
    /// Every other field benchplan does not read, as one JSON object; `None` when there is none.
    pub other_info: Option<String>,
}

/// The `info` fields benchplan reads itself; every other one is kept in `program_info`.
const READ_INFO: [&str; 12] = [
    "event",
    "device_name",
    "flops_per_iteration",
    "samples_per_iteration",
    "param_count",
    "weight_bytes",
    "optimizer_state_bytes",
    "prediction_error",
    "device_allocated_bytes",
    "framework",
    "framework_version",
    "energy_j",
];

fn program_facts(info: &serde_json::Map<String, Value>) -> ProgramFacts {
    let text = |key: &str| {
        info.get(key).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
    };
    let others: serde_json::Map<String, Value> = info
        .iter()
        .filter(|(k, _)| !READ_INFO.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ProgramFacts {
        framework: text("framework"),
        framework_version: text("framework_version"),
        other_info: (!others.is_empty()).then(|| Value::Object(others).to_string()),
    }
}

fn info_u64(info: &serde_json::Map<String, Value>, key: &str) -> Option<u64> {
    info.get(key).and_then(Value::as_u64)
}

fn outcome(cell: &Cell, t: Transcript, exit: Exit) -> Outcome {
    let info = BenchInfo {
        flops_per_iteration: t.info.get("flops_per_iteration").and_then(Value::as_f64),
        samples_per_iteration: info_u64(&t.info, "samples_per_iteration"),
        param_count: info_u64(&t.info, "param_count"),
        weight_bytes: info_u64(&t.info, "weight_bytes"),
        optimizer_state_bytes: info_u64(&t.info, "optimizer_state_bytes"),
        activation_bytes: None,
        prediction_error: t.info.get("prediction_error").and_then(Value::as_f64),
        kernels: None,
    };
    let tail = if t.tail.is_empty() {
        String::new()
    } else {
        format!(
            "; last output: {}",
            t.tail.iter().cloned().collect::<Vec<_>>().join(" | ")
        )
    };
    let n = t.samples.timed_ms.len();
    let (status, reason) = if t.timed_out {
        (
            Status::Failed,
            Some(format!(
                "timed out: the program was still running after {} and was killed ({n} samples kept); raise `timeout` or lower `iterations`",
                format_duration(cell.measure.timeout)
            )),
        )
    } else if let Some(reason) = t.skip {
        (Status::Skipped, Some(reason))
    } else if let Some(message) = t.error {
        (Status::Failed, Some(format!("{message}{tail}")))
    } else if t.stopped_by_us {
        (Status::Ok, None)
    } else if exit.signal.is_some() || exit.code != Some(0) {
        (
            Status::Failed,
            Some(format!(
                "{}{tail}",
                how_it_ended("the program", exit.signal, exit.code)
            )),
        )
    } else if n == 0 {
        (
            Status::Failed,
            Some(format!(
                "the program exited without reporting a sample (see the protocol in docs/src/workloads.md: lines such as {{\"event\": \"sample\", \"ms\": 1.5}}){tail}"
            )),
        )
    } else {
        (Status::Ok, None)
    };
    let mut samples = t.samples;
    if let Some(joules) = t.info.get("energy_j").and_then(Value::as_f64) {
        own_energy(&mut samples, joules);
    }
    Outcome {
        status,
        reason,
        samples,
        info,
        stages: Vec::new(),
        device_allocated_bytes: info_u64(&t.info, "device_allocated_bytes"),
        peak_rss_bytes: exit.peak_rss_bytes,
        program: Some(program_facts(&t.info)),
    }
}

/// A program's own energy figure (`info` `energy_j`: joules over its timed iterations), used
/// only where benchplan's reading gave none: benchplan's own reading is the default.
fn own_energy(samples: &mut Samples, joules: f64) {
    let energy = &mut samples.phase.energy;
    if energy.joules.is_some() || !joules.is_finite() || joules <= 0.0 {
        return;
    }
    let benchplan_says = energy.note.take();
    *energy = crate::energy::Energy {
        joules: Some(joules),
        seconds: Some(samples.timed_ms.iter().sum::<f64>() / 1e3),
        source: Some("program".to_owned()),
        note: benchplan_says
            .map(|why| format!("the program's own figure; benchplan read none: {why}")),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines_are_recognized_and_others_passed_over() {
        assert_eq!(
            parse_line(r#"{"event": "sample", "ms": 1.5}"#),
            Ok(Some(Message::Sample(1.5)))
        );
        assert_eq!(
            parse_line(r#" {"event":"warmup","ms":0} "#),
            Ok(Some(Message::Warmup(0.0)))
        );
        assert_eq!(
            parse_line(r#"{"event": "skip", "reason": "no GPU"}"#),
            Ok(Some(Message::Skip("no GPU".into())))
        );
        assert_eq!(parse_line("epoch 3 loss 0.2"), Ok(None));
        assert_eq!(parse_line(r#"{"loss": 0.2}"#), Ok(None), "not an event");
        assert_eq!(parse_line("{not json"), Ok(None));
        assert!(parse_line(r#"{"event": "sampel", "ms": 1}"#).is_err());
        assert!(parse_line(r#"{"event": "sample", "ms": -1}"#).is_err());
        assert!(parse_line(r#"{"event": "sample"}"#).is_err());
    }

    #[test]
    fn a_programs_framework_is_read_and_its_other_info_kept() {
        let info: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"framework": "PyTorch", "framework_version": "2.11.0", "threads": 16,
                "samples_per_iteration": 32, "backend": {"cudnn": 91000}}"#,
        )
        .unwrap();
        let facts = program_facts(&info);
        assert_eq!(facts.framework.as_deref(), Some("PyTorch"));
        assert_eq!(facts.framework_version.as_deref(), Some("2.11.0"));
        let kept: Value = serde_json::from_str(facts.other_info.as_deref().unwrap()).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({"threads": 16, "backend": {"cudnn": 91000}})
        );
        assert_eq!(
            program_facts(&serde_json::Map::new()),
            ProgramFacts::default()
        );
    }
}
