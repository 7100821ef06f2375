//! Zipf popularity of recipient addresses, sampled in O(1) with Vose's alias method.
//!
//! Rank `k` (1-based) of `n` has probability `k^-s / H(n, s)`. Sampling by rejection
//! (as `rand_distr::Zipf` does) costs two `powf` per draw, which dominated whole runs;
//! the alias table costs `powf` once per rank when built and two table reads per draw.
//! Tables are shared between senders with the same pool shape. Pools larger than
//! `TABLE_LIMIT` fall back to rejection sampling, to bound memory. Both use `libm`
//! for powers and logarithms, so every platform draws the same ranks.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngExt;
use rand_chacha::ChaCha12Rng;

/// Largest pool given an alias table (8 bytes a rank: 32 MiB at the limit); the
/// pre-run memory estimate charges the same tables.
pub const TABLE_LIMIT: u32 = scenario::estimate::ZIPF_TABLE_LIMIT;

/// Vose's alias table: draw a column uniformly, keep it with probability `keep`, else
/// take its alias. A column's two values sit together: one cache line per draw.
#[derive(Debug)]
pub struct AliasTable {
    columns: Vec<(f32, u32)>,
}

impl AliasTable {
    /// The table of Zipf(n, s), n ≥ 1. Built in place: the weights go into the one
    /// scratch vector, are summed in rank order and scaled there, so the peak memory
    /// is the table and that vector, and each weight is computed once.
    pub fn zipf(n: u32, s: f64) -> Self {
        // libm: the same weights on every platform.
        let mut scaled: Vec<f64> = (1..=n).map(|k| libm::pow(f64::from(k), -s)).collect();
        let total: f64 = scaled.iter().sum();
        let scale = f64::from(n) / total;
        scaled.iter_mut().for_each(|w| *w *= scale);
        let mut columns: Vec<(f32, u32)> = (0..n).map(|i| (1.0, i)).collect();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        for i in 0..n {
            if scaled[i as usize] < 1.0 {
                small.push(i);
            } else {
                large.push(i);
            }
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            columns[s as usize] = (scaled[s as usize] as f32, l);
            scaled[l as usize] -= 1.0 - scaled[s as usize];
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left keeps itself (probability 1, up to rounding).
        AliasTable { columns }
    }

    /// A rank, 0-based.
    pub fn sample(&self, rng: &mut ChaCha12Rng) -> u32 {
        self.finish_sample(self.start_sample(rng))
    }

    /// The draws of [`AliasTable::sample`] (a column, then the uniform that picks
    /// the column or its alias), the column's entry asked into the cache. A large
    /// table's entry is a cache miss: a batch of draws started before any is
    /// finished waits for its misses together, not one after another.
    #[inline]
    pub fn start_sample(&self, rng: &mut ChaCha12Rng) -> PendingRank {
        let column = rng.random_range(0..self.columns.len() as u32);
        prefetch(&self.columns[column as usize]);
        PendingRank {
            column,
            uniform: rng.random::<f32>(),
        }
    }

    /// The rank of a started draw.
    #[inline]
    pub fn finish_sample(&self, draw: PendingRank) -> u32 {
        let (keep, alias) = self.columns[draw.column as usize];
        if draw.uniform < keep {
            draw.column
        } else {
            alias
        }
    }
}

/// An [`AliasTable`] draw started ([`AliasTable::start_sample`]), its rank not yet
/// read from the table.
#[derive(Clone, Copy, Debug, Default)]
pub struct PendingRank {
    column: u32,
    uniform: f32,
}

/// Asks the CPU to bring `entry`'s cache line in, without waiting for it (a hint:
/// a no-op where there is no such instruction).
#[inline(always)]
fn prefetch<T>(entry: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees, cannot fault, and `entry`
    // is a live reference besides.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((entry as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = entry;
}

/// How a pool's index is drawn.
#[derive(Clone, Debug)]
pub enum Popularity {
    /// One address.
    Single,
    /// Exponent 0: every address alike.
    Uniform(u32),
    Table(Arc<AliasTable>),
    /// Beyond `TABLE_LIMIT`.
    Rejection(RejectionZipf),
}

impl Popularity {
    /// `tables` shares built tables between senders (and runs), building those
    /// missing.
    pub fn new(size: u32, exponent: f64, tables: &mut ZipfTables) -> Self {
        if size <= 1 {
            Popularity::Single
        } else if exponent == 0.0 {
            Popularity::Uniform(size)
        } else if size <= TABLE_LIMIT {
            Popularity::Table(tables.get(size, exponent))
        } else {
            Popularity::Rejection(RejectionZipf::new(size, exponent))
        }
    }

    /// An index, 0-based.
    #[inline]
    pub fn sample(&self, rng: &mut ChaCha12Rng) -> u32 {
        match self {
            Popularity::Single => 0,
            Popularity::Uniform(n) => rng.random_range(0..*n),
            Popularity::Table(t) => t.sample(rng),
            Popularity::Rejection(z) => z.sample(rng),
        }
    }
}

/// Built alias tables, keyed by (size, exponent bits): senders with pools of the same
/// shape share one, and so do the runs of a sweep (the tables are read-only; a
/// 2 M-address pool's table takes some 50 ms to build).
#[derive(Clone, Debug, Default)]
pub struct ZipfTables(BTreeMap<(u32, u64), Arc<AliasTable>>);

impl ZipfTables {
    /// Every table the senders of `model` use, built once.
    pub fn for_model(model: &scenario::Model) -> Self {
        let mut tables = ZipfTables::default();
        tables.add_model(model);
        tables
    }

