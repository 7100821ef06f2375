//! Value types of scenario files that are written as strings: durations, rates, CIDR
//! ranges, domain names, addresses, byte sizes, recipient counts and start times.
//!
//! Each parses itself during deserialisation, so a bad value is reported at its own
//! span with a hint (see [`super::diagnostic::with_hint`]).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::diagnostic::with_hint;
use relay::time::SimDuration;

/// Serde default for a spanned field that was left out (its span is empty).
pub fn unspanned_default<T: Default>() -> toml::Spanned<T> {
    toml::Spanned::new(0..0, T::default())
}

// ---------------------------------------------------------------------------------
// Durations

const DURATION_HINT: &str =
    "write a number and a unit, e.g. \"250ms\", \"90s\", \"10m\", \"24h\", \"5d\" or \"1h 30m\"";

/// Parses `"90s"`, `"10m"`, `"1h 30m"`, `"5d"` (humantime syntax) to milliseconds.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(with_hint("empty duration", DURATION_HINT));
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(with_hint(
            &format!("duration `{trimmed}` has no unit"),
            &format!("add a unit, e.g. \"{trimmed}s\" or \"{trimmed}m\""),
        ));
    }
    // Months and years are not fixed lengths; refuse them rather than guess.
    if trimmed.contains('M') || trimmed.contains('y') {
        return Err(with_hint(
            &format!("duration `{trimmed}` uses months or years"),
            "use days instead, e.g. \"30d\" (and `m` for minutes)",
        ));
    }
    let std = humantime::parse_duration(trimmed).map_err(|e| {
        with_hint(
            &format!("`{trimmed}` is not a duration ({e})"),
            DURATION_HINT,
        )
    })?;
    if std.subsec_nanos() % 1_000_000 != 0 {
        return Err(with_hint(
            &format!("duration `{trimmed}` is finer than a millisecond"),
            "the simulation clock counts whole milliseconds",
        ));
    }
    u64::try_from(std.as_millis())
        .map(SimDuration)
        .map_err(|_| with_hint(&format!("duration `{trimmed}` is too long"), DURATION_HINT))
}

/// A duration as scenario files write it (`"90s"`, `"10m"`, `"1h 30m"`): the
/// clock's `SimDuration` with the file format's parsing, printing and schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub SimDuration);

impl Duration {
    pub fn get(self) -> SimDuration {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"90s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map(Duration).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(with_hint(
                    &format!("duration {v} has no unit"),
                    &format!("write it as a string with a unit, e.g. \"{v}s\""),
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(with_hint(
                    &format!("duration {v} has no unit"),
                    DURATION_HINT,
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. \"90s\", \"10m\", \"1h 30m\".",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*[a-z]+(\\s*[0-9]+(\\.[0-9]+)?\\s*[a-z]+)*\\s*$"
        })
    }
}

// ---------------------------------------------------------------------------------
// Rates

/// A rate such as `"2000/h"`, `"30/min"` or `"500/10m"`: `count` events per `per`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub count: f64,
    pub per: SimDuration,
}

impl Rate {
    /// Events per millisecond.
    pub fn per_milli(&self) -> f64 {
        self.to_core().per_milli()
    }

    pub fn from_core(r: relay::Rate) -> Self {
        Rate {
            count: r.count,
            per: r.per,
        }
    }

    pub fn to_core(self) -> relay::Rate {
        relay::Rate {
            count: self.count,
            per: self.per,
        }
    }
}

const RATE_HINT: &str = "write count/period, e.g. \"2000/h\", \"30/min\", \"1.5/s\" or \"500/10m\"";

