//! `docs/rules.md` against the repository: every rule ID the code cites, every
//! rule-named unit test (`fn q04_…`) and every rule-named regression scenario
//! (`scenarios/regression/q04-….toml`) must be in its tables, and everything the
//! tables name — code files, tests, scenarios — must exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One row of a rules table.
#[derive(Debug, Default)]
struct Row {
    code: Vec<String>,
    tests: Vec<String>,
    scenarios: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The text between backticks in `cell`.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// A rule ID such as `Q4` or `P13`: one of Q, P, D, M and a number.
fn is_rule_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('Q' | 'P' | 'D' | 'M'))
        && (2..=3).contains(&s.len())
        && chars.all(|c| c.is_ascii_digit())
        && !s[1..].starts_with('0')
}

fn rules_table() -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(root().join("docs/rules.md")).expect("docs/rules.md");
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| ID | rule | source | code | unit tests | scenario |" → 8 pieces.
        if cells.len() != 8 || !is_rule_id(cells[1]) {
            continue;
        }
        let row = Row {
            code: ticked(cells[4]),
            tests: ticked(cells[5]),
            scenarios: ticked(cells[6]),
        };
        assert!(
            rows.insert(cells[1].to_string(), row).is_none(),
            "{} has two rows in docs/rules.md",
            cells[1]
        );
    }
    rows
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every Rust file of the project (the crates, the command line, tests, benches)
/// but this one, whose comments show examples.
fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in ["crates", "src", "tests", "benches"] {
        rust_files(&root().join(dir), &mut files);
    }
    files.retain(|p| !p.ends_with("tests/rules.rs"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// Rule IDs cited in `text`: a rule ID standing alone as a word.
fn cited_ids(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| is_rule_id(w))
        .map(str::to_string)
        .collect()
}

/// The rule a name part such as `q04` or `d01` stands for (`Q4`, `D1`).
fn rule_of_part(part: &str) -> Option<String> {
    let letter = part.chars().next()?.to_ascii_uppercase();
    let digits = part.get(1..)?;
    let number: u32 = (digits.len() == 2 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse().ok())??;
    let id = format!("{letter}{number}");
    (part.starts_with(|c: char| c.is_ascii_lowercase()) && is_rule_id(&id)).then_some(id)
}

/// The rules a test or scenario name cites: its leading `q04_q05_…` parts.
fn rules_in_name(name: &str, separator: char) -> BTreeSet<String> {
    name.split(separator).map_while(rule_of_part).collect()
}

/// Names of rule-named test functions in `text`: `fn q04_…`, `fn p01_p08_…`.
fn rule_tests(text: &str) -> BTreeSet<String> {
    text.split("fn ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !rules_in_name(name, '_').is_empty())
        .collect()
}

/// The repository path of a code cell: `relay/x.rs` is `crates/relay/src/x.rs`.
fn code_path(cell: &str) -> PathBuf {
    let (krate, rest) = cell.split_once('/').unwrap_or((cell, ""));
    match krate {
        "relay" | "scenario" | "sim" | "report" => {
            root().join("crates").join(krate).join("src").join(rest)
        }
        _ => root().join(cell),
    }
}

#[test]
fn every_rule_has_a_complete_row() {
    let table = rules_table();
    let expected: Vec<String> = (1..=13)
        .map(|n| format!("Q{n}"))
        .chain((1..=13).map(|n| format!("P{n}")))
        .chain((1..=4).map(|n| format!("D{n}")))
        .chain((1..=6).map(|n| format!("M{n}")))
        .collect();
    for id in &expected {
        let row = table
            .get(id)
            .unwrap_or_else(|| panic!("docs/rules.md has no row for {id}"));
        assert!(!row.code.is_empty(), "{id}: no code named");
        assert!(!row.tests.is_empty(), "{id}: no unit test named");
        assert!(
            !row.scenarios.is_empty(),
            "{id}: no regression scenario named"
        );
    }
    assert_eq!(table.len(), expected.len(), "rows for unknown rules");
}

#[test]
fn every_rule_the_code_cites_is_in_the_table() {
    let table = rules_table();
    for (path, text) in sources() {
        for id in cited_ids(&text) {
            assert!(
                table.contains_key(&id),
                "{} cites {id}, which docs/rules.md does not list",
                path.display()
            );
        }
    }
}

#[test]
fn every_rule_named_test_is_in_the_table_and_every_listed_test_exists() {
    let table = rules_table();
    let listed: BTreeMap<&str, &str> = table
        .iter()
        .flat_map(|(id, row)| row.tests.iter().map(move |t| (t.as_str(), id.as_str())))
        .collect();
    let mut defined = BTreeSet::new();
    for (path, text) in sources() {
        for name in rule_tests(&text) {
            assert!(
                listed.contains_key(name.as_str()),
                "{}: test `{name}` is not listed in docs/rules.md",
                path.display()
            );
            defined.insert(name);
        }
    }
    for (name, id) in listed {
        assert!(
            defined.contains(name),
            "docs/rules.md lists `{name}` under {id}, but no such test exists"
        );
        assert!(
            rules_in_name(name, '_').contains(id),
            "`{name}` is listed under {id} but its name does not cite {id}"
        );
    }
}

#[test]
fn every_rule_named_scenario_is_in_the_table_and_every_listed_one_exists() {
    let table = rules_table();
    let listed: BTreeSet<&str> = table
        .values()
        .flat_map(|row| row.scenarios.iter().map(String::as_str))
        .collect();
    let dir = root().join("scenarios/regression");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".toml") && !rules_in_name(&name, '-').is_empty() {
            assert!(
                listed.contains(name.as_str()),
                "scenario {name} is not listed in docs/rules.md"
            );
        }
    }
    for name in listed {
        assert!(
            dir.join(name).is_file(),
            "docs/rules.md names scenarios/regression/{name}, which does not exist"
        );
    }
}

#[test]
fn every_code_file_the_table_names_exists() {
    for (id, row) in rules_table() {
        for cell in &row.code {
            assert!(
                code_path(cell).is_file(),
                "docs/rules.md names `{cell}` for {id}, which does not exist"
            );
        }
    }
}
