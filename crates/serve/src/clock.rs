//! The relay's clock for a live server: wall time since the start, times
//! `--time-scale`, in the relay's integer milliseconds.

use std::time::Instant;

use relay::time::SimTime;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    started: Instant,
    scale: f64,
}

impl Clock {
    pub(crate) fn start(scale: f64) -> Self {
        Clock {
            started: Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    /// Relay time now.
    pub(crate) fn now(&self) -> SimTime {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0 * self.scale;
        SimTime(ms as u64)
    }

    /// How long in wall time until relay time `at` (zero if it has passed).
    pub(crate) fn wall_until(&self, at: SimTime) -> std::time::Duration {
        let now = self.now();
        let relay_ms = at.as_millis().saturating_sub(now.as_millis());
        std::time::Duration::from_secs_f64(relay_ms as f64 / 1000.0 / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_time_runs_scaled() {
        let clock = Clock::start(3600.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // 20 ms of wall time is at least 72 s of relay time.
        assert!(clock.now() >= SimTime(72_000), "{:?}", clock.now());
        assert!(clock.wall_until(SimTime(0)).is_zero());
    }
}
