//! The logs: plain, gzip (`.gz`) or zstd (`.zst`) files, or stdin (`-`), read line
//! by line (bytes that are not UTF-8 are replaced, never fatal), the files in time
//! order: by the first time stamp each holds.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::stamp::Stamp;
use crate::{Format, ImportError, LineParser, Parsed, Record};

/// Opens one log, decompressing by its extension.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, ImportError> {
    let read_error = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let file = File::open(path).map_err(read_error)?;
    let reader: Box<dyn Read> = match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Some("zst") => Box::new(zstd::Decoder::new(file).map_err(read_error)?),
        _ => Box::new(file),
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Reads `reader` line by line into `line` (without its line break), calling
/// `each` with the line number; a last line without a break (cut by rotation) is
/// read too.
pub fn for_each_line(
    path: &Path,
    mut reader: impl BufRead,
    mut each: impl FnMut(u64, &str) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut bytes = Vec::with_capacity(512);
    let mut number = 0;
    loop {
        bytes.clear();
        let n = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        each(number, &String::from_utf8_lossy(&bytes))?;
    }
}

/// The first lines of a log (to recognise its format).
pub fn first_lines(path: &Path, n: usize) -> Result<Vec<String>, ImportError> {
    let mut lines = Vec::new();
    let reader = open(path)?;
    for line in reader.lines().take(n) {
        match line {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    Ok(lines)
}

/// The time of a parsed line, if it has one.
pub fn stamp_of(parsed: &Parsed) -> Option<Stamp> {
    let record = match parsed {
        Parsed::Record(r) => r,
        Parsed::Records(rs) => rs.first()?,
        _ => return None,
    };
    match record {
        Record::Queued { at, .. } | Record::Attempt { at, .. } => Some(*at),
        Record::Removed { .. } => None,
    }
}

/// The logs in time order: each by the first time stamp among its first 10,000
/// lines (a file without one keeps its place after the others). Syslog files whose
/// stamps carry no year are ordered by their rotated names instead when they are
/// all one log's rotations (`mail.log.2.gz`, `mail.log.1`, `mail.log`; or
/// `mail.log-20251231.gz` … `mail.log`): a January file's stamps would sort
/// before December's under one `--year`. Stdin cannot be read twice: it must be
/// the only log.
pub fn in_time_order(
    paths: &[PathBuf],
    format: Format,
    year: Option<i32>,
) -> Result<Vec<PathBuf>, ImportError> {
    if paths.len() > 1 && paths.iter().any(|p| p == Path::new("-")) {
        return Err(ImportError::Read {
            path: PathBuf::from("-"),
            source: io::Error::other("stdin (-) can only be read as the only log"),
        });
    }
    if paths.len() == 1 {
        return Ok(paths.to_vec());
    }
    if format == Format::Postfix && year_less(paths)? {
        let mut named: Vec<(Rotation, &PathBuf)> = Vec::with_capacity(paths.len());
        for path in paths {
            match rotation(path) {
                Some(r) if named.first().is_none_or(|(f, _)| f.base == r.base) => {
                    named.push((r, path))
                }
                _ => {
                    named.clear();
                    break;
                }
            }
        }
        if !named.is_empty() {
            named.sort_by(|a, b| a.0.age.cmp(&b.0.age));
            return Ok(named.into_iter().map(|(_, p)| p.clone()).collect());
        }
    }
    let mut keyed = Vec::with_capacity(paths.len());
    for path in paths {
        let mut parser: Box<dyn LineParser> = crate::parser(format, year);
        let first = first_lines(path, 10_000)?
            .iter()
            .find_map(|line| stamp_of(&parser.parse(line)));
        keyed.push((first.map(|s| s.ms).unwrap_or(i64::MAX), path.clone()));
    }
    keyed.sort_by_key(|(ms, _)| *ms);
    Ok(keyed.into_iter().map(|(_, p)| p).collect())
}

/// Whether the logs' stamps are traditional syslog ones (`Nov 29 11:05:01`: no
/// year), from the first line of the first log.
fn year_less(paths: &[PathBuf]) -> Result<bool, ImportError> {
    let lines = first_lines(&paths[0], 1)?;
    Ok(lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .is_some_and(crate::stamp::is_month))
}

/// Where a file stands in its log's rotation.
#[derive(Debug, PartialEq, Eq)]
struct Rotation {
    /// The log's name without rotation suffix and compression: `mail.log`.
    base: String,
    age: Age,
}

/// Oldest first: the highest number, then dates in order, then the live file.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Age {
    /// `mail.log.3`: `Reverse` so higher numbers (older) come first.
    Numbered(std::cmp::Reverse<u32>),
    /// `mail.log-20251231` (logrotate's dateext).
    Dated(String),
    /// `mail.log` itself.
    Live,
}

/// `mail.log.2.gz` → (`mail.log`, numbered 2); `None` for names that are not a
/// rotation's (no base left).
fn rotation(path: &Path) -> Option<Rotation> {
    let name = path.file_name()?.to_str()?;
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(name);
    if let Some((base, n)) = name.rsplit_once('.')
        && !base.is_empty()
        && !n.is_empty()
        && n.chars().all(|c| c.is_ascii_digit())
    {
        return Some(Rotation {
            base: base.to_string(),
            age: Age::Numbered(std::cmp::Reverse(n.parse().ok()?)),
        });
    }
    if let Some((base, date)) = name.rsplit_once('-')
        && !base.is_empty()
        && date.len() >= 8
        && date.chars().all(|c| c.is_ascii_digit())
    {
        return Some(Rotation {
            base: base.to_string(),
            age: Age::Dated(date.to_string()),
        });
    }
    Some(Rotation {
        base: name.to_string(),
        age: Age::Live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_order_oldest_first() {
        let mut names = [
            "mail.log",
            "mail.log.1",
            "mail.log.10.gz",
            "mail.log.2.gz",
            "mail.log-20251231.zst",
            "mail.log-20251230",
        ]
        .map(|n| rotation(Path::new(n)).unwrap());
        names.sort_by(|a, b| a.age.cmp(&b.age));
        let ages: Vec<String> = names.iter().map(|r| format!("{:?}", r.age)).collect();
        assert_eq!(
            ages,
            [
                "Numbered(Reverse(10))",
                "Numbered(Reverse(2))",
                "Numbered(Reverse(1))",
                "Dated(\"20251230\")",
                "Dated(\"20251231\")",
                "Live"
            ]
        );
        assert!(names.iter().all(|r| r.base == "mail.log"));
        assert_eq!(
            rotation(Path::new("/var/log/maillog.3")).unwrap().base,
            "maillog"
        );
    }
}
