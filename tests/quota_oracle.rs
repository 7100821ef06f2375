//! Property tests of the quota engine (rules Q1, Q2, Q4, Q5, Q11, Q12) against an
//! independent brute-force oracle: the log of everything committed, re-counted from
//! scratch for every decision with the window written as a membership test.
//!
//! Under random traffic, for every window model:
//! - every check agrees with the oracle: refused exactly when the window (plus the
//!   transaction's own earlier recipients) is full, with the rule's reply;
//! - no window ever holds more than its limit;
//! - hit and cleared alternate per limit, in time order, and a `cleared` happens only
//!   when the window really has room.

use proptest::prelude::*;

use relaysim::relay::quota::{QuotaEngine, Reservation};
use relaysim::relay::{
    Directory, LimitChange, LimitKey, LimitKind, RecipientId, Reply, Subject, TenantIx, UserId,
};
use relaysim::scenario::Model;
use relaysim::time::SimTime;

const DAY_MS: u64 = 1_000;
const PEAK_MS: u64 = 100;
const BUCKET_MS: u64 = 30;
const RESET_MS: u64 = 70;
const USER_MESSAGES: u64 = 5;
const USER_UNIQUE: u64 = 4;
const CUSTOMER_DAY: u64 = 12;
const CUSTOMER_PEAK: u64 = 5;

#[derive(Clone, Copy, Debug)]
enum Window {
    Rolling,
    Fixed,
    Bucketed,
}

impl Window {
    /// Whether an item committed at `s` counts at `t` in a window of `len` ms —
    /// written independently of the engine's expiry arithmetic.
    fn counts(self, s: u64, t: u64, len: u64) -> bool {
        match self {
            Window::Rolling => t - s < len,
            Window::Fixed => {
                let period = |x: u64| (x as i64 - (RESET_MS % len) as i64).div_euclid(len as i64);
                period(s) == period(t)
            }
            Window::Bucketed => t / BUCKET_MS - s / BUCKET_MS < len.div_ceil(BUCKET_MS),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Window::Rolling => "rolling",
            Window::Fixed => "fixed",
            Window::Bucketed => "bucketed",
        }
    }
}

fn scenario(model: Window) -> Model {
    let text = format!(
        r#"
[simulation]
name = "oracle"
duration = "1h"
[relay.quota]
window = "{}"
day_window = "{DAY_MS}ms"
peak_window = "{PEAK_MS}ms"
bucket = "{BUCKET_MS}ms"
fixed_reset_at = "{RESET_MS}ms"
user_messages_per_day = {USER_MESSAGES}
user_unique_recipients_per_day = {USER_UNIQUE}
customer_recipients_per_licence_per_day = {CUSTOMER_DAY}
customer_recipients_per_licence_per_peak = {CUSTOMER_PEAK}
[[tenant]]
id = "t"
licences = 1
primary_domain = "t.example"
users = ["a@t.example", "b@t.example"]
"#,
        model.name()
    );
    Model::parse("oracle.toml", &text).unwrap()
}

/// One attempted transaction.
#[derive(Clone, Debug)]
struct Op {
    gap_ms: u64,
    /// 0, 1: a registered user; 2: an unregistered sender.
    user: u32,
    rcpts: Vec<u32>,
    abort: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0u64..80,
        0u32..3,
        prop::collection::vec(0u32..7, 1..5),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(gap_ms, user, rcpts, abort)| Op {
            gap_ms,
            user,
            rcpts,
            abort,
        })
}

/// The committed log.
#[derive(Default)]
struct Log {
    /// (time, user, recipients)
    messages: Vec<(u64, Option<u32>, Vec<u32>)>,
}

impl Log {
    fn user_messages(&self, m: Window, t: u64, u: u32) -> u64 {
        self.messages
            .iter()
            .filter(|(s, user, _)| *user == Some(u) && m.counts(*s, t, DAY_MS))
            .count() as u64
    }

    fn user_unique(&self, m: Window, t: u64, u: u32) -> std::collections::BTreeSet<u32> {
        self.messages
            .iter()
            .filter(|(s, user, _)| *user == Some(u) && m.counts(*s, t, DAY_MS))
            .flat_map(|(_, _, r)| r.iter().copied())
            .collect()
    }

    fn customer(&self, m: Window, t: u64, len: u64) -> u64 {
        self.messages
            .iter()
            .filter(|(s, _, _)| m.counts(*s, t, len))
            .map(|(_, _, r)| r.len() as u64)
            .sum()
    }
}

