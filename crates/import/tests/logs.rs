//! The fixtures of `tests/fixtures/logs/` (one per format, with the awkward lines:
//! several hosts and instances, a year roll-over, IPv6 clients, bounces, `<>`
//! senders, a long recipient list, lines cut by rotation, continuation lines)
//! imported: the messages, the replies, what was skipped, a scenario that loads.
//! Plain, gzip and zstd give the same folder.

use std::io::Write;
use std::path::{Path, PathBuf};

use import::Format;
use import::output::Options;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/logs")
        .join(name)
}

/// Import options: a plain import (no fit, no pseudonyms) into `out`, replaced.
fn options(format: Format, logs: Vec<PathBuf>, year: Option<i32>, out: &Path) -> Options {
    Options {
        format: Some(format),
        logs,
        year,
        out: out.to_path_buf(),
        overwrite: true,
        fit: None,
        anonymise: None,
    }
}

fn import(format: Option<Format>, logs: Vec<PathBuf>, out: &Path) -> import::output::Imported {
    import::write_folder(&Options {
        format,
        ..options(Format::Postfix, logs, Some(2025), out)
    })
    .unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// The folder's CSVs, and the scenario loads and names the replay.
fn folder(dir: &Path) -> String {
    let model = scenario::Model::load(&dir.join("scenario.toml")).unwrap();
    let replayed: usize = model
        .senders
        .iter()
        .map(|s| s.traffic.replay_rows().len())
        .sum();
    format!(
        "{}\n{}\nreplayed rows: {replayed}",
        read(dir, "sends.csv"),
        read(dir, "observed_replies.csv")
    )
}

#[test]
fn postfix_fixture() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("postfix");
    let imported = import(
        Some(Format::Postfix),
        vec![fixture("postfix-mail.log")],
        &dir,
    );
    let s = &imported.summary;
    assert_eq!(
        (s.messages, s.recipients, s.replies, s.still_queued),
        (5, 65, 3, 1)
    );
    assert_eq!(s.hosts.keys().collect::<Vec<_>>(), ["mx1", "mx2"]);
    assert_eq!(
        s.unknown["a line cut short"].examples,
        [format!("{}:84", fixture("postfix-mail.log").display())]
    );
    assert_eq!(imported.start.to_iso(), "2025-12-31T23:58:00");
    assert!(dir.join("sends-mx1.csv").exists() && dir.join("sends-mx2.csv").exists());
    insta::assert_snapshot!(folder(&dir));
}

#[test]
fn exim_fixture() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("exim");
    let imported = import(None, vec![fixture("exim-mainlog")], &dir);
    assert_eq!(imported.format, Format::Exim);
    let s = &imported.summary;
    assert_eq!(
        (s.messages, s.recipients, s.replies, s.still_queued),
        (4, 6, 2, 1)
    );
    assert_eq!(
        s.unknown.values().map(|u| u.count).sum::<u64>(),
        1,
        "{:?}",
        s.unknown
    );
    assert_eq!(imported.start.to_iso(), "2026-03-02T09:00:00+01:00");
    insta::assert_snapshot!(folder(&dir));
}

#[test]
fn exchange_fixture() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("exchange");
    let imported = import(None, vec![fixture("exchange-MSGTRK2026030208-1.LOG")], &dir);
    assert_eq!(imported.format, Format::Exchange);
    let s = &imported.summary;
    assert_eq!(
        (s.messages, s.recipients, s.replies, s.still_queued),
        (2, 3, 2, 0)
    );
    insta::assert_snapshot!(folder(&dir));
}

