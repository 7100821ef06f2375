//! `[[sender]]`: an application or user population that hands mail to an MTA.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::Duration;
use super::values::{ByteSize, DomainName, EnvelopeSender, Rate, RecipientCount};

/// How message arrivals are spread over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Evenly spaced arrivals at `rate`.
    Constant,
    /// A Poisson process of intensity `rate` (default).
    #[default]
    Poisson,
    /// Poisson with the hourly `weights` shaping `rate` over the (local) day; needs
    /// `[simulation] start`.
    Diurnal,
    /// Only the `[[sender.burst]]` entries.
    Bursts,
    /// The messages of the CSV file `replay` (see `replay.rs` for its columns).
    Replay,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Sender {
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// The MTA it submits to.
    #[schemars(with = "String")]
    pub mta: Spanned<String>,
    /// Envelope senders, one picked uniformly per message; "<>" is the empty sender.
    /// (Not with `pattern = "replay"`: the file gives them.)
    #[serde(default = "super::values::unspanned_default::<Vec<EnvelopeSender>>")]
    #[schemars(with = "Vec<EnvelopeSender>")]
    pub envelope_from: Spanned<Vec<EnvelopeSender>>,
    #[serde(default = "super::values::unspanned_default::<Pattern>")]
    #[schemars(with = "Pattern")]
    pub pattern: Spanned<Pattern>,
    /// How many members this sender stands for (default 1): each its own arrival
    /// process and random stream, `{n}` in `envelope_from` replaced by its number
    /// (1 to `population`). Reported as one sender.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1_000_000))]
    pub population: Option<Spanned<u32>>,
    /// Mean message rate (constant, poisson, diurnal); per member of a population
    /// unless `rate_per = "population"`.
    pub rate: Option<Rate>,
    /// With `population`: whether `rate` is each member's (default) or all members'
    /// together.
    #[serde(default)]
    pub rate_per: crate::population::RatePer,
    /// Diurnal: 24 relative weights, hour 0 to 23 of the local day.
    #[schemars(with = "Option<Vec<f64>>")]
    pub weights: Option<Spanned<Vec<f64>>>,
    /// Campaigns on top of the pattern (the only traffic with `pattern = "bursts"`).
    #[serde(default, rename = "burst")]
    pub bursts: Vec<Burst>,
    /// When the sender starts, from the scenario start.
    #[serde(default)]
    pub start: Duration,
    /// When it stops (default: the horizon).
    pub stop: Option<Duration>,
    #[serde(default)]
    pub recipients: RecipientCount,
    #[serde(default)]
    pub recipient_pool: RecipientPool,
    #[serde(default = "default_size")]
    pub message_size: ByteSize,
    /// With `pattern = "replay"`: a CSV file of real sends, relative to the scenario
    /// file, with columns time,envelope_from,recipients[,size].
    #[schemars(with = "Option<String>")]
    pub replay: Option<Spanned<String>>,
    /// The rows of `replay`, read when the scenario is loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub replay_rows: Vec<super::replay::ReplayRow>,
}

fn default_size() -> ByteSize {
    ByteSize(20_000)
}

/// A campaign: `messages` messages spread evenly over `over`, starting `at`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Burst {
    /// When the burst starts, before the end of the run.
    #[schemars(with = "Duration")]
    pub at: Spanned<Duration>,
    pub messages: u32,
    #[serde(default)]
    pub over: Duration,
}

/// Where recipients come from: `size` addresses with Zipf popularity, a share of
/// them in an internal domain (routed elsewhere by the MTA when it is internal, M5).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(default)]
pub struct RecipientPool {
    /// Number of distinct recipient addresses.
    #[schemars(with = "u32")]
    pub size: Spanned<u32>,
    /// Zipf exponent of popularity (0: uniform).
    #[schemars(with = "f64")]
    pub zipf_exponent: Spanned<f64>,
    /// Domain of external recipients.
    pub domain: DomainName,
    /// Share of recipients in `internal_domain`, 0 to 1.
    #[schemars(with = "f64")]
    pub internal_share: Spanned<f64>,
    pub internal_domain: Option<DomainName>,
}

impl Default for RecipientPool {
    fn default() -> Self {
        RecipientPool {
            size: Spanned::new(0..0, 1_000),
            zipf_exponent: Spanned::new(0..0, 1.0),
            domain: DomainName("recipients.example".into()),
            internal_share: Spanned::new(0..0, 0.0),
            internal_domain: None,
        }
    }
}