fn run(model: Window, ops: &[Op]) -> Result<(), TestCaseError> {
    let scenario = scenario(model);
    let directory = Directory::new(&scenario.tenants);
    let mut engine = QuotaEngine::new(&scenario.relay.quota, &scenario.tenants, &directory);
    let tenant = TenantIx(0);
    let mut log = Log::default();
    let mut res = Reservation::default();
    let mut now = 0u64;
    let mut events = Vec::new();
    for op in ops {
        now += op.gap_ms;
        let t = SimTime(now);
        engine.handle_timeout(t);
        let user = (op.user < 2).then_some(op.user);
        let got = engine.check_message(t, tenant, user.map(UserId), &mut res);
        let full = user.is_some_and(|u| log.user_messages(model, now, u) + 1 > USER_MESSAGES);
        prop_assert_eq!(got.is_err(), full, "Q1 at {} ms", now);
        if let Err(reply) = got {
            prop_assert_eq!(reply, Reply::DailyUserLimit);
            events.extend(std::iter::from_fn(|| engine.poll_event()));
            continue;
        }
        let mut accepted: Vec<u32> = Vec::new();
        for &r in &op.rcpts {
            let got = engine.check_recipient(t, RecipientId(r), &mut res);
            let expected = if let Some(u) = user {
                let mut live = log.user_unique(model, now, u);
                live.extend(&accepted);
                if !live.contains(&r) && live.len() as u64 + 1 > USER_UNIQUE {
                    Err(Reply::DailyUserLimit)
                } else {
                    Ok(())
                }
            } else {
                Ok(())
            };
            let pending = accepted.len() as u64;
            let expected = expected.and_then(|()| {
                if log.customer(model, now, DAY_MS) + pending + 1 > CUSTOMER_DAY {
                    Err(Reply::DailyCustomerLimit)
                } else if log.customer(model, now, PEAK_MS) + pending + 1 > CUSTOMER_PEAK {
                    Err(Reply::PeakCustomerLimit)
                } else {
                    Ok(())
                }
            });
            prop_assert_eq!(got, expected, "rcpt {} at {} ms", r, now);
            if got.is_ok() {
                accepted.push(r);
            }
        }
        if op.abort || accepted.is_empty() {
            engine.release(t, &mut res);
        } else {
            engine.commit(t, &mut res);
            log.messages.push((now, user, accepted));
        }
        // No window ever holds more than its limit, and the engine's counts are the
        // oracle's.
        let customer = Subject::Customer(tenant);
        let checks = [
            (
                LimitKind::CustomerDay,
                customer,
                log.customer(model, now, DAY_MS),
                CUSTOMER_DAY,
            ),
            (
                LimitKind::CustomerPeak,
                customer,
                log.customer(model, now, PEAK_MS),
                CUSTOMER_PEAK,
            ),
        ]
        .into_iter()
        .chain((0..2).flat_map(|u| {
            let s = Subject::User(UserId(u));
            [
                (
                    LimitKind::UserMessages,
                    s,
                    log.user_messages(model, now, u),
                    USER_MESSAGES,
                ),
                (
                    LimitKind::UserUniqueRecipients,
                    s,
                    log.user_unique(model, now, u).len() as u64,
                    USER_UNIQUE,
                ),
            ]
        }))
        .collect::<Vec<_>>();
        for (limit, subject, oracle, max) in checks {
            prop_assert!(oracle <= max, "{:?} holds {} > {}", limit, oracle, max);
            let engine_count = engine.committed(t, LimitKey { limit, subject });
            prop_assert_eq!(
                engine_count,
                oracle,
                "{:?} {:?} at {} ms",
                limit,
                subject,
                now
            );
        }
        events.extend(std::iter::from_fn(|| engine.poll_event()));
    }
    // Hit and cleared alternate per limit, in time order; a clear means room.
    let mut last_time = 0;
    let mut state: std::collections::BTreeMap<LimitKey, LimitChange> = Default::default();
    for e in &events {
        prop_assert!(e.time.as_millis() >= last_time, "events out of order");
        last_time = e.time.as_millis();
        let previous = state.insert(e.key, e.change);
        match e.change {
            LimitChange::Hit => prop_assert_ne!(previous, Some(LimitChange::Hit)),
            LimitChange::Cleared => {
                prop_assert_eq!(previous, Some(LimitChange::Hit));
                prop_assert!(e.used < e.limit_value);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rolling_windows_agree_with_the_oracle(ops in prop::collection::vec(op(), 1..120)) {
        run(Window::Rolling, &ops)?;
    }

    #[test]
    fn fixed_windows_agree_with_the_oracle(ops in prop::collection::vec(op(), 1..120)) {
        run(Window::Fixed, &ops)?;
    }

    #[test]
    fn bucketed_windows_agree_with_the_oracle(ops in prop::collection::vec(op(), 1..120)) {
        run(Window::Bucketed, &ops)?;
    }
}

/// Engine A checks a transaction's recipients one by one, engine B all together
/// (`check_recipients`, what a session's `rcpt_to_each` does): every result and every
/// limit event must be the same. Some transactions have a cap: a refusal of the
/// session's own from that many reserved recipients on (P10), which looks at no window.
fn one_by_one_and_together(model: Window, ops: &[Op]) -> Result<(), TestCaseError> {
    let scenario = scenario(model);
    let directory = Directory::new(&scenario.tenants);
    let mut a = QuotaEngine::new(&scenario.relay.quota, &scenario.tenants, &directory);
    let mut b = a.clone();
    let (mut res_a, mut res_b) = (Reservation::default(), Reservation::default());
    let (mut events_a, mut events_b) = (Vec::new(), Vec::new());
    let mut now = 0u64;
    for op in ops {
        now += op.gap_ms;
        let t = SimTime(now);
        // The timers of some instants run after its commands: then the commands
        // find limits with room and clear them.
        if op.gap_ms % 3 != 0 {
            a.handle_timeout(t);
            b.handle_timeout(t);
        }
        let user = (op.user < 2).then_some(UserId(op.user));
        let cap = [Some(0), Some(1), Some(2), None, None][(op.gap_ms % 5) as usize];
        let own = |reserved: usize| {
            cap.filter(|&c| reserved >= c)
                .map(|_| Reply::TooManyRecipients)
        };
        let got_a = a.check_message(t, TenantIx(0), user, &mut res_a);
        let got_b = b.check_message(t, TenantIx(0), user, &mut res_b);
        prop_assert_eq!(got_a, got_b);
        if got_a.is_ok() {
            let rcpts: Vec<RecipientId> = op.rcpts.iter().map(|&r| RecipientId(r)).collect();
            let one_by_one: Vec<Result<(), Reply>> = rcpts
                .iter()
                .map(|&r| match own(res_a.recipients().len()) {
                    Some(refusal) => Err(refusal),
                    None => a.check_recipient(t, r, &mut res_a),
                })
                .collect();
            let mut together = Vec::new();
            b.check_recipients(t, &rcpts, &mut res_b, own, |r| together.push(r));
            prop_assert_eq!(
                &one_by_one,
                &together,
                "recipients {:?} at {} ms",
                rcpts,
                now
            );
            prop_assert_eq!(res_a.recipients(), res_b.recipients());
            if op.abort || res_a.recipients().is_empty() {
                a.release(t, &mut res_a);
                b.release(t, &mut res_b);
            } else {
                a.commit(t, &mut res_a);
                b.commit(t, &mut res_b);
            }
        }
        events_a.extend(std::iter::from_fn(|| a.poll_event()));
        events_b.extend(std::iter::from_fn(|| b.poll_event()));
        prop_assert_eq!(
            format!("{events_a:?}"),
            format!("{events_b:?}"),
            "at {} ms",
            now
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Q12: a transaction's recipients checked together get the replies, and make the
    /// limit events, of the same recipients checked one by one.
    #[test]
    fn recipients_checked_together_are_checked_as_one_by_one(
        ops in prop::collection::vec(op(), 1..120),
        model in prop_oneof![Just(Window::Rolling), Just(Window::Fixed), Just(Window::Bucketed)],
    ) {
        one_by_one_and_together(model, &ops)?;
    }
}

/// Q12: recipients refused by the session itself (P10) look at no window, together
/// as one by one: a hit limit with room again is cleared by the first recipient that
/// is checked against it, not before.
#[test]
fn recipients_refused_by_the_session_clear_no_limit() {
    let scenario = scenario(Window::Rolling);
    let directory = Directory::new(&scenario.tenants);
    let mut engine = QuotaEngine::new(&scenario.relay.quota, &scenario.tenants, &directory);
    let mut res = Reservation::default();
    let (user, tenant) = (Some(UserId(0)), TenantIx(0));
    engine
        .check_message(SimTime(0), tenant, user, &mut res)
        .unwrap();
    for r in 0..USER_UNIQUE as u32 {
        engine
            .check_recipient(SimTime(0), RecipientId(r), &mut res)
            .unwrap();
    }
    engine.commit(SimTime(0), &mut res);
    engine
        .check_message(SimTime(1), tenant, user, &mut res)
        .unwrap();
    let new = RecipientId(USER_UNIQUE as u32);
    assert_eq!(
        engine.check_recipient(SimTime(1), new, &mut res),
        Err(Reply::DailyUserLimit)
    );
    engine.release(SimTime(1), &mut res);
    let hit: Vec<_> = std::iter::from_fn(|| engine.poll_event()).collect();
    assert_eq!(hit.len(), 1, "{hit:?}");
    // A day later the window has room; no timer has run.
    let later = SimTime(DAY_MS);
    engine.check_message(later, tenant, user, &mut res).unwrap();
    let mut replies = Vec::new();
    let refuse_all = |_| Some(Reply::TooManyRecipients);
    engine.check_recipients(later, &[new, new], &mut res, refuse_all, |r| {
        replies.push(r)
    });
    assert_eq!(replies, [Err(Reply::TooManyRecipients); 2]);
    assert_eq!(engine.poll_event().map(|e| e.change), None);
    engine.check_recipients(later, &[new], &mut res, |_| None, |r| replies.push(r));
    assert_eq!(replies[2], Ok(()));
    let cleared = engine.poll_event().expect("the Q2 limit clears");
    assert_eq!(
        (cleared.change, cleared.time),
        (LimitChange::Cleared, later)
    );
}

/// Engine A keeps its usage meters (exact Q2 windows), engine B does not (Q2 windows
/// that count, made exact near the limit, at a hit or a reading): every result and
/// every limit event must be the same. Two transactions overlap (each stays open
/// while the next one checks), so recipients are held twice and checked while held;
/// B's invariants, its counting windows' structure included, hold after every step.
fn exact_and_counting(model: Window, ops: &[Op]) -> Result<(), TestCaseError> {
    let scenario = scenario(model);
    let directory = Directory::new(&scenario.tenants);
    let mut a = QuotaEngine::new(&scenario.relay.quota, &scenario.tenants, &directory);
    let mut b = a.clone();
    b.set_usage_meters(false);
    let mut open: [Option<(Reservation, Reservation, bool)>; 2] = [None, None];
    let mut now = 0u64;
    let end = |a: &mut QuotaEngine,
               b: &mut QuotaEngine,
               t,
               slot: Option<(Reservation, Reservation, bool)>| {
        if let Some((mut res_a, mut res_b, abort)) = slot {
            if abort || res_a.recipients().is_empty() {
                a.release(t, &mut res_a);
                b.release(t, &mut res_b);
            } else {
                a.commit(t, &mut res_a);
                b.commit(t, &mut res_b);
            }
        }
    };
    for (i, op) in ops.iter().enumerate() {
        now += op.gap_ms;
        let t = SimTime(now);
        a.handle_timeout(t);
        b.handle_timeout(t);
        let slot = i % 2;
        end(&mut a, &mut b, t, open[slot].take());
        let user = (op.user < 2).then_some(UserId(op.user));
        let (mut res_a, mut res_b) = (Reservation::default(), Reservation::default());
        let got_a = a.check_message(t, TenantIx(0), user, &mut res_a);
        let got_b = b.check_message(t, TenantIx(0), user, &mut res_b);
        prop_assert_eq!(got_a, got_b);
        if got_a.is_ok() {
            for &r in &op.rcpts {
                let got_a = a.check_recipient(t, RecipientId(r), &mut res_a);
                let got_b = b.check_recipient(t, RecipientId(r), &mut res_b);
                prop_assert_eq!(got_a, got_b, "rcpt {} at {} ms", r, now);
            }
            open[slot] = Some((res_a, res_b, op.abort));
        }
        let events_a: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
        let events_b: Vec<_> = std::iter::from_fn(|| b.poll_event()).collect();
        prop_assert_eq!(
            format!("{events_a:?}"),
            format!("{events_b:?}"),
            "at {} ms",
            now
        );
        b.check_invariants(t, true).map_err(TestCaseError::fail)?;
    }
    let t = SimTime(now);
    for slot in &mut open {
        end(&mut a, &mut b, t, slot.take());
    }
    for u in 0..2 {
        let key = LimitKey {
            limit: LimitKind::UserUniqueRecipients,
            subject: Subject::User(UserId(u)),
        };
        prop_assert_eq!(a.committed(t, key), b.committed(t, key));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Q2, Q12: an engine without usage meters (a run nobody reads them from)
    /// decides every check, and makes every limit event, as one with them.
    #[test]
    fn q02_counting_windows_decide_as_exact_ones(
        ops in prop::collection::vec(op(), 1..120),
        model in prop_oneof![Just(Window::Rolling), Just(Window::Fixed), Just(Window::Bucketed)],
    ) {
        exact_and_counting(model, &ops)?;
    }
}
