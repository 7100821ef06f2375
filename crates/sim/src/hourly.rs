//! Messages and recipients generated per hour of a run: what `relaysim import --fit`
//! sets beside each hour of the log it fitted.

use relay::time::SimTime;
use scenario::Model;

use crate::{Observation, Observer, RunError};

/// Counts `Generated` observations of senders' messages (not the MTAs' own
/// non-delivery reports, M4) per hour from the start.
#[derive(Default)]
struct Hourly {
    hours: Vec<[u64; 2]>,
}

impl Observer for Hourly {
    fn observe(&mut self, time: SimTime, what: &Observation<'_>) {
        if let Observation::Generated { tag, recipients } = what
            && !tag.notification
        {
            let hour = (time.as_millis() / 3_600_000) as usize;
            if self.hours.len() <= hour {
                self.hours.resize(hour + 1, [0, 0]);
            }
            self.hours[hour][0] += 1;
            self.hours[hour][1] += u64::from(*recipients);
        }
    }
}

/// Runs `model` at `seed`; per hour from its start, the messages its senders handed
/// to their MTAs and their recipients (bounces the MTAs made are not counted) (hours without any are zero; the list ends at
/// the last hour with one).
pub fn generated_per_hour(model: &Model, seed: u64) -> Result<Vec<[u64; 2]>, RunError> {
    let mut hourly = Hourly::default();
    crate::run(model, seed, &mut hourly)?;
    Ok(hourly.hours)
}
