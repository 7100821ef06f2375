//! The quota engine (rules Q1–Q13): per registered user, messages (Q1) and unique
//! recipients (Q2) in the day window; per customer, non-unique recipients in the day
//! (Q4) and peak (Q5) windows, with the limits of `limits.rs` (Q6, Q9).
//!
//! Q12 [assumption], when a check is made: Q1 at MAIL FROM; Q2, Q4, Q5 at each RCPT
//! TO in that order; counts are committed when the message is accepted after DATA,
//! for the accepted recipients only. Between check and commit the items are
//! **reserved**, so concurrent transactions can never together overfill a window; a
//! refused recipient, and an aborted transaction, count nothing.
//!
//! Q8: user and customer counts are independent windows; a registered user is
//! charged under its own address (Q3) whatever customer the transaction is charged to.
//!
//! Q10: only transactions relayed through this engine are counted. Mail users send
//! from Gmail (web or app) is outside the model: it never reaches these windows, just
//! as Gmail's own sending limits never see relayed mail.
//!
//! A limit that refuses something is **hit**; it is **cleared** at the instant its
//! window (committed items) has room again. Both are `LimitEvent`s, in time order.

mod key;
pub mod unique;
pub mod usage;
pub mod window;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::config::{Billing, QuotaConfig, TenantConfig, UserLimits};
use crate::directory::{Directory, TenantIx, UserId};
use crate::limit::{LimitChange, LimitEvent, LimitKey, LimitKind, Subject};
use crate::limits::EffectiveLimits;
use crate::reply::Reply;
use crate::time::SimTime;
use key::QuotaKey;
use unique::{CountingHolds, RecipientId, UniqueWindow};
use usage::{Busiest, CustomerMeter, Fullest, UserMeter, UserMeters, WindowUsage};
use window::{CountWindow, ExpiryClock};

/// What one open transaction has reserved (Q12); owned by the session and reused.
#[derive(Clone, Debug, Default)]
pub struct Reservation {
    tenant: Option<TenantIx>,
    user: Option<UserId>,
    /// Accepted recipients of this transaction, in RCPT order; with a user, each is
    /// held in the user's unique window (Q2) until the transaction ends.
    recipients: Vec<RecipientId>,
}

impl Reservation {
    /// An empty reservation that fills `list` (cleared), so that a list's memory can
    /// serve one session after another.
    pub(crate) fn reusing(mut list: Vec<RecipientId>) -> Self {
        list.clear();
        Reservation {
            tenant: None,
            user: None,
            recipients: list,
        }
    }

    /// The recipient list's memory, for [`Reservation::reusing`].
    pub(crate) fn into_list(self) -> Vec<RecipientId> {
        self.recipients
    }

    pub fn recipients(&self) -> &[RecipientId] {
        &self.recipients
    }

    pub fn is_open(&self) -> bool {
        self.tenant.is_some()
    }
}

#[derive(Clone, Debug)]
struct CustomerQuota {
    licences: u32,
    billing: Billing,
    /// Q9: the customer's own per-user limits.
    user_limits: UserLimits,
    limits: EffectiveLimits,
    /// Q13: block every sender at MAIL FROM while a customer limit is hit.
    block_all: bool,
    day: CountWindow,
    peak: CountWindow,
    day_hit: HitState,
    peak_hit: HitState,
    /// When a limit of this customer last went down (fewer licences): until its
    /// windows have turned over they may hold more than the new limit.
    lowered_at: Option<SimTime>,
    /// The highest use of `day` and `peak` in the current bucket (`usage.rs`).
    meter: CustomerMeter,
}

#[derive(Clone, Debug)]
struct UserQuota {
    tenant: TenantIx,
    messages: CountWindow,
    unique: UniqueWindow,
    messages_hit: HitState,
    unique_hit: HitState,
    meter: UserMeter,
}

/// A transaction's customer, and its counted user with the user's Q2 limit, as its
/// RCPTs check them ([`QuotaEngine::recipient_checks`]).
#[derive(Clone, Copy)]
struct RecipientChecks {
    tenant: TenantIx,
    user: Option<(UserId, u64)>,
}

/// All windows of all customers and registered users.
#[derive(Clone, Debug)]
pub struct QuotaEngine {
    config: QuotaConfig,
    day: ExpiryClock,
    peak: ExpiryClock,
    customers: Vec<CustomerQuota>,
    users: Vec<UserQuota>,
    /// Hit limits to look at again, by the time their window frees room.
    recheck: BinaryHeap<Reverse<(SimTime, LimitKey)>>,
    events: VecDeque<LimitEvent>,
    /// Transactions between a successful check at MAIL FROM and their commit or
    /// release: while none is open, no window holds a reservation.
    open_transactions: u32,
    user_meters: UserMeters,
    /// Whether the usage meters are kept (`set_usage_meters`).
    metered: bool,
    /// The recipients held in counting Q2 windows (`unique.rs`).
    counting_holds: CountingHolds,
}

