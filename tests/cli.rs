//! End-to-end tests of the `relaysim` binary: the contract users' scripts rely on.

mod common;

use common::{relaysim, stderr, stdout};
use std::path::Path;

/// `relaysim run SCENARIO --out DIR EXTRA…`, which must succeed.
fn run_into(scenario: &str, dir: &Path, extra: &[&str]) {
    let mut args = vec!["run", scenario, "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = relaysim(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn limits_for_250_licences() {
    let o = relaysim(&["limits", "--licences", "250"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("32,500"), "{out}");
    assert!(out.contains("2,250"), "{out}");
    assert!(out.contains("10,000"), "{out}");
    // The limits licences do not lift are listed too.
    for dos in [
        "D2      new connections per source IP",
        "D2      concurrent connections per source IP",
        "D3      new connections, generic HELO names",
        "D4      messages per connection                      -       1,000",
    ] {
        assert!(out.contains(dos), "{dos}: {out}");
    }
}

/// `limits --json` gives the same limits as the table, for scripts.
#[test]
fn limits_as_json() {
    let o = relaysim(&[
        "limits",
        "--licences",
        "250",
        "--billing",
        "unpaid",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["licences"], 250);
    assert_eq!(v["billing"], "unpaid");
    let rows = v["limits"].as_array().unwrap();
    let rules: Vec<&str> = rows.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["Q1", "Q2", "Q4", "Q5", "D2", "D2", "D3", "D4"]);
    // Q6: an unpaid customer's 100 a day and 50 per 10 minutes.
    assert_eq!(rows[2]["value"], 100);
    assert_eq!(rows[3]["value"], 50);
    assert_eq!(rows[3]["window_s"], 600.0);
    assert!(rows[7]["window"].is_null());
}

/// Shell completions come from clap's own description of the commands.
#[test]
fn completions_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let o = relaysim(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for word in ["sweep", "limits", "--licences", "--find-min-licences"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    assert_eq!(relaysim(&["completions", "cmd.exe"]).status.code(), Some(2));
}

#[test]
fn limits_at_the_caps() {
    let out = stdout(&relaysim(&["limits", "--licences", "40000"]));
    assert!(
        out.contains("4,600,000") && out.contains("319,444"),
        "{out}"
    );
    assert!(!out.contains("5,200,000"), "{out}");
}

#[test]
fn limits_of_an_unpaid_tenant() {
    let out = stdout(&relaysim(&[
        "limits",
        "--licences",
        "250",
        "--billing",
        "unpaid",
    ]));
    let q4 = out.lines().find(|l| l.contains("Q4")).unwrap();
    let q5 = out.lines().find(|l| l.contains("Q5")).unwrap();
    assert!(q4.contains(" 100 "), "{q4}");
    assert!(q5.contains(" 50 "), "{q5}");
}

#[test]
fn limits_refuses_zero_licences() {
    let o = relaysim(&["limits", "--licences", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--licences"), "{}", stderr(&o));
}

#[test]
fn validate_names_file_line_and_column_of_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    let text = std::fs::read_to_string("scenarios/quickstart.toml")
        .unwrap()
        .replace("licences = 80", "licences = 80\nlicense_count = 3");
    std::fs::write(&file, text).unwrap();
    let o = relaysim(&["validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let line = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("license_count"))
        .unwrap()
        + 1;
    let expected = format!(
        "{}:{line}:1: error: unknown key `license_count` in [[tenant]]",
        file.display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(
        err.contains("license_count = 3"),
        "the offending text is shown: {err}"
    );
}

#[test]
fn validate_accepts_every_shipped_scenario() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["scenarios", "scenarios/regression"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            // Files that declare the errors they must be rejected with are checked
            // by `relaysim test` (tests/test_runner.rs).
            let must_fail = || {
                std::fs::read_to_string(&p)
                    .unwrap()
                    .contains("#! expect-error:")
            };
            if p.extension().is_some_and(|e| e == "toml") && !must_fail() {
                files.push(p.display().to_string());
            }
        }
    }
    assert!(files.len() >= 2);
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let o = relaysim(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn validate_of_a_missing_file_is_a_clear_error() {
    let o = relaysim(&["validate", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read scenario no/such/file.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn two_runs_with_the_same_seed_are_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    for (dir, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        let o = relaysim(&[
            "run",
            "scenarios/misconfigured-site.toml",
            "--trace",
            "--out",
            dir.path().to_str().unwrap(),
            "--seed",
            seed,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for file in [
        "summary.json",
        "throughput.csv",
        "limit_hits.csv",
        "transactions.csv.zst",
        "queue_depth.csv",
        "delivery_delay.hlog",
        "throughput.png",
        "throughput.svg",
        "limit_timeline.png",
        "quota_utilisation.svg",
        "queue_depth.png",
    ] {
        assert_eq!(
            read(a.path(), file),
            read(b.path(), file),
            "{file} differs between identical runs"
        );
    }
    assert_ne!(
        read(a.path(), "summary.json"),
        read(c.path(), "summary.json"),
        "the seed changes the run"
    );
}

#[test]
fn run_writes_the_contract_files() {
    let dir = tempfile::tempdir().unwrap();
    run_into("scenarios/quickstart.toml", dir.path(), &[]);
    let summary: serde_json::Value =
        serde_json::from_slice(&read(dir.path(), "summary.json")).unwrap();
    assert_eq!(summary["scenario"], "quickstart");
    let m = &summary["messages"];
    let generated = m["generated"].as_u64().unwrap();
    assert!(generated > 0);
    assert_eq!(
        generated,
        m["delivered"].as_u64().unwrap()
            + m["bounced"].as_u64().unwrap()
            + m["queued_at_end"].as_u64().unwrap()
    );
    assert_eq!(
        summary["assumptions"]["quota"]["customer_day_cap"],
        4_600_000
    );
    assert_eq!(summary["fingerprint"].as_str().unwrap().len(), 16);
    let csv = String::from_utf8(read(dir.path(), "throughput.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "bucket_start_s,tenant,offered_rcpts,accepted_rcpts,deferred_rcpts,rejected_rcpts,accepted_msgs,connections_opened,connections_refused,first_attempt_rcpts,first_attempt_accepted_rcpts,first_attempt_deferred_rcpts,first_attempt_rejected_rcpts,time"
    );
    // The scenario has a start: the clock time of each bucket comes last.
    assert!(lines.next().unwrap().ends_with(",2026-03-02T00:00:00Z"));
    // 24 h in 10 min buckets, one tenant.
    assert_eq!(lines.count(), 143);
    // Each recipient is offered once and tried for the first time once.
    let column_sum = |i: usize| -> u64 {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').nth(i).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let generated = summary["recipients"]["generated"].as_u64().unwrap();
    assert_eq!(column_sum(9), generated, "first_attempt_rcpts");
    assert_eq!(column_sum(2), generated, "offered_rcpts");
    // First attempts split by outcome, and never more than all attempts of the bucket.
    for line in csv.lines().skip(1) {
        let n: Vec<u64> = line
            .split(',')
            .skip(2)
            .take(11)
            .map(|c| c.parse().unwrap())
            .collect();
        assert_eq!(n[7], n[8] + n[9] + n[10], "{line}");
        assert!(n[8] <= n[1] && n[9] <= n[2] && n[10] <= n[3], "{line}");
    }
}

#[test]
fn run_of_an_invalid_scenario_fails_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[simulation]\nname = \"x\"\n").unwrap();
    let out = dir.path().join("out");
    let o = relaysim(&["run", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("missing key `duration`"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn the_committed_schema_is_current() {
    let o = relaysim(&["schema"]);
    let committed = std::fs::read_to_string("relaysim.schema.json").unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "run `cargo run -- schema > relaysim.schema.json`"
    );
}

/// Golden output: the peak limit of a 10-licence tenant, hit by a burst at 9 h
/// (message 91 of one every 0.3 s, at 9h00m27s), cleared when the first message
/// leaves the window at exactly 9h10m, hit again at once by Postfix's queue run.
#[test]
fn limit_hits_csv_is_the_exact_timeline() {
    let dir = tempfile::tempdir().unwrap();
    run_into(
        "scenarios/regression/q05-customer-peak.toml",
        dir.path(),
        &[],
    );
    let csv = String::from_utf8(read(dir.path(), "limit_hits.csv")).unwrap();
    insta::assert_snapshot!("q05_limit_hits_csv", csv);
}

/// `--trace` writes `transactions.csv.zst` (zstd), decompressed.
fn read_trace(dir: &Path) -> Vec<u8> {
    zstd::decode_all(&read(dir, "transactions.csv.zst")[..]).unwrap()
}

/// `rcpt_replies` gives a reply once when every recipient got it, else one per
/// recipient, aligned with `recipients` (M6: an Exim transaction of more recipients
/// than the relay takes gets some 250s and some 452s).
#[test]
fn rcpt_replies_are_given_once_when_all_are_the_same() {
    let dir = tempfile::tempdir().unwrap();
    run_into(
        "scenarios/regression/m06-too-many-recipients.toml",
        dir.path(),
        &["--trace"],
    );
    let trace = read_trace(dir.path());
    let mut rows = csv::Reader::from_reader(&trace[..]);
    let (mut once, mut aligned) = (0, 0);
    for row in rows.records() {
        let row = row.unwrap();
        let recipients: Vec<&str> = row[8].split(';').filter(|r| !r.is_empty()).collect();
        let replies: Vec<&str> = row[9].split(';').filter(|r| !r.is_empty()).collect();
        if replies.len() == 1 && recipients.len() > 1 {
            once += 1;
        } else if replies.len() > 1 {
            assert_eq!(replies.len(), recipients.len(), "aligned: {row:?}");
            assert!(
                replies.iter().any(|r| *r != replies[0]),
                "repeated only when they differ: {row:?}"
            );
            aligned += 1;
        }
    }
    assert!(once > 0 && aligned > 0, "{once} once, {aligned} aligned");
}

/// `--trace-format csv` writes the same rows uncompressed as `transactions.csv`;
/// the compressed trace is a fraction of its size; a misspelt format is explained.
#[test]
fn the_trace_is_compressed_unless_asked_for_csv() {
    let zst = tempfile::tempdir().unwrap();
    let csv = tempfile::tempdir().unwrap();
    let scenario = "scenarios/exchange-vs-postfix.toml";
    run_into(scenario, zst.path(), &["--trace"]);
    run_into(scenario, csv.path(), &["--trace-format", "csv"]);
    let plain = read(csv.path(), "transactions.csv");
    assert_eq!(read_trace(zst.path()), plain);
    let compressed = read(zst.path(), "transactions.csv.zst").len();
    assert!(
        compressed * 10 < plain.len(),
        "{compressed} of {}",
        plain.len()
    );
    assert!(!zst.path().join("transactions.csv").exists());
    let o = relaysim(&["run", scenario, "--trace-format", "gz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`gz` is not a trace format: use `zst`"),
        "{}",
        stderr(&o)
    );
}

/// The trace shows who is charged, who is counted, and the P8 rewrite.
#[test]
fn transactions_csv_shows_attribution_and_rewriting() {
    let dir = tempfile::tempdir().unwrap();
    run_into(
        "scenarios/regression/p08-postmaster-rewrite.toml",
        dir.path(),
        &["--trace"],
    );
    let trace = String::from_utf8(read_trace(dir.path())).unwrap();
    let mut lines = trace.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time_s,tenant,mta,connection,source_ip,helo,envelope_from,counted_user,recipients,rcpt_replies,reply,relayed_from"
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 120, "a transaction per message at least");
    assert!(rows.iter().any(|r| r.contains(",appliance-named,")
        && r.contains(",<>,,")
        && r.ends_with(",250 2.0.0 OK,postmaster@acme.example")));
    assert!(rows.iter().any(|r| r.contains(",appliance-localhost,")
        && r.ends_with(",550 5.7.1 Invalid credentials for relay [192.0.2.50].,")));
    // M4: the bounce report to the refused sender goes through the relay with the
    // empty sender, and is refused the same way.
    assert!(rows.iter().any(|r| r.contains(",appliance-localhost,")
        && r.contains(",<>,,")
        && r.ends_with(",550 5.7.1 Invalid credentials for relay [192.0.2.50].,")));
}

/// Golden outputs of a small scenario: every CSV and summary.json.
#[test]
fn outputs_of_a_small_scenario_are_golden() {
    let dir = tempfile::tempdir().unwrap();
    run_into(
        "scenarios/regression/q13-block-all-senders.toml",
        dir.path(),
        &["--trace"],
    );
    for file in [
        "summary.json",
        "throughput.csv",
        "limit_hits.csv",
        "transactions.csv",
        "queue_depth.csv",
        "quota_usage.csv",
        "limit_episodes.csv",
        "replies.csv",
    ] {
        let bytes = match file {
            "transactions.csv" => read_trace(dir.path()),
            _ => read(dir.path(), file),
        };
        let text = String::from_utf8(bytes).unwrap();
        insta::assert_snapshot!(format!("q13_{}", file.replace('.', "_")), text);
    }
}

/// `relaysim plot` redraws the charts from the folder's files, byte for byte.
#[test]
fn plot_redraws_the_same_charts() {
    let dir = tempfile::tempdir().unwrap();
    run_into(
        "scenarios/regression/q05-customer-peak.toml",
        dir.path(),
        &[],
    );
    let charts = [
        "throughput",
        "limit_timeline",
        "quota_utilisation",
        "replies",
        "queue_depth",
    ];
    let drawn: Vec<Vec<u8>> = charts
        .iter()
        .flat_map(|c| [format!("{c}.png"), format!("{c}.svg")])
        .map(|f| read(dir.path(), &f))
        .collect();
    for c in charts {
        std::fs::remove_file(dir.path().join(format!("{c}.png"))).unwrap();
    }
    let o = relaysim(&["plot", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let redrawn: Vec<Vec<u8>> = charts
        .iter()
        .flat_map(|c| [format!("{c}.png"), format!("{c}.svg")])
        .map(|f| read(dir.path(), &f))
        .collect();
    assert!(drawn == redrawn, "plot drew different charts");
    assert!(drawn[0].starts_with(b"\x89PNG"), "a PNG");
    assert!(
        String::from_utf8_lossy(&drawn[1]).contains("<svg"),
        "an SVG"
    );
}

/// `report.html` is one page that needs nothing else: the question, the tables, every
/// chart inline, and no reference to anything outside it.
#[test]
fn the_report_is_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    run_into("scenarios/helpdesk-burst.toml", dir.path(), &[]);
    let html = String::from_utf8(read(dir.path(), "report.html")).unwrap();
    assert!(
        html.contains("Question: we have 250 licences"),
        "the opening comment"
    );
    assert_eq!(html.matches("<svg").count(), 5, "five inline charts");
    assert!(
        html.contains("Q5 (10-min customer limit) in force"),
        "the headline"
    );
    assert_eq!(html.matches("<td>Q5</td>").count(), 1, "one Q5 episode row");
    assert!(html.contains("relay.quota.customer_recipients_per_licence_per_day"));
    for outside in ["src=\"http", "href=\"http", "<script", "<link"] {
        assert!(
            !html.contains(outside),
            "the page refers outside itself: {outside}"
        );
    }
}

/// The replies chart's key gives each reply's total: helpdesk-burst's two D4
/// refusals are a sliver beside Q5's 875 on one axis, and read in the key.
#[test]
fn replies_chart_key_gives_each_reply_total() {
    let dir = tempfile::tempdir().unwrap();
    run_into("scenarios/helpdesk-burst.toml", dir.path(), &[]);
    let csv = String::from_utf8(read(dir.path(), "replies.csv")).unwrap();
    // The reply text may hold commas (it is quoted): the count is read from the
    // right, at its column's place from the end of the header.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let from_right = header.len() - 1 - header.iter().position(|h| *h == "refusals").unwrap();
    let total = |code: &str| -> u64 {
        csv.lines()
            .filter(|l| l.contains(code))
            .map(|l| {
                let fields: Vec<&str> = l.rsplitn(from_right + 2, ',').collect();
                fields[from_right].parse::<u64>().unwrap()
            })
            .sum()
    };
    let (d4, q5) = (total("421 4.7.0"), total("450 4.2.1"));
    assert!(d4 > 0 && q5 > 100 * d4, "{d4} × 421, {q5} × 450");
    let svg = String::from_utf8(read(dir.path(), "replies.svg")).unwrap();
    // Thousands grouped, as every count on the charts.
    let key = |code: &str, n: u64| {
        let total = format!("({})", relaysim::sim::numbers::group_thousands(n));
        svg.lines()
            .any(|l| l.trim().starts_with(code) && l.trim().ends_with(&total))
    };
    assert!(
        key("421 4.7.0", d4),
        "no key with ({d4}) for 421: {svg:.400}"
    );
    assert!(key("450 4.2.1", q5), "no key with ({q5}) for 450");
}

/// `plot --from --to --out` draws every time chart of that stretch elsewhere: the
/// axis starts and ends there, and the folder's own charts are left as they were.
#[test]
fn plot_zooms_every_time_chart() {
    let dir = tempfile::tempdir().unwrap();
    run_into("scenarios/helpdesk-burst.toml", dir.path(), &[]);
    let before = read(dir.path(), "throughput.svg");
    let zoom = dir.path().join("zoom");
    let o = relaysim(&[
        "plot",
        dir.path().to_str().unwrap(),
        "--from",
        "8h45m",
        "--to",
        "10h",
        "--out",
        zoom.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for chart in [
        "throughput",
        "limit_timeline",
        "quota_utilisation",
        "replies",
        "queue_depth",
    ] {
        let svg = String::from_utf8(read(&zoom, &format!("{chart}.svg"))).unwrap();
        let label = |t: &str| svg.lines().any(|l| l.trim() == t);
        assert!(label("08:45") && label("10:00"), "{chart}: {svg:.300}");
        assert!(!label("12:00"), "{chart} shows more than the stretch");
    }
    assert_eq!(read(dir.path(), "throughput.svg"), before);
    let o = relaysim(&[
        "plot",
        dir.path().to_str().unwrap(),
        "--from",
        "10h",
        "--to",
        "9h",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--from must come before --to"),
        "{}",
        stderr(&o)
    );
}

/// The run folder is one run or nothing. A run killed half way over an older
/// complete run leaves the older run exactly as it was (no new file beside the old
/// summary.json); the next run replaces the folder whole (an old transactions.csv does
/// not survive a run without --trace) and removes the killed run's hidden leftovers.
#[test]
fn a_killed_run_leaves_the_previous_run_whole() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("run.toml");
    let small = std::fs::read_to_string("scenarios/regression/q13-block-all-senders.toml").unwrap();
    std::fs::write(&scenario, &small).unwrap();
    let out = dir.path().join("out");
    let o = relaysim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let old_files = listing(&out);
    let old_summary = read(&out, "summary.json");
    assert!(old_files.contains(&"transactions.csv.zst".to_string()));

    let long = std::fs::read_to_string("scenarios/large-tenant-cap.toml")
        .unwrap()
        .replace("duration = \"24h\"", "duration = \"30d\"");
    std::fs::write(&scenario, long).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run is writing (its staging folder exists beside `out`).
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if listing(dir.path())
            .iter()
            .any(|n| n.contains("relaysim-staging"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        listing(dir.path())
            .iter()
            .any(|n| n.contains("relaysim-staging")),
        "the run had started writing"
    );
    assert_eq!(listing(&out), old_files, "the old run, untouched");
    assert_eq!(read(&out, "summary.json"), old_summary);

    std::fs::write(&scenario, small).unwrap();
    let o = relaysim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !listing(&out).contains(&"transactions.csv.zst".to_string()),
        "replaced whole"
    );
    assert_eq!(
        listing(dir.path()),
        ["out", "run.toml"],
        "no leftovers beside it"
    );
}

/// relaysim does not write into a folder it did not make, unless asked.
#[test]
fn run_refuses_a_foreign_folder_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "precious").unwrap();
    let out = dir.path().to_str().unwrap();
    let scenario = "scenarios/regression/q13-block-all-senders.toml";
    let o = relaysim(&["run", scenario, "--out", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a relaysim results folder"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    assert!(dir.path().join("thesis.tex").exists());
}

/// A sweep's output is the same whatever the number of threads.
#[test]
fn sweep_csv_is_identical_for_one_and_two_jobs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for (dir, jobs) in [(&a, "1"), (&b, "2")] {
        let o = relaysim(&[
            "sweep",
            "scenarios/regression/q05-customer-peak.toml",
            "--licences",
            "5,10,20,40",
            "--seeds",
            "2",
            "--jobs",
            jobs,
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("first hit of"), "{}", stdout(&o));
    }
    let csv = read(a.path(), "sweep.csv");
    assert_eq!(csv, read(b.path(), "sweep.csv"));
    assert_eq!(String::from_utf8(csv).unwrap().lines().count(), 1 + 4 * 2);
    assert!(read(a.path(), "capacity.png").starts_with(b"\x89PNG"));
}

/// `--find-min-licences` finds the smallest count meeting the target and says why.
#[test]
fn sweep_finds_the_minimum_licences() {
    let dir = tempfile::tempdir().unwrap();
    // 200 one-recipient messages in a minute: no deferral at all needs 9 × L ≥ 200.
    let o = relaysim(&[
        "sweep",
        "scenarios/regression/q05-customer-peak.toml",
        "--licences",
        "1..100:1",
        "--find-min-licences",
        "--max-deferred",
        "0",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("answer: 23 licences"), "{out}");
    assert!(out.contains("because at 22 licences"), "{out}");
}

#[test]
fn sweep_with_a_bad_spec_is_a_clear_error() {
    let o = relaysim(&[
        "sweep",
        "scenarios/quickstart.toml",
        "--licences",
        "100..10:5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("runs backwards"), "{}", stderr(&o));
}

/// Runs the binary with its stdout closed before it writes anything (a reader that
/// went away, as `| head -1` does) and returns its exit code and stderr.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("it ends");
    (o.status.code(), stderr(&o))
}

/// A closed stdout ends every command quietly with its normal exit code — never the
/// 101 of a panic ("failed printing to stdout: Broken pipe"); `test` still runs
/// every scenario and still fails when one fails.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    for args in [
        &["limits", "--licences", "250"][..],
        &["schema"],
        &["validate", "scenarios/quickstart.toml"],
        &["--help"],
        &["test", "scenarios/regression/q13-block-all-senders.toml"],
    ] {
        let (code, err) = with_stdout_closed(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("scenarios/regression/kernel-constant-rate.toml")
        .unwrap()
        .replace("equals = 3000", "equals = 2999");
    std::fs::write(dir.path().join("x.toml"), text).unwrap();
    let (code, err) = with_stdout_closed(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "the failure still counts: {err}");
}

/// `sweep --jobs 0` and `--seeds 0` are refused with the allowed range, not run "on 0
/// threads" or silently as 1 seed.
#[test]
fn sweep_refuses_zero_jobs_and_zero_seeds() {
    for (flag, range) in [("--jobs", "1..=1024"), ("--seeds", "1..=10000")] {
        let o = relaysim(&[
            "sweep",
            "scenarios/quickstart.toml",
            "--licences",
            "10,20",
            flag,
            "0",
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(stderr(&o).contains(range), "{flag}: {}", stderr(&o));
    }
}

/// A scenario that is not UTF-8 is reported at the line and column of its first bad
/// byte, with the encoding expected; UTF-16 is recognised by its byte order mark.
#[test]
fn a_file_that_is_not_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"[simulation]\nname = \"t\"\n# caf\xe9\n").unwrap();
    let o = relaysim(&["validate", latin1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("latin1.toml:3:6: byte 0xE9 is not UTF-8"),
        "{err}"
    );
    assert!(err.contains("save the file as UTF-8"), "{err}");
    let utf16 = dir.path().join("utf16.toml");
    std::fs::write(&utf16, b"\xff\xfe[\x00s\x00").unwrap();
    let err = stderr(&relaysim(&["validate", utf16.to_str().unwrap()]));
    assert!(err.contains("utf16.toml:1:1: the file is UTF-16"), "{err}");
}

/// A scenario file is read up to 64 MiB and no further: an endless input such as
/// `/dev/zero` was read until memory ran out; now it is refused, and a scenario on
/// standard input still works.
#[test]
fn an_endless_scenario_file_is_refused_after_64_mib() {
    let o = relaysim(&["validate", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("scenario /dev/zero is larger than 64 MiB"),
        "{}",
        stderr(&o)
    );
    let quickstart = std::fs::read("scenarios/quickstart.toml").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(["validate", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&quickstart).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ok: /dev/stdin"), "{out}");
    assert!(out.contains("expected: ~3,960 messages"), "{out}");
}

/// Command-line numbers are checked in words: a negative seed, a zero step, a sweep
/// of billions of points (refused before anything is allocated).
#[test]
fn cli_numbers_are_checked_in_words() {
    let o = relaysim(&["run", "--seed", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the seed is a whole number from 0 to 18446744073709551615"),
        "{}",
        stderr(&o)
    );
    for (spec, says) in [
        ("10..100:0", "`0` in `10..100:0` is not a step of 1 or more"),
        (
            "1..4000000000:1",
            "names 4000000000 licence counts, more than the 10000",
        ),
    ] {
        let o = relaysim(&["sweep", "scenarios/quickstart.toml", "--licences", spec]);
        assert_eq!(o.status.code(), Some(2), "{spec}");
        assert!(stderr(&o).contains(says), "{spec}: {}", stderr(&o));
    }
}

/// Reading a results folder validates it: `inf`, huge, negative or non-numeric values
/// (which once made `plot` loop forever or draw NaN) are reported at file, line and
/// column, and nothing is drawn.
#[test]
fn plot_refuses_a_folder_with_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    run_into("scenarios/regression/q13-block-all-senders.toml", &out, &[]);
    let original = std::fs::read_to_string(out.join("throughput.csv")).unwrap();
    for bad in ["inf", "1e308", "-5", "many", "NaN"] {
        let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
        let mut fields: Vec<String> = lines[2].split(',').map(str::to_string).collect();
        fields[2] = bad.to_string();
        lines[2] = fields.join(",");
        std::fs::write(out.join("throughput.csv"), lines.join("\n") + "\n").unwrap();
        let o = relaysim(&["plot", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        assert!(
            stderr(&o).contains(&format!(
                "throughput.csv: line 3, column 3: `{bad}` is not a count"
            )),
            "{bad}: {}",
            stderr(&o)
        );
    }
}

/// A sweep's folder is replaced whole too (no file of an older sweep survives), and a
/// folder relaysim did not make is refused before any run.
#[test]
fn sweep_folder_is_one_sweep_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let sweep = |out: &Path| {
        relaysim(&[
            "sweep",
            "scenarios/regression/q13-block-all-senders.toml",
            "--tenant",
            "block-all",
            "--licences",
            "1,2",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    assert!(sweep(&out).status.success());
    std::fs::write(out.join("stale.png"), "from an older sweep").unwrap();
    let o = sweep(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("stale.png").exists());
    assert!(out.join("sweep.csv").exists());
    let foreign = dir.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "precious").unwrap();
    let o = sweep(&foreign);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    assert!(foreign.join("notes.txt").exists());
}

/// `relaysim import --fit` and `--anonymise` from the command line, then `relaysim
/// run` of the import and `relaysim compare RUN IMPORT`.
#[test]
fn import_fit_anonymise_and_compare_with_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let log = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/logs/postfix-mail.log"
    );
    let import = tmp.path().join("import");
    let o = relaysim(&[
        "import",
        "postfix",
        log,
        "--year",
        "2025",
        "--fit",
        "--out",
        import.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("fit: 5 diurnal senders (fitted.toml)"),
        "{out}"
    );
    assert!(
        out.contains("messages over 1 hour: observed 5, expected 5, simulated"),
        "{out}"
    );
    for file in ["fitted.toml", "fit_hours.csv"] {
        assert!(import.join(file).exists(), "{file}");
    }
    let o = relaysim(&["validate", import.join("fitted.toml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // --anonymise needs a secret, of 16 bytes at least.
    let anon = tmp.path().join("anon");
    let args = [
        "import",
        "postfix",
        log,
        "--year",
        "2025",
        "--anonymise",
        "--out",
        anon.to_str().unwrap(),
    ];
    let o = relaysim(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "--anonymise needs a secret: --anonymise-key-file FILE, or RELAYSIM_ANONYMISE_KEY"
        ),
        "{}",
        stderr(&o)
    );
    let key = tmp.path().join("key");
    std::fs::write(&key, "short").unwrap();
    let mut with_key = args.to_vec();
    with_key.extend(["--anonymise-key-file", key.to_str().unwrap()]);
    let o = relaysim(&with_key);
    assert!(
        stderr(&o).contains("the --anonymise secret has 5 bytes; give at least 16"),
        "{}",
        stderr(&o)
    );
    assert!(!anon.exists());
    std::fs::write(&key, "a secret long enough").unwrap();
    let o = relaysim(&with_key);
    assert!(o.status.success(), "{}", stderr(&o));
    let sends = String::from_utf8(read(&anon, "sends.csv")).unwrap();
    assert!(
        !sends.contains("newsletter@") && sends.contains("@acme.example"),
        "{sends}"
    );

    // The imported scenario at one licence, beside what the log saw.
    let run = tmp.path().join("run");
    run_into(
        import.join("scenario.toml").to_str().unwrap(),
        &run,
        &["--set", "tenant.imported.licences=1"],
    );
    let cmp = tmp.path().join("cmp");
    let o = relaysim(&[
        "compare",
        run.to_str().unwrap(),
        import.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("450 4.2.1 Peak SMTP relay limit exceeded for customer: the log saw the first at 23:58:02 (1 in all); the simulation predicts "),
        "{out}"
    );
    assert!(
        out.contains(
            "550 5.7.0 Mail relay denied […]: the log saw the first at 00:04:01 (1 in all)"
        ),
        "{out}"
    );
    let csv = String::from_utf8(read(&cmp, "observed.csv")).unwrap();
    assert!(csv.starts_with("reply,observed,observed_first_s,observed_last_s,simulated,simulated_first_s,simulated_first_is_bucket,difference_s\n"), "{csv}");
    // A run folder that is neither: a clear error.
    let o = relaysim(&[
        "compare",
        tmp.path().to_str().unwrap(),
        import.to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("summary.json"), "{}", stderr(&o));
}
