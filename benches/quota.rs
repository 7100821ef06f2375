//! The quota engine in steady state: 1,000 registered users (10 customers of 100),
//! each with about 10,800 unique recipients live in its rolling day window (10.8 M in
//! all). One operation is a whole accepted transaction for the next user in turn:
//! MAIL check (Q1), RCPT check (Q2 with a new recipient, Q4, Q5) and commit after
//! DATA — during which the windows also expire the entry that left the day. A second
//! benchmark checks a recipient the user already has (Q2: not new) and releases.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use relaysim::relay::quota::{QuotaEngine, Reservation};
use relaysim::relay::{Directory, RecipientId, TenantIx, UserId};
use relaysim::scenario::Model;
use relaysim::time::SimTime;

const CUSTOMERS: u32 = 10;
const USERS_PER_CUSTOMER: u32 = 100;
const USERS: u32 = CUSTOMERS * USERS_PER_CUSTOMER;
/// One transaction every 8 ms: each user gets one every 8 s, 10,800 in a day.
const STEP_MS: u64 = 8;
const LIVE_PER_USER: u64 = 86_400_000 / (STEP_MS * USERS as u64);
const OPS: u64 = 10_000;

fn scenario() -> Model {
    let mut text = String::from(
        "[simulation]\nname = \"bench\"\nduration = \"30d\"\n[relay.quota]\nuser_messages_per_day = 20000\nuser_unique_recipients_per_day = 20000\n",
    );
    for c in 0..CUSTOMERS {
        text.push_str(&format!(
            "[[tenant]]\nid = \"c{c}\"\nlicences = 36000\nprimary_domain = \"c{c}.example\"\nusers = ["
        ));
        for u in 0..USERS_PER_CUSTOMER {
            text.push_str(&format!("\"u{u}@c{c}.example\","));
        }
        text.push_str("]\n");
    }
    Model::parse("bench.toml", &text).expect("the bench scenario is valid")
}

/// The engine after a full day of traffic, and the number of transactions so far.
struct Steady {
    engine: QuotaEngine,
    res: Reservation,
    op: u64,
    probe: u64,
}

impl Steady {
    fn new() -> Self {
        let scenario = scenario();
        let directory = Directory::new(&scenario.tenants);
        let mut s = Steady {
            engine: QuotaEngine::new(&scenario.relay.quota, &scenario.tenants, &directory),
            res: Reservation::default(),
            op: 0,
            probe: 0,
        };
        for _ in 0..LIVE_PER_USER * u64::from(USERS) {
            s.transaction();
        }
        s
    }

    /// One accepted transaction of the next user with a recipient new to it.
    fn transaction(&mut self) {
        let now = SimTime(self.op * STEP_MS);
        let user = (self.op % u64::from(USERS)) as u32;
        let k = (self.op / u64::from(USERS)) % (1 << 20);
        let rcpt = RecipientId(user << 20 | k as u32);
        let tenant = TenantIx(user / USERS_PER_CUSTOMER);
        let e = &mut self.engine;
        e.check_message(now, tenant, Some(UserId(user)), &mut self.res)
            .expect("room for the message");
        e.check_recipient(now, rcpt, &mut self.res)
            .expect("room for the recipient");
        e.commit(now, &mut self.res);
        self.op += 1;
    }

    /// A check of a recipient the user already has, then release.
    fn repeat_check(&mut self) {
        let now = SimTime(self.op * STEP_MS);
        let user = (self.probe % u64::from(USERS)) as u32;
        self.probe += 1;
        let k = (self.op / u64::from(USERS)).saturating_sub(1) % (1 << 20);
        let rcpt = RecipientId(user << 20 | k as u32);
        let tenant = TenantIx(user / USERS_PER_CUSTOMER);
        let e = &mut self.engine;
        e.check_message(now, tenant, Some(UserId(user)), &mut self.res)
            .expect("room for the message");
        black_box(e.check_recipient(now, rcpt, &mut self.res)).expect("a known recipient");
        e.release(now, &mut self.res);
    }
}

fn quota(c: &mut Criterion) {
    let mut steady = Steady::new();
    let user = relaysim::relay::Subject::User(UserId(0));
    let live = steady.engine.committed(
        SimTime(steady.op * STEP_MS),
        relaysim::relay::LimitKey {
            limit: relaysim::relay::LimitKind::UserUniqueRecipients,
            subject: user,
        },
    );
    assert!(live >= 10_000, "{live} live unique recipients per user");
    let mut group = c.benchmark_group("quota");
    group.throughput(Throughput::Elements(OPS));
    group.bench_function("transaction_10k_live_x_1000_users", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                steady.transaction();
            }
        })
    });
    group.bench_function("repeat_recipient_check", |b| {
        b.iter(|| {
            for _ in 0..OPS {
                steady.repeat_check();
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).without_plots();
    targets = quota
}
criterion_main!(benches);