impl QuotaEngine {
    pub fn new(config: &QuotaConfig, tenants: &[TenantConfig], directory: &Directory) -> Self {
        let config = config.clone();
        let customers = tenants
            .iter()
            .map(|t| {
                let licences = t.licences;
                let limits =
                    EffectiveLimits::for_tenant(&config, licences, t.billing, t.user_limits);
                CustomerQuota {
                    licences,
                    billing: t.billing,
                    user_limits: t.user_limits,
                    limits,
                    meter: CustomerMeter {
                        day: Fullest::at(0, limits.customer_day),
                        peak: Fullest::at(0, limits.customer_peak),
                    },
                    block_all: t.block_all_senders_at_customer_limit,
                    day: CountWindow::default(),
                    peak: CountWindow::default(),
                    day_hit: HitState::default(),
                    peak_hit: HitState::default(),
                    lowered_at: None,
                }
            })
            .collect();
        let users = (0..directory.user_count())
            .map(|u| UserQuota {
                tenant: directory.tenant_of_user(UserId(u as u32)),
                messages: CountWindow::default(),
                unique: UniqueWindow::default(),
                messages_hit: HitState::default(),
                unique_hit: HitState::default(),
                meter: UserMeter::default(),
            })
            .collect();
        QuotaEngine {
            day: ExpiryClock::new(&config, config.day_window),
            peak: ExpiryClock::new(&config, config.peak_window),
            config,
            customers,
            users,
            recheck: BinaryHeap::new(),
            events: VecDeque::new(),
            open_transactions: 0,
            user_meters: UserMeters::default(),
            metered: true,
            counting_holds: CountingHolds::default(),
        }
    }

    /// Whether the engine keeps its usage meters (`usage.rs`; on by default), for a
    /// driver that reads them ([`QuotaEngine::end_usage_bucket`]). They need every
    /// user's exact Q2 use after every transaction; without them each user's Q2
    /// window counts (`unique.rs`: an exact set only near the limit), which decides
    /// every check as the exact window does at a fraction of the cost. Set before
    /// the first transaction.
    pub fn set_usage_meters(&mut self, on: bool) {
        assert!(
            self.open_transactions == 0 && self.users.iter().all(|u| u.unique.upper_bound() == 0),
            "usage meters are set before any traffic"
        );
        self.metered = on;
        for (u, uq) in self.users.iter_mut().enumerate() {
            uq.unique = if on {
                UniqueWindow::default()
            } else {
                UniqueWindow::counting(u as u32)
            };
        }
    }

    /// Q12, at MAIL FROM: Q13 (a blocked customer) then Q1 (the user's message
    /// count). On success the message is reserved in `res`.
    pub fn check_message(
        &mut self,
        now: SimTime,
        tenant: TenantIx,
        user: Option<UserId>,
        res: &mut Reservation,
    ) -> Result<(), Reply> {
        debug_assert!(!res.is_open(), "release or commit the previous transaction");
        // The answer at an instant never depends on whether the recheck timer for that
        // instant ran before this command: a hit limit whose window has room now is
        // cleared now, here as at RCPT.
        if self.customers[tenant.0 as usize].block_all {
            for key in QuotaKey::customer(tenant) {
                self.clear_if_room(now, key);
            }
        }
        let c = &mut self.customers[tenant.0 as usize];
        // Q13 [doc, ambiguous], our reading: without the option a customer limit
        // refuses recipients one by one at RCPT (below), so senders whose recipients
        // fit once the window slides get through; with it, while a customer limit is
        // hit, *every* transaction of the customer — registered user or not — is
        // refused at MAIL FROM with the reply of the exceeded limit, until the window
        // has room again (the `cleared` event).
        if c.block_all {
            if c.day_hit.hit {
                c.day_hit.refused();
                return Err(Reply::DailyCustomerLimit);
            }
            if c.peak_hit.hit {
                c.peak_hit.refused();
                return Err(Reply::PeakCustomerLimit);
            }
        }
        if let Some(u) = user {
            self.clear_if_room(now, QuotaKey::UserMessages(u));
            let limit = self.user_limits(u).user_messages;
            let window = &mut self.users[u.0 as usize].messages;
            window.expire(now);
            if !window.fits(1, limit) {
                let used = window.used();
                self.hit(now, QuotaKey::UserMessages(u), used, limit);
                return Err(Reply::DailyUserLimit);
            }
            window.reserved += 1;
            if self.metered {
                let used = window.used();
                self.meter_user(u, |m| m.messages.note(used, limit));
            }
        }
        res.tenant = Some(tenant);
        res.user = user;
        res.recipients.clear();
        self.open_transactions += 1;
        Ok(())
    }

    /// Q12, at each RCPT TO: Q2 (a new unique recipient of the user), Q4, Q5. On
    /// success the recipient is reserved in `res`.
    pub fn check_recipient(
        &mut self,
        now: SimTime,
        rcpt: RecipientId,
        res: &mut Reservation,
    ) -> Result<(), Reply> {
        let mut result = Ok(());
        self.check_recipients(
            now,
            std::slice::from_ref(&rcpt),
            res,
            |_| None,
            |r| {
                result = r;
            },
        );
        result
    }

