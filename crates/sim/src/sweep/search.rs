//! `--find-min-licences`: the smallest licence count that meets a target at every
//! replicate, and — when none does — whether more licences could help at all.

use std::collections::BTreeMap;

use super::{Point, Sweeper, Target};

/// One licence count the search ran, with its replicates in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluated {
    pub licences: u32,
    pub points: Vec<Point>,
}

impl Evaluated {
    /// How many replicates met the target.
    pub fn met(&self) -> usize {
        self.points.iter().filter(|p| p.meets == Some(true)).count()
    }

    /// Every replicate met the target.
    pub fn meets(&self) -> bool {
        self.met() == self.points.len()
    }

    /// The first replicate that missed, with why.
    pub fn first_miss<'a>(&'a self, target: &Target) -> Option<(&'a Point, Vec<String>)> {
        self.points
            .iter()
            .find(|p| p.meets == Some(false))
            .map(|p| (p, target.misses(p)))
    }

    /// Some replicate hit a limit that grows with licences (Q4, Q5).
    fn customer_limit_hit(&self) -> bool {
        self.points.iter().any(|p| p.customer_limit_hit)
    }
}

/// What the search concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The smallest count that meets the target at every replicate.
    Found { licences: u32 },
    /// Even the top of the range misses, and a limit that grows with licences still
    /// binds there: a wider range may find an answer.
    RangeTooSmall { hi: u32 },
    /// From `from` licences up no limit that grows with licences is hit, and the top
    /// of the range misses: licences cannot fix it. `alike`: the runs at `from` and
    /// at the top agree in every figure (as common random numbers make them when the
    /// licences change nothing else).
    Unfixable { from: u32, alike: bool },
}

/// The outcome of `--find-min-licences`.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    /// Every count run, in increasing order.
    pub evaluated: Vec<Evaluated>,
    pub verdict: Verdict,
    /// Where a figure the target judges rises with more licences (for the same
    /// replicate, i.e. the same traffic), in words: bisection assumes it does not.
    pub not_monotone: Vec<String>,
}

impl Search {
    pub fn at(&self, licences: u32) -> Option<&Evaluated> {
        self.evaluated.iter().find(|e| e.licences == licences)
    }

    /// Every run, in (licences, replicate) order.
    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.evaluated.iter().flat_map(|e| &e.points)
    }
}

/// Bisects `[lo, hi]` for the smallest licence count whose runs meet `sweeper`'s
/// target at every replicate. When the top misses, it says whether licences could
/// help: if no licence-scaled limit (Q4, Q5) binds at the top, it bisects for the
/// count from which none does (from there up, every count runs alike).
pub fn find_min_licences(sweeper: &Sweeper<'_>, (lo, hi): (u32, u32)) -> Result<Search, String> {
    let mut runs: BTreeMap<u32, Evaluated> = BTreeMap::new();
    let mut evaluate = |licences: u32| -> Result<Evaluated, String> {
        if let Some(e) = runs.get(&licences) {
            return Ok(e.clone());
        }
        let points = sweeper.run(&[(0, licences)])?;
        let e = Evaluated { licences, points };
        runs.insert(licences, e.clone());
        Ok(e)
    };
    let top = evaluate(hi)?;
    let verdict = if top.meets() {
        let smallest = bisect(lo, hi, |l| Ok(evaluate(l)?.meets()))?;
        Verdict::Found { licences: smallest }
    } else if top.customer_limit_hit() {
        Verdict::RangeTooSmall { hi }
    } else {
        let from = bisect(lo, hi, |l| Ok(!evaluate(l)?.customer_limit_hit()))?;
        let at_from = evaluate(from)?;
        let alike = at_from
            .points
            .iter()
            .zip(&top.points)
            .all(|(a, b)| a.figures() == b.figures());
        Verdict::Unfixable { from, alike }
    };
    let evaluated: Vec<Evaluated> = runs.into_values().collect();
    let not_monotone = not_monotone(&evaluated, sweeper.target);
    Ok(Search {
        evaluated,
        verdict,
        not_monotone,
    })
}

/// The smallest `l` in `[lo, hi]` with `ok(l)`, given `ok(hi)` and assuming `ok` is
/// monotone.
fn bisect(
    mut lo: u32,
    mut hi: u32,
    mut ok: impl FnMut(u32) -> Result<bool, String>,
) -> Result<u32, String> {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(hi)
}

/// The figures the target judges that rise from one count run to the next larger at
/// the same replicate.
fn not_monotone(evaluated: &[Evaluated], target: &Target) -> Vec<String> {
    type Figure = (&'static str, fn(&Point) -> f64);
    let mut figures: Vec<Figure> = Vec::new();
    if target.max_bounced.is_some() {
        figures.push(("bounced recipients", |p| p.bounced as f64));
    }
    if target.max_deferred.is_some() {
        figures.push(("deferred recipients", |p| p.deferred as f64));
    }
    if target.max_queued.is_some() {
        figures.push(("recipients queued at the end", |p| p.queued_at_end as f64));
    }
    if target.deadline.is_some() {
        figures.push(("late messages", |p| p.late as f64));
    }
    if target.deliver_by.is_some() {
        figures.push(("messages delivered after --deliver-by", |p| {
            p.late_by as f64
        }));
    }
    if target.max_p99_delay.is_some() {
        figures.push(("p99 delay (s)", |p| p.delay_s.map_or(0.0, |d| d[2])));
    }
    if target.max_delay.is_some() {
        if target.quantile.is_some() {
            figures.push(("delay at the quantile (s)", |p| {
                p.quantile_delay_s.unwrap_or(0.0)
            }));
        } else {
            figures.push(("longest delay (s)", |p| p.delay_s.map_or(0.0, |d| d[3])));
        }
    }
    let mut notes = Vec::new();
    for pair in evaluated.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        for (pa, pb) in a.points.iter().zip(&b.points) {
            for (name, f) in &figures {
                if f(pb) > f(pa) {
                    notes.push(format!(
                        "{name} rises from {} at {} licences to {} at {} (replicate {}, seed {})",
                        f(pa),
                        a.licences,
                        f(pb),
                        b.licences,
                        pa.replicate,
                        pa.seed
                    ));
                }
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_finds_the_smallest_passing_value() {
        for answer in 10..=20 {
            let mut asked = Vec::new();
            let got = bisect(10, 20, |l| {
                asked.push(l);
                Ok(l >= answer)
            })
            .unwrap();
            assert_eq!(got, answer);
            assert!(asked.len() <= 4, "{asked:?}");
        }
    }
}