    /// Adds the tables `model`'s senders use that are missing (the variants of a
    /// `--vary` grid share those of the same shape).
    pub fn add_model(&mut self, model: &scenario::Model) {
        for s in &model.senders {
            let pool = &s.recipient_pool;
            let _ = Popularity::new(pool.size, pool.zipf_exponent, self);
        }
    }

    /// The table of Zipf(`size`, `exponent`), built if missing.
    fn get(&mut self, size: u32, exponent: f64) -> Arc<AliasTable> {
        Arc::clone(
            self.0
                .entry((size, exponent.to_bits()))
                .or_insert_with(|| Arc::new(AliasTable::zipf(size, exponent))),
        )
    }
}

/// Zipf(n, s) by rejection-inversion (Hörmann and Derflinger, "Rejection-inversion
/// to generate variates from monotone discrete distributions", 1996), as
/// `rand_distr::Zipf` implements it, with `libm`'s `pow`, `log` and `exp` so that the
/// draws are the same on every platform. For n ≥ 2 and s > 0.
#[derive(Clone, Copy, Debug)]
pub struct RejectionZipf {
    s: f64,
    t: f64,
    q: f64,
}

impl RejectionZipf {
    pub fn new(n: u32, s: f64) -> Self {
        let n = f64::from(n);
        let (q, t) = if s == 1.0 {
            (0.0, 1.0 + libm::log(n))
        } else {
            let q = 1.0 / (1.0 - s);
            (q, (libm::pow(n, 1.0 - s) - s) * q)
        };
        RejectionZipf { s, t, q }
    }

    fn inv_cdf(&self, p: f64) -> f64 {
        let pt = p * self.t;
        if pt <= 1.0 {
            pt
        } else if self.s != 1.0 {
            libm::pow(pt * (1.0 - self.s) + self.s, self.q)
        } else {
            libm::exp(pt - 1.0)
        }
    }

    /// A rank, 0-based.
    pub fn sample(&self, rng: &mut ChaCha12Rng) -> u32 {
        loop {
            let inv_b = self.inv_cdf(rng.random::<f64>());
            let x = (inv_b + 1.0).floor();
            let mut ratio = libm::pow(x, -self.s);
            if x > 1.0 {
                ratio *= libm::pow(inv_b, self.s);
            }
            if rng.random::<f64>() < ratio {
                return (x as u32).saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Draws from `sample` follow Zipf(n, s) (within five standard deviations).
    fn follows_zipf(n: u32, s: f64, mut sample: impl FnMut(&mut ChaCha12Rng) -> u32) {
        let mut rng = ChaCha12Rng::seed_from_u64(3);
        let draws = 400_000;
        let mut counts = vec![0u32; n as usize];
        for _ in 0..draws {
            counts[sample(&mut rng) as usize] += 1;
        }
        let h: f64 = (1..=n).map(|k| f64::from(k).powf(-s)).sum();
        for k in [1u32, 2, 5, 20, 50] {
            let p = f64::from(k).powf(-s) / h;
            let expected = p * f64::from(draws);
            let sd = (expected * (1.0 - p)).sqrt();
            let got = f64::from(counts[k as usize - 1]);
            assert!(
                (got - expected).abs() < 5.0 * sd,
                "rank {k}: {got} vs {expected:.0}"
            );
        }
    }

    /// The alias table reproduces Zipf probabilities.
    #[test]
    fn alias_table_frequencies_follow_zipf() {
        let table = AliasTable::zipf(50, 1.1);
        follows_zipf(50, 1.1, |rng| table.sample(rng));
    }

    /// So does rejection-inversion (pools over `TABLE_LIMIT`), for s = 1 and not.
    #[test]
    fn rejection_frequencies_follow_zipf() {
        for s in [1.1, 1.0, 0.7] {
            let z = RejectionZipf::new(50, s);
            follows_zipf(50, s, |rng| z.sample(rng));
        }
    }

    #[test]
    fn uniform_and_single_pools() {
        let mut tables = ZipfTables::default();
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        assert_eq!(Popularity::new(1, 1.0, &mut tables).sample(&mut rng), 0);
        let u = Popularity::new(10, 0.0, &mut tables);
        assert!((0..1000).all(|_| u.sample(&mut rng) < 10));
        assert!(tables.0.is_empty(), "no table for uniform pools");
        let a = Popularity::new(100, 1.0, &mut tables);
        let b = Popularity::new(100, 1.0, &mut tables);
        assert_eq!(tables.0.len(), 1, "one table shared");
        assert!(
            matches!((a, b), (Popularity::Table(x), Popularity::Table(y)) if Arc::ptr_eq(&x, &y))
        );
    }
}
