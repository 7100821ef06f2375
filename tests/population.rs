//! Populations (`users_pattern`, `[[sender]] population`): one declaration, many
//! registered users and senders, each member its own stream, reported as one sender.

use relaysim::relay::Reply;
use relaysim::relay::time::SimTime;
use relaysim::scenario::Model;
use relaysim::sim::{self, Observation, Observer};

fn scenario(sender: &str) -> String {
    format!(
        r#"[simulation]
name = "population"
duration = "10h"

[[tenant]]
id = "acme"
licences = 1000
primary_domain = "acme.example"
users = ["boss@acme.example"]
users_pattern = {{ count = 50, pattern = "user{{n}}@acme.example" }}

[[tenant.relay_setting]]
name = "office"
allowed_senders = "registered_users"
only_listed_ips = true
ip_ranges = [{{ cidr = "203.0.113.0/24" }}]

[[mta]]
id = "m"
tenant = "acme"
profile = "postfix"
source_ip = "203.0.113.5"
helo = "mail.acme.example"

[[sender]]
id = "staff"
mta = "m"
envelope_from = ["user{{n}}@acme.example"]
{sender}
"#
    )
}

/// Per registered user (numbered `boss` = 0, then user1 … user50), the messages it
/// relayed: its transactions accepted after DATA (Q3: the user counted).
struct AcceptedPerUser(Vec<u64>);

impl Observer for AcceptedPerUser {
    fn observe(&mut self, _: SimTime, what: &Observation<'_>) {
        if let Observation::Transaction { trace, .. } = what
            && trace.reply == Reply::MessageAccepted
            && let Some(user) = trace.user
        {
            self.0[user.0 as usize] += 1;
        }
    }
}

/// A run with seed 7 and the messages each user relayed in it.
fn run_per_user(model: &Model) -> (sim::RunReport, Vec<u64>) {
    let mut per_user = AcceptedPerUser(vec![0; model.tenants[0].users.len()]);
    let report = sim::run(model, 7, &mut per_user).unwrap();
    (report, per_user.0)
}

#[test]
fn each_member_sends_as_its_own_user_on_its_own_stream() {
    let model = Model::parse("p.toml", &scenario("population = 50\nrate = \"1/h\"")).unwrap();
    assert_eq!(model.senders.len(), 50);
    assert_eq!(model.declared_senders, ["staff"]);
    assert_eq!(model.tenants[0].users.len(), 51);
    let (report, per_user) = run_per_user(&model);
    // One sender in the report, all members' mail in it.
    assert_eq!(report.senders.len(), 1);
    let generated = report.senders[0].counts.messages.generated;
    // 50 members × 1/h × 10 h = 500 expected; Poisson sd ≈ 22.
    assert!((400..=600).contains(&generated), "{generated}");
    assert_eq!(per_user[0], 0, "boss sends nothing");
    assert!(per_user[1..].iter().all(|&n| n > 0), "{per_user:?}");
    assert_eq!(per_user.iter().sum::<u64>(), generated);
    // Own streams: the members do not all send the same number of messages.
    let (min, max) = (per_user[1..].iter().min(), per_user[1..].iter().max());
    assert!(min < max, "{per_user:?}");
    // A run is a pure function of scenario and seed.
    let again = sim::run(&model, 7, &mut ()).unwrap();
    assert_eq!(again.fingerprint, report.fingerprint);
}

#[test]
fn a_rate_per_population_is_shared_by_the_members() {
    let text = scenario("population = 50\nrate = \"50/h\"\nrate_per = \"population\"");
    let model = Model::parse("p.toml", &text).unwrap();
    let report = sim::run(&model, 7, &mut ()).unwrap();
    let generated = report.senders[0].counts.messages.generated;
    assert!((400..=600).contains(&generated), "{generated}");
}

/// A sender without `population` is one sender as before: no member number, its
/// stream named by its id alone (so the outputs of older scenarios do not change).
#[test]
fn a_sender_without_population_is_unchanged() {
    let text = scenario("rate = \"5/h\"").replace(
        "envelope_from = [\"user{n}@acme.example\"]",
        "envelope_from = [\"user1@acme.example\"]",
    );
    let model = Model::parse("p.toml", &text).unwrap();
    assert_eq!(model.senders.len(), 1);
    assert_eq!(model.senders[0].member, None);
    let (report, per_user) = run_per_user(&model);
    assert_eq!(per_user[1], report.total.messages.generated);
}
