//! The `time` column of the CSVs: when the scenario has a `start`, every time in
//! seconds (`*_s`) is also given as an RFC 3339 date-time in the start's offset
//! (`2026-03-02T09:07:12.500Z`), so Grafana, pandas and spreadsheets read clock
//! times as they are. The column is the last of its file, so readers that pick
//! columns by position keep working.

use relay::time::SimTime;
use scenario::Model;
use scenario::values::StartTime;

#[derive(Clone, Copy, Debug, Default)]
pub struct Clock(Option<StartTime>);

impl Clock {
    /// No start: no `time` column.
    pub const NONE: Clock = Clock(None);

    pub fn of(model: &Model) -> Clock {
        Clock(model.start)
    }

    /// Whether the files carry clock times.
    pub fn is_set(self) -> bool {
        self.0.is_some()
    }

    /// `header` with `names` appended when the files carry clock times.
    pub fn header<'a>(self, header: &[&'a str], names: &[&'a str]) -> Vec<&'a str> {
        let mut h = header.to_vec();
        if self.is_set() {
            h.extend_from_slice(names);
        }
        h
    }

    /// `t` as an RFC 3339 date-time (milliseconds when there are any), if set.
    pub fn at(self, t: SimTime) -> Option<String> {
        let start = self.0?;
        let iso = start.after(t).to_iso();
        let ms = t.as_millis() % 1000;
        Some(if ms == 0 {
            iso
        } else {
            // Seconds are the 19 characters `YYYY-MM-DDTHH:MM:SS`; the offset follows.
            format!("{}.{ms:03}{}", &iso[..19], &iso[19..])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_are_rfc3339_in_the_start_offset() {
        let model = Model::parse(
            "t.toml",
            "[simulation]\nname = \"t\"\nduration = \"2d\"\nstart = 2026-03-02T23:00:00+01:00\n[[tenant]]\nid = \"a\"\nlicences = 1\nprimary_domain = \"a.example\"\n",
        )
        .unwrap();
        let c = Clock::of(&model);
        assert_eq!(c.at(SimTime(0)).unwrap(), "2026-03-02T23:00:00+01:00");
        assert_eq!(
            c.at(SimTime(3_600_000 + 12_500)).unwrap(),
            "2026-03-03T00:00:12.500+01:00"
        );
        assert!(Clock::NONE.at(SimTime(0)).is_none());
    }
}
