//! Recipient addresses as numbers. Every recipient domain of a scenario (each
//! sender's `recipient_pool.domain` and `internal_domain`) gets a block of
//! `RecipientId`s as large as the largest pool drawing from it; address `k` of a
//! domain is `r<k>@<domain>`. The senders' own envelope addresses follow, since
//! bounces are addressed to them (M4). Senders with the same pool domain therefore share
//! addresses, which is what the relay's unique-recipient count (Q2) sees. No string
//! is built per message; the trace renders an address from its number.

use rand::RngExt;
use rand_chacha::ChaCha12Rng;

use super::zipf::{PendingRank, Popularity};

use relay::RecipientId;
use scenario::model::{self, Sender};
use scenario::values::DomainName;

/// One recipient of a generated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub id: RecipientId,
    /// M5: its domain is one the sender's MTA routes elsewhere; it never reaches
    /// the relay.
    pub routed_elsewhere: bool,
}

/// The numbering of every recipient domain of a scenario.
#[derive(Clone, Debug, Default)]
pub struct RecipientSpace {
    /// `(first id, size, domain)`, sorted by first id.
    blocks: Vec<(u32, u32, String)>,
    /// The first id of the envelope addresses.
    senders_base: u32,
    /// The envelope addresses, sorted.
    senders: Vec<String>,
}

/// The error when the pools of a scenario need more than 2³² addresses.
#[derive(Debug, thiserror::Error)]
#[error(
    "the recipient pools of this scenario hold more than 4,294,967,295 addresses; use smaller recipient_pool sizes"
)]
pub struct TooManyRecipients;

impl RecipientSpace {
    pub fn new(senders: &[Sender]) -> Result<Self, TooManyRecipients> {
        let sizes = model::recipient_domains(senders);
        let mut blocks = Vec::with_capacity(sizes.len());
        let mut next: u64 = 0;
        for (domain, size) in sizes {
            blocks.push((next as u32, size, domain.to_string()));
            next += u64::from(size);
        }
        let senders: Vec<String> = model::envelope_addresses(senders)
            .into_iter()
            .map(str::to_string)
            .collect();
        if next + senders.len() as u64 > u64::from(u32::MAX) {
            return Err(TooManyRecipients);
        }
        Ok(RecipientSpace {
            blocks,
            senders_base: next as u32,
            senders,
        })
    }

    /// The id of an envelope sender address (as a bounce's recipient, M4).
    pub fn of_envelope_address(&self, address: &str) -> Option<RecipientId> {
        self.senders
            .binary_search_by(|a| a.as_str().cmp(address))
            .ok()
            .map(|i| RecipientId(self.senders_base + i as u32))
    }

    /// The id of `address` (lower-case) if the scenario numbers it: an envelope
    /// address, or `r<k>@<domain>` of a pool domain with `k` below its block's size.
    pub fn id_of(&self, address: &str) -> Option<RecipientId> {
        if let Some(id) = self.of_envelope_address(address) {
            return Some(id);
        }
        let (local, domain) = address.rsplit_once('@')?;
        let k: u32 = local.strip_prefix('r')?.parse().ok()?;
        if k.to_string() != local[1..] {
            return None; // `r007` is not address 7
        }
        self.blocks
            .iter()
            .find(|(_, size, d)| d == domain && k < *size)
            .map(|(first, _, _)| RecipientId(first + k))
    }

    /// The first id no scenario address has: addresses named only by a dialogue
    /// are numbered from here.
    pub fn end(&self) -> u32 {
        self.senders_base + self.senders.len() as u32
    }

    /// The first id of `domain`'s block.
    fn base(&self, domain: &DomainName) -> u32 {
        self.blocks
            .iter()
            .find(|(_, _, d)| *d == domain.0)
            .map(|b| b.0)
            .expect("every pool domain has a block")
    }

    /// Every name an address is made of: the pool domains and the envelope
    /// addresses (a CSV writer checks them once instead of every address).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.blocks
            .iter()
            .map(|(_, _, d)| d.as_str())
            .chain(self.senders.iter().map(String::as_str))
    }

    /// The address of `id`, e.g. `r17@customers.example`.
    pub fn address(&self, id: RecipientId) -> String {
        let mut text = Vec::new();
        self.write_address(id, &mut text);
        String::from_utf8(text).expect("addresses are made of UTF-8 names and digits")
    }

    /// Appends the address of `id` to `out` (the trace writes one per recipient, so
    /// without a `String` each, and as bytes: the trace is bytes, and a
    /// `fmt::Write` would pass every piece through a `str`).
    #[inline]
    pub fn write_address(&self, id: RecipientId, out: &mut Vec<u8>) {
        if id.0 >= self.senders_base {
            out.extend_from_slice(self.senders[(id.0 - self.senders_base) as usize].as_bytes());
            return;
        }
        let i = self.blocks.partition_point(|b| b.0 <= id.0) - 1;
        let (first, _, domain) = &self.blocks[i];
        // `r{n}@{domain}` without the formatting machinery, which cost more than the
        // rest of a traced run's recipient.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(id.0 - first).as_bytes();
        out.reserve(digits.len() + domain.len() + 2);
        out.push(b'r');
        out.extend_from_slice(digits);
        out.push(b'@');
        out.extend_from_slice(domain.as_bytes());
    }
}