    /// Q12: [`QuotaEngine::check_recipient`] of each of `rcpts` in turn, each result
    /// handed to `result`: what does not change between the recipients of one
    /// transaction at one instant is looked at once (`recipient_checks`).
    ///
    /// `before` is asked first for each recipient, with the count of recipients
    /// reserved so far: a refusal of the session's own (P9, P10) that it returns is
    /// that recipient's result, and no window is looked at for it.
    pub fn check_recipients(
        &mut self,
        now: SimTime,
        rcpts: &[RecipientId],
        res: &mut Reservation,
        before: impl Fn(usize) -> Option<Reply>,
        mut result: impl FnMut(Result<(), Reply>),
    ) {
        // Looked at when the first recipient is (none may be: then, as one by one,
        // nothing is).
        let mut checks = None;
        let reserved_before = res.recipients.len();
        for &rcpt in rcpts {
            if let Some(refusal) = before(res.recipients.len()) {
                result(Err(refusal));
                continue;
            }
            let looked = match checks {
                Some(looked) => looked,
                None => *checks.insert(self.recipient_checks(now, res)),
            };
            result(self.check_recipient_with(looked, now, rcpt, res));
        }
        // Use only rose in the loop: its fullest moment is now (`note_reserved`).
        if let Some(looked) = checks
            && res.recipients.len() > reserved_before
        {
            self.note_reserved(looked);
        }
    }

    /// What a transaction's RCPTs at `now` look at before their own recipient: the
    /// customer's and the user's hit limits that have room again are cleared (a
    /// `LimitEvent`), their windows expired. Between the RCPTs of one transaction at
    /// one instant none of this changes — no window frees room, and a limit hit by
    /// one of them has none — so it is done once for them all.
    #[inline]
    fn recipient_checks(&mut self, now: SimTime, res: &Reservation) -> RecipientChecks {
        let tenant = res.tenant.expect("check_recipient inside a transaction");
        for key in QuotaKey::customer(tenant) {
            self.clear_if_room(now, key);
        }
        // The user counted (Q3) and its Q2 limit.
        let user = res
            .user
            .map(|u| (u, self.user_limits(u).user_unique_recipients));
        if let Some((u, _)) = user {
            self.clear_if_room(now, QuotaKey::UserUnique(u));
            self.users[u.0 as usize].unique.expire(now);
        }
        let c = &mut self.customers[tenant.0 as usize];
        c.day.expire(now);
        c.peak.expire(now);
        RecipientChecks { tenant, user }
    }

    /// Q2, Q4, Q5 for one recipient, after [`QuotaEngine::recipient_checks`] at the
    /// same instant in the same transaction; the usage meters are noted once after
    /// the transaction's last (`note_reserved`, by [`QuotaEngine::check_recipients`]).
    #[inline]
    fn check_recipient_with(
        &mut self,
        checks: RecipientChecks,
        now: SimTime,
        rcpt: RecipientId,
        res: &mut Reservation,
    ) -> Result<(), Reply> {
        let RecipientChecks { tenant, user } = checks;
        if let Some((u, limit)) = user {
            let window = &mut self.users[u.0 as usize].unique;
            // Q2, Q12: new unless committed or held by any open transaction. Whether
            // it is new (a hash lookup, often a cache miss) matters only when one
            // more would not fit — for a counting window, when one more might not
            // (its bound is at least the exact use).
            if window.upper_bound() + 1 > limit {
                window.make_exact(&mut self.counting_holds);
                if window.used() + 1 > limit && !window.contains(rcpt) {
                    let used = window.used();
                    self.hit(now, QuotaKey::UserUnique(u), used, limit);
                    return Err(Reply::DailyUserLimit);
                }
            }
        }
        let c = &mut self.customers[tenant.0 as usize];
        let (day_limit, peak_limit) = (c.limits.customer_day, c.limits.customer_peak);
        if !c.day.fits(1, day_limit) {
            let used = c.day.used();
            self.hit(now, QuotaKey::CustomerDay(tenant), used, day_limit);
            return Err(Reply::DailyCustomerLimit);
        }
        if !c.peak.fits(1, peak_limit) {
            let used = c.peak.used();
            self.hit(now, QuotaKey::CustomerPeak(tenant), used, peak_limit);
            return Err(Reply::PeakCustomerLimit);
        }
        c.day.reserved += 1;
        c.peak.reserved += 1;
        if let Some((u, _)) = user {
            self.users[u.0 as usize]
                .unique
                .hold(rcpt, &mut self.counting_holds);
        }
        res.recipients.push(rcpt);
        Ok(())
    }

    /// The usage meters of the windows that RCPTs reserved in, after the last of
    /// them at one instant: within one transaction's RCPTs a window's use only rises
    /// (each reserves one, a refusal none, nothing expires), and its limit does not
    /// change, so its fullest moment is after the last — noted once per transaction,
    /// not once per recipient.
    fn note_reserved(&mut self, checks: RecipientChecks) {
        if !self.metered {
            return;
        }
        let RecipientChecks { tenant, user } = checks;
        let c = &mut self.customers[tenant.0 as usize];
        c.meter.day.note(c.day.used(), c.limits.customer_day);
        c.meter.peak.note(c.peak.used(), c.limits.customer_peak);
        if let Some((u, limit)) = user {
            let used = self.users[u.0 as usize].unique.used();
            self.meter_user(u, |m| m.unique.note(used, limit));
        }
    }

