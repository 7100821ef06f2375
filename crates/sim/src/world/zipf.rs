//! Zipf popularity of recipient addresses, sampled in O(1) with Vose's alias method.
//!
//! Rank `k` (1-based) of `n` has probability `k^-s / H(n, s)`. Sampling by rejection
//! (as `rand_distr::Zipf` does) costs two `powf` per draw, which dominated whole runs;
//! the alias table costs `powf` once per rank when built and two table reads per draw.
//! Tables are shared between senders with the same pool shape. Pools larger than
//! `TABLE_LIMIT` fall back to rejection sampling, to bound memory.

use std::rc::Rc;

use rand::RngExt;
use rand_chacha::ChaCha12Rng;
use rand_distr::{Distribution, Zipf};

/// Largest pool given an alias table (8 bytes a rank: 32 MiB at the limit).
pub const TABLE_LIMIT: u32 = 4_000_000;

/// Vose's alias table: draw a column uniformly, keep it with probability `keep`, else
/// take its alias. A column's two values sit together: one cache line per draw.
#[derive(Debug)]
pub struct AliasTable {
    columns: Vec<(f32, u32)>,
}

impl AliasTable {
    /// The table of Zipf(n, s), n ≥ 1. Built in place: the weights are computed
    /// twice (sum, then scale) rather than stored, to keep the peak memory to the
    /// table and one scratch vector.
    pub fn zipf(n: u32, s: f64) -> Self {
        // libm: the same table on every platform.
        let weight = |k: u32| libm::pow(f64::from(k), -s);
        let total: f64 = (1..=n).map(weight).sum();
        let scale = f64::from(n) / total;
        let mut scaled: Vec<f64> = (1..=n).map(|k| weight(k) * scale).collect();
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
        let column = rng.random_range(0..self.columns.len() as u32);
        let (keep, alias) = self.columns[column as usize];
        if rng.random::<f32>() < keep {
            column
        } else {
            alias
        }
    }
}

/// How a pool's index is drawn.
#[derive(Clone, Debug)]
pub enum Popularity {
    /// One address.
    Single,
    /// Exponent 0: every address alike.
    Uniform(u32),
    Table(Rc<AliasTable>),
    /// Beyond `TABLE_LIMIT`.
    Rejection(Zipf<f64>),
}

impl Popularity {
    /// `tables` shares built tables between senders, keyed by (size, exponent bits).
    pub fn new(
        size: u32,
        exponent: f64,
        tables: &mut std::collections::BTreeMap<(u32, u64), Rc<AliasTable>>,
    ) -> Self {
        if size <= 1 {
            Popularity::Single
        } else if exponent == 0.0 {
            Popularity::Uniform(size)
        } else if size <= TABLE_LIMIT {
            let table = tables
                .entry((size, exponent.to_bits()))
                .or_insert_with(|| Rc::new(AliasTable::zipf(size, exponent)));
            Popularity::Table(Rc::clone(table))
        } else {
            match Zipf::new(f64::from(size), exponent) {
                Ok(z) => Popularity::Rejection(z),
                // Validated: size ≥ 1 and exponent ≥ 0; keep a sane fallback.
                Err(_) => Popularity::Uniform(size),
            }
        }
    }

    /// An index, 0-based.
    pub fn sample(&self, rng: &mut ChaCha12Rng) -> u32 {
        match self {
            Popularity::Single => 0,
            Popularity::Uniform(n) => rng.random_range(0..*n),
            Popularity::Table(t) => t.sample(rng),
            Popularity::Rejection(z) => (z.sample(rng) as u32).saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The alias table reproduces Zipf probabilities (within sampling error).
    #[test]
    fn alias_table_frequencies_follow_zipf() {
        let (n, s) = (50u32, 1.1);
        let table = AliasTable::zipf(n, s);
        let mut rng = ChaCha12Rng::seed_from_u64(3);
        let draws = 400_000;
        let mut counts = vec![0u32; n as usize];
        for _ in 0..draws {
            counts[table.sample(&mut rng) as usize] += 1;
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

    #[test]
    fn uniform_and_single_pools() {
        let mut tables = Default::default();
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        assert_eq!(Popularity::new(1, 1.0, &mut tables).sample(&mut rng), 0);
        let u = Popularity::new(10, 0.0, &mut tables);
        assert!((0..1000).all(|_| u.sample(&mut rng) < 10));
        assert!(tables.is_empty(), "no table for uniform pools");
        let a = Popularity::new(100, 1.0, &mut tables);
        let b = Popularity::new(100, 1.0, &mut tables);
        assert_eq!(tables.len(), 1, "one table shared");
        assert!(
            matches!((a, b), (Popularity::Table(x), Popularity::Table(y)) if Rc::ptr_eq(&x, &y))
        );
    }
}