impl FromStr for Rate {
    type Err = String;
    fn from_str(text: &str) -> Result<Rate, String> {
        let Some((count, period)) = text.split_once('/') else {
            return Err(with_hint(&format!("`{text}` is not a rate"), RATE_HINT));
        };
        let count: f64 = count.trim().parse().map_err(|_| {
            with_hint(
                &format!("`{}` in rate `{text}` is not a number", count.trim()),
                RATE_HINT,
            )
        })?;
        if !count.is_finite() || count < 0.0 {
            return Err(with_hint(
                &format!("rate `{text}` must be a count of zero or more"),
                RATE_HINT,
            ));
        }
        let period = period.trim();
        let per = match period {
            "s" | "sec" | "second" => SimDuration::SECOND,
            "m" | "min" | "minute" => SimDuration::MINUTE,
            "h" | "hour" => SimDuration::HOUR,
            "d" | "day" => SimDuration::DAY,
            other => parse_duration(other).map_err(|_| {
                with_hint(
                    &format!("`{other}` in rate `{text}` is not a period"),
                    RATE_HINT,
                )
            })?,
        };
        if per == SimDuration::ZERO {
            return Err(with_hint(
                &format!("rate `{text}` has a zero period"),
                RATE_HINT,
            ));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per)
    }
}

// ---------------------------------------------------------------------------------
// IP ranges

/// Largest IP range the admin console accepts (rules P3): 65,536 addresses.
pub const MAX_RANGE_ADDRESSES: u128 = 65_536;

/// An IPv4 or IPv6 CIDR range, or a single address (a /32 or /128).
///
/// P3: IPv4 and IPv6 in every notation (full, zero-stripped, `::`); at most
/// [`MAX_RANGE_ADDRESSES`] addresses, i.e. IPv4 prefix ≥ /16, IPv6 prefix ≥ /112.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl FromStr for Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let net = if let Some((address, prefix)) = text.split_once('/') {
            // The address as the standard library reads it, like `source_ip`: leading
            // zeros ("192.0.2.010") are refused, never read as decimal or octal.
            let not_a_range = || {
                with_hint(
                    &format!("`{text}` is not an IP range"),
                    "write an address or CIDR without leading zeros, e.g. \"203.0.113.0/24\", \"2001:db8::/112\" or \"198.51.100.7\"",
                )
            };
            let address = IpAddr::from_str(address).map_err(|_| not_a_range())?;
            let prefix: u8 = prefix.parse().map_err(|_| not_a_range())?;
            IpNet::new(address, prefix).map_err(|_| not_a_range())?
        } else {
            IpNet::from(IpAddr::from_str(text).map_err(|_| {
                with_hint(
                    &format!("`{text}` is not an IP address"),
                    "write an IPv4 or IPv6 address or a CIDR range, e.g. \"203.0.113.0/24\"",
                )
            })?)
        };
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let addresses = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
        if addresses > MAX_RANGE_ADDRESSES {
            let min_prefix = net.max_prefix_len() - 16;
            return Err(with_hint(
                &format!(
                    "IP range `{text}` holds {addresses} addresses, more than the 65,536 the relay accepts (P3)"
                ),
                &format!("split it into ranges of prefix /{min_prefix} or longer"),
            ));
        }
        Ok(Cidr(net.trunc()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// ---------------------------------------------------------------------------------
// Names and addresses

/// A DNS domain name, stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(pub String);

impl FromStr for DomainName {
    type Err = String;
    fn from_str(text: &str) -> Result<DomainName, String> {
        let lower = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if lower.is_empty() || lower.len() > 253 || !lower.split('.').all(valid_label) {
            return Err(with_hint(
                &format!("`{text}` is not a domain name"),
                "write a domain such as \"example.com\" (letters, digits, hyphens, dots)",
            ));
        }
        Ok(DomainName(lower))
    }
}

impl DomainName {
    /// True if `self` is `other` or one of its subdomains.
    pub fn is_within(&self, other: &DomainName) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mailbox address `local@domain`, stored lower-case (the relay matches users
/// case-insensitively).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(pub String);

impl FromStr for EmailAddress {
    type Err = String;
    fn from_str(text: &str) -> Result<EmailAddress, String> {
        let hint = "write an address such as \"helpdesk@example.com\"";
        let trimmed = text.trim();
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(with_hint(
                &format!("`{text}` is not an email address"),
                hint,
            ));
        };
        if local.is_empty() || local.contains(char::is_whitespace) || local.contains('@') {
            return Err(with_hint(
                &format!("`{text}` is not an email address"),
                hint,
            ));
        }
        let domain: DomainName = domain
            .parse()
            .map_err(|_| with_hint(&format!("`{text}` has an invalid domain"), hint))?;
        Ok(EmailAddress(format!(
            "{}@{}",
            local.to_ascii_lowercase(),
            domain
        )))
    }
}

impl EmailAddress {
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The envelope sender of MAIL FROM: an address, or empty (`""` or `"<>"` in a
/// scenario) for bounces and auto-replies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnvelopeSender {
    Null,
    Address(EmailAddress),
}

impl EnvelopeSender {
    /// The reverse path as the relay reads MAIL FROM.
    pub fn reverse_path(&self) -> relay::ReversePath<'_> {
        match self {
            EnvelopeSender::Null => relay::ReversePath::Null,
            EnvelopeSender::Address(a) => relay::ReversePath::Address(&a.0),
        }
    }
}

impl FromStr for EnvelopeSender {
    type Err = String;
    fn from_str(text: &str) -> Result<EnvelopeSender, String> {
        match text.trim() {
            "" | "<>" => Ok(EnvelopeSender::Null),
            other => other.parse().map(EnvelopeSender::Address),
        }
    }
}

impl fmt::Display for EnvelopeSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeSender::Null => f.write_str("<>"),
            EnvelopeSender::Address(a) => a.fmt(f),
        }
    }
}

