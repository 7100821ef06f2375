//! What `relaysim test` found, one value for the terminal, `--json` and `--junit`
//! alike: per scenario file (a suite) its expectations (cases), each checked at every
//! seed, passing only if it held at all of them.

use serde::Serialize;

use sim::expectations::Verdict;

/// The whole report: suites in the order of their file paths.
#[derive(Debug, Serialize)]
pub struct TestReport {
    pub suites: Vec<Suite>,
    /// Scenario files whose every expectation held.
    pub passed: usize,
    /// Scenario files that were invalid, failed a run's own checks, or had an
    /// expectation fail.
    pub failed: usize,
}

/// One scenario file.
#[derive(Clone, Debug, Serialize)]
pub struct Suite {
    /// The file as given or found (e.g. `scenarios/regression/q1-user-messages.toml`).
    pub file: String,
    /// The seeds each expectation was checked at (none when the file is invalid or
    /// is checked by its validation only).
    pub seeds: Vec<u64>,
    /// Why the expectations could not all be checked: the file is invalid (its
    /// diagnostics), or a run failed its own checks (the seed and why).
    pub error: Option<String>,
    /// The seed of the first run that failed its own checks.
    #[serde(skip)]
    error_seed: Option<u64>,
    pub cases: Vec<Case>,
}

/// One `[[expect]]` block, or one `#! expect-error:` line.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub name: String,
    /// The line of its `[[expect]]` header.
    pub line: usize,
    pub passed: bool,
    /// The first seed at which it failed.
    pub failed_seed: Option<u64>,
    /// What was observed (and, on failure, what was expected), at the seed it
    /// failed at, else at the first seed.
    pub detail: String,
}

impl Suite {
    /// A file that could not be loaded.
    pub fn invalid(file: String, why: String) -> Suite {
        Suite {
            file,
            seeds: Vec::new(),
            error: Some(why),
            error_seed: None,
            cases: Vec::new(),
        }
    }

    /// A file that must fail validation: its cases are its expected errors.
    pub fn validation(file: String, cases: Vec<Case>) -> Suite {
        Suite {
            file,
            seeds: Vec::new(),
            error: None,
            error_seed: None,
            cases,
        }
    }

    /// A file that could not be loaded (and was not expected to fail).
    pub fn is_invalid(&self) -> bool {
        self.error.is_some() && self.seeds.is_empty()
    }

    /// A file whose runs at `seeds` gave `runs` (each the verdicts of every
    /// expectation, in order, or why the run failed); `lines` are the lines of the
    /// expectations' blocks.
    pub fn checked(
        file: String,
        lines: &[usize],
        seeds: Vec<u64>,
        runs: Vec<Result<Vec<Verdict>, String>>,
    ) -> Suite {
        let mut cases: Vec<Case> = Vec::new();
        let mut error = None;
        let mut error_seed = None;
        for (seed, run) in seeds.iter().zip(runs) {
            let verdicts = match run {
                Ok(v) => v,
                Err(e) => {
                    if error.is_none() {
                        error = Some(format!(
                            "the run with seed {seed} failed its own checks: {e}"
                        ));
                        error_seed = Some(*seed);
                    }
                    continue;
                }
            };
            if cases.is_empty() {
                cases = verdicts
                    .iter()
                    .zip(lines)
                    .map(|(v, line)| Case {
                        name: v.name.clone(),
                        line: *line,
                        passed: true,
                        failed_seed: None,
                        detail: v.detail.clone(),
                    })
                    .collect();
            }
            for (case, v) in cases.iter_mut().zip(verdicts) {
                if case.passed && !v.passed {
                    case.passed = false;
                    case.failed_seed = Some(*seed);
                    case.detail = v.detail;
                }
            }
        }
        Suite {
            file,
            seeds,
            error,
            error_seed,
            cases,
        }
    }

    pub fn passed(&self) -> bool {
        self.error.is_none() && self.cases.iter().all(|c| c.passed)
    }

    /// The seed whose run to keep for inspection: the first that failed.
    pub fn failing_seed(&self) -> Option<u64> {
        if self.passed() {
            return None;
        }
        // The earliest seed (in run order) at which a case failed.
        let failed_case = || {
            self.seeds
                .iter()
                .copied()
                .find(|s| self.cases.iter().any(|c| c.failed_seed == Some(*s)))
        };
        self.error_seed
            .or_else(failed_case)
            .or_else(|| self.seeds.first().copied())
    }

    /// `file:line` of a case, as editors and terminals link it.
    pub fn location(&self, case: &Case) -> String {
        format!("{}:{}", self.file, case.line)
    }
}

impl TestReport {
    pub fn new(suites: Vec<Suite>) -> TestReport {
        let passed = suites.iter().filter(|s| s.passed()).count();
        TestReport {
            failed: suites.len() - passed,
            passed,
            suites,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(name: &str, passed: bool, detail: &str) -> Verdict {
        Verdict {
            name: name.into(),
            passed,
            detail: detail.into(),
        }
    }

    #[test]
    fn a_case_fails_at_the_first_seed_it_fails_and_says_what_it_saw_there() {
        let suite = Suite::checked(
            "s.toml".into(),
            &[4, 9],
            vec![7, 8, 9],
            vec![
                Ok(vec![
                    verdict("a", true, "a = 1"),
                    verdict("b", true, "b = 1"),
                ]),
                Ok(vec![
                    verdict("a", false, "a = 2"),
                    verdict("b", true, "b = 1"),
                ]),
                Ok(vec![
                    verdict("a", false, "a = 3"),
                    verdict("b", true, "b = 2"),
                ]),
            ],
        );
        assert!(!suite.passed());
        assert_eq!(suite.failing_seed(), Some(8));
        let a = &suite.cases[0];
        assert_eq!(
            (a.passed, a.failed_seed, a.detail.as_str()),
            (false, Some(8), "a = 2")
        );
        assert_eq!(suite.location(a), "s.toml:4");
        let b = &suite.cases[1];
        assert_eq!(
            (b.passed, b.failed_seed, b.detail.as_str()),
            (true, None, "b = 1")
        );
    }

    #[test]
    fn a_run_that_fails_its_checks_fails_the_suite() {
        let suite = Suite::checked(
            "s.toml".into(),
            &[4],
            vec![1, 2],
            vec![
                Ok(vec![verdict("a", true, "ok")]),
                Err("lost a message".into()),
            ],
        );
        assert!(!suite.passed());
        assert_eq!(
            suite.error.as_deref(),
            Some("the run with seed 2 failed its own checks: lost a message")
        );
        assert_eq!(suite.failing_seed(), Some(2));
        let report = TestReport::new(vec![suite]);
        assert_eq!((report.passed, report.failed), (0, 1));
    }
}
