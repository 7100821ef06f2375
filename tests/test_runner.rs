//! `relaysim test` as a test runner: its terminal report, `--junit` and `--json`,
//! `--filter`, `--seeds`, `--jobs` and `--keep-failed`.

mod common;

use common::{relaysim, stderr, stdout};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use std::path::Path;

/// A folder holding `kernel-constant-rate.toml` as it is (`pass.toml`) and with one
/// expectation made to fail (`fail.toml`).
fn one_passing_one_failing() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/regression/kernel-constant-rate.toml").unwrap();
    std::fs::write(dir.path().join("pass.toml"), &text).unwrap();
    let failing = text.replace("equals = 3000", "equals = 2999");
    assert_ne!(failing, text);
    std::fs::write(dir.path().join("fail.toml"), failing).unwrap();
    dir
}

/// The line of the `[[expect]]` block of `file` that holds `needle`.
fn block_line(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    let at = text.lines().position(|l| l.contains(needle)).unwrap();
    text.lines()
        .take(at + 1)
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[expect]]")
        .last()
        .unwrap()
        .0
        + 1
}

#[test]
fn reports_one_line_per_scenario_and_a_closing_line() {
    let o = relaysim(&["test"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.lines().any(|l| l.starts_with("PASS ")), "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    // Passing expectations are listed with -v only.
    assert!(!out.contains('✓'), "{out}");
    let verbose = stdout(&relaysim(&["test", "-v"]));
    assert!(verbose.contains("    ✓ scenarios/regression/"), "{verbose}");
}

#[test]
fn a_failed_expectation_fails_with_its_file_and_line() {
    let dir = one_passing_one_failing();
    let fail = dir.path().join("fail.toml");
    let o = relaysim(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = block_line(&fail, "equals = 2999");
    let expected = format!(
        "    ✗ {}:{line}: a burst sends exactly its messages: messages_generated = 3000, expected exactly 2999",
        fail.display()
    );
    assert!(
        out.lines().any(|l| l == expected),
        "{expected}\nnot in\n{out}"
    );
    assert_eq!(out.lines().last().unwrap(), "1 passed, 1 failed");
}

#[test]
fn junit_and_json_reports_hold_every_expectation() {
    let dir = one_passing_one_failing();
    let (junit, json) = (dir.path().join("r.xml"), dir.path().join("r.json"));
    let o = relaysim(&[
        "test",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(report.test_suites.len(), 2);
    let expectations = std::fs::read_to_string(dir.path().join("pass.toml"))
        .unwrap()
        .matches("[[expect]]")
        .count();
    let fail = dir.path().join("fail.toml");
    // Suites in path order: fail.toml, pass.toml.
    let (failing, passing) = (&report.test_suites[0], &report.test_suites[1]);
    assert_eq!(failing.name.as_str(), fail.to_str().unwrap());
    for suite in [failing, passing] {
        assert_eq!(suite.test_cases.len(), expectations);
    }
    assert_eq!((failing.failures, passing.failures), (1, 0));
    let failed: Vec<_> = failing
        .test_cases
        .iter()
        .filter_map(|c| match &c.status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                ..
            } => Some((c.name.as_str(), message.as_ref().unwrap().as_str())),
            _ => None,
        })
        .collect();
    let line = block_line(&fail, "equals = 2999");
    assert_eq!(
        failed,
        [(
            "a burst sends exactly its messages",
            format!(
                "{}:{line}: messages_generated = 3000, expected exactly 2999",
                fail.display()
            )
            .as_str()
        )]
    );
    // Every case says where its block is.
    for case in &passing.test_cases {
        let out = case.system_out.as_ref().unwrap().as_str();
        assert!(out.starts_with(&format!("{}:", dir.path().join("pass.toml").display())));
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let cases = json["suites"][0]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), expectations);
    let bad: Vec<_> = cases.iter().filter(|c| c["passed"] == false).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["line"].as_u64(), Some(line as u64));
    assert_eq!(
        bad[0]["detail"],
        "messages_generated = 3000, expected exactly 2999"
    );
}

#[test]
fn an_invalid_scenario_is_an_error_case() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[simulation]\nnmae = \"x\"\n").unwrap();
    let junit = dir.path().join("r.xml");
    let o = relaysim(&[
        "test",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("(invalid scenario, see above)"));
    assert!(stderr(&o).contains("unknown key `nmae`"), "{}", stderr(&o));
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    let suite = &report.test_suites[0];
    assert_eq!(suite.errors, 1);
    match &suite.test_cases[0].status {
        TestCaseStatus::NonSuccess {
            kind, description, ..
        } => {
            assert_eq!(*kind, NonSuccessKind::Error);
            assert!(description.as_ref().unwrap().as_str().contains("nmae"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn filter_selects_files_and_expectations() {
    let dir = one_passing_one_failing();
    // An invalid file the filter leaves out by its path is not reported, not even on
    // stderr.
    std::fs::write(
        dir.path().join("invalid.toml"),
        "[simulation]\nnmae = \"x\"\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    // By file: only pass.toml.
    let out = stdout(&relaysim(&["test", path, "--filter", "pass.toml"]));
    assert_eq!(out.lines().last().unwrap(), "1 passed, 0 failed", "{out}");
    // By expectation name: only the one that fails, in both files.
    let o = relaysim(&[
        "test",
        path,
        "--filter",
        "a burst sends exactly its messages",
        "-v",
    ]);
    let out = stdout(&o);
    assert_eq!(stderr(&o), "");
    assert!(out.contains("(1 expectation)"), "{out}");
    assert_eq!(out.lines().last().unwrap(), "1 passed, 1 failed", "{out}");
    // Nothing: a clear error.
    let o = relaysim(&["test", path, "--filter", "no such thing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("matching `no such thing`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_seed_must_hold_and_the_failing_seed_is_named_and_kept() {
    // helpdesk-burst at 400 licences never reaches its peak limit: its first
    // expectation fails at every seed, the first of which is the scenario's.
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept");
    let o = relaysim(&[
        "test",
        "scenarios/helpdesk-burst.toml",
        "--set",
        "tenant.acme.licences=400",
        "--seeds",
        "3",
        "--seed",
        "41",
        "--keep-failed",
        kept.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("(5 expectations, 3 seeds)"), "{out}");
    assert!(
        out.contains("customer_peak was never hit (seed 41)"),
        "{out}"
    );
    let folder = kept.join("helpdesk-burst-seed-41");
    assert!(
        out.contains(&format!(
            "kept the failing run of scenarios/helpdesk-burst.toml in {}/",
            folder.display()
        )),
        "{out}"
    );
    for file in ["summary.json", "transactions.csv.zst", "limit_hits.csv"] {
        assert!(folder.join(file).exists(), "{file}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 41);
}

#[test]
fn the_report_is_the_same_for_every_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for jobs in ["1", "2", "3"] {
        let (junit, json) = (
            dir.path().join(format!("{jobs}.xml")),
            dir.path().join(format!("{jobs}.json")),
        );
        let o = relaysim(&[
            "test",
            "scenarios/regression",
            "--jobs",
            jobs,
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stdout(&o));
        reports.push((
            stdout(&o),
            std::fs::read(junit).unwrap(),
            std::fs::read(json).unwrap(),
        ));
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_file_that_must_be_rejected_passes_only_when_it_is() {
    let shipped = "scenarios/regression/p03-ip-range-too-large.toml";
    let o = relaysim(&["test", shipped]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("(1 expected validation errors)"));
    // Its diagnostics are expected: nothing on stderr.
    assert_eq!(stderr(&o), "");
    // A /16 is allowed: the file validates, and the expected error is missing.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("now-valid.toml");
    let text = std::fs::read_to_string(shipped)
        .unwrap()
        .replace("10.0.0.0/8", "10.0.0.0/16");
    std::fs::write(&file, text).unwrap();
    let o = relaysim(&["test", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let expected = format!("    ✗ {}:7: rejected at 22:23: ", file.display());
    assert!(out.contains(&expected), "{out}");
    assert!(out.contains("; the scenario is valid"), "{out}");
    // A directive that cannot be read is an error naming its line.
    std::fs::write(&file, "#! expect-error: somewhere\n").unwrap();
    let o = relaysim(&["test", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("line 1: `#! expect-error: somewhere` is not"),
        "{}",
        stderr(&o)
    );
}

/// A dialogue fails at its first reply that differs, naming the step, its line, what
/// the relay answered and what was expected; a refused connection is reported as
/// such, with the steps that were never sent.
#[test]
fn a_dialogue_fails_at_the_first_reply_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string("scenarios/regression/p09-null-sender-dialogue.toml").unwrap();
    let wrong = text.replace(
        r#"["RCPT TO:<b@example.org>", "452 4.5.3 Your message has too many recipients."],"#,
        r#"["RCPT TO:<b@example.org>", "250"],"#,
    );
    assert_ne!(wrong, text);
    let file = dir.path().join("wrong.toml");
    std::fs::write(&file, &wrong).unwrap();
    let refused = text.replace("port = 25 }", "port = 2525 }");
    assert_ne!(refused, text);
    let refused_file = dir.path().join("refused.toml");
    std::fs::write(&refused_file, &refused).unwrap();

    let o = relaysim(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let step_line = wrong
        .lines()
        .position(|l| l.contains(r#"["RCPT TO:<b@example.org>", "250"]"#))
        .unwrap()
        + 1;
    let header = wrong.lines().position(|l| l == "[[dialogue]]").unwrap() + 1;
    let expected = format!(
        "    ✗ {}:{header}: P9: the empty sender takes one recipient: step 4 (line {step_line}) \"RCPT TO:<b@example.org>\" got \"452 4.5.3 Your message has too many recipients.\", expected \"250…\"",
        file.display()
    );
    assert!(out.contains(&expected), "{out}");
    let expected = format!(
        "    ✗ {}:{header}: P9: the empty sender takes one recipient: the connection got \"connection refused\", expected \"220…\"",
        refused_file.display()
    );
    assert!(out.contains(&expected), "{out}");
    // Expecting the refusal makes it pass (P6: a port the relay does not listen on).
    let expects_refusal = refused.replace(
        "port = 2525 }",
        "port = 2525, expect = \"connection refused\" }",
    );
    std::fs::write(&refused_file, &expects_refusal).unwrap();
    std::fs::remove_file(&file).unwrap();
    let o = relaysim(&["test", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
}

/// Each check kind fails with a message that says what was observed and what was
/// expected: the regression scenario that uses it, with one bound changed.
#[test]
fn every_check_kind_fails_with_a_clear_message() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "m02-retry-after-a-450.toml",
            r#"at = ["1m 54s", "2m 54s", "3m 54s", "6m 54s", "11m 54s"]"#,
            r#"at = ["1m 54s", "2m 54s", "3m 54s", "8m", "11m 54s"]"#,
            "message 10 of sender `exchange-2003-tuned` was attempted at [1m 54s, 2m 54s, 3m 54s, 6m 54s, 11m 54s], expected [1m 54s, 2m 54s, 3m 54s, 8m, 11m 54s] within 1s; attempt 4 is more than 1s off",
        ),
        (
            "m02-retry-after-a-450.toml",
            r#"at = ["1m 54s", "30m"]"#,
            r#"at = ["1m 54s"]"#,
            "message 10 of sender `exim` was attempted at [1m 54s, 30m], expected [1m 54s] within 1s",
        ),
        (
            "m02-retry-after-a-450.toml",
            "at_most = \"28m 6s\"",
            "at_most = \"15m\"",
            "largest delivery delay of sender `exim` = 28m 6s, expected at most 15m",
        ),
        (
            "m02-retry-after-a-450.toml",
            "quantile = 0.9\nequals = \"0s\"",
            "quantile = 0.95\nequals = \"0s\"",
            "95th percentile delivery delay of sender `exim` = 28m 6s, expected exactly 0s",
        ),
        (
            "m02-retry-after-a-450.toml",
            "sender = \"exchange-2010\"\nat = \"17m\"",
            "sender = \"exchange-2010\"\nat = \"16m\"",
            "1 of 10 messages of sender `exchange-2010` not delivered by 16m: 1 delivered later (the last at 16m 54s)",
        ),
        (
            "m02-retry-after-a-450.toml",
            "metric = \"recipients_deferred\"\nsender = \"exchange-2003-tuned\"\nequals = 1",
            "metric = \"recipients_deferred\"\nsender = \"exchange-2003-tuned\"\nequals = 4",
            "recipients_deferred = 1, expected exactly 4",
        ),
        (
            "m02-retry-after-a-450.toml",
            "during = [\"2m\", \"12m\"]",
            "during = [\"2m\", \"6m\"]",
            "replies \"450 4.2.1…\" from 2m to 6m = 2, expected exactly 3",
        ),
        (
            "m02-retry-after-a-450.toml",
            "sender = \"exchange-2010\"\nequals = \"messages_generated\"",
            "sender = \"exim-hourly\"\nequals = \"messages_generated\"",
            "messages_delivered = 9 (messages_generated = 10), expected exactly messages_generated",
        ),
        (
            "q06-unpaid-tenant.toml",
            "tenant = \"trial\"\nequals = 32500",
            "tenant = \"trial\"\nequals = 2250",
            "customer_day limit (trial) at 4h = 32500, expected exactly 2250",
        ),
        (
            "q03-counted-user.toml",
            "user = \"app@acme.example\"\nequals = 100",
            "user = \"app@acme.example\"\nequals = 99",
            "user_messages use (app@acme.example) at 1h 59m = 100, expected exactly 99",
        ),
        (
            "q03-counted-user.toml",
            "sender = \"app\"\nrelayed_as",
            "sender = \"printer\"\nrelayed_as",
            "200 of 200 accepted transactions of sender `printer` not relayed as app@acme.example and counted to app@acme.example; the first, at 0s, relayed as printer@acme.example, counted to no registered user",
        ),
    ];
    for (file, from, to, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(format!("scenarios/regression/{file}")).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{file}: {from}");
        let path = dir.path().join(file);
        std::fs::write(&path, text.replace(from, to)).unwrap();
        let o = relaysim(&["test", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{file}: {to}\n{}", stdout(&o));
        let out = stdout(&o);
        let failures: Vec<&str> = out.lines().filter(|l| l.contains('✗')).collect();
        assert_eq!(failures.len(), 1, "{out}");
        assert!(
            failures[0].ends_with(expected),
            "{}\nexpected: …{expected}",
            failures[0]
        );
    }
}