/// Draws the recipients of one sender: index by Zipf popularity (exponent 0 is
/// uniform), internal with probability `internal_share`.
#[derive(Clone, Debug)]
pub struct RecipientSampler {
    popularity: Popularity,
    external_base: u32,
    internal_base: Option<u32>,
    internal_share: f64,
    /// M5: whether the MTA routes the pool's domain / internal domain elsewhere.
    external_routed_elsewhere: bool,
    internal_routed_elsewhere: bool,
}

impl RecipientSampler {
    /// The sampler of `sender`, whose MTA routes the domains for which
    /// `routed_elsewhere` is true to another server (M5).
    /// `tables` shares Zipf tables between senders with pools of the same shape.
    pub fn new(
        sender: &Sender,
        space: &RecipientSpace,
        routed_elsewhere: impl Fn(&DomainName) -> bool,
        tables: &mut super::zipf::ZipfTables,
    ) -> Self {
        let pool = &sender.recipient_pool;
        RecipientSampler {
            popularity: Popularity::new(pool.size, pool.zipf_exponent, tables),
            external_base: space.base(&pool.domain),
            internal_base: pool.internal_domain.as_ref().map(|d| space.base(d)),
            internal_share: pool.internal_share,
            external_routed_elsewhere: routed_elsewhere(&pool.domain),
            internal_routed_elsewhere: pool.internal_domain.as_ref().is_some_and(&routed_elsewhere),
        }
    }

    #[inline]
    pub fn draw(&self, rng: &mut ChaCha12Rng) -> Recipient {
        let index = self.popularity.sample(rng);
        let internal = self.draw_internal(rng);
        self.recipient(index, internal)
    }

    /// `n` recipients, each handed to `each`: the same, in the same order and from
    /// the same draws, as `n` calls of [`RecipientSampler::draw`]. From an alias
    /// table, a batch's draws are all started before any is finished (its table
    /// entries, a cache miss each in a large pool, are fetched together: the draws
    /// of a month of `large-tenant-cap.toml` waited for them one by one).
    pub fn draw_many(&self, n: u32, rng: &mut ChaCha12Rng, mut each: impl FnMut(Recipient)) {
        let Popularity::Table(table) = &self.popularity else {
            (0..n).for_each(|_| each(self.draw(rng)));
            return;
        };
        const BATCH: usize = 32;
        let mut started = [(PendingRank::default(), false); BATCH];
        let mut left = n as usize;
        while left > 0 {
            let batch = &mut started[..left.min(BATCH)];
            for draw in batch.iter_mut() {
                // In `draw`'s order: the rank's draws, then the domain's.
                let rank = table.start_sample(rng);
                *draw = (rank, self.draw_internal(rng));
            }
            for &(rank, internal) in batch.iter() {
                each(self.recipient(table.finish_sample(rank), internal));
            }
            left -= batch.len();
        }
    }

    /// Whether a recipient is in the internal domain (with probability
    /// `internal_share`; no draw when there is none).
    #[inline]
    fn draw_internal(&self, rng: &mut ChaCha12Rng) -> bool {
        self.internal_base.is_some()
            && self.internal_share > 0.0
            && rng.random::<f64>() < self.internal_share
    }

