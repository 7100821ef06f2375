//! The pre-run estimate (`scenario::estimate`) against what runs actually produce:
//! within a factor of 2 on every example scenario, for messages, result rows and the
//! deepest queue, and of the measured peak memory.

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
        let mut queue = Deepest::default();
        let report = sim::run(&model, model.seed, &mut queue).unwrap();
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
        // The deepest queue, by the fluid model, within a factor of 2 where it
        // matters for memory: a queue under 1,000 messages is under a megabyte, and
        // the model leaves out the small queues behind DoS refusals and an MTA's own
        // concurrency, as its documentation says.
        let actual = queue.deepest as f64;
        let ratio = e.peak_queue / actual.max(1.0);
        assert!(
            (e.peak_queue < 1_000.0 && actual < 1_000.0) || (0.5..=2.0).contains(&ratio),
            "{}: estimated a queue of {:.0}, the run's deepest was {actual}",
            path.display(),
            e.peak_queue
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked} example scenarios");
}

/// The deepest total queue of a run, all MTAs together, from its observations.
#[derive(Default)]
struct Deepest {
    per_mta: Vec<u64>,
    deepest: u64,
}

impl sim::Observer for Deepest {
    fn observe(&mut self, _at: relaysim::relay::time::SimTime, o: &sim::Observation) {
        if let sim::Observation::QueueDepth { mta, depth } = o {
            let i = *mta as usize;
            if self.per_mta.len() <= i {
                self.per_mta.resize(i + 1, 0);
            }
            self.per_mta[i] = *depth as u64;
            self.deepest = self.deepest.max(self.per_mta.iter().sum());
        }
    }
}

const QUEUE_PILE: &str = r#"[simulation]
name = "queue-pile"
duration = "3h"
bucket = "10m"

[relay.dos]
new_connections_per_ip = "1000000/min"
new_connection_burst = 1000000
max_concurrent_per_ip = 1000

[[tenant]]
id = "t"
licences = 100
primary_domain = "t.example"

[[tenant.relay_setting]]
name = "servers"
allowed_senders = "any_address"
only_listed_ips = true
ip_ranges = [{ cidr = "203.0.113.0/24" }]

[[mta]]
id = "mta"
tenant = "t"
profile = "postfix"
source_ip = "203.0.113.10"
helo = "mail.t.example"

[[sender]]
id = "app"
mta = "mta"
envelope_from = ["app@t.example"]
rate = "10/s"
recipients = 3
"#;

/// Memory: the estimate against the peak resident memory of `relaysim run` (which
/// prints both), where memory is mostly one thing: a queue of some 340,000 messages
/// (100 licences pass 900 recipients per 10 minutes, 40 messages a second arrive),
/// and 300,000 idle registered users of a `users_pattern`.
#[test]
fn the_memory_estimate_is_within_a_factor_of_two_of_the_peak() {
    let many_users = QUEUE_PILE
        .replace("duration = \"3h\"", "duration = \"1h\"")
        .replace(
            "licences = 100\n",
            "licences = 100\nusers_pattern = { count = 300000, pattern = \"u{n}@t.example\" }\n",
        )
        .replace("rate = \"10/s\"", "rate = \"10/h\"");
    let deep_queue = QUEUE_PILE.replace("rate = \"10/s\"", "rate = \"40/s\"");
    for (name, text) in [("queue", deep_queue), ("users", many_users)] {
        let (peak, estimated) = peak_and_estimate(&text);
        assert!(
            estimated > 25.0 && (0.5..=2.0).contains(&(estimated / peak)),
            "{name}: peak {peak} MB, estimated {estimated} MB: off by more than a factor of 2"
        );
    }
}

/// Runs `text` with the binary; the peak and estimated megabytes it prints.
fn peak_and_estimate(text: &str) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("peak memory"))
        .unwrap_or_else(|| panic!("no peak memory line in\n{stdout}"));
    let megabytes = |after: &str| -> f64 {
        let rest = &line[line.find(after).unwrap() + after.len()..];
        rest.split(" MB")
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    (megabytes("peak memory "), megabytes("(estimated "))
}
