//! Scenario diagnostics: every problem found in a file, with its place, the offending
//! text and a hint, rendered like a compiler error:
//!
//! ```text
//! scenarios/x.toml:12:1: error: unknown key `colour` in [[tenant]]
//!    ╭─[scenarios/x.toml:12:1]
//! 12 │ colour = "red"
//!    · ───┬──
//!    ·    ╰── not a key of [[tenant]]
//!    ╰────
//!   help: the keys of [[tenant]] are: id, licences, …
//! ```

use std::fmt::Write as _;
use std::ops::Range;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

/// Separates a message from its hint inside a serde error string: serde custom
/// errors carry only a message, so value parsers append the hint behind this marker.
const HINT_MARKER: &str = "\u{1f}help: ";

/// Joins a message and a hint for transport through a serde error.
pub fn with_hint(message: &str, hint: &str) -> String {
    format!("{message}{HINT_MARKER}{hint}")
}

/// Splits what [`with_hint`] joined.
pub fn split_hint(text: &str) -> (&str, Option<&str>) {
    match text.split_once(HINT_MARKER) {
        Some((m, h)) => (m, Some(h)),
        None => (text, None),
    }
}

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte range of the offending text.
    pub span: Range<usize>,
    /// 1-based line of the span's start.
    pub line: usize,
    /// 1-based column (in characters) of the span's start.
    pub column: usize,
    pub message: String,
    /// Short text shown under the offending text.
    pub label: String,
    pub help: Option<String>,
}

/// Collects diagnostics for one source text, computing line and column.
pub struct DiagnosticSink<'a> {
    source: &'a str,
    /// Byte offset of each line's start, found on first use: a file with thousands
    /// of problems must not be scanned from its start for each.
    line_starts: std::cell::OnceCell<Vec<usize>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> DiagnosticSink<'a> {
    pub fn new(source: &'a str) -> Self {
        DiagnosticSink {
            source,
            line_starts: std::cell::OnceCell::new(),
            diagnostics: Vec::new(),
        }
    }

    /// 1-based line of a byte offset, for hints such as "first defined on line 12".
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_column(offset).0
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.source.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = starts.partition_point(|&start| start <= offset);
        let line_start = starts[line - 1];
        (line, self.source[line_start..offset].chars().count() + 1)
    }

    /// Records a problem. `message` may carry a hint joined by [`with_hint`].
    pub fn error(&mut self, span: Range<usize>, message: &str, label: &str) {
        let (message, hint) = split_hint(message);
        self.push(span, message, label, hint);
    }

    /// Records a problem with an explicit hint.
    pub fn error_with_help(&mut self, span: Range<usize>, message: &str, label: &str, help: &str) {
        self.push(span, message, label, Some(help));
    }

    fn push(&mut self, span: Range<usize>, message: &str, label: &str, help: Option<&str>) {
        let start = span.start.min(self.source.len());
        let end = span.end.clamp(start, self.source.len());
        let (line, column) = self.line_column(start);
        self.diagnostics.push(Diagnostic {
            span: start..end,
            line,
            column,
            message: message.to_string(),
            label: label.to_string(),
            help: help.map(str::to_string),
        });
    }

    /// Diagnostics in file order (then by message), so output is stable.
    /// No problem reported so far.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics
            .sort_by(|a, b| (a.span.start, &a.message).cmp(&(b.span.start, &b.message)));
        self.diagnostics.dedup();
        self.diagnostics
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Rendered<'a> {
    message: &'a str,
    help: Option<&'a str>,
    code: NamedSource<std::sync::Arc<str>>,
    label: LabeledSpan,
}

impl miette::Diagnostic for Rendered<'_> {
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.help.map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.code)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}

/// At most this many problems are shown with their excerpts; the rest are counted.
/// A file with thousands of problems usually has one cause repeated (a renamed key,
/// a generator's bug), and the first few say what it is.
pub const MAX_SHOWN: usize = 50;

/// Renders diagnostics as `file:line:col: error: message` followed by the source
/// excerpt and the hint (the first [`MAX_SHOWN`] of them). `color` selects ANSI
/// colours (for a terminal).
pub fn render(file: &str, source: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    let shared: std::sync::Arc<str> = source.into();
    for d in diagnostics.iter().take(MAX_SHOWN) {
        let _ = writeln!(out, "{file}:{}:{}: error: {}", d.line, d.column, d.message);
        let report = Rendered {
            message: &d.message,
            help: d.help.as_deref(),
            code: NamedSource::new(file, std::sync::Arc::clone(&shared)),
            label: LabeledSpan::new_with_span(Some(d.label.clone()), d.span.clone()),
        };
        let mut excerpt = String::new();
        if handler.render_report(&mut excerpt, &report).is_ok() {
            // The first line repeats the message; the header above already says it.
            let body = excerpt.split_once('\n').map_or("", |(_, rest)| rest);
            out.push_str(body);
        }
        out.push('\n');
    }
    let n = diagnostics.len();
    if n > MAX_SHOWN {
        let _ = writeln!(
            out,
            "{file}: … and {} more errors, not shown: fix the ones above first (the rest are often the same mistake)",
            n - MAX_SHOWN
        );
    }
    let _ = writeln!(out, "{file}: {n} error{}", if n == 1 { "" } else { "s" });
    out
}

/// "did you mean `x`?" for a near miss, else the list of what is allowed.
pub fn suggest(got: &str, allowed: &[&str], list_intro: &str) -> String {
    let best = allowed
        .iter()
        .map(|a| (strsim::jaro_winkler(got, a), *a))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, name)) => format!("did you mean `{name}`?"),
        None if allowed.is_empty() => "remove it".to_string(),
        None => format!("{list_intro}: {}", allowed.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_prefer_near_misses() {
        assert_eq!(
            suggest("licenses", &["id", "licences"], "keys"),
            "did you mean `licences`?"
        );
        assert_eq!(
            suggest("zzz", &["id", "licences"], "keys"),
            "keys: id, licences"
        );
    }

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let sink = DiagnosticSink::new("a = 1\nbé = 2\n");
        assert_eq!(sink.line_column(0), (1, 1));
        assert_eq!(sink.line_column(5), (1, 6)); // the newline itself
        assert_eq!(sink.line_column(6), (2, 1));
        assert_eq!(sink.line_column(8), (2, 2)); // inside 'é': its start
        assert_eq!(sink.line_column(9), (2, 3)); // after the two-byte 'é'
        assert_eq!(sink.line_column(99), (3, 1)); // past the end: the end
    }

    #[test]
    fn hints_travel_inside_messages() {
        let joined = with_hint("bad", "do this");
        assert_eq!(split_hint(&joined), ("bad", Some("do this")));
        assert_eq!(split_hint("plain"), ("plain", None));
    }

    #[test]
    fn rendering_names_file_line_column_text_and_hint() {
        let src = "[simulation]\nname = \"x\"\ncolour = 1\n";
        let mut sink = DiagnosticSink::new(src);
        sink.error_with_help(
            24..30,
            "unknown key `colour`",
            "not a key here",
            "remove it",
        );
        let out = render("s.toml", src, &sink.finish(), false);
        assert!(
            out.starts_with("s.toml:3:1: error: unknown key `colour`\n"),
            "{out}"
        );
        assert!(out.contains("colour = 1"), "{out}");
        assert!(out.contains("remove it"), "{out}");
        assert!(out.contains("s.toml: 1 error"), "{out}");
    }
}
