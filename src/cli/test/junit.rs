//! `--junit FILE`: the report as JUnit XML in the Jenkins/Surefire schema (the one
//! GitLab, Jenkins and GitHub test reporters read; CI validates the file against
//! it), written with `quick-xml`. `quick-junit` would do, but it puts a `skipped`
//! attribute on `<testsuites>` that the schema does not allow.
//!
//! One `testsuite` per scenario file (`name` and `file` its path), one `testcase` per
//! `[[expect]]` block: `name` its name, `classname` the file, and in `system-out`
//! its `file:line` and what was observed (the schema has no line attribute). A failed
//! expectation is a `failure` whose message starts with `file:line`; an invalid file
//! or a run that failed its own checks is an `error`. No times are written, so the
//! file is the same for every `--jobs`.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::outcome::{Suite, TestReport};

pub fn to_xml(report: &TestReport) -> Result<String, String> {
    write(report).map_err(|e| format!("cannot write the JUnit XML: {e}"))
}

/// What a testcase came to.
enum Status<'a> {
    Passed,
    Failure {
        message: String,
    },
    Error {
        message: &'a str,
        description: &'a str,
    },
}

fn write(report: &TestReport) -> io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let (tests, failures, errors) = report
        .suites
        .iter()
        .map(counts)
        .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    w.create_element("testsuites")
        .with_attributes([
            ("name", "relaysim test"),
            ("tests", tests.to_string().as_str()),
            ("failures", failures.to_string().as_str()),
            ("errors", errors.to_string().as_str()),
        ])
        .write_inner_content(|w| {
            for suite in &report.suites {
                test_suite(w, suite)?;
            }
            Ok(())
        })?;
    let mut xml = String::from_utf8(w.into_inner()).map_err(io::Error::other)?;
    xml.push('\n');
    Ok(xml)
}

/// A suite's testcases, failures and errors.
fn counts(suite: &Suite) -> (usize, usize, usize) {
    let errors = usize::from(suite.error.is_some());
    let failures = suite.cases.iter().filter(|c| !c.passed).count();
    (suite.cases.len() + errors, failures, errors)
}

fn test_suite(w: &mut Writer<Vec<u8>>, suite: &Suite) -> io::Result<()> {
    let (tests, failures, errors) = counts(suite);
    w.create_element("testsuite")
        .with_attributes([
            ("name", suite.file.as_str()),
            ("tests", tests.to_string().as_str()),
            ("failures", failures.to_string().as_str()),
            ("errors", errors.to_string().as_str()),
            ("skipped", "0"),
            ("file", suite.file.as_str()),
        ])
        .write_inner_content(|w| {
            if let Some(why) = &suite.error {
                // The file's expectations could not (all) be checked: one error
                // case says why.
                let name = if suite.is_invalid() {
                    "the scenario is valid"
                } else {
                    "the runs pass their own checks"
                };
                let message = why.lines().next().unwrap_or("");
                let status = Status::Error {
                    message,
                    description: why,
                };
                test_case(w, name, &suite.file, &status, None)?;
            }
            for c in &suite.cases {
                let location = suite.location(c);
                let status = if c.passed {
                    Status::Passed
                } else {
                    let seed = match c.failed_seed {
                        Some(s) if suite.seeds.len() > 1 => format!(" (seed {s})"),
                        _ => String::new(),
                    };
                    Status::Failure {
                        message: format!("{location}: {}{seed}", c.detail),
                    }
                };
                let out = format!("{location}\n{}\n", c.detail);
                test_case(w, &c.name, &suite.file, &status, Some(&out))?;
            }
            Ok(())
        })?;
    Ok(())
}

fn test_case(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    classname: &str,
    status: &Status<'_>,
    system_out: Option<&str>,
) -> io::Result<()> {
    w.create_element("testcase")
        .with_attributes([("name", name), ("classname", classname)])
        .write_inner_content(|w| {
            match status {
                Status::Passed => {}
                Status::Failure { message } => {
                    w.create_element("failure")
                        .with_attributes([("message", message.as_str()), ("type", "expectation")])
                        .write_empty()?;
                }
                Status::Error {
                    message,
                    description,
                } => {
                    w.create_element("error")
                        .with_attributes([("message", *message), ("type", "scenario")])
                        .write_text_content(BytesText::new(description))?;
                }
            }
            if let Some(out) = system_out {
                w.create_element("system-out")
                    .write_text_content(BytesText::new(out))?;
            }
            Ok(())
        })?;
    Ok(())
}