// ---------------------------------------------------------------------------------
// Sizes and counts

/// A message size in bytes, written `"20KB"`, `"1.5MB"`, `"512KiB"` or a bare integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(text: &str) -> Result<ByteSize, String> {
        let hint = "write a size such as \"20KB\", \"1.5MB\" or \"512KiB\"";
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| with_hint(&format!("`{text}` is not a size"), hint))?;
        let factor: f64 = match unit.trim() {
            "" | "B" => 1.0,
            "KB" | "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            other => {
                return Err(with_hint(
                    &format!("unknown size unit `{other}` in `{text}`"),
                    hint,
                ));
            }
        };
        Ok(ByteSize((number * factor).round() as u64))
    }
}

/// How many recipients each generated message has.
///
/// Written as an integer (`3`: always 3), an inclusive range (`"1..5"`: uniform), or
/// a geometric distribution by its mean (`"geometric:2.5"`: 1, 2, 3 … with mean 2.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RecipientCount {
    Fixed(u32),
    Uniform { min: u32, max: u32 },
    Geometric { mean: f64 },
}

impl Default for RecipientCount {
    fn default() -> Self {
        RecipientCount::Fixed(1)
    }
}

/// Most recipients one message may have: 10,000 — a list expanded into one envelope,
/// 100 relay transactions (P10). Counts, range ends, geometric means and replay counts
/// are refused above it; geometric draws are capped at it.
pub const MAX_RECIPIENTS_PER_MESSAGE: u32 = 10_000;

const RECIPIENTS_HINT: &str =
    "write an integer (3), an inclusive range (\"1..5\") or a geometric mean (\"geometric:2.5\")";

