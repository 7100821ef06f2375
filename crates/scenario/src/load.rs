//! Reading a scenario file: TOML syntax, then each section deserialised on its own so
//! that one bad section does not hide the problems of the others, with every unknown
//! key reported at its own place (not only the first) and a suggestion for typos.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diagnostic::{DiagnosticSink, suggest};
use super::schema::SchemaKeys;
use super::{RawScenario, Simulation};

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

const SECTIONS: [(&str, bool); 8] = [
    ("simulation", false),
    ("relay", false),
    ("tenant", true),
    ("mta", true),
    ("sender", true),
    ("event", true),
    ("expect", true),
    ("dialogue", true),
];

/// Parses `source` into the raw sections. Returns `None` when a problem stops parsing;
/// every problem found is in `sink`.
pub(super) fn parse_sections(source: &str, sink: &mut DiagnosticSink) -> Option<RawScenario> {
    let (doc, syntax_errors) = DeTable::parse_recoverable(source);
    if !syntax_errors.is_empty() {
        for e in syntax_errors {
            let span = e.span().unwrap_or(0..0);
            sink.error_with_help(
                span,
                &format!("TOML syntax error: {}", e.message().trim()),
                "here",
                "fix the TOML syntax (quotes, brackets, `key = value`)",
            );
        }
        return None;
    }
    let keys = SchemaKeys::new();
    let doc = doc.into_inner();
    let mut raw = RawScenario::default();
    for (key, value) in doc.iter() {
        let name = key.get_ref().as_ref();
        let Some(&(_, is_array)) = SECTIONS.iter().find(|(s, _)| *s == name) else {
            let known: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
            sink.error_with_help(
                key.span(),
                &format!("unknown section `{name}`"),
                "not a section of a scenario",
                &suggest(name, &known, "the sections are"),
            );
            continue;
        };
        let path = vec![Segment::Key(name.to_string())];
        if is_array {
            let Some(items) = value.get_ref().as_array() else {
                sink.error_with_help(
                    key.span(),
                    &format!("`{name}` must be an array of tables"),
                    "a single table",
                    &format!("write [[{name}]] (double brackets), once per {name}"),
                );
                // Record a failed entry so references to this kind are not checked
                // against an empty list (which would only add noise).
                match name {
                    "tenant" => raw.tenants.push(None),
                    "mta" => raw.mtas.push(None),
                    "sender" => raw.senders.push(None),
                    "event" => raw.events.push(None),
                    "dialogue" => raw.dialogues.push(None),
                    _ => raw.expectations.push(None),
                }
                continue;
            };
            for (index, item) in items.iter().enumerate() {
                let mut item_path = path.clone();
                item_path.push(Segment::Index(index));
                match name {
                    "tenant" => raw.tenants.push(section(item, &item_path, &keys, sink)),
                    "mta" => raw.mtas.push(section(item, &item_path, &keys, sink)),
                    "sender" => raw.senders.push(section(item, &item_path, &keys, sink)),
                    "event" => raw.events.push(section(item, &item_path, &keys, sink)),
                    "dialogue" => raw.dialogues.push(section(item, &item_path, &keys, sink)),
                    _ => raw
                        .expectations
                        .push(section(item, &item_path, &keys, sink)),
                }
            }
        } else if !value.get_ref().is_table() {
            sink.error_with_help(
                value.span(),
                &format!("`{name}` must be a table"),
                "not a table",
                &format!("write a [{name}] section"),
            );
        } else if name == "simulation" {
            raw.simulation = section::<Simulation>(value, &path, &keys, sink);
            raw.simulation_seen = true;
        } else {
            raw.relay = section(value, &path, &keys, sink);
        }
    }
    Some(raw)
}

/// Deserialises one section, reporting unknown keys and the first type error in it.
fn section<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    path: &[Segment],
    keys: &SchemaKeys,
    sink: &mut DiagnosticSink,
) -> Option<T> {
    let mut unknown: Vec<Vec<Segment>> = Vec::new();
    let deserializer = ValueDeserializer::from(value.clone());
    let result: Result<T, toml::de::Error> = serde_ignored::deserialize(deserializer, |p| {
        let mut full = path.to_vec();
        full.extend(segments(&p));
        unknown.push(full);
    });
    for key_path in &unknown {
        report_unknown_key(value, path, key_path, keys, sink);
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let span = e.span().unwrap_or_else(|| value.span());
            let message = e.message().trim();
            sink.error(span, &refine_serde_message(message, path), "here");
            None
        }
    }
}

