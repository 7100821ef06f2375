//! `relaysim import --fit` on a log made from a known model: three days of a
//! Postfix log whose hourly counts, senders and recipients are known, fitted back.

use import::output::{Options, Simulate};
use import::{Format, Outcome, Record, Stamp};
use rand::{RngExt, SeedableRng};

const T0: i64 = 1_772_409_600_000; // 2026-03-02T00:00:00Z
const DAYS: i64 = 3;
const POOL: usize = 3_000;
const ZIPF: f64 = 0.9;

/// Messages in hour `h` of each day: 10 at night, 50 in office hours.
fn per_hour(h: i64) -> i64 {
    if (9..17).contains(&h) { 50 } else { 10 }
}

fn at(ms: i64) -> Stamp {
    Stamp {
        ms: T0 + ms,
        offset: Some(0),
    }
}

fn simulate(text: &str) -> Result<Vec<[u64; 2]>, String> {
    let model = scenario::Model::parse("fitted.toml", text).map_err(|e| e.render(false))?;
    sim::hourly::generated_per_hour(&model, model.seed).map_err(|e| e.to_string())
}

/// The log: every fifth message from one of 30 occasional senders, the rest from
/// app@acme.example; 1 or 2 recipients drawn from a Zipf law over `POOL`.
fn log() -> (String, u64) {
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(11);
    let h: f64 = (1..=POOL).map(|r| (r as f64).powf(-ZIPF)).sum();
    let cdf: Vec<f64> = (1..=POOL)
        .scan(0.0, |acc, r| {
            *acc += (r as f64).powf(-ZIPF) / h;
            Some(*acc)
        })
        .collect();
    let mut lines = Vec::new();
    let mut n = 0u64;
    for day in 0..DAYS {
        for hour in 0..24 {
            let count = per_hour(hour);
            for k in 0..count {
                let ms = (day * 24 + hour) * 3_600_000 + k * 3_600_000 / count + 30_000;
                let from = if n % 5 == 4 {
                    format!("u{}@acme.example", n / 5 % 30)
                } else {
                    "app@acme.example".to_string()
                };
                let rcpts: Vec<String> = (0..1 + n % 2)
                    .map(|_| {
                        let u: f64 = rng.random();
                        format!("r{}@example.org", cdf.partition_point(|&c| c < u))
                    })
                    .collect();
                let id = format!("mx/postfix:Q{n:X}");
                let mut records = vec![Record::Queued {
                    id: id.clone(),
                    at: at(ms),
                    from,
                    size: Some(10_000 + 1_000 * (n % 3)),
                    recipients: Some(rcpts.len() as u32),
                    host: "mx".into(),
                }];
                for r in rcpts {
                    records.push(Record::Attempt {
                        id: id.clone(),
                        at: at(ms + 1_000),
                        rcpt: r,
                        outcome: Outcome::Sent,
                        reply: None,
                    });
                }
                records.push(Record::Removed { id });
                for r in &records {
                    lines.push(import::postfix::render(r, "mx", at(ms + 1_000)));
                }
                n += 1;
            }
        }
    }
    (lines.join("\n") + "\n", n)
}

fn import_fitted(dir: &std::path::Path) -> (import::output::Imported, String) {
    let (text, _) = log();
    let path = dir.join("mail.log");
    std::fs::write(&path, text).unwrap();
    let out = dir.join("out");
    let imported = import::write_folder(&Options {
        format: Some(Format::Postfix),
        logs: vec![path],
        year: None,
        out: out.clone(),
        overwrite: true,
        fit: Some(simulate as Simulate),
        anonymise: None,
    })
    .unwrap();
    (
        imported,
        std::fs::read_to_string(out.join("fitted.toml")).unwrap(),
    )
}

#[test]
fn a_known_diurnal_model_is_fitted_back() {
    let dir = tempfile::tempdir().unwrap();
    let (imported, fitted) = import_fitted(dir.path());
    let fit = imported.fit.expect("--fit");
    // app@acme.example on its own; the 30 occasional senders (under 5 % each) share.
    let names: Vec<(&str, usize)> = fit
        .senders
        .iter()
        .map(|s| (s.name.as_str(), s.envelope_from.len()))
        .collect();
    assert_eq!(names, [("1", 1), ("others", 30)]);
    // Every hour of the day covered three times: the weights are the counts per
    // hour (the log ends at 23:54:31 on the third day, so 23h's last hour counts
    // 54.5 minutes: 10.3 there).
    for h in 0..24 {
        let sum: f64 = fit.senders.iter().map(|s| s.weights[h]).sum();
        let want = per_hour(h as i64) as f64;
        assert!(
            (sum - want).abs() / want < 0.035,
            "hour {h}: {sum} vs {want}"
        );
    }
    // 1 and 2 recipients in turn: geometric with mean about 1.5.
    let r = &fit.senders[0].recipients;
    assert_eq!(r.toml, format!("\"geometric:{}\"", r.mean));
    assert!((r.mean - 1.5).abs() < 0.02, "{r:?}");
    let pool = fit.senders[0].pool.as_ref().unwrap();
    assert!(
        (pool.once as f64 - pool.expected_once).abs() < 0.2 * pool.once as f64,
        "{pool:?}"
    );
    assert!((0.5..1.3).contains(&pool.zipf_exponent), "{pool:?}");
    // The hours of the log beside the fit: 72 hours, every message counted.
    assert_eq!(fit.hours.len(), 72);
    let observed: u64 = fit.hours.iter().map(|h| h.observed).sum();
    let expected: f64 = fit.hours.iter().map(|h| h.expected).sum();
    let simulated: u64 = fit.hours.iter().map(|h| h.simulated).sum();
    assert_eq!(observed, log().1);
    assert!((expected - observed as f64).abs() / (observed as f64) < 0.02);
    // A Poisson count of about 1,900: well within 10 %.
    assert!(
        (simulated as f64 - observed as f64).abs() / (observed as f64) < 0.1,
        "{simulated} vs {observed}"
    );
    // The fitted scenario scales: twice the traffic at traffic_growth 2.
    let grown =
        scenario::overrides::apply(&fitted, &["simulation.traffic_growth=2".parse().unwrap()])
            .unwrap();
    let twice: u64 = simulate(&grown).unwrap().iter().map(|h| h[0]).sum();
    assert!(
        (twice as f64 / observed as f64 - 2.0).abs() < 0.15,
        "{twice} vs 2 × {observed}"
    );
}

#[test]
fn fit_hours_csv_has_a_row_per_hour_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    import_fitted(dir.path());
    let text = std::fs::read_to_string(dir.path().join("out/fit_hours.csv")).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "hour_start_s,observed_messages,expected_messages,simulated_messages,observed_recipients,simulated_recipients,time"
    );
    assert_eq!(rows.len(), 1 + 72);
    assert!(rows[1].starts_with("0,10,"), "{}", rows[1]);
    assert!(rows[1].ends_with(",2026-03-02T00:00:00Z"), "{}", rows[1]);
    assert!(rows[10].starts_with("32400,50,"), "{}", rows[10]);
}