impl FromStr for RecipientCount {
    type Err = String;
    fn from_str(text: &str) -> Result<RecipientCount, String> {
        let t = text.trim();
        let bad = || {
            with_hint(
                &format!("`{text}` is not a recipient count"),
                RECIPIENTS_HINT,
            )
        };
        if let Some(mean) = t.strip_prefix("geometric:") {
            let mean: f64 = mean.trim().parse().map_err(|_| bad())?;
            if !(mean >= 1.0 && mean.is_finite()) {
                return Err(with_hint(
                    &format!("geometric mean {mean} is below 1"),
                    "every message has at least one recipient: use a mean of 1 or more",
                ));
            }
            if mean > f64::from(MAX_RECIPIENTS_PER_MESSAGE) {
                return Err(too_many_recipients(&format!("a geometric mean of {mean}")));
            }
            return Ok(RecipientCount::Geometric { mean });
        }
        if let Some((lo, hi)) = t.split_once("..") {
            let hi = hi.strip_prefix('=').unwrap_or(hi);
            let min: u32 = lo.trim().parse().map_err(|_| bad())?;
            let max: u32 = hi.trim().parse().map_err(|_| bad())?;
            if min == 0 || min > max {
                return Err(with_hint(
                    &format!("recipient range `{text}` is empty or starts at 0"),
                    "write min..max with 1 ≤ min ≤ max, e.g. \"1..5\"",
                ));
            }
            if max > MAX_RECIPIENTS_PER_MESSAGE {
                return Err(too_many_recipients(&format!("up to {max}")));
            }
            return Ok(RecipientCount::Uniform { min, max });
        }
        let n: u32 = t.parse().map_err(|_| bad())?;
        RecipientCount::fixed(n)
    }
}

/// The error for a recipient count above [`MAX_RECIPIENTS_PER_MESSAGE`].
pub fn too_many_recipients(what: &str) -> String {
    with_hint(
        &format!(
            "{what} recipients per message is more than the {MAX_RECIPIENTS_PER_MESSAGE} relaysim models"
        ),
        "a bigger mailing is several messages: lower the count, or send more messages",
    )
}

impl RecipientCount {
    fn fixed(n: u32) -> Result<RecipientCount, String> {
        if n == 0 {
            return Err(with_hint(
                "a message needs at least one recipient",
                "use 1 or more",
            ));
        }
        if n > MAX_RECIPIENTS_PER_MESSAGE {
            return Err(too_many_recipients(&n.to_string()));
        }
        Ok(RecipientCount::Fixed(n))
    }

    pub fn mean(&self) -> f64 {
        match *self {
            RecipientCount::Fixed(n) => f64::from(n),
            RecipientCount::Uniform { min, max } => (f64::from(min) + f64::from(max)) / 2.0,
            RecipientCount::Geometric { mean } => mean,
        }
    }
}

impl<'de> Deserialize<'de> for RecipientCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RecipientCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a recipient count: 3, \"1..5\" or \"geometric:2.5\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RecipientCount, E> {
                let n = u32::try_from(v).map_err(|_| {
                    E::custom(with_hint(
                        &format!("{v} is not a recipient count"),
                        RECIPIENTS_HINT,
                    ))
                })?;
                RecipientCount::fixed(n).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RecipientCount, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RecipientCount {
    fn schema_name() -> Cow<'static, str> {
        "RecipientCount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Recipients per message: an integer, an inclusive range \"1..5\", or \"geometric:MEAN\".",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^\\s*([0-9]+\\s*\\.\\.=?\\s*[0-9]+|geometric:\\s*[0-9.]+)\\s*$"}
            ]
        })
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"20KB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size: bytes as an integer, or a string such as \"20KB\", \"1.5MB\", \"512KiB\".",
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]
        })
    }
}

// ---------------------------------------------------------------------------------
// Exim-style retry rules (M2)

/// One item of an Exim retry rule; `cutoff` is measured from the first failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryItem {
    /// `F,cutoff,interval`: fixed interval.
    Fixed {
        cutoff: SimDuration,
        interval: SimDuration,
    },
    /// `G,cutoff,first,multiplier`: the gap grows geometrically, at least `first`.
    Geometric {
        cutoff: SimDuration,
        first: SimDuration,
        multiplier: f64,
    },
}

impl RetryItem {
    pub fn cutoff(&self) -> SimDuration {
        match self {
            RetryItem::Fixed { cutoff, .. } | RetryItem::Geometric { cutoff, .. } => *cutoff,
        }
    }
}

/// An Exim retry rule, e.g. `"F,2h,15m; G,16h,1h,1.5; F,4d,6h"`: items in order of
/// increasing cutoff; after the last cutoff the message is given up (bounced).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryRules(pub Vec<RetryItem>);

