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
        let mut text = Vec::new();
        ClockText::new(self).write(t, &mut text);
        self.is_set()
            .then(|| String::from_utf8(text).expect("a date-time is ASCII"))
    }
}

/// Clock times written one after another (the trace writes one per transaction):
/// the date-time of a whole second is made once and reused while the times stay in
/// that second.
#[derive(Clone, Debug)]
pub struct ClockText {
    clock: Clock,
    /// The second `iso` is of.
    second: Option<u64>,
    iso: String,
}

impl ClockText {
    pub fn new(clock: Clock) -> Self {
        ClockText {
            clock,
            second: None,
            iso: String::new(),
        }
    }

    /// Appends `t` as an RFC 3339 date-time to `out`; nothing when the clock is not set.
    pub fn write(&mut self, t: SimTime, out: &mut Vec<u8>) {
        let Some(start) = self.clock.0 else {
            return;
        };
        let ms = t.as_millis();
        if self.second != Some(ms / 1000) {
            self.second = Some(ms / 1000);
            self.iso = start.after(SimTime(ms - ms % 1000)).to_iso();
        }
        let iso = self.iso.as_bytes();
        if ms.is_multiple_of(1000) {
            out.extend_from_slice(iso);
        } else {
            // Seconds are the 19 characters `YYYY-MM-DDTHH:MM:SS`; the offset follows.
            let frac = ms % 1000;
            out.extend_from_slice(&iso[..19]);
            out.extend_from_slice(&[
                b'.',
                b'0' + (frac / 100) as u8,
                b'0' + (frac / 10 % 10) as u8,
                b'0' + (frac % 10) as u8,
            ]);
            out.extend_from_slice(&iso[19..]);
        }
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
        // One text per second, reused within it and remade in the next.
        let mut text = ClockText::new(c);
        let mut out = Vec::new();
        for t in [999, 1_000, 1_007, 61_050] {
            text.write(SimTime(t), &mut out);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-03-02T23:00:00.999+01:00 2026-03-02T23:00:01+01:00 \
             2026-03-02T23:00:01.007+01:00 2026-03-02T23:01:01.050+01:00 "
        );
    }
}
