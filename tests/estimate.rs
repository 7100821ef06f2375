//! The pre-run estimate (`scenario::estimate`) against what runs actually produce:
//! within a factor of 2 on every example scenario, for messages and result rows.

use relaysim::scenario::Model;
use relaysim::sim;

#[test]
fn the_estimate_is_within_a_factor_of_two_of_the_actual_run() {
    let mut checked = 0;
    for entry in std::fs::read_dir("scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let model = Model::load(&path).unwrap();
        let e = model.estimate();
        let report = sim::run(&model, model.seed, &mut ()).unwrap();
        let actual = report.total.messages.generated as f64;
        let ratio = e.messages / actual.max(1.0);
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{}: estimated {:.0} messages, generated {actual}",
            path.display(),
            e.messages
        );
        let recipients = report.total.recipients.generated as f64;
        let ratio = e.recipients / recipients.max(1.0);
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{}: estimated {:.0} recipients, generated {recipients}",
            path.display(),
            e.recipients
        );
        let buckets = sim::bucket_count(model.duration, model.bucket);
        assert_eq!(e.buckets, buckets, "{}", path.display());
        assert_eq!(e.throughput_rows, buckets * model.tenants.len() as u64);
        checked += 1;
    }
    assert!(checked >= 5, "{checked} example scenarios");
}
