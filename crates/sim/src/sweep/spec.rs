//! The lists of values a sweep runs: licence counts (`--licences`) and the values of
//! any other numeric scenario key (`--vary KEY=SPEC`).

use std::str::FromStr;

/// A list of licence counts: `50,100,250`, `100..1000:100` (inclusive, step), or
/// `10..100000:log:25` (25 points spaced evenly on a log scale, rounded, deduplicated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenceSpec(pub Vec<u32>);

/// Most licence counts one sweep runs (each is a run per seed).
pub const MAX_POINTS: u32 = 10_000;

impl FromStr for LicenceSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let hint =
            "write a list `50,100,250`, a range `100..1000:100` or a log range `10..100000:log:25`";
        let number = |s: &str| -> Result<u32, String> {
            s.trim()
                .replace('_', "")
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("`{s}` is not a licence count of 1 or more; {hint}"))
        };
        let too_many = |n: u64| {
            format!(
                "`{text}` names {n} licence counts, more than the {MAX_POINTS} a sweep runs; use a bigger step or a log range such as `10..100000:log:25`"
            )
        };
        let mut values = if let Some((range, rest)) = text.split_once(':') {
            let (lo, hi) = range
                .split_once("..")
                .ok_or_else(|| format!("`{text}`: a range needs `..`; {hint}"))?;
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo > hi {
                return Err(format!("`{text}` runs backwards; {hint}"));
            }
            let count = |s: &str, what: &str| -> Result<u32, String> {
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        format!("`{s}` in `{text}` is not a {what} of 1 or more; {hint}")
                    })
            };
            if let Some(points) = rest.strip_prefix("log:") {
                let n = count(points, "number of points")?.max(2);
                if n > MAX_POINTS {
                    return Err(too_many(u64::from(n)));
                }
                // libm: the same points on every platform.
                let (a, b) = (libm::log(f64::from(lo)), libm::log(f64::from(hi)));
                (0..n)
                    .map(|i| {
                        libm::exp(a + (b - a) * f64::from(i) / f64::from(n - 1)).round() as u32
                    })
                    .collect()
            } else {
                let step = count(rest, "step")?;
                let n = u64::from(hi - lo) / u64::from(step) + 1;
                if n > u64::from(MAX_POINTS) {
                    return Err(too_many(n));
                }
                (lo..=hi).step_by(step as usize).collect()
            }
        } else {
            let list = text.split(',').map(number).collect::<Result<Vec<_>, _>>()?;
            if list.len() > MAX_POINTS as usize {
                return Err(too_many(list.len() as u64));
            }
            list
        };
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            return Err(format!("`{text}` names no licence count; {hint}"));
        }
        Ok(LicenceSpec(values))
    }
}

/// `--vary KEY=SPEC`: a scenario key by its dotted path (as `--set` takes it) and the
/// values it takes: a list `300/h,600/h` or a range `4000/h..12000/h:2000` (inclusive;
/// the unit, if any, written on the bounds; decimals allowed: `0.5..1.5:0.25`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarySpec {
    pub key: String,
    pub values: Vec<String>,
}

/// Most values one `--vary` takes.
pub const MAX_VALUES: usize = 1_000;