impl FromStr for RetryRules {
    type Err = String;
    fn from_str(text: &str) -> Result<RetryRules, String> {
        let hint = "write items like \"F,2h,15m; G,16h,1h,1.5; F,4d,6h\" (F,cutoff,interval or G,cutoff,first,multiplier)";
        let mut items = Vec::new();
        for raw in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
            let item = match parts.as_slice() {
                ["F", cutoff, interval] => RetryItem::Fixed {
                    cutoff: parse_duration(cutoff)?,
                    interval: parse_duration(interval)?,
                },
                ["G", cutoff, first, multiplier] => {
                    let multiplier: f64 = multiplier
                        .parse()
                        .ok()
                        .filter(|m: &f64| *m >= 1.0)
                        .ok_or_else(|| {
                            with_hint(
                                &format!("`{multiplier}` is not a multiplier of at least 1"),
                                hint,
                            )
                        })?;
                    RetryItem::Geometric {
                        cutoff: parse_duration(cutoff)?,
                        first: parse_duration(first)?,
                        multiplier,
                    }
                }
                _ => {
                    return Err(with_hint(
                        &format!("`{raw}` is not a retry rule item"),
                        hint,
                    ));
                }
            };
            let gap = match item {
                RetryItem::Fixed { interval, .. } => interval,
                RetryItem::Geometric { first, .. } => first,
            };
            if gap < SimDuration::from_secs(1) {
                return Err(with_hint(
                    &format!("`{raw}` retries less than a second apart"),
                    "no mail server retries faster than once a second: give an interval of 1s or more",
                ));
            }
            if items
                .last()
                .is_some_and(|last: &RetryItem| last.cutoff() >= item.cutoff())
            {
                return Err(with_hint(
                    &format!("`{raw}`: cutoffs must increase from item to item"),
                    hint,
                ));
            }
            items.push(item);
        }
        if items.is_empty() {
            return Err(with_hint("an empty retry rule", hint));
        }
        Ok(RetryRules(items))
    }
}

/// Implements `Deserialize` (via `FromStr`) and a string `JsonSchema` for value types
/// written as TOML strings.
macro_rules! string_value {
    ($ty:ty, $name:literal, $description:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "description": $description})
            }
        }
    };
}

string_value!(
    RetryRules,
    "RetryRules",
    "An Exim retry rule, e.g. \"F,2h,15m; G,16h,1h,1.5; F,4d,6h\""
);
string_value!(
    Rate,
    "Rate",
    "A rate count/period, e.g. \"2000/h\", \"30/min\", \"500/10m\"."
);
string_value!(
    Cidr,
    "Cidr",
    "An IPv4/IPv6 address or CIDR range of at most 65,536 addresses (P3)."
);
string_value!(
    DomainName,
    "DomainName",
    "A domain name such as \"example.com\"."
);
string_value!(
    EmailAddress,
    "EmailAddress",
    "A mailbox address such as \"helpdesk@example.com\"."
);
string_value!(
    EnvelopeSender,
    "EnvelopeSender",
    "An envelope sender address, or \"<>\" for the empty sender."
);

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// ---------------------------------------------------------------------------------
// Start date-time

/// The wall-clock start of a scenario (TOML date-time, e.g. `2026-03-02T08:00:00`).
/// Diurnal traffic and clock-time chart axes use it. Daylight-saving shifts are not
/// modelled: the clock runs in the offset given (UTC when none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartTime {
    /// Days since 1970-01-01 of the start date.
    pub days_since_epoch: i64,
    /// Seconds since local midnight at the start.
    pub second_of_day: u32,
    /// UTC offset in minutes, as written.
    pub offset_minutes: i32,
}

impl StartTime {
    /// Local hour of day (0–23) at virtual time `t`.
    pub fn hour_at(&self, t: relay::time::SimTime) -> usize {
        let secs = u64::from(self.second_of_day) + t.as_millis() / 1_000;
        ((secs / 3_600) % 24) as usize
    }

