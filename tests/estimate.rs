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
        let within_2 = |what: &str, estimated: f64, actual: u64| {
            let ratio = estimated / (actual as f64).max(1.0);
            assert!(
                (0.5..=2.0).contains(&ratio),
                "{}: estimated {estimated:.0} {what}, generated {actual}",
                path.display()
            );
        };
        within_2("messages", e.messages, report.total.messages.generated);
        within_2(
            "recipients",
            e.recipients,
            report.total.recipients.generated,
        );
        let buckets = sim::bucket_count(model.duration, model.bucket);
        assert_eq!(e.buckets, buckets, "{}", path.display());
        assert_eq!(e.throughput_rows, buckets * model.tenants.len() as u64);
        checked += 1;
    }
    assert!(checked >= 5, "{checked} example scenarios");
}