impl FromStr for VarySpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write KEY=LIST or KEY=LOW..HIGH:STEP, e.g. `sender.batch.rate=4000/h..12000/h:2000` or `relay.dos.max_messages_per_connection=100,500,1000`";
        let (key, spec) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` has no `=`; {hint}"))?;
        let (key, spec) = (key.trim(), spec.trim());
        if key.is_empty() || spec.is_empty() {
            return Err(format!("`{text}` needs both a key and values; {hint}"));
        }
        let values = match spec.split_once("..") {
            None => spec
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect(),
            Some((lo, rest)) => {
                let (hi, step) = rest
                    .split_once(':')
                    .ok_or_else(|| format!("`{spec}`: a range needs a step after `:`; {hint}"))?;
                range(lo.trim(), hi.trim(), step.trim())
                    .map_err(|e| format!("`{spec}`: {e}; {hint}"))?
            }
        };
        if values.is_empty() {
            return Err(format!("`{text}` names no value; {hint}"));
        }
        if values.len() > MAX_VALUES {
            return Err(format!(
                "`{text}` names {} values, more than the {MAX_VALUES} one --vary takes; use a bigger step",
                values.len()
            ));
        }
        Ok(VarySpec {
            key: key.to_string(),
            values,
        })
    }
}

/// A decimal number and what follows it: `4000/h` → (4000, 0 decimals, `/h`).
fn number_and_unit(text: &str) -> Option<(i128, u32, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let number = number.replace('_', "");
    let (whole, frac) = number.split_once('.').unwrap_or((&number, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = format!("{whole}{frac}");
    Some((digits.parse().ok()?, frac.len() as u32, unit))
}

/// The values `lo, lo + step, …` up to `hi`, in `lo`'s unit, computed in integers
/// (no floating-point drift: `0.1..0.3:0.1` is three values).
fn range(lo: &str, hi: &str, step: &str) -> Result<Vec<String>, String> {
    let bad = |s: &str| format!("`{s}` is not a number (with an optional unit such as `/h`)");
    let (a, da, unit) = number_and_unit(lo).ok_or_else(|| bad(lo))?;
    let (b, db, hi_unit) = number_and_unit(hi).ok_or_else(|| bad(hi))?;
    let (c, dc, step_unit) = number_and_unit(step).ok_or_else(|| bad(step))?;
    if hi_unit != unit || !(step_unit.is_empty() || step_unit == unit) {
        return Err(format!(
            "the bounds and step must share one unit (`{unit}`)"
        ));
    }
    let decimals = da.max(db).max(dc);
    let scale = |x: i128, d: u32| x * 10i128.pow(decimals - d);
    let (a, b, c) = (scale(a, da), scale(b, db), scale(c, dc));
    if c == 0 {
        return Err("the step must be above 0".into());
    }
    if a > b {
        return Err("the range runs backwards".into());
    }
    if (b - a) / c >= MAX_VALUES as i128 {
        return Err(format!("more than {MAX_VALUES} values"));
    }
    let show = |x: i128| {
        if decimals == 0 {
            format!("{x}{unit}")
        } else {
            let p = 10i128.pow(decimals);
            let frac = format!("{:0width$}", x % p, width = decimals as usize);
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{}{unit}", x / p)
            } else {
                format!("{}.{frac}{unit}", x / p)
            }
        }
    };
    let mut values = Vec::new();
    let mut x = a;
    while x <= b {
        values.push(show(x));
        x += c;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_specs() {
        let table = [
            ("50,100,250", vec![50, 100, 250]),
            ("250, 50,50", vec![50, 250]),
            ("100..500:100", vec![100, 200, 300, 400, 500]),
            ("10..1000:log:3", vec![10, 100, 1000]),
            ("1_000", vec![1000]),
        ];
        for (text, expected) in table {
            assert_eq!(text.parse::<LicenceSpec>().unwrap().0, expected, "{text}");
        }
        for bad in ["", "0", "a,b", "500..100:10", "10..100", "10..100:log:x"] {
            assert!(bad.parse::<LicenceSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn vary_specs() {
        let table = [
            (
                "sender.b.rate=4000/h..8000/h:2000",
                vec!["4000/h", "6000/h", "8000/h"],
            ),
            ("k=0.1..0.3:0.1", vec!["0.1", "0.2", "0.3"]),
            ("k=0.5..1.5:0.5", vec!["0.5", "1", "1.5"]),
            ("k=100, 500,1000", vec!["100", "500", "1000"]),
            ("k=1m..3m:1", vec!["1m", "2m", "3m"]),
        ];
        for (text, expected) in table {
            let spec = text.parse::<VarySpec>().unwrap();
            assert_eq!(spec.values, expected, "{text}");
        }
        assert_eq!(
            "sender.b.rate=1".parse::<VarySpec>().unwrap().key,
            "sender.b.rate"
        );
        for bad in [
            "k",
            "=1",
            "k=",
            "k=3..1:1",
            "k=1..3",
            "k=1/h..3/m:1",
            "k=1..3:0",
            "k=a..b:1",
        ] {
            assert!(bad.parse::<VarySpec>().is_err(), "{bad}");
        }
    }
}
