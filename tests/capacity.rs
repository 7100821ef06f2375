//! Capacity planning a planner can trust: common random numbers, a sweep row that a
//! `run` reproduces, the targets people state, and what licences cannot fix.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use relaysim::relay::TenantIx;
use relaysim::relay::time::SimTime;
use relaysim::scenario::Model;
use relaysim::sim::{self, Observation, Observer, sweep};

fn relaysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Per sender: the messages it offered, their recipients, and the first 100 offer
/// times — the traffic, which must not depend on the relay's answers.
#[derive(Default, PartialEq, Debug)]
struct Traffic(BTreeMap<u32, (u64, u64, Vec<SimTime>)>);

impl Observer for Traffic {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        if let Observation::Offered { tag, recipients } = *what {
            let s = self.0.entry(tag.sender).or_default();
            s.0 += 1;
            s.1 += u64::from(recipients);
            if s.2.len() < 100 {
                s.2.push(time);
            }
        }
    }
}

#[test]
fn every_licence_count_sees_the_same_traffic_at_one_replicate() {
    for (file, counts) in [
        ("scenarios/nightly-batch.toml", [60, 2000]),
        ("scenarios/helpdesk-burst.toml", [100, 1000]),
    ] {
        let model = Model::load(Path::new(file)).unwrap();
        for k in 0..2 {
            let seed = sweep::replicate_seed(model.seed, k);
            let runs: Vec<(Traffic, sim::RunReport)> = counts
                .iter()
                .map(|&l| {
                    let m = sweep::with_licences(&model, TenantIx(0), l);
                    let mut traffic = Traffic::default();
                    let report = sim::run(&m, seed, &mut traffic).unwrap();
                    (traffic, report)
                })
                .collect();
            assert!(!runs[0].0.0.is_empty(), "{file}: no traffic");
            assert_eq!(
                runs[0].0, runs[1].0,
                "{file}, replicate {k}: the traffic differs"
            );
            // …while the relay's answers do differ: the few licences are a real test.
            assert_ne!(
                runs[0].1.tenants[0].deferrals, runs[1].1.tenants[0].deferrals,
                "{file}: the licence counts should change the relay's answers"
            );
        }
    }
}

