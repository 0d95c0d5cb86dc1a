//! Errors that point into a file: `path:line:column`, the offending line with a caret under the
//! span, and a `help:` line saying what to do. Shaped like rustc's, so users know how to read it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The file cannot be used.
    Error,
    /// Likely a mistake, but the file can be used.
    Warning,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub level: Level,
    pub message: String,
    /// Byte range in the file; `None` when the problem is about the file as a whole.
    pub span: Option<Range<usize>>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Option<Range<usize>>) -> Diagnostic {
        Diagnostic {
            level: Level::Error,
            message: message.into(),
            span,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>, span: Option<Range<usize>>) -> Diagnostic {
        Diagnostic {
            level: Level::Warning,
            ..Diagnostic::new(message, span)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Builds a diagnostic from `"problem\nwhat to do"`, the shape the checks return.
    pub fn from_check(text: &str, span: Option<Range<usize>>) -> Diagnostic {
        match text.split_once('\n') {
            Some((message, help)) => Diagnostic::new(message, span).with_help(help),
            None => Diagnostic::new(text, span),
        }
    }
}

/// Every problem found in one file, with the file's text so that it can be rendered.
#[derive(Debug)]
pub struct FileErrors {
    pub path: PathBuf,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl FileErrors {
    /// Diagnostics are shown in the order of the file, those about the whole file last.
    pub fn new(path: &Path, source: &str, mut diagnostics: Vec<Diagnostic>) -> FileErrors {
        diagnostics.sort_by_key(|d| d.span.as_ref().map_or(usize::MAX, |s| s.start));
        FileErrors {
            path: path.to_owned(),
            source: source.to_owned(),
            diagnostics,
        }
    }
}

/// The most diagnostics shown for one file; the rest are counted. Thousands of errors (a line
/// of 4,000 bad values) are not read, and printing them all made stderr grow to 168 MB.
const MAX_SHOWN: usize = 50;

/// The most characters of a message, and of a source line around its span, that are shown.
const MAX_MESSAGE_CHARS: usize = 500;
const LINE_WINDOW_CHARS: usize = 120;

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().take(MAX_SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            render(f, &self.path, &self.source, d)?;
        }
        if self.diagnostics.len() > MAX_SHOWN {
            writeln!(
                f,
                "\n… and {} more problem(s) in `{}` not shown; fix these first",
                self.diagnostics.len() - MAX_SHOWN,
                self.path.display()
            )?;
        }
        Ok(())
    }
}

/// `text` cut to `max` characters, saying how long it was.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}… ({} bytes in all)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

impl std::error::Error for FileErrors {}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn render(f: &mut fmt::Formatter<'_>, path: &Path, source: &str, d: &Diagnostic) -> fmt::Result {
    let level = match d.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    writeln!(f, "{level}: {}", cut(&d.message, MAX_MESSAGE_CHARS))?;
    // The gutter is as wide as the line number, as in rustc's messages.
    let located = d
        .span
        .as_ref()
        .map(|span| (span, line_col(source, span.start)));
    let pad = " ".repeat(located.map_or(1, |(_, (line, _))| line.to_string().len()));
    match located {
        None => writeln!(f, "{pad}--> {}", path.display())?,
        Some((span, (line, col))) => {
            writeln!(f, "{pad}--> {}:{line}:{col}", path.display())?;
            // Control characters (a NUL, say) would garble the terminal: show a placeholder.
            let text: String = source
                .lines()
                .nth(line - 1)
                .unwrap_or("")
                .trim_end_matches('\r')
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        '\u{fffd}'
                    } else {
                        c
                    }
                })
                .collect();
            // Underline to the span's end, or to the end of the line when the span runs on.
            let line_chars = text.chars().count();
            let span_end = floor_char_boundary(source, span.end.min(source.len()));
            let span_chars = source
                [floor_char_boundary(source, span.start.min(source.len()))..span_end]
                .split('\n')
                .next()
                .unwrap_or("")
                .chars()
                .count();
            let width = span_chars.clamp(1, line_chars.saturating_sub(col - 1).max(1));
            // A long line is shown as a window around the span, so that an error never quotes
            // more than a screen's width of it.
            let (shown, at, width) = window(&text, col - 1, width);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{line} | {shown}")?;
            writeln!(f, "{pad} | {}{}", " ".repeat(at), "^".repeat(width))?;
        }
    }
    if let Some(help) = &d.help {
        writeln!(f, "{pad} = help: {help}")?;
    }
    Ok(())
}

/// The part of `text` (a line) to show around a span starting at character `start`, `width`
/// characters wide: the whole line when it is short, else a window of [`LINE_WINDOW_CHARS`]
/// marked with `…`. Returns the text, the span's start in it and its width, in characters.
fn window(text: &str, start: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= LINE_WINDOW_CHARS {
        return (text.to_owned(), start, width);
    }
    let width = width.min(LINE_WINDOW_CHARS / 2);
    let from = start.saturating_sub(LINE_WINDOW_CHARS / 4);
    let to = (from + LINE_WINDOW_CHARS).min(chars.len());
    let mut shown = String::new();
    let mut at = start - from;
    if from > 0 {
        shown.push('…');
        at += 1;
    }
    shown.extend(&chars[from..to]);
    if to < chars.len() {
        shown.push('…');
    }
    (shown, at, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_span() {
        let line = format!("x = [{}]", "1, ".repeat(2000));
        let (shown, at, width) = window(&line, 3000, 1);
        assert!(shown.chars().count() <= LINE_WINDOW_CHARS + 2);
        assert_eq!(shown.chars().nth(at), line.chars().nth(3000));
        assert_eq!(width, 1);
        assert_eq!(window("a = 1", 4, 1), ("a = 1".to_owned(), 4, 1));
    }

    #[test]
    fn line_and_column_count_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        let x = src.find('"').unwrap();
        assert_eq!(line_col(src, x), (2, 6));
    }

    #[test]
    fn renders_like_rustc() {
        let src = "version = 1\nname = 42\n";
        let start = src.find("42").unwrap();
        let errors = FileErrors::new(
            Path::new("p.toml"),
            src,
            vec![Diagnostic::new("bad name", Some(start..start + 2)).with_help("quote it")],
        );
        assert_eq!(
            errors.to_string(),
            "error: bad name\n --> p.toml:2:8\n  |\n2 | name = 42\n  |        ^^\n  = help: quote it\n"
        );
    }
}