    /// The recipient of rank `index` in the pool or, if `internal`, the internal
    /// domain.
    #[inline]
    fn recipient(&self, index: u32, internal: bool) -> Recipient {
        let (base, routed_elsewhere) = match (internal, self.internal_base) {
            (true, Some(b)) => (b, self.internal_routed_elsewhere),
            _ => (self.external_base, self.external_routed_elsewhere),
        };
        Recipient {
            id: RecipientId(base + index),
            routed_elsewhere,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{EntityKind, RandomStreams};
    use scenario::Model;

    /// Two senders drawing from one shared pool, one also from an internal domain.
    const SCENARIO: &str = r#"
[simulation]
name = "t"
duration = "1h"
[[tenant]]
id = "t"
licences = 1
primary_domain = "t.example"
[[mta]]
id = "m"
tenant = "t"
profile = "postfix"
source_ip = "192.0.2.1"
helo = "mx.t.example"
[[sender]]
id = "a"
mta = "m"
envelope_from = ["x@t.example"]
rate = "1/min"
recipient_pool = { size = 10, domain = "shared.example", zipf_exponent = 1.2 }
[[sender]]
id = "b"
mta = "m"
envelope_from = ["x@t.example"]
rate = "1/min"
recipient_pool = { size = 50, domain = "shared.example", internal_share = 0.5, internal_domain = "t.example" }
"#;

    fn scenario() -> Model {
        Model::parse("t.toml", SCENARIO).unwrap()
    }

    /// `draw_many` gives the recipients `draw` gives, in order, and leaves the stream
    /// where `draw` leaves it: from an alias table (with and without an internal
    /// domain), a uniform pool and one too large for a table; batches of every size
    /// around the batch length.
    #[test]
    fn batched_draws_are_the_single_draws() {
        let pools = [
            (
                "{ size = 1000, domain = \"p.example\", zipf_exponent = 0.8 }",
                "table",
            ),
            (
                "{ size = 1000, domain = \"p.example\", zipf_exponent = 1.1, internal_share = 0.3, internal_domain = \"t.example\" }",
                "table",
            ),
            (
                "{ size = 1000, domain = \"p.example\", zipf_exponent = 0.0, internal_share = 0.5, internal_domain = \"t.example\" }",
                "uniform",
            ),
            (
                "{ size = 50000000, domain = \"p.example\", zipf_exponent = 1.0 }",
                "rejection",
            ),
        ];
        for (pool, kind) in pools {
            let text = SCENARIO.split("[[sender]]").next().unwrap().to_string()
                + &format!(
                    "[[sender]]\nid = \"a\"\nmta = \"m\"\nenvelope_from = [\"x@t.example\"]\nrate = \"1/min\"\nrecipient_pool = {pool}\n"
                );
            let s = Model::parse("t.toml", &text).unwrap();
            let space = RecipientSpace::new(&s.senders).unwrap();
            let routes = |d: &DomainName| d.0 == "t.example";
            let mut tables = super::super::zipf::ZipfTables::default();
            let a = RecipientSampler::new(&s.senders[0], &space, routes, &mut tables);
            let drawn_by = match a.popularity {
                Popularity::Table(_) => "table",
                Popularity::Uniform(_) => "uniform",
                Popularity::Rejection(_) => "rejection",
                Popularity::Single => "single",
            };
            assert_eq!(drawn_by, kind, "{pool}");
            for n in [0, 1, 2, 31, 32, 33, 64, 65, 200] {
                let mut batched = RandomStreams::new(n.into()).stream(EntityKind::Sender, "a");
                let mut single = batched.clone();
                let mut got = Vec::new();
                a.draw_many(n, &mut batched, |r| got.push(r));
                let expected: Vec<Recipient> = (0..n).map(|_| a.draw(&mut single)).collect();
                assert_eq!(got, expected, "{pool}, {n} recipients");
                assert_eq!(batched.random::<u64>(), single.random::<u64>(), "{pool}");
            }
        }
    }

    /// Senders drawing from one domain share its addresses; ids render back.
    #[test]
    fn pools_of_one_domain_share_addresses() {
        let s = scenario();
        let space = RecipientSpace::new(&s.senders).unwrap();
        let routes = |d: &DomainName| d.0 == "t.example";
        let mut tables = super::super::zipf::ZipfTables::default();
        let a = RecipientSampler::new(&s.senders[0], &space, routes, &mut tables);
        let b = RecipientSampler::new(&s.senders[1], &space, routes, &mut tables);
        assert_eq!(a.external_base, b.external_base);
        let mut rng = RandomStreams::new(1).stream(EntityKind::Sender, "a");
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            let r = a.draw(&mut rng);
            assert!(!r.routed_elsewhere);
            counts[(r.id.0 - a.external_base) as usize] += 1;
        }
        // Zipf: the most popular address is drawn most often.
        assert!(counts[0] > counts[1] && counts[1] > counts[9], "{counts:?}");
        let internal = (0..10_000)
            .filter(|_| b.draw(&mut rng).routed_elsewhere)
            .count();
        assert!((4_700..5_300).contains(&internal), "{internal}");
        let id = RecipientId(b.internal_base.unwrap() + 3);
        assert_eq!(space.address(id), "r3@t.example");
        assert_eq!(
            space.address(RecipientId(a.external_base)),
            "r0@shared.example"
        );
        let x = space.of_envelope_address("x@t.example").unwrap();
        assert_eq!(space.address(x), "x@t.example");
        assert_eq!(space.of_envelope_address("nobody@t.example"), None);
    }

    /// A pool address renders as `r<k>@<domain>` for every number of digits, and
    /// reads back as the same id.
    #[test]
    fn pool_addresses_render_and_read_back() {
        let text = SCENARIO.replace("size = 10,", "size = 1_000_001,");
        assert_ne!(text, SCENARIO, "the shared pool made large");
        let s = Model::parse("t.toml", &text).unwrap();
        let space = RecipientSpace::new(&s.senders).unwrap();
        let first = space.id_of("r0@shared.example").unwrap().0;
        for k in [0u32, 1, 9, 10, 99, 100, 12_345, 999_999, 1_000_000] {
            let id = RecipientId(first + k);
            let address = space.address(id);
            assert_eq!(address, format!("r{k}@shared.example"));
            assert_eq!(space.id_of(&address), Some(id), "{address}");
        }
        assert_eq!(space.id_of("r1000001@shared.example"), None);
    }
}
