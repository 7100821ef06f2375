//! `--set KEY=VALUE`: a scenario key changed from the command line, by its dotted
//! path, without editing the file.
//!
//! The path walks the file's tables; in an array of tables (`[[tenant]]`, `[[mta]]`,
//! `[[sender]]`, `[[tenant.relay_setting]]`, …) the next step names an element by its
//! `id` (or `name`), or by its position from 0: `tenant.acme.licences`,
//! `sender.helpdesk.rate`, `relay.dos.max_messages_per_connection`,
//! `mta.postfix1.overrides.max_concurrency`. The value is TOML (`300`, `true`,
//! `"3000/h"`, `[1, 2]`); anything that is not TOML is taken as a string, so
//! `rate=3000/h` needs no quotes. The edited text is then loaded like the file itself,
//! so a wrong key or value gets the file's own diagnostics (`did you mean …`).

use std::str::FromStr;

use toml_edit::{DocumentMut, Item, Table, Value};

use crate::diagnostic::suggest;

/// One `--set KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    pub value: String,
}

impl FromStr for Override {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write KEY=VALUE, e.g. `tenant.acme.licences=300` or `sender.batch.rate=3000/h`";
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` has no `=`; {hint}"))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!(
                "`{text}`: `{key}` is not a dotted key path; {hint}"
            ));
        }
        if value.is_empty() {
            return Err(format!("`{text}` gives no value; {hint}"));
        }
        Ok(Override {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// `source` with every override applied in order; an error names the override and
/// what its path could have meant.
pub fn apply(source: &str, overrides: &[Override]) -> Result<String, String> {
    if overrides.is_empty() {
        return Ok(source.to_string());
    }
    let mut doc: DocumentMut = source
        .parse()
        .map_err(|e| format!("the file is not valid TOML, so --set cannot edit it: {e}"))?;
    for o in overrides {
        set(doc.as_table_mut(), o).map_err(|e| format!("--set {o}: {e}"))?;
    }
    Ok(doc.to_string())
}

fn set(root: &mut Table, o: &Override) -> Result<(), String> {
    let steps: Vec<&str> = o.key.split('.').collect();
    let (last, walk) = steps.split_last().expect("a key has at least one step");
    let mut table = root;
    let mut i = 0;
    while i < walk.len() {
        let step = walk[i];
        let known: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
        let item = table.entry(step).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = match item {
            Item::Table(t) => t,
            Item::Value(Value::InlineTable(t)) => {
                // An inline table is edited as a table (written as its own section).
                let t = std::mem::take(t).into_table();
                *item = Item::Table(t);
                item.as_table_mut().expect("just made a table")
            }
            Item::ArrayOfTables(array) => {
                let Some(name) = walk.get(i + 1).copied() else {
                    return Err(format!(
                        "`{step}` is a list of tables ([[{step}]]); name one by its id, e.g. `{step}.ID.{last}`"
                    ));
                };
                let ids: Vec<String> = array
                    .iter()
                    .enumerate()
                    .map(|(n, t)| element_name(t).unwrap_or_else(|| n.to_string()))
                    .collect();
                let position = array
                    .iter()
                    .position(|t| element_name(t).as_deref() == Some(name))
                    .or_else(|| name.parse::<usize>().ok().filter(|n| *n < array.len()));
                let Some(position) = position else {
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    return Err(format!(
                        "no [[{step}]] `{name}` in the file\nhelp: {}",
                        suggest(name, &ids, &format!("the [[{step}]] entries are"))
                    ));
                };
                i += 1;
                array
                    .get_mut(position)
                    .expect("the position was found in the array")
            }
            Item::Value(_) | Item::None => {
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                return Err(format!(
                    "`{step}` is a value, not a table, so `{}` cannot go below it\nhelp: {}",
                    o.key,
                    suggest(step, &known, "the keys here are")
                ));
            }
        };
        i += 1;
    }
    let value = o
        .value
        .parse::<Value>()
        .unwrap_or_else(|_| Value::from(o.value.as_str()));
    match table.get_mut(last) {
        Some(Item::Table(_) | Item::ArrayOfTables(_)) => Err(format!(
            "`{last}` is a table; set one of its keys, e.g. `{}.KEY=VALUE`",
            o.key
        )),
        Some(item) => {
            // Keep the comment after the old value.
            let decor = item.as_value().map(|v| v.decor().clone());
            let mut value = value;
            if let Some(decor) = decor {
                *value.decor_mut() = decor;
            }
            *item = Item::Value(value);
            Ok(())
        }
        None => {
            table.insert(last, Item::Value(value));
            Ok(())
        }
    }
}

/// An element of an array of tables is named by its `id`, or by its `name`.
fn element_name(t: &Table) -> Option<String> {
    ["id", "name"]
        .iter()
        .find_map(|k| t.get(k).and_then(Item::as_str).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[simulation]
name = "t"

[relay.dos]
max_messages_per_connection = 1000 # D4

[[tenant]]
id = "acme"
licences = 250

[[tenant.relay_setting]]
name = "office"
only_listed_ips = true

[[mta]]
id = "postfix1"
overrides = { max_concurrency = 20 }

[[sender]]
id = "batch"
rate = "100/h"
"#;

    fn set(pairs: &[&str]) -> Result<String, String> {
        let overrides: Vec<Override> = pairs.iter().map(|p| p.parse().unwrap()).collect();
        apply(FILE, &overrides)
    }

    fn parsed(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn keys_are_found_by_path_and_id() {
        let t = parsed(
            &set(&[
                "tenant.acme.licences=300",
                "sender.batch.rate=3000/h",
                "relay.dos.max_messages_per_connection=500",
                "mta.postfix1.overrides.max_concurrency=10",
                "tenant.acme.relay_setting.office.only_listed_ips=false",
                "simulation.seed=7",
            ])
            .unwrap(),
        );
        assert_eq!(t["tenant"][0]["licences"].as_integer(), Some(300));
        assert_eq!(t["sender"][0]["rate"].as_str(), Some("3000/h"));
        assert_eq!(
            t["relay"]["dos"]["max_messages_per_connection"].as_integer(),
            Some(500)
        );
        assert_eq!(
            t["mta"][0]["overrides"]["max_concurrency"].as_integer(),
            Some(10)
        );
        assert_eq!(
            t["tenant"][0]["relay_setting"][0]["only_listed_ips"].as_bool(),
            Some(false)
        );
        assert_eq!(t["simulation"]["seed"].as_integer(), Some(7));
    }

    #[test]
    fn the_rest_of_the_file_is_kept() {
        let out = set(&["relay.dos.max_messages_per_connection=500"]).unwrap();
        assert!(
            out.contains("max_messages_per_connection = 500 # D4"),
            "{out}"
        );
        assert!(out.contains("licences = 250"));
    }

    #[test]
    fn a_missing_entry_is_named_with_a_suggestion() {
        let e = set(&["tenant.acmee.licences=3"]).unwrap_err();
        assert!(e.contains("no [[tenant]] `acmee`"), "{e}");
        assert!(e.contains("acme"), "{e}");
        let e = set(&["tenant.licences=3"]).unwrap_err();
        assert!(e.contains("name one by its id"), "{e}");
        let e = set(&["sender.batch.rate.x=1"]).unwrap_err();
        assert!(e.contains("is a value, not a table"), "{e}");
        let e = set(&["relay.dos=1"]).unwrap_err();
        assert!(e.contains("is a table"), "{e}");
    }

    #[test]
    fn bad_overrides_are_refused() {
        for bad in ["x", "=1", "a.=1", "a=", ".a=1"] {
            assert!(bad.parse::<Override>().is_err(), "{bad}");
        }
    }
}