/// A sweep's row (N, S) and `relaysim run --licences N --seed S` report the same
/// figures, in every field both have.
#[test]
fn run_with_licences_and_seed_reproduces_a_sweep_row() {
    let dir = tempfile::tempdir().unwrap();
    let sweep_dir = dir.path().join("sweep");
    let o = relaysim(&[
        "sweep",
        "scenarios/helpdesk-burst.toml",
        "--licences",
        "200,300",
        "--seeds",
        "2",
        "--out",
        sweep_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut csv = csv::Reader::from_path(sweep_dir.join("sweep.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let field = |name: &str| {
            row.get(header.iter().position(|h| h == name).unwrap())
                .unwrap()
        };
        let (licences, seed) = (field("licences"), field("seed"));
        let run_dir = dir.path().join(format!("run-{licences}-{seed}"));
        let o = relaysim(&[
            "run",
            "scenarios/helpdesk-burst.toml",
            "--licences",
            licences,
            "--seed",
            seed,
            "--out",
            run_dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
        let t = &summary["tenants"]["acme"];
        let int = |v: &serde_json::Value| v.as_u64().unwrap().to_string();
        let secs = |v: &serde_json::Value| format!("{:.3}", v.as_f64().unwrap());
        let both = [
            ("licences", int(&t["limits"]["licences"])),
            ("seed", int(&summary["seed"])),
            ("generated_rcpts", int(&t["recipients"]["generated"])),
            ("delivered_rcpts", int(&t["recipients"]["delivered"])),
            ("deferred_rcpts", int(&t["deferred_rcpts"])),
            ("deferral_attempts", int(&t["deferral_attempts"])),
            ("bounced_rcpts", int(&t["recipients"]["bounced"])),
            (
                "queued_at_end_rcpts",
                int(&t["recipients"]["queued_at_end"]),
            ),
            ("delay_p50_s", secs(&t["delivery_delay_s"]["p50"])),
            ("delay_p90_s", secs(&t["delivery_delay_s"]["p90"])),
            ("delay_p99_s", secs(&t["delivery_delay_s"]["p99"])),
            ("delay_max_s", secs(&t["delivery_delay_s"]["max"])),
        ];
        for (name, from_run) in both {
            assert_eq!(
                field(name),
                from_run,
                "{name} at {licences} licences, seed {seed}"
            );
        }
        // The first hit of the peak limit, from the run's timeline.
        let hits = std::fs::read_to_string(run_dir.join("limit_hits.csv")).unwrap();
        let first_peak = hits
            .lines()
            .find(|l| l.contains(",customer_peak,hit,"))
            .map(|l| l.split(',').next().unwrap().to_string())
            .unwrap_or_default();
        assert_eq!(field("first_hit_customer_peak_s"), first_peak);
    }
}

/// The question of `scenarios/nightly-batch.toml`, answered and checked by `run`: at
/// the answer every message arrives within the hour, at one licence fewer some do not.
#[test]
fn the_nightly_batch_question_is_answered_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/nightly-batch.toml",
        "--licences",
        "50..2000:1",
        "--find-min-licences",
        "--deadline",
        "1h",
        "--max-bounced",
        "0",
        "--out",
        dir.path().join("sweep").to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    let answer: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("answer: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no answer in {out}"));
    assert!(out.contains("5/5"), "five replicates by default: {out}");
    let max_delay = |licences: u32| -> f64 {
        let run_dir = dir.path().join(format!("run-{licences}"));
        let n = licences.to_string();
        let o = relaysim(&[
            "run",
            "scenarios/nightly-batch.toml",
            "--licences",
            &n,
            "--out",
            run_dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
        let t = &s["tenants"]["acme"];
        assert_eq!(t["recipients"]["bounced"].as_u64(), Some(0));
        assert_eq!(t["recipients"]["queued_at_end"].as_u64(), Some(0));
        t["delivery_delay_s"]["max"].as_f64().unwrap()
    };
    assert!(max_delay(answer) <= 3600.0, "at {answer}");
    assert!(max_delay(answer - 1) > 3600.0, "at {}", answer - 1);
    // Every run the search made is in sweep.csv, marked.
    let csv = std::fs::read_to_string(dir.path().join("sweep/sweep.csv")).unwrap();
    let runs = out
        .lines()
        .find_map(|l| l.split_once(" runs (").map(|(n, _)| n.replace(',', "")))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + runs);
    assert!(runs > 5, "the search ran more than the answer: {runs}");
    assert!(csv.contains(",yes,") && csv.contains(",no,"));
}

/// helpdesk-burst's 3 deferrals come from D4 (1,000 messages per connection), which
/// no licence count lifts: the search says so, with the limit, subject and count.
#[test]
fn a_limit_licences_cannot_fix_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/helpdesk-burst.toml",
        "--licences",
        "50..2000:1",
        "--find-min-licences",
        "--max-deferred",
        "0",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(!o.status.success(), "no answer is a failure: {out}");
    for wanted in [
        "answer: none — licences cannot fix this",
        "From 353 licences up",
        "3 recipients deferred at least once",
        "D4 dos_messages_per_connection on 203.0.113.10 (1,000 messages per connection)",
        "lower the MTA's connection reuse count below 1,000",
        "--set mta.postfix.overrides.connection_reuse_count=",
    ] {
        assert!(out.contains(wanted), "`{wanted}` missing from:\n{out}");
    }
    assert!(!out.contains("Target {"), "no debug output: {out}");
    let meta = std::fs::read_to_string(dir.path().join("sweep.json")).unwrap();
    assert!(meta.contains("\"licences_cannot_fix\""), "{meta}");
}

/// The suggested fix, applied with `--set`, meets the target.
#[test]
fn the_suggested_fix_works_with_set() {
    let dir = tempfile::tempdir().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/helpdesk-burst.toml",
        "--licences",
        "50..2000:1",
        "--find-min-licences",
        "--max-deferred",
        "0",
        "--set",
        "mta.postfix.overrides.connection_reuse_count=500",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("answer: 353 licences"), "{out}");
}

#[test]
fn set_validates_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // A key the file format does not know: the loader's own diagnostic.
    let o = relaysim(&[
        "run",
        "scenarios/helpdesk-burst.toml",
        "--set",
        "tenant.acme.licence=300",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("licence") && err.contains("licences"), "{err}");
    // An id that is not there.
    let o = relaysim(&[
        "run",
        "scenarios/helpdesk-burst.toml",
        "--set",
        "sender.ticket-bursts.stop=1h",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("no [[sender]] `ticket-bursts`") && err.contains("ticket-burst"),
        "{err}"
    );
    // A value of the wrong kind.
    let o = relaysim(&[
        "run",
        "scenarios/helpdesk-burst.toml",
        "--set",
        "tenant.acme.licences=many",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("licences"), "{}", text(&o.stderr));
}

#[test]
fn set_and_licences_change_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let o = relaysim(&[
        "run",
        "scenarios/helpdesk-burst.toml",
        "--set",
        "tenant.acme.licences=400",
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = relaysim(&[
        "run",
        "scenarios/helpdesk-burst.toml",
        "--licences",
        "400",
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary = std::fs::read_to_string(a.join("summary.json")).unwrap();
    assert!(summary.contains("\"licences\": 400"), "{summary}");
    assert_eq!(
        summary,
        std::fs::read_to_string(b.join("summary.json")).unwrap()
    );
}

/// `--vary` sweeps a key besides licences, as a grid: a column per key, a heatmap of
/// the target's figure for two dimensions.
#[test]
fn vary_makes_a_grid_with_a_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/nightly-batch.toml",
        "--licences",
        "150,200,300",
        "--vary",
        "sender.batch1.burst.0.over=5m,15m,30m",
        "--deadline",
        "1h",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("sweep.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(",sender.batch1.burst.0.over"), "{header}");
    assert_eq!(csv.lines().count(), 1 + 9);
    assert!(csv.contains(",30m\n"), "{csv}");
    let png = std::fs::read(dir.path().join("heatmap.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert!(!dir.path().join("capacity.png").exists());
}

#[test]
fn keep_runs_writes_every_point_folder() {
    let dir = tempfile::tempdir().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/regression/q05-customer-peak.toml",
        "--licences",
        "10,40",
        "--seeds",
        "2",
        "--keep-runs",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for l in ["10", "40"] {
        for k in ["0", "1"] {
            let run = dir.path().join(format!("points/licences-{l}-seed-{k}"));
            assert!(run.join("summary.json").exists(), "{}", run.display());
        }
    }
}

#[test]
fn deliver_by_needs_a_start_and_reads_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/nightly-batch.toml",
        "--licences",
        "150,300",
        "--deliver-by",
        "03:00",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    // The batch starts at 02:00; at 150 licences it is not all out by 03:00.
    assert!(out.contains("0/1") && out.contains("1/1"), "{out}");
    let o = relaysim(&[
        "sweep",
        "scenarios/regression/q05-customer-peak.toml",
        "--licences",
        "10",
        "--deliver-by",
        "06:00",
        "--out",
        dir.path().to_str().unwrap(),
        "--overwrite",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("has no start"),
        "{}",
        text(&o.stderr)
    );
}

/// `compare` puts two runs side by side: every summary figure with the difference,
/// every limit's first hit, and overlay charts.
#[test]
fn compare_writes_the_figures_side_by_side_and_overlay_charts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, out) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("cmp"),
    );
    for (folder, licences) in [(&a, "250"), (&b, "400")] {
        let o = relaysim(&[
            "run",
            "scenarios/helpdesk-burst.toml",
            "--licences",
            licences,
            "--out",
            folder.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let o = relaysim(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(
        md.contains("| tenants.acme.limits.licences | 250 | 400 | +150 |"),
        "{md}"
    );
    assert!(
        md.contains("| recipients.delivered | 11,078 | 11,078 | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("| customer_peak | customer acme | 32827.400 | — | — |"),
        "{md}"
    );
    for chart in [
        "compare_throughput",
        "compare_queue_depth",
        "compare_delays",
    ] {
        assert!(
            std::fs::read(out.join(format!("{chart}.png")))
                .unwrap()
                .starts_with(b"\x89PNG")
        );
        assert!(md.contains(&format!("![{chart}]({chart}.png)")), "{md}");
    }
    // Not a run folder: a clear error.
    let o = relaysim(&[
        "compare",
        a.to_str().unwrap(),
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--overwrite",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("summary.json"),
        "{}",
        text(&o.stderr)
    );
}

/// An unpaid customer's limits (Q6) do not grow with licences, and a policy refusal
/// (P1) is no limit at all: both are said to be beyond licences.
#[test]
fn unpaid_limits_and_policy_refusals_are_beyond_licences() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = relaysim(&[
        "sweep",
        "scenarios/regression/q06-unpaid-tenant.toml",
        "--licences",
        "1..1000:1",
        "--find-min-licences",
        "--max-bounced",
        "0",
        "--out",
        out,
    ]);
    let text_out = text(&o.stdout);
    assert!(!o.status.success(), "{text_out}");
    // After the invoice is paid (4 h) the per-licence limits apply, up to 12 licences.
    assert!(text_out.contains("From 12 licences up"), "{text_out}");
    assert!(text_out.contains("runs exactly alike"), "{text_out}");
    assert!(
        text_out.contains("Q5 customer_peak on trial (50 recipients per customer per peak window)"),
        "{text_out}"
    );
    assert!(text_out.contains("pay the first invoice"), "{text_out}");
    let o = relaysim(&[
        "sweep",
        "scenarios/regression/p01-allowed-senders.toml",
        "--licences",
        "1..1000:1",
        "--find-min-licences",
        "--max-refused",
        "550 5.7.1=0",
        "--seeds",
        "1",
        "--out",
        out,
        "--overwrite",
    ]);
    let text_out = text(&o.stdout);
    assert!(!o.status.success(), "{text_out}");
    assert!(
        text_out.contains("120 replies `550 5.7.1…` (at most 0 wanted)"),
        "{text_out}"
    );
    assert!(text_out.contains("no limit was hit there"), "{text_out}");
    assert!(
        text_out
            .contains("relaysim run scenarios/regression/p01-allowed-senders.toml --licences 4"),
        "{text_out}"
    );
}