    /// Q12: the message was accepted after DATA: commits the message (Q1) and its
    /// accepted recipients (Q2, Q4, Q5) at `now`, and ends the reservation.
    pub fn commit(&mut self, now: SimTime, res: &mut Reservation) {
        let Some(tenant) = res.tenant else { return };
        let n = res.recipients.len() as u64;
        let day_expiry = self.day.expiry(now);
        let c = &mut self.customers[tenant.0 as usize];
        c.day.commit(day_expiry, n);
        c.peak.commit(self.peak.expiry(now), n);
        if let Some(u) = res.user {
            let uq = &mut self.users[u.0 as usize];
            uq.messages.commit(day_expiry, 1);
            // Each recipient committed and let go in one look-up; `end_reservation`
            // then gives back the rest of the reservation.
            for &r in &res.recipients {
                uq.unique
                    .commit_held(r, day_expiry, &mut self.counting_holds);
            }
        }
        self.end_reservation(now, res, Recipients::LetGo);
    }

    /// Ends a transaction without committing (RSET, QUIT, a refused MAIL/DATA, a
    /// closed connection): its reservations are given back.
    pub fn release(&mut self, now: SimTime, res: &mut Reservation) {
        self.end_reservation(now, res, Recipients::Held);
    }

    /// Gives a transaction's reservations back; `recipients` says whether its
    /// recipients are still held in the user's Q2 window.
    fn end_reservation(&mut self, now: SimTime, res: &mut Reservation, recipients: Recipients) {
        let Some(tenant) = res.tenant.take() else {
            return;
        };
        self.open_transactions -= 1;
        let n = res.recipients.len() as u64;
        let c = &mut self.customers[tenant.0 as usize];
        c.day.reserved -= n;
        c.peak.reserved -= n;
        let user = res.user.take();
        if let Some(u) = user {
            let uq = &mut self.users[u.0 as usize];
            uq.messages.reserved -= 1;
            if recipients == Recipients::Held {
                for &r in &res.recipients {
                    uq.unique.unhold(r, &mut self.counting_holds);
                }
            }
        }
        let held = !res.recipients.is_empty();
        res.recipients.clear();
        // A window whose reservations did not change is looked at as a check looks at
        // it (`clear_if_room`: not before its quiet time); the others in full.
        for key in QuotaKey::customer(tenant) {
            if held {
                self.reevaluate(now, key);
            } else {
                self.clear_if_room(now, key);
            }
        }
        if let Some(u) = user {
            let [messages, unique] = QuotaKey::user(u);
            self.reevaluate(now, messages);
            if held {
                self.reevaluate(now, unique);
            } else {
                self.clear_if_room(now, unique);
            }
        }
    }

    /// Q4, Q5, Q6: the customer's licence count changes at `now`.
    pub fn set_licences(
        &mut self,
        now: SimTime,
        tenant: TenantIx,
        licences: u32,
        directory: &Directory,
    ) {
        self.customers[tenant.0 as usize].licences = licences;
        self.refresh_limits(now, tenant, directory);
    }

    /// Q6: the customer pays its first invoice at `now`; the trial limits lift.
    pub fn invoice_paid(&mut self, now: SimTime, tenant: TenantIx, directory: &Directory) {
        self.customers[tenant.0 as usize].billing = Billing::Paid;
        self.refresh_limits(now, tenant, directory);
    }

    fn refresh_limits(&mut self, now: SimTime, tenant: TenantIx, directory: &Directory) {
        let c = &mut self.customers[tenant.0 as usize];
        let before = c.limits;
        c.limits = EffectiveLimits::for_tenant(&self.config, c.licences, c.billing, c.user_limits);
        let l = c.limits;
        // A new limit can make a window fuller (or emptier) without a new item.
        if self.metered {
            c.day.expire(now);
            c.peak.expire(now);
            c.meter.day.note(c.day.used(), l.customer_day);
            c.meter.peak.note(c.peak.used(), l.customer_peak);
            for &u in directory.users_of(tenant) {
                let uq = &mut self.users[u.0 as usize];
                uq.messages.expire(now);
                uq.unique.expire(now);
                let (messages, unique) = (uq.messages.used(), uq.unique.used());
                if messages > 0 || unique > 0 {
                    self.meter_user(u, |m| {
                        m.messages.note(messages, l.user_messages);
                        m.unique.note(unique, l.user_unique_recipients);
                    });
                }
            }
        }
        let c = &mut self.customers[tenant.0 as usize];
        if l.customer_day < before.customer_day
            || l.customer_peak < before.customer_peak
            || l.user_messages < before.user_messages
            || l.user_unique_recipients < before.user_unique_recipients
        {
            c.lowered_at = Some(now);
        }
        for key in QuotaKey::customer(tenant) {
            self.reevaluate(now, key);
        }
        for &u in directory.users_of(tenant) {
            for key in QuotaKey::user(u) {
                self.reevaluate(now, key);
            }
        }
    }

