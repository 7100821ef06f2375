//! What happens in a run, as it happens: one vocabulary ([`Observation`]) and one
//! method ([`Observer::observe`]). The client side of SMTP and the MTAs report in it,
//! the driver counts every observation into the `RunReport` and passes it on to the
//! run's observer: the run folder's writers, a progress bar, a test's trace.
//! Observers never change the run.

use relay::quota::usage::WindowUsage;
use relay::time::{SimDuration, SimTime};
use relay::{LimitEvent, Reply};

use crate::world::client::TransactionTrace;
use crate::world::mta::{AttemptCounts, MessageTag, RecipientFates};

#[derive(Clone, Copy, Debug)]
pub enum Observation<'a> {
    /// A sender handed a message to its MTA with `recipients` recipients bound for
    /// the relay (M5: internally routed ones excluded).
    Offered { tag: MessageTag, recipients: u32 },
    /// A message entered its MTA's queue with `recipients` in all.
    Generated { tag: MessageTag, recipients: u32 },
    /// A message left its MTA's queue (`delay`: from arrival to its last delivery,
    /// when it was delivered), or is still in it at the horizon.
    Settled {
        tag: MessageTag,
        fates: RecipientFates,
        delay: Option<SimDuration>,
        /// From arrival at the MTA to now (to the horizon, for a message still
        /// queued there).
        age: SimDuration,
    },
    /// MTA `mta` holds `depth` messages in its queue from now on.
    QueueDepth { mta: u32, depth: usize },
    /// One delivery attempt of one message through the relay ended.
    Attempt {
        tag: MessageTag,
        counts: &'a AttemptCounts,
        /// When the message arrived at its MTA (with `tag`, which message this is).
        arrived: SimTime,
    },
    /// A connection to the relay was opened or refused, delivering `tag`; `replies`
    /// are the relay's replies while it was opened (the greeting, EHLO's, STARTTLS's,
    /// AUTH's; a refusal at connect; the closing reply when the opening failed),
    /// in the order given at this instant.
    Connection {
        tag: MessageTag,
        opened: bool,
        replies: &'a [Reply],
    },
    /// An SMTP transaction ended on connection number `connection`; its replies
    /// (`trace.replies`: MAIL FROM's, each RCPT TO's, DATA's or RSET's) were given
    /// in that order at this instant.
    Transaction {
        tag: MessageTag,
        connection: u64,
        trace: &'a TransactionTrace<'a>,
    },
    /// A limit was hit or cleared.
    Limit(&'a LimitEvent),
    /// At the horizon: a limit still hit there (a `Hit` event of the horizon whose
    /// `refusals` counts every refusal since its hit).
    StillHit(&'a LimitEvent),
    /// A bucket of the run (`start` to the time observed) ended: the quota engine's
    /// highest use of every customer window in it, and of the busiest users' windows
    /// (`relay::quota::usage`). Only made for observers that ask
    /// ([`Observer::busiest_users`]).
    QuotaUsage {
        start: SimTime,
        rows: &'a [WindowUsage],
    },
}

impl Observation<'_> {
    /// The relay's replies this observation reports, in the order given: a
    /// [`Observation::Connection`]'s while opening, a [`Observation::Transaction`]'s
    /// every reply, none for the rest. Every reply the relay gives a delivery is in
    /// one of the two (QUIT's is counted under no message): counting replies is
    /// counting these.
    #[inline]
    pub fn replies(&self) -> &[Reply] {
        match self {
            Observation::Connection { replies, .. } => replies,
            Observation::Transaction { trace, .. } => trace.replies,
            _ => &[],
        }
    }
}

pub trait Observer {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>);

    /// `Some(n)`: this observer wants [`Observation::QuotaUsage`] at the end of each
    /// bucket, with the `n` busiest users per user limit. Asking costs the run a
    /// look at every customer and active user per bucket, so only the run folder's
    /// writer asks.
    fn busiest_users(&self) -> Option<usize> {
        None
    }
}

/// Observes nothing.
impl Observer for () {
    #[inline]
    fn observe(&mut self, _: SimTime, _: &Observation<'_>) {}
}

/// A borrowed observer observes into what it borrows.
impl<O: Observer> Observer for &mut O {
    #[inline]
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        (**self).observe(time, what);
    }

    fn busiest_users(&self) -> Option<usize> {
        (**self).busiest_users()
    }
}

/// Both observe, in order.
impl<A: Observer, B: Observer> Observer for (A, B) {
    #[inline]
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        self.0.observe(time, what);
        self.1.observe(time, what);
    }

    fn busiest_users(&self) -> Option<usize> {
        self.0.busiest_users().max(self.1.busiest_users())
    }
}

/// An observer that may be absent (`--trace` off).
impl<O: Observer> Observer for Option<O> {
    #[inline]
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        if let Some(o) = self {
            o.observe(time, what);
        }
    }

    fn busiest_users(&self) -> Option<usize> {
        self.as_ref().and_then(O::busiest_users)
    }
}
