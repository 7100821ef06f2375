//! Traffic sources: when a sender hands a message to its MTA, and how many recipients
//! it has. Each source draws only from its own random stream.

use rand::{Rng, RngExt};
use rand_chacha::ChaCha12Rng;

use crate::kernel::standard_exponential;
use relay::time::{SimDuration, SimTime};
use scenario::model::{Burst, Sender, Traffic};
use scenario::values::{RecipientCount, StartTime};

/// The steady part of a sender's traffic (everything but bursts).
#[derive(Clone, Debug)]
pub enum ArrivalProcess {
    /// Arrival `n` at `start + ⌊n · period⌋`: exact, no drift over long runs.
    Constant {
        start: SimTime,
        millis_per_message: f64,
        n: u64,
    },
    /// Poisson arrivals; `clock` keeps sub-millisecond remainders so rounding does not
    /// bias the rate.
    Poisson {
        millis_per_message: f64,
        clock: f64,
    },
    /// Poisson with hourly weights, by thinning a process of the peak intensity.
    Diurnal {
        peak_millis_per_message: f64,
        acceptance: [f64; 24],
        start: StartTime,
        clock: f64,
    },
    None,
}

impl ArrivalProcess {
    pub fn for_sender(sender: &Sender) -> Self {
        let begin = SimTime::ZERO + sender.start;
        let millis_per_message = |rate: &scenario::values::Rate| 1.0 / rate.per_milli();
        match &sender.traffic {
            Traffic::Constant { rate }
            | Traffic::Poisson { rate }
            | Traffic::Diurnal { rate, .. }
                if rate.count <= 0.0 =>
            {
                ArrivalProcess::None
            }
            Traffic::Constant { rate } => ArrivalProcess::Constant {
                start: begin,
                millis_per_message: millis_per_message(rate),
                n: 0,
            },
            Traffic::Poisson { rate } => ArrivalProcess::Poisson {
                millis_per_message: millis_per_message(rate),
                clock: begin.as_millis() as f64,
            },
            Traffic::Diurnal {
                rate,
                weights,
                start,
            } => {
                let millis_per_message = millis_per_message(rate);
                let mean = weights.iter().sum::<f64>() / 24.0;
                let peak = weights.iter().copied().fold(0.0, f64::max);
                let mut acceptance = [0.0; 24];
                for (a, w) in acceptance.iter_mut().zip(weights) {
                    *a = w / peak;
                }
                ArrivalProcess::Diurnal {
                    // `rate` is the day's mean; the busiest hour runs at peak/mean × rate.
                    peak_millis_per_message: millis_per_message * mean / peak,
                    acceptance,
                    start: *start,
                    clock: begin.as_millis() as f64,
                }
            }
            Traffic::Bursts | Traffic::Replay { .. } => ArrivalProcess::None,
        }
    }

    /// The next arrival time, or `None` when the process has none.
    pub fn next(&mut self, rng: &mut ChaCha12Rng) -> Option<SimTime> {
        match self {
            ArrivalProcess::Constant {
                start,
                millis_per_message,
                n,
            } => {
                let t = *start + SimDuration((*n as f64 * *millis_per_message).floor() as u64);
                *n += 1;
                Some(t)
            }
            ArrivalProcess::Poisson {
                millis_per_message,
                clock,
            } => {
                *clock += exponential(rng, *millis_per_message);
                Some(SimTime(*clock as u64))
            }
            ArrivalProcess::Diurnal {
                peak_millis_per_message,
                acceptance,
                start,
                clock,
            } => loop {
                *clock += exponential(rng, *peak_millis_per_message);
                let t = SimTime(*clock as u64);
                if rng.random::<f64>() < acceptance[start.hour_at(t)] {
                    return Some(t);
                }
            },
            ArrivalProcess::None => None,
        }
    }
}

/// An exponential variate of the given mean (the ziggurat: see
/// [`standard_exponential`]).
fn exponential(rng: &mut ChaCha12Rng, mean: f64) -> f64 {
    mean * standard_exponential(rng)
}

/// Time of message `k` (0-based) of a burst: spread evenly over `over`.
pub fn burst_time(burst: &Burst, k: u32) -> SimTime {
    let offset = if burst.messages == 0 {
        0
    } else {
        (u128::from(burst.over.as_millis()) * u128::from(k) / u128::from(burst.messages)) as u64
    };
    SimTime::ZERO + burst.at + SimDuration(offset)
}

/// Draws a recipient count.
pub fn draw_recipients(count: &RecipientCount, rng: &mut ChaCha12Rng) -> u32 {
    match *count {
        RecipientCount::Fixed(n) => n,
        RecipientCount::Uniform { min, max } => rng.random_range(min..=max),
        RecipientCount::Geometric { mean } => {
            // Support {1, 2, …}, success probability p = 1/mean, by inversion.
            let p = 1.0 / mean;
            if p >= 1.0 {
                return 1;
            }
            let u: f64 = rng.random();
            let k = (libm::log(1.0 - u) / libm::log(1.0 - p)).floor() + 1.0;
            // Capped like every count of the format (scenario::values).
            k.min(f64::from(scenario::values::MAX_RECIPIENTS_PER_MESSAGE)) as u32
        }
    }
}

/// Picks one of `n` envelope senders uniformly.
pub fn draw_index(n: usize, rng: &mut ChaCha12Rng) -> usize {
    if n <= 1 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{EntityKind, RandomStreams};

    fn rng() -> ChaCha12Rng {
        RandomStreams::new(7).stream(EntityKind::Sender, "t")
    }

    #[test]
    fn constant_arrivals_are_exact_and_do_not_drift() {
        let mut p = ArrivalProcess::Constant {
            start: SimTime::ZERO,
            millis_per_message: 3_600_000.0 / 2_000.0,
            n: 0,
        };
        let mut r = rng();
        let times: Vec<_> = (0..2_001).map(|_| p.next(&mut r).unwrap()).collect();
        assert_eq!(times[1], SimTime(1_800));
        assert_eq!(times[2_000], SimTime(3_600_000));
    }

    #[test]
    fn poisson_mean_rate_is_close_to_the_rate() {
        let mut p = ArrivalProcess::Poisson {
            millis_per_message: 1_000.0,
            clock: 0.0,
        };
        let mut r = rng();
        let n = std::iter::from_fn(|| p.next(&mut r))
            .take_while(|t| *t < SimTime(10_000_000))
            .count();
        // 10,000 expected; 5 standard deviations is ±500.
        assert!((9_500..=10_500).contains(&n), "{n}");
    }

    #[test]
    fn bursts_spread_evenly() {
        let b = Burst {
            at: SimDuration::HOUR,
            messages: 4,
            over: SimDuration::from_secs(60),
        };
        let t: Vec<_> = (0..4).map(|k| burst_time(&b, k).as_millis()).collect();
        assert_eq!(t, [3_600_000, 3_615_000, 3_630_000, 3_645_000]);
    }

    #[test]
    fn recipient_counts_follow_their_distribution() {
        let mut r = rng();
        assert_eq!(draw_recipients(&RecipientCount::Fixed(3), &mut r), 3);
        for _ in 0..1_000 {
            let n = draw_recipients(&RecipientCount::Uniform { min: 2, max: 4 }, &mut r);
            assert!((2..=4).contains(&n));
        }
        let total: u64 = (0..20_000)
            .map(|_| {
                u64::from(draw_recipients(
                    &RecipientCount::Geometric { mean: 2.5 },
                    &mut r,
                ))
            })
            .sum();
        let mean = total as f64 / 20_000.0;
        assert!((mean - 2.5).abs() < 0.1, "{mean}");
    }
}