    /// Checks what must hold between two events, without changing anything:
    /// - no transaction open ⇒ no window holds a reservation (reservations balance);
    /// - no window holds more than its limit (Q1, Q2, Q4, Q5), unless the limit went
    ///   down within the last window length (the items were admitted under the old one);
    /// - a limit not hit has no recheck pending; a hit limit is waiting for a commit or
    ///   release (reservations), for a recheck, or can never free room;
    /// - with `full`, every window's own bookkeeping (counts match entries, expiries
    ///   in order): O(live entries).
    pub fn check_invariants(&self, now: SimTime, full: bool) -> Result<(), String> {
        let turnover = self
            .config
            .day_window
            .as_millis()
            .max(self.config.peak_window.as_millis())
            + self.config.bucket.as_millis();
        for (t, c) in self.customers.iter().enumerate() {
            let lowered = c
                .lowered_at
                .is_some_and(|at| now.as_millis() < at.as_millis() + turnover);
            let tenant = TenantIx(t as u32);
            let windows = [
                (
                    LimitKind::CustomerDay,
                    WindowRef::Count(&c.day),
                    c.day_hit,
                    c.limits.customer_day,
                ),
                (
                    LimitKind::CustomerPeak,
                    WindowRef::Count(&c.peak),
                    c.peak_hit,
                    c.limits.customer_peak,
                ),
            ];
            for (limit, window, hit, value) in windows {
                let key = LimitKey {
                    limit,
                    subject: Subject::Customer(tenant),
                };
                self.check_window(now, key, window, hit, value, lowered, full)?;
            }
        }
        // Each counting Q2 window's recipients held in `counting_holds`, for the
        // full check of its structure.
        let mut held_elsewhere = Vec::new();
        if full {
            held_elsewhere.resize(self.users.len(), 0);
            self.counting_holds.count_by_owner(&mut held_elsewhere);
        }
        for (u, uq) in self.users.iter().enumerate() {
            let c = &self.customers[uq.tenant.0 as usize];
            let lowered = c
                .lowered_at
                .is_some_and(|at| now.as_millis() < at.as_millis() + turnover);
            let subject = Subject::User(UserId(u as u32));
            let windows = [
                (
                    LimitKind::UserMessages,
                    WindowRef::Count(&uq.messages),
                    uq.messages_hit,
                    c.limits.user_messages,
                ),
                (
                    LimitKind::UserUniqueRecipients,
                    WindowRef::Unique(&uq.unique, held_elsewhere.get(u).copied()),
                    uq.unique_hit,
                    c.limits.user_unique_recipients,
                ),
            ];
            for (limit, window, hit, value) in windows {
                self.check_window(
                    now,
                    LimitKey { limit, subject },
                    window,
                    hit,
                    value,
                    lowered,
                    full,
                )?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_window(
        &self,
        now: SimTime,
        key: LimitKey,
        window: WindowRef<'_>,
        hit: HitState,
        limit: u64,
        lowered: bool,
        full: bool,
    ) -> Result<(), String> {
        let name = key.limit.name();
        let (committed, reserved, holds) = match window {
            WindowRef::Count(w) => (w.committed(), w.reserved, w.reserved != 0),
            WindowRef::Unique(w, _) => {
                if hit.hit && w.is_counting() {
                    return Err(format!(
                        "{name} of {:?}: hit, but its window only counts",
                        key.subject
                    ));
                }
                let (committed, reserved) = w.counts_for_check(limit, &self.counting_holds);
                (committed, reserved, w.holds_any())
            }
        };
        if self.open_transactions == 0 && holds {
            return Err(format!(
                "{name} of {:?}: {reserved} reserved with no transaction open",
                key.subject
            ));
        }
        if !lowered && committed + reserved > limit {
            return Err(format!(
                "{name} of {:?}: {committed} committed + {reserved} reserved > limit {limit}",
                key.subject
            ));
        }
        if !hit.hit && hit.recheck_at.is_some() {
            return Err(format!(
                "{name} of {:?}: not hit but a recheck is pending",
                key.subject
            ));
        }
        if hit.hit && now < hit.quiet_until && committed + reserved < limit {
            return Err(format!(
                "{name} of {:?}: has room ({committed} + {reserved} < {limit}) but is taken as \
                 hit without looking until {:?}",
                key.subject, hit.quiet_until
            ));
        }
        if hit.hit && reserved == 0 && hit.recheck_at.is_none() {
            let frees = match window {
                WindowRef::Count(w) => w.frees_room_at(limit),
                WindowRef::Unique(w, _) => w.frees_room_at(limit),
            };
            if frees.is_some() {
                return Err(format!(
                    "{name} of {:?}: hit, its window frees room at {frees:?}, but no recheck is pending",
                    key.subject
                ));
            }
        }
        if full {
            match window {
                WindowRef::Count(w) => w.check_structure(),
                WindowRef::Unique(w, held_elsewhere) => {
                    w.check_structure(held_elsewhere.unwrap_or_default())
                }
            }
            .map_err(|e| format!("{name} of {:?}: {e}", key.subject))?;
        }
        Ok(())
    }

    /// When `handle_timeout` next has something to do.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.recheck.peek().map(|Reverse((t, _))| *t)
    }

    /// Clears the hit limits whose windows have room again by `now`.
    pub fn handle_timeout(&mut self, now: SimTime) {
        while let Some(&Reverse((t, key))) = self.recheck.peek() {
            if t > now {
                break;
            }
            self.recheck.pop();
            let key = QuotaKey::of(key);
            let state = self.slot(key).hit;
            if state.recheck_at == Some(t) {
                state.recheck_at = None;
                self.reevaluate(t, key);
            }
        }
    }

    /// The next limit state change, in time order.
    pub fn poll_event(&mut self) -> Option<LimitEvent> {
        self.events.pop_front()
    }

    /// Committed count of a limit's window at `now` (for tests and oracles).
    pub fn committed(&mut self, now: SimTime, key: LimitKey) -> u64 {
        let mut slot = self.slot(QuotaKey::of(key));
        slot.window.expire(now);
        slot.window.committed()
    }

    /// The use of a quota window at `now` (committed and held) and the limit in
    /// force for it. `key` must be a quota limit of a customer or a user.
    pub fn reading(&mut self, now: SimTime, key: LimitKey) -> (u64, u64) {
        let mut slot = self.slot(QuotaKey::of(key));
        slot.window.expire(now);
        (slot.window.used(), slot.limit)
    }

    /// The limits hit now, each as a `Hit` event of `now` whose `used` is the
    /// window's use now and whose `refusals` counts every refusal since the hit; in
    /// customer then user order. A driver reports them at its horizon.
    pub fn still_hit(&mut self, now: SimTime) -> Vec<LimitEvent> {
        let keys: Vec<QuotaKey> = (0..self.customers.len())
            .flat_map(|t| QuotaKey::customer(TenantIx(t as u32)))
            .chain((0..self.users.len()).flat_map(|u| QuotaKey::user(UserId(u as u32))))
            .filter(|&k| self.is_hit(k))
            .collect();
        keys.into_iter()
            .map(|key| {
                let tenant = self.tenant_of(key);
                let mut slot = self.slot(key);
                slot.window.expire(now);
                LimitEvent {
                    time: now,
                    tenant: Some(tenant),
                    key: key.limit_key(),
                    change: LimitChange::Hit,
                    reply: reply_of(key.limit()),
                    used: slot.window.used(),
                    limit_value: slot.limit,
                    refusals: u64::from(slot.hit.refusals),
                }
            })
            .collect()
    }

    /// Ends a bucket at `end`: appends to `out` the highest use of every customer's
    /// two windows in the bucket (Q4, Q5; customer order), then, per user limit (Q1,
    /// Q2), the `busiest_users` users with the highest use in it; and starts the
    /// next bucket's maxima at each window's use at `end` (`usage.rs`).
    pub fn end_usage_bucket(
        &mut self,
        end: SimTime,
        busiest_users: usize,
        out: &mut Vec<WindowUsage>,
    ) {
        assert!(
            self.metered,
            "usage buckets of an engine without usage meters"
        );
        let mut messages = Busiest::new(busiest_users);
        let mut unique = Busiest::new(busiest_users);
        let mut active = std::mem::take(&mut self.user_meters.active);
        active.retain(|&u| {
            let uq = &mut self.users[u.0 as usize];
            let tenant = uq.tenant;
            let limits = self.customers[tenant.0 as usize].limits;
            let [m_key, u_key] = QuotaKey::user(u).map(QuotaKey::limit_key);
            messages.offer(WindowUsage {
                tenant,
                key: m_key,
                max_used: uq.meter.messages.used,
                limit_value: uq.meter.messages.limit,
            });
            unique.offer(WindowUsage {
                tenant,
                key: u_key,
                max_used: uq.meter.unique.used,
                limit_value: uq.meter.unique.limit,
            });
            uq.messages.expire(end);
            uq.unique.expire(end);
            uq.meter.messages = Fullest::at(uq.messages.used(), limits.user_messages);
            uq.meter.unique = Fullest::at(uq.unique.used(), limits.user_unique_recipients);
            let keep = uq.meter.messages.used > 0 || uq.meter.unique.used > 0;
            uq.meter.listed = keep;
            keep
        });
        self.user_meters.active = active;
        for (t, c) in self.customers.iter_mut().enumerate() {
            let tenant = TenantIx(t as u32);
            c.day.expire(end);
            c.peak.expire(end);
            let [day, peak] = QuotaKey::customer(tenant).map(QuotaKey::limit_key);
            for (key, fullest) in [(day, c.meter.day), (peak, c.meter.peak)] {
                out.push(WindowUsage {
                    tenant,
                    key,
                    max_used: fullest.used,
                    limit_value: fullest.limit,
                });
            }
            c.meter = CustomerMeter {
                day: Fullest::at(c.day.used(), c.limits.customer_day),
                peak: Fullest::at(c.peak.used(), c.limits.customer_peak),
            };
        }
        messages.drain_into(out);
        unique.drain_into(out);
    }

    /// Updates user `u`'s running maxima, listing the user among the active ones.
    #[inline(always)]
    fn meter_user(&mut self, u: UserId, update: impl FnOnce(&mut UserMeter)) {
        let meter = &mut self.users[u.0 as usize].meter;
        update(meter);
        if !meter.listed {
            meter.listed = true;
            self.user_meters.active.push(u);
        }
    }

    fn user_limits(&self, u: UserId) -> &EffectiveLimits {
        &self.customers[self.users[u.0 as usize].tenant.0 as usize].limits
    }

    fn tenant_of(&self, key: QuotaKey) -> TenantIx {
        match key {
            QuotaKey::CustomerDay(t) | QuotaKey::CustomerPeak(t) => t,
            QuotaKey::UserMessages(u) | QuotaKey::UserUnique(u) => self.users[u.0 as usize].tenant,
        }
    }

    /// The window, hit flag and current limit behind `key`.
    fn slot(&mut self, key: QuotaKey) -> Slot<'_> {
        let limits = self.customers[self.tenant_of(key).0 as usize].limits;
        match key {
            QuotaKey::CustomerDay(t) => {
                let c = &mut self.customers[t.0 as usize];
                Slot {
                    window: Window::Count(&mut c.day),
                    hit: &mut c.day_hit,
                    limit: limits.customer_day,
                }
            }
            QuotaKey::CustomerPeak(t) => {
                let c = &mut self.customers[t.0 as usize];
                Slot {
                    window: Window::Count(&mut c.peak),
                    hit: &mut c.peak_hit,
                    limit: limits.customer_peak,
                }
            }
            QuotaKey::UserMessages(u) => {
                let uq = &mut self.users[u.0 as usize];
                Slot {
                    window: Window::Count(&mut uq.messages),
                    hit: &mut uq.messages_hit,
                    limit: limits.user_messages,
                }
            }
            QuotaKey::UserUnique(u) => {
                let uq = &mut self.users[u.0 as usize];
                // A hit, a recheck and a reading need the exact use.
                uq.unique.make_exact(&mut self.counting_holds);
                Slot {
                    window: Window::Unique(&mut uq.unique),
                    hit: &mut uq.unique_hit,
                    limit: limits.user_unique_recipients,
                }
            }
        }
    }

    /// A hit limit whose window has room by `now` is cleared now, before a check at
    /// the same instant can use that room (the recheck timer may come later in the
    /// same instant).
    #[inline(always)]
    fn clear_if_room(&mut self, now: SimTime, key: QuotaKey) {
        if let Some(state) = self.hit_state(key)
            && now >= state.quiet_until
        {
            self.reevaluate_hit(now, key);
        }
    }

    /// The hit state of `key` when it is hit.
    #[inline(always)]
    fn hit_state(&self, key: QuotaKey) -> Option<HitState> {
        let state = match key {
            QuotaKey::CustomerDay(t) => self.customers[t.0 as usize].day_hit,
            QuotaKey::CustomerPeak(t) => self.customers[t.0 as usize].peak_hit,
            QuotaKey::UserMessages(u) => self.users[u.0 as usize].messages_hit,
            QuotaKey::UserUnique(u) => self.users[u.0 as usize].unique_hit,
        };
        state.hit.then_some(state)
    }

    /// The hit state of `key`, to change: what a refusal by a limit already hit
    /// changes, without the window and limit a [`Slot`] also looks up.
    #[inline(always)]
    fn hit_state_mut(&mut self, key: QuotaKey) -> &mut HitState {
        match key {
            QuotaKey::CustomerDay(t) => &mut self.customers[t.0 as usize].day_hit,
            QuotaKey::CustomerPeak(t) => &mut self.customers[t.0 as usize].peak_hit,
            QuotaKey::UserMessages(u) => &mut self.users[u.0 as usize].messages_hit,
            QuotaKey::UserUnique(u) => &mut self.users[u.0 as usize].unique_hit,
        }
    }

    /// Whether the limit behind `key` is hit: the one question asked of every limit
    /// on every command, so it reads the flag without building a [`Slot`].
    #[inline(always)]
    fn is_hit(&self, key: QuotaKey) -> bool {
        self.hit_state(key).is_some()
    }

    /// A refusal by `key`: records the hit unless it is already hit.
    #[inline]
    fn hit(&mut self, now: SimTime, key: QuotaKey, used: u64, limit_value: u64) {
        let state = self.hit_state_mut(key);
        if state.hit {
            // Most refusals are by a limit hit before: one count.
            state.refused();
            return;
        }
        self.first_hit(now, key, used, limit_value);
    }

    /// [`QuotaEngine::hit`] of a limit not hit before: the hit event, and a look at
    /// when it can clear.
    #[inline(never)]
    fn first_hit(&mut self, now: SimTime, key: QuotaKey, used: u64, limit_value: u64) {
        let slot = self.slot(key);
        slot.hit.hit = true;
        slot.hit.refused();
        let reserved = slot.window.reserved();
        self.events.push_back(LimitEvent {
            time: now,
            tenant: Some(self.tenant_of(key)),
            key: key.limit_key(),
            change: LimitChange::Hit,
            reply: reply_of(key.limit()),
            used,
            limit_value,
            refusals: 1,
        });
        if reserved == 0 {
            self.reevaluate(now, key);
        }
    }

    /// Looks at a hit limit at `now`: cleared if its window has room, else looked at
    /// again when enough committed items expire. While an open transaction holds
    /// reservations in the window, its commit or release looks again instead.
    #[inline(always)]
    fn reevaluate(&mut self, now: SimTime, key: QuotaKey) {
        // Most limits are not hit most of the time: that answer is one load, inlined.
        if self.is_hit(key) {
            self.reevaluate_hit(now, key);
        }
    }

    /// [`QuotaEngine::reevaluate`] of a limit that is hit.
    #[inline(never)]
    fn reevaluate_hit(&mut self, now: SimTime, key: QuotaKey) {
        let tenant = self.tenant_of(key);
        let mut slot = self.slot(key);
        if !slot.hit.hit {
            return;
        }
        slot.window.expire(now);
        let (used, limit_value) = (slot.window.used(), slot.limit);
        if used < limit_value {
            let refusals = u64::from(slot.hit.refusals);
            *slot.hit = HitState::default();
            self.events.push_back(LimitEvent {
                time: now,
                tenant: Some(tenant),
                key: key.limit_key(),
                change: LimitChange::Cleared,
                reply: reply_of(key.limit()),
                used,
                limit_value,
                refusals,
            });
        } else if slot.window.reserved() == 0 {
            let frees = slot.window.frees_room_at(limit_value);
            slot.hit.quiet_until = frees.unwrap_or(SimTime::MAX);
            if let Some(t) = frees
                && slot.hit.recheck_at != Some(t)
            {
                slot.hit.recheck_at = Some(t);
                self.recheck.push(Reverse((t, key.limit_key())));
            }
        } else {
            slot.hit.quiet_until = SimTime::ZERO;
        }
    }
}

/// A window for reading, of either kind (a Q2 window with its recipients held in
/// `counting_holds`, counted for a full check).
#[derive(Clone, Copy)]
enum WindowRef<'a> {
    Count(&'a CountWindow),
    Unique(&'a UniqueWindow, Option<u64>),
}

/// Whether a limit is hit, and when it is due to be looked at again (one heap entry
/// per limit, however many refusals).
#[derive(Clone, Copy, Debug, Default)]
struct HitState {
    hit: bool,
    recheck_at: Option<SimTime>,
    /// Before this instant the hit limit cannot clear by itself: its window held no
    /// reservation when it was last looked at, and committed items leave no earlier.
    /// Only a release, a commit or a new limit can clear it sooner, and each of those
    /// looks at it again (`reevaluate`), which sets this anew. So a check before it
    /// need not look (`clear_if_room`). `SimTime::ZERO`: look every time.
    quiet_until: SimTime,
    /// Commands refused by the limit since it was hit (the hit's own included).
    refusals: u32,
}

impl HitState {
    fn refused(&mut self) {
        self.refusals = self.refusals.saturating_add(1);
    }
}

/// Where an ending transaction's recipients are in the user's Q2 window.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recipients {
    /// Still held: they are let go.
    Held,
    /// Already let go (committed with `UniqueWindow::commit_held`).
    LetGo,
}

/// The window, hit state and limit of one `LimitKey`.
struct Slot<'a> {
    window: Window<'a>,
    hit: &'a mut HitState,
    limit: u64,
}