/// serde's words for a number out of its type's range ("invalid type: integer `N` as
/// i128, expected u32", "expected a nonzero u32") in the user's: the range allowed.
fn plain_number_message(message: &str) -> Option<String> {
    use super::diagnostic::with_hint;
    let range = |ty: &str, nonzero: bool| -> Option<String> {
        let low = if nonzero { 1 } else { 0 };
        let high = match ty {
            "u8" => u64::from(u8::MAX),
            "u16" => u64::from(u16::MAX),
            "u32" => u64::from(u32::MAX),
            "u64" => u64::MAX,
            _ => return None,
        };
        Some(format!("{low} to {high}"))
    };
    let rest = message
        .strip_prefix("invalid type: integer `")
        .or_else(|| message.strip_prefix("invalid value: integer `"))?;
    let (value, rest) = rest.split_once('`')?;
    let expected = rest.rsplit("expected ").next()?.trim();
    let nonzero = expected.starts_with("a nonzero ");
    let ty = expected
        .trim_start_matches("a nonzero ")
        .trim_start_matches("a ");
    let allowed = range(ty, nonzero)?;
    Some(with_hint(
        &format!("{value} is out of range: this setting takes a whole number from {allowed}"),
        "`relaysim schema` gives each setting's range",
    ))
}

/// Makes serde's messages read like ours: name the table a missing key belongs to,
/// and give every message a hint.
fn refine_serde_message(message: &str, path: &[Segment]) -> String {
    use super::diagnostic::{split_hint, with_hint};
    if let Some(rest) = message.strip_prefix("missing field ") {
        let table = table_label(path);
        return super::diagnostic::with_hint(
            &format!("missing key {rest} in {table}"),
            &format!("add {rest} = … to this {table}; `relaysim schema` lists every key"),
        );
    }
    if let Some(plain) = plain_number_message(message) {
        return plain;
    }
    if path.first() == Some(&Segment::Key("dialogue".to_string()))
        && message.starts_with("invalid length")
    {
        return with_hint(
            &format!("a script step is a command and its reply ({message})"),
            "write each step as [\"COMMAND\", \"REPLY EXPECTED\"], e.g. [\"EHLO mail.example.com\", \"250\"]",
        );
    }
    match split_hint(message) {
        (_, Some(_)) => message.to_string(),
        (m, None) if m.starts_with("unknown variant") => {
            with_hint(m, "use one of the values listed (they are case-sensitive)")
        }
        (m, None) => with_hint(
            m,
            "`relaysim schema` gives the expected type and form of every key",
        ),
    }
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut v = segments(parent);
            v.push(Segment::Index(*index));
            v
        }
        // A `Spanned` value is a map with a private key inside serde: not the user's.
        Path::Map { parent, key } if key.starts_with("$__serde_spanned_private") => {
            segments(parent)
        }
        Path::Map { parent, key } => {
            let mut v = segments(parent);
            v.push(Segment::Key(key.clone()));
            v
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments(parent),
    }
}

fn report_unknown_key(
    section: &Spanned<DeValue<'_>>,
    section_path: &[Segment],
    key_path: &[Segment],
    keys: &SchemaKeys,
    sink: &mut DiagnosticSink,
) {
    let Some((Segment::Key(name), container)) = key_path.split_last() else {
        return;
    };
    let span = key_span(section, &key_path[section_path.len()..]).unwrap_or_else(|| section.span());
    let table = table_label(container);
    let schema_path: Vec<&str> = container
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    let allowed = keys.keys_at(&schema_path);
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    sink.error_with_help(
        span,
        &format!("unknown key `{name}` in {table}"),
        &format!("not a key of {table}"),
        &suggest(name, &allowed, &format!("the keys of {table} are")),
    );
}

/// Span of the key at the end of `rel` (a path relative to `value`).
fn key_span(value: &Spanned<DeValue<'_>>, rel: &[Segment]) -> Option<Range<usize>> {
    let (last, parents) = rel.split_last()?;
    let mut current = value;
    for seg in parents {
        current = match seg {
            Segment::Key(k) => current.get_ref().as_table()?.get(k.as_str())?,
            Segment::Index(i) => current.get_ref().as_array()?.get(*i)?,
        };
    }
    let Segment::Key(k) = last else { return None };
    let table = current.get_ref().as_table()?;
    table
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == k.as_str())
        .map(|(key, _)| key.span())
}

/// `[[tenant.relay_setting]]`, `[relay.quota]`: how a user would write the table.
fn table_label(path: &[Segment]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    let in_array = matches!(path.last(), Some(Segment::Index(_)));
    if keys.is_empty() {
        "the top level".to_string()
    } else if in_array {
        format!("[[{}]]", keys.join("."))
    } else {
        format!("[{}]", keys.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_labels_read_like_toml() {
        let p = vec![
            Segment::Key("tenant".into()),
            Segment::Index(0),
            Segment::Key("relay_setting".into()),
            Segment::Index(2),
        ];
        assert_eq!(table_label(&p), "[[tenant.relay_setting]]");
        assert_eq!(table_label(&p[..1]), "[tenant]");
        assert_eq!(
            table_label(&[Segment::Key("relay".into()), Segment::Key("quota".into())]),
            "[relay.quota]"
        );
    }
}