    /// ISO 8601 form, e.g. `2026-03-02T08:00:00Z`.
    pub fn to_iso(self) -> String {
        let (y, m, d) = civil_from_days(self.days_since_epoch);
        let s = self.second_of_day;
        let offset = if self.offset_minutes == 0 {
            "Z".to_string()
        } else {
            let sign = if self.offset_minutes < 0 { '-' } else { '+' };
            let o = self.offset_minutes.unsigned_abs();
            format!("{sign}{:02}:{:02}", o / 60, o % 60)
        };
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{offset}",
            s / 3600,
            (s / 60) % 60,
            s % 60
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl StartTime {
    /// A date-time with both date and time (an offset is optional: none is UTC).
    pub fn from_datetime(dt: &toml::value::Datetime) -> Result<StartTime, String> {
        let (Some(date), Some(time)) = (dt.date, dt.time) else {
            return Err(format!("`{dt}` needs both a date and a time"));
        };
        let offset_minutes = match dt.offset {
            None | Some(toml::value::Offset::Z) => 0,
            Some(toml::value::Offset::Custom { minutes }) => i32::from(minutes),
        };
        Ok(StartTime {
            days_since_epoch: days_from_civil(
                i64::from(date.year),
                date.month.into(),
                date.day.into(),
            ),
            second_of_day: u32::from(time.hour) * 3600
                + u32::from(time.minute) * 60
                + u32::from(time.second.unwrap_or(0)),
            offset_minutes,
        })
    }

    /// The local clock `t` after the start, to the second: the same date-time form
    /// as [`StartTime::to_iso`] (RFC 3339, in the start's offset).
    pub fn after(self, t: relay::time::SimTime) -> StartTime {
        let secs = i64::from(self.second_of_day) + (t.as_millis() / 1_000) as i64;
        StartTime {
            days_since_epoch: self.days_since_epoch + secs.div_euclid(86_400),
            second_of_day: secs.rem_euclid(86_400) as u32,
            offset_minutes: self.offset_minutes,
        }
    }

    /// The local clock time as a person reads it: `09:07`, or `2026-03-03 09:07`
    /// with `with_date`.
    pub fn clock(self, with_date: bool) -> String {
        let s = self.second_of_day;
        let hm = format!("{:02}:{:02}", s / 3600, (s / 60) % 60);
        if with_date {
            let (y, m, d) = civil_from_days(self.days_since_epoch);
            format!("{y:04}-{m:02}-{d:02} {hm}")
        } else {
            hm
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn utc_millis(&self) -> i64 {
        (self.days_since_epoch * 86_400 + i64::from(self.second_of_day)
            - i64::from(self.offset_minutes) * 60)
            * 1000
    }
}

impl<'de> Deserialize<'de> for StartTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hint = "write a TOML date-time without quotes, e.g. start = 2026-03-02T08:00:00";
        let dt = toml::value::Datetime::deserialize(d)?;
        StartTime::from_datetime(&dt)
            .map_err(|e| de::Error::custom(with_hint(&format!("start {e}"), hint)))
    }
}

impl JsonSchema for StartTime {
    fn schema_name() -> Cow<'static, str> {
        "StartTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "A TOML date-time (unquoted), e.g. 2026-03-02T08:00:00 or 2026-03-02T08:00:00+01:00."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::split_hint;

    #[test]
    fn durations_parse_in_milliseconds() {
        let cases = [
            ("250ms", 250),
            ("90s", 90_000),
            ("10m", 600_000),
            ("24h", 86_400_000),
            ("5d", 432_000_000),
            ("1h 30m", 5_400_000),
            ("1h30m", 5_400_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text), Ok(SimDuration(ms)), "{text}");
        }
    }

    #[test]
    fn bad_durations_say_how_to_fix_them() {
        for text in ["", "10", "ten minutes", "1M", "2y", "1us"] {
            let err = parse_duration(text).unwrap_err();
            let (_, hint) = split_hint(&err);
            assert!(hint.is_some(), "{text}: {err}");
        }
    }

    #[test]
    fn rates_parse() {
        let r: Rate = "2000/h".parse().unwrap();
        assert_eq!((r.count, r.per), (2000.0, SimDuration::HOUR));
        let r: Rate = "500/10m".parse().unwrap();
        assert_eq!(r.per, SimDuration::from_secs(600));
        let r: Rate = "1.5/s".parse().unwrap();
        assert!((r.per_milli() - 0.0015).abs() < 1e-12);
        for bad in ["2000", "x/h", "5/fortnight", "-1/h", "5/0s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    /// P3: IPv4 and IPv6 in every notation; at most 65,536 addresses per range.
    #[test]
    fn p03_ip_ranges_accept_every_notation_and_refuse_over_65536_addresses() {
        let same = [
            "2001:0db8:0000:0000:0000:0000:0000:0000/112",
            "2001:db8:0:0:0:0:0:0/112",
            "2001:db8::/112",
        ];
        let parsed: Vec<Cidr> = same.iter().map(|s| s.parse().unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            "198.51.100.7".parse::<Cidr>().unwrap().to_string(),
            "198.51.100.7/32"
        );
        assert!("10.0.0.0/16".parse::<Cidr>().is_ok());
        assert!("10.0.0.0/15".parse::<Cidr>().is_err());
        assert!("10.0.0.0/8".parse::<Cidr>().is_err());
        assert!("2001:db8::/111".parse::<Cidr>().is_err());
        assert!("::1".parse::<Cidr>().is_ok());
        assert!("300.1.1.1".parse::<Cidr>().is_err());
    }

    #[test]
    fn domains_and_subdomains() {
        let d: DomainName = "Acme.Example.".parse().unwrap();
        assert_eq!(d.0, "acme.example");
        let sub: DomainName = "mail.acme.example".parse().unwrap();
        assert!(sub.is_within(&d));
        assert!(d.is_within(&d));
        let lookalike: DomainName = "badacme.example".parse().unwrap();
        assert!(!lookalike.is_within(&d));
        assert!("bad_domain".parse::<DomainName>().is_err());
        assert!("-x.com".parse::<DomainName>().is_err());
    }

    #[test]
    fn envelope_senders() {
        assert_eq!("<>".parse::<EnvelopeSender>(), Ok(EnvelopeSender::Null));
        assert_eq!("".parse::<EnvelopeSender>(), Ok(EnvelopeSender::Null));
        let a: EnvelopeSender = "Help@Acme.Example".parse().unwrap();
        assert_eq!(a.to_string(), "help@acme.example");
        assert!("nobody".parse::<EnvelopeSender>().is_err());
    }

    #[test]
    fn sizes_and_recipient_counts() {
        assert_eq!("20KB".parse::<ByteSize>(), Ok(ByteSize(20_000)));
        assert_eq!("1.5MB".parse::<ByteSize>(), Ok(ByteSize(1_500_000)));
        assert_eq!("2KiB".parse::<ByteSize>(), Ok(ByteSize(2048)));
        assert!("3 parsecs".parse::<ByteSize>().is_err());
        assert_eq!(
            "1..5".parse(),
            Ok(RecipientCount::Uniform { min: 1, max: 5 })
        );
        assert_eq!(
            "2..=2".parse(),
            Ok(RecipientCount::Uniform { min: 2, max: 2 })
        );
        assert_eq!(
            "geometric:2.5".parse(),
            Ok(RecipientCount::Geometric { mean: 2.5 })
        );
        assert!("0".parse::<RecipientCount>().is_err());
        assert!("5..1".parse::<RecipientCount>().is_err());
        assert!("geometric:0.5".parse::<RecipientCount>().is_err());
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000, 0, 1, 19_000, 20_514, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2026, 3, 2), 20_514);
    }
}