enum Window<'a> {
    Count(&'a mut CountWindow),
    Unique(&'a mut UniqueWindow),
}

impl Window<'_> {
    fn expire(&mut self, now: SimTime) {
        match self {
            Window::Count(w) => w.expire(now),
            Window::Unique(w) => w.expire(now),
        }
    }

    fn committed(&self) -> u64 {
        match self {
            Window::Count(w) => w.committed(),
            Window::Unique(w) => w.distinct(),
        }
    }

    fn reserved(&self) -> u64 {
        match self {
            Window::Count(w) => w.reserved,
            Window::Unique(w) => w.reserved(),
        }
    }

    fn used(&self) -> u64 {
        self.committed() + self.reserved()
    }

    fn frees_room_at(&self, limit: u64) -> Option<SimTime> {
        match self {
            Window::Count(w) => w.frees_room_at(limit),
            Window::Unique(w) => w.frees_room_at(limit),
        }
    }
}

/// The refusal each quota limit gives (Q1, Q2: 550 5.4.5; Q4: 550 5.7.1; Q5: 450 4.2.1).
pub fn reply_of(limit: LimitKind) -> Reply {
    match limit {
        LimitKind::UserMessages | LimitKind::UserUniqueRecipients => Reply::DailyUserLimit,
        LimitKind::CustomerDay => Reply::DailyCustomerLimit,
        LimitKind::CustomerPeak => Reply::PeakCustomerLimit,
        _ => Reply::TryAgainLater { at: None },
    }
}
