//! `limit_episodes.csv`: one row per limit episode (`sim::episodes`: hit/cleared
//! flaps of one limit of one subject within the scenario's `episode_gap` merged) —
//! `start_s,end_s,tenant,scope,subject,limit,reply,peak_used,limit_value,refusals` —
//! by start. An episode still in force at the horizon ends there.

use std::io::{self, Write};

use scenario::Model;
use sim::episodes::LimitEpisode;

pub const HEADER: [&str; 10] = [
    "start_s",
    "end_s",
    "tenant",
    "scope",
    "subject",
    "limit",
    "reply",
    "peak_used",
    "limit_value",
    "refusals",
];

/// Writes `episodes` as CSV to `out`.
pub fn write(out: impl Write, model: &Model, episodes: &[LimitEpisode]) -> io::Result<()> {
    let clock = super::clock::Clock::of(model);
    let mut out = csv::Writer::from_writer(out);
    out.write_record(clock.header(&HEADER, &["start_time", "end_time"]))?;
    for e in episodes {
        let (scope, subject) = model.limit_subject(e.key.subject);
        let mut row = vec![
            e.start.to_string(),
            e.end.to_string(),
            model.tenant_id(e.tenant).to_string(),
            scope.to_string(),
            subject.into_owned(),
            e.key.limit.name().to_string(),
            e.reply.to_string(),
            e.peak_used.to_string(),
            e.limit_value.to_string(),
            e.refusals.to_string(),
        ];
        row.extend(clock.at(e.start));
        row.extend(clock.at(e.end));
        out.write_record(&row)?;
    }
    out.flush()
}
