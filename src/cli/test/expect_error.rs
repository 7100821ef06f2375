//! Scenario files that must be rejected: a line `#! expect-error: LINE:COLUMN TEXT`
//! (any number of them, usually in the header) says that validation must report an
//! error at LINE:COLUMN whose message contains TEXT, where `...` (or `…`) in TEXT
//! stands for any text. Such a file is a suite whose cases are its directives, so
//! the runner holds the validation rules too, beside the relay's.

use super::outcome::{Case, Suite};
use scenario::diagnostic::Diagnostic;

const DIRECTIVE: &str = "#! expect-error:";

/// One `#! expect-error:` line.
#[derive(Debug, PartialEq)]
pub struct ExpectedError {
    /// The directive's own line.
    pub line: usize,
    pub at: (usize, usize),
    pub text: String,
}

/// The file's directives; a directive that cannot be read is an error naming its line.
pub fn directives(text: &str) -> Result<Vec<ExpectedError>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix(DIRECTIVE) else {
            continue;
        };
        let rest = rest.trim();
        let (position, message) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let at = position
            .split_once(':')
            .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)));
        match at {
            Some(at) if !message.trim().is_empty() => out.push(ExpectedError {
                line: i + 1,
                at,
                text: message.trim().to_string(),
            }),
            _ => {
                return Err(format!(
                    "line {}: `{}` is not `{DIRECTIVE} LINE:COLUMN TEXT`; write e.g. `{DIRECTIVE} 5:9 is not a CIDR range`",
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    Ok(out)
}

/// Whether `message` contains `pattern`'s parts (split at `...` or `…`) in order.
fn matches(message: &str, pattern: &str) -> bool {
    let mut rest = message;
    for part in pattern.replace('…', "...").split("...") {
        let part = part.trim();
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// The suite of a file with directives: each holds if validation reported a matching
/// error at its position. `diagnostics` is `None` when the file validated.
pub fn suite(
    file: String,
    expected: &[ExpectedError],
    diagnostics: Option<&[Diagnostic]>,
) -> Suite {
    let reported = || match diagnostics {
        None => "the scenario is valid".to_string(),
        Some(d) => {
            let list: Vec<String> = d
                .iter()
                .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
                .collect();
            format!("validation reported: {}", list.join("; "))
        }
    };
    let cases = expected
        .iter()
        .map(|e| {
            let hit = diagnostics
                .into_iter()
                .flatten()
                .find(|d| (d.line, d.column) == e.at && matches(&d.message, &e.text));
            let (l, c) = e.at;
            Case {
                name: format!("rejected at {l}:{c}: {}", e.text),
                line: e.line,
                passed: hit.is_some(),
                failed_seed: None,
                detail: match hit {
                    Some(d) => format!("{l}:{c} {}", d.message),
                    None => format!(
                        "expected an error at {l}:{c} containing `{}`; {}",
                        e.text,
                        reported()
                    ),
                },
            }
        })
        .collect();
    Suite::validation(file, cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(line: usize, column: usize, message: &str) -> Diagnostic {
        Diagnostic {
            span: 0..1,
            line,
            column,
            message: message.into(),
            label: String::new(),
            help: None,
        }
    }

    #[test]
    fn directives_are_read_with_their_position_and_text() {
        let text = "# a comment\n#! expect-error: 5:9 IP range ... 65,536\n[simulation]\n";
        assert_eq!(
            directives(text).unwrap(),
            [ExpectedError {
                line: 2,
                at: (5, 9),
                text: "IP range ... 65,536".into()
            }]
        );
        let bad = directives("#! expect-error: five IP range").unwrap_err();
        assert!(
            bad.starts_with("line 1: `#! expect-error: five IP range` is not"),
            "{bad}"
        );
        assert!(directives("#! expect-error: 5:9").is_err());
    }

    #[test]
    fn an_error_matches_at_its_position_with_the_parts_in_order() {
        assert!(matches(
            "IP range 10.0.0.0/8 has more than 65,536 addresses",
            "IP range ... 65,536"
        ));
        assert!(matches(
            "IP range 10.0.0.0/8 has more than 65,536 addresses",
            "IP range … 65,536"
        ));
        assert!(!matches(
            "65,536 addresses in IP range",
            "IP range ... 65,536"
        ));
        let expected = directives("#! expect-error: 5:9 IP range ... 65,536").unwrap();
        let at = |l, c| {
            [diagnostic(
                l,
                c,
                "IP range 10.0.0.0/8 has more than 65,536 addresses",
            )]
        };
        assert!(suite("f.toml".into(), &expected, Some(&at(5, 9))).passed());
        let elsewhere = suite("f.toml".into(), &expected, Some(&at(5, 10)));
        assert!(!elsewhere.passed());
        assert_eq!(
            elsewhere.cases[0].detail,
            "expected an error at 5:9 containing `IP range ... 65,536`; validation reported: 5:10 IP range 10.0.0.0/8 has more than 65,536 addresses"
        );
        let valid = suite("f.toml".into(), &expected, None);
        assert!(valid.cases[0].detail.ends_with("; the scenario is valid"));
        assert_eq!(valid.location(&valid.cases[0]), "f.toml:1");
    }
}