/// A log rotated into three compressed and plain parts, given in any order, is
/// the log whole.
#[test]
fn rotated_and_compressed_parts_in_time_order() {
    let text = std::fs::read_to_string(fixture("exim-mainlog")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tmp = tempfile::tempdir().unwrap();
    let (a, rest) = lines.split_at(6);
    let (b, c) = rest.split_at(6);
    let gz = tmp.path().join("mainlog.2.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    writeln!(e, "{}", a.join("\n")).unwrap();
    e.finish().unwrap();
    let zst = tmp.path().join("mainlog.1.zst");
    std::fs::write(
        &zst,
        zstd::encode_all(format!("{}\n", b.join("\n")).as_bytes(), 1).unwrap(),
    )
    .unwrap();
    let plain = tmp.path().join("mainlog");
    std::fs::write(&plain, c.join("\n")).unwrap();
    let whole = import(
        Some(Format::Exim),
        vec![fixture("exim-mainlog")],
        &tmp.path().join("whole"),
    );
    let parts = import(
        Some(Format::Exim),
        vec![plain, gz, zst],
        &tmp.path().join("parts"),
    );
    assert_eq!(parts.summary.files, 3);
    assert_eq!(parts.summary.messages, whole.summary.messages);
    assert_eq!(
        read(&tmp.path().join("parts"), "sends.csv"),
        read(&tmp.path().join("whole"), "sends.csv")
    );
}

/// Traditional syslog stamps need a year: a clear error with the place.
#[test]
fn a_syslog_log_without_year_is_refused_with_its_place() {
    let out = tempfile::tempdir().unwrap();
    let e = import::write_folder(&options(
        Format::Postfix,
        vec![fixture("postfix-mail.log")],
        None,
        &out.path().join("x"),
    ))
    .unwrap_err();
    assert!(e.to_string().ends_with("postfix-mail.log:1: syslog time stamps carry no year; give the year of the first line with --year (later lines roll over at New Year)"), "{e}");
    assert!(!out.path().join("x").exists(), "nothing written");
}

/// Logs out of time order (a message queued before the first stamp): left out and
/// counted, never a negative replay time.
#[test]
fn messages_before_the_first_stamp_are_left_out_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("mainlog");
    std::fs::write(
        &log,
        "2026-03-02 09:05:00 1aB2cD-000001-AA <= a@acme.example S=10\n\
         2026-03-02 09:05:01 1aB2cD-000001-AA => r@example.org R=x T=y H=h [192.0.2.1]\n\
         2026-03-02 09:05:01 1aB2cD-000001-AA Completed\n\
         2026-03-02 08:00:00 1aB2cE-000002-BB <= b@acme.example S=10\n\
         2026-03-02 08:00:01 1aB2cE-000002-BB => s@example.org R=x T=y H=h [192.0.2.1]\n\
         2026-03-02 08:00:01 1aB2cE-000002-BB Completed\n",
    )
    .unwrap();
    let imported = import(Some(Format::Exim), vec![log], &tmp.path().join("out"));
    assert_eq!(
        (imported.summary.messages, imported.summary.before_start),
        (1, 1)
    );
    assert_eq!(
        read(&tmp.path().join("out"), "sends.csv"),
        "time,envelope_from,recipients,size\n0.000,a@acme.example,r@example.org,10\n"
    );
}

/// A file with no message in it: an error that says what the lines were.
#[test]
fn a_log_without_messages_says_what_its_lines_were() {
    let out = tempfile::tempdir().unwrap();
    let e = import::write_folder(&options(
        Format::Exim,
        vec![fixture("postfix-mail.log")],
        None,
        &out.path().join("x"),
    ))
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no message found as exim log in 84 lines; 84 × no time stamp (first at ")
            && text.ends_with("postfix-mail.log:1)"),
        "{text}"
    );
}

/// `--anonymise`: no local part of the log in any file, the same pseudonyms under
/// the same secret, other ones under another, and the counts unchanged.
#[test]
fn anonymised_imports_keep_counts_and_hide_addresses() {
    use import::anonymise::Anonymiser;
    let out = tempfile::tempdir().unwrap();
    let run = |name: &str, anonymise: Option<Anonymiser>| {
        let dir = out.path().join(name);
        let imported = import::write_folder(&Options {
            anonymise,
            ..options(
                Format::Postfix,
                vec![fixture("postfix-mail.log")],
                Some(2025),
                &dir,
            )
        })
        .unwrap();
        let files = ["sends.csv", "observed_replies.csv", "scenario.toml"].map(|f| read(&dir, f));
        (imported.summary, files)
    };
    let (plain, plain_files) = run("plain", None);
    let (a, a_files) = run("a", Some(Anonymiser::new(b"a secret of 16+ bytes", false)));
    let (_, again) = run(
        "again",
        Some(Anonymiser::new(b"a secret of 16+ bytes", false)),
    );
    let (_, other) = run(
        "other",
        Some(Anonymiser::new(b"another secret, 16+", false)),
    );
    let (d, d_files) = run("d", Some(Anonymiser::new(b"a secret of 16+ bytes", true)));
    assert_eq!(a_files, again);
    assert_ne!(a_files[0], other[0]);
    for s in [&a, &d] {
        assert_eq!(
            (s.messages, s.recipients, s.replies, s.hosts.clone()),
            (
                plain.messages,
                plain.recipients,
                plain.replies,
                plain.hosts.clone()
            )
        );
    }
    // The same number of distinct senders and recipients.
    let distinct = |sends: &str| {
        let mut senders = std::collections::BTreeSet::new();
        let mut rcpts = std::collections::BTreeSet::new();
        for row in sends.lines().skip(1) {
            let cols: Vec<&str> = row.split(',').collect();
            senders.insert(cols[1].to_string());
            rcpts.extend(cols[2].split(';').map(str::to_string));
        }
        (senders.len(), rcpts.len())
    };
    assert_eq!(distinct(&a_files[0]), distinct(&plain_files[0]));
    assert_eq!(distinct(&d_files[0]), distinct(&plain_files[0]));
    // No local part of the log's addresses survives; domains only without -domains.
    let locals: std::collections::BTreeSet<String> = plain_files[0]
        .lines()
        .skip(1)
        .flat_map(|row| {
            let cols: Vec<&str> = row.split(',').collect();
            let mut addresses = vec![cols[1].to_string()];
            addresses.extend(cols[2].split(';').map(str::to_string));
            addresses
        })
        .filter_map(|a| a.split_once('@').map(|(l, _)| format!("{l}@")))
        .collect();
    assert!(locals.len() > 5, "{locals:?}");
    for text in a_files.iter().chain(&d_files) {
        for local in &locals {
            assert!(!text.contains(local.as_str()), "{local} in {text}");
        }
    }
    assert!(a_files[2].contains("primary_domain = \"acme.example\""));
    assert!(!d_files.iter().any(|t| t.contains("acme")), "{d_files:?}");
    // The anonymised scenario loads and replays every row.
    let model = scenario::Model::load(&out.path().join("d/scenario.toml")).unwrap();
    let rows: usize = model
        .senders
        .iter()
        .map(|s| s.traffic.replay_rows().len())
        .sum();
    assert_eq!(rows as u64, d.messages);
}

/// Year-less syslog files of one rotation across New Year, given newest first:
/// ordered by their names (December's `mail.log.1.gz` before January's
/// `mail.log`), they give the whole file's import; by first stamp under one
/// `--year`, January's "Jan 1" would have sorted first.
#[test]
fn a_rotation_across_new_year_is_read_in_name_order() {
    let text = std::fs::read_to_string(fixture("postfix-mail.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let split = lines.iter().position(|l| l.starts_with("Jan")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let december = tmp.path().join("mail.log.1.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&december).unwrap(),
        flate2::Compression::default(),
    );
    writeln!(e, "{}", lines[..split].join("\n")).unwrap();
    e.finish().unwrap();
    let january = tmp.path().join("mail.log");
    std::fs::write(&january, format!("{}\n", lines[split..].join("\n"))).unwrap();
    let whole = tmp.path().join("whole");
    let parts = tmp.path().join("parts");
    import(
        Some(Format::Postfix),
        vec![fixture("postfix-mail.log")],
        &whole,
    );
    let imported = import(Some(Format::Postfix), vec![january, december], &parts);
    assert_eq!(imported.summary.before_start, 0);
    assert_eq!(folder(&parts), folder(&whole));
}
