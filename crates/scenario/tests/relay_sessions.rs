//! Table-driven tests of the relay core through whole SMTP sessions, one or more per
//! rule of `docs/rules.md`, each asserting the exact reply lines. The tenants and
//! settings are written as scenario TOML and compiled, so these tests live beside
//! the scenario crate; the relay crate itself knows no file format.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use relay::ClientOpening::{self, PlainSmtp, TlsHandshake};
use relay::policy::RelayedSender;
use relay::time::{SimDuration, SimTime};
use relay::{
    HeloVerb, LimitChange, LimitEvent, LimitKey, LimitKind, Phase, RecipientId, Relay,
    RelayCommand, ReversePath, Subject, TenantIx,
};
use scenario::Model;
use scenario::values::EnvelopeSender;

/// MAIL FROM's argument as the simulation's clients pass it.
fn reverse_path(sender: &EnvelopeSender) -> ReversePath<'_> {
    sender.reverse_path()
}

/// One client command (or a connect).
#[derive(Clone, Copy, Debug)]
enum Cmd<'a> {
    Helo(&'a str),
    StartTls,
    Auth(&'a str, bool),
    Mail(&'a str),
    Rcpt(u32),
    /// RCPT TO for recipients `a..b`.
    Rcpts(u32, u32),
    Data,
    Rset,
}
use Cmd::*;

/// DoS protection (D2) is opened wide: these tests make many connections at once
/// from one address; `relay/dos.rs` tests D2–D4 on their own.
const BASE: &str = r#"
[simulation]
name = "t"
duration = "3d"
[relay.dos]
new_connections_per_ip = "1000000/s"
new_connection_burst = 1000000
"#;

const ACME: &str = r#"
[[tenant]]
id = "acme"
licences = 100
primary_domain = "acme.example"
secondary_domains = ["acme-mail.example"]
users = ["alerts@acme.example", "ops@acme.example"]
"#;

fn relay(toml: &str) -> Relay {
    let text = format!("{BASE}{toml}");
    let model = Model::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e:?}"));
    Relay::new(&model.relay, &model.tenants, ChaCha12Rng::seed_from_u64(1))
}

/// The tenant `acme` with one relay setting given as TOML keys.
fn acme_with(setting: &str) -> Relay {
    relay(&format!(
        "{ACME}\n[[tenant.relay_setting]]\nname = \"main\"\n{setting}\n"
    ))
}

/// Runs one connection from `ip` to `port` at `now` and returns every reply line
/// (the greeting first, or "connection refused").
fn session(relay: &mut Relay, now: SimTime, ip: &str, port: u16, cmds: &[Cmd]) -> Vec<String> {
    let mut session = match relay.connect(now, ip.parse().unwrap(), port, opening(port)) {
        Ok(s) => s,
        Err(reply) => return vec![reply.to_string()],
    };
    let mut out = vec!["220 smtp-relay.gmail.com ESMTP".to_string()];
    for cmd in cmds {
        let reply = match *cmd {
            Helo(name) => session.helo_command(relay, now, HeloVerb::Ehlo, name),
            StartTls => session.starttls(relay, now),
            Auth(user, ok) => session.auth(relay, user, ok),
            Mail(from) => session.mail_from(relay, now, reverse_path(&from.parse().unwrap())),
            Rcpt(r) => session.rcpt_to(relay, now, RecipientId(r)),
            Rcpts(a, b) => {
                let mut last = None;
                for r in a..b {
                    last = Some(session.rcpt_to(relay, now, RecipientId(r)));
                }
                last.expect("a non-empty range")
            }
            Data => session.data(relay, now),
            Rset => session.rset(relay, now),
        };
        out.push(reply.to_string());
    }
    session.quit(relay, now);
    out
}

/// The reply to the last command.
fn last(relay: &mut Relay, now: SimTime, ip: &str, port: u16, cmds: &[Cmd]) -> String {
    session(relay, now, ip, port, cmds).pop().unwrap()
}

/// How a correct client opens on `port`: a TLS handshake on 465, plain SMTP elsewhere.
fn opening(port: u16) -> ClientOpening {
    if port == 465 { TlsHandshake } else { PlainSmtp }
}

fn secs(s: u64) -> SimTime {
    SimTime(s * 1000)
}

const OFFICE_IP: &str = "192.0.2.10";
const ELSEWHERE: &str = "198.51.100.7";
const IP_ONLY: &str = "only_listed_ips = true\nip_ranges = [{ cidr = \"192.0.2.0/24\" }]";

fn events(relay: &mut Relay) -> Vec<LimitEvent> {
    std::iter::from_fn(|| relay.poll_limit_event()).collect()
}

// ---------------------------------------------------------------------------- P

/// P1: the three allowed-sender modes, with their exact refusals.
#[test]
fn p01_allowed_senders_modes() {
    let table = [
        ("registered_users", "alerts@acme.example", "250 2.1.0 OK"),
        (
            "registered_users",
            "printer@acme.example",
            "550 5.7.0 Mail Sending denied.",
        ),
        ("domain_addresses", "printer@acme.example", "250 2.1.0 OK"),
        (
            "domain_addresses",
            "printer@eu.acme-mail.example",
            "250 2.1.0 OK",
        ),
        (
            "domain_addresses",
            "noreply@vendor.example",
            "550 5.7.1 Invalid credentials for relay [192.0.2.10].",
        ),
        ("any_address", "noreply@vendor.example", "250 2.1.0 OK"),
    ];
    for (mode, from, expected) in table {
        let mut r = acme_with(&format!("allowed_senders = \"{mode}\"\n{IP_ONLY}"));
        let got = last(
            &mut r,
            secs(0),
            OFFICE_IP,
            25,
            &[Helo("mx.acme.example"), Mail(from)],
        );
        assert_eq!(got, expected, "{mode} {from}");
    }
}

/// RSET ends the transaction uncounted with Gmail's `250 2.1.5 Flushed` (Q12).
#[test]
fn q12_rset_is_flushed() {
    let mut r = acme_with(&format!(
        "allowed_senders = \"domain_addresses\"\n{IP_ONLY}"
    ));
    let replies = session(
        &mut r,
        secs(0),
        OFFICE_IP,
        25,
        &[
            Helo("mx.acme.example"),
            Mail("printer@acme.example"),
            Rcpt(1),
            Rset,
        ],
    );
    assert_eq!(replies.last().unwrap(), "250 2.1.5 Flushed");
}

/// P2, P3: IP authentication; an unlisted or disabled range is refused with the IP.
#[test]
fn p02_p03_unlisted_ip_is_mail_relay_denied() {
    let mut r = acme_with(
        "allowed_senders = \"domain_addresses\"\nonly_listed_ips = true\nip_ranges = [{ cidr = \"192.0.2.0/24\" }, { cidr = \"198.51.100.0/24\", enabled = false }]",
    );
    let cmds = [Helo("mx.acme.example"), Mail("printer@acme.example")];
    assert_eq!(last(&mut r, secs(0), OFFICE_IP, 25, &cmds), "250 2.1.0 OK");
    assert_eq!(
        last(&mut r, secs(0), ELSEWHERE, 25, &cmds),
        "550 5.7.0 Mail relay denied [198.51.100.7]."
    );
    assert_eq!(
        last(&mut r, secs(0), "2001:db8::1", 25, &cmds),
        "550 5.7.0 Mail relay denied [2001:db8::1]."
    );
}

/// P2 [assumption]: with both methods set, both must pass.
#[test]
fn p02_both_methods_must_pass() {
    let setting = format!("allowed_senders = \"registered_users\"\nsmtp_auth = true\n{IP_ONLY}");
    let mut r = acme_with(&setting);
    let authed = [
        Helo("mx.acme.example"),
        StartTls,
        Helo("mx.acme.example"),
        Auth("alerts@acme.example", true),
        Mail("alerts@acme.example"),
    ];
    assert_eq!(
        last(&mut r, secs(0), OFFICE_IP, 587, &authed),
        "250 2.1.0 OK"
    );
    assert_eq!(
        last(&mut r, secs(0), ELSEWHERE, 587, &authed),
        "550 5.7.0 Mail relay denied [198.51.100.7]."
    );
    let unauthed = [
        Helo("mx.acme.example"),
        StartTls,
        Helo("mx.acme.example"),
        Mail("alerts@acme.example"),
    ];
    assert_eq!(
        last(&mut r, secs(0), OFFICE_IP, 587, &unauthed),
        "530 5.5.1 Authentication Required."
    );
    let mut either = relay(&format!(
        "[relay.policy]\nrequire_both_auth_methods = false\n{ACME}\n[[tenant.relay_setting]]\nname = \"main\"\n{setting}\n"
    ));
    assert_eq!(
        last(&mut either, secs(0), OFFICE_IP, 587, &unauthed),
        "250 2.1.0 OK"
    );
    assert_eq!(
        last(&mut either, secs(0), ELSEWHERE, 587, &authed),
        "250 2.1.0 OK"
    );
}

/// P4: AUTH only after TLS; wrong credentials and unknown users get 535.
#[test]
fn p04_auth_needs_tls_and_valid_credentials() {
    let mut r = acme_with("allowed_senders = \"registered_users\"\nsmtp_auth = true");
    let table: [(&[Cmd], &str); 4] = [
        (
            &[Helo("mx.acme.example"), Auth("alerts@acme.example", true)],
            "530 5.7.0 Must issue a STARTTLS command first.",
        ),
        (
            &[
                Helo("mx.acme.example"),
                StartTls,
                Helo("mx.acme.example"),
                Auth("alerts@acme.example", false),
            ],
            "535 5.7.8 Username and Password not accepted.",
        ),
        (
            &[
                Helo("mx.acme.example"),
                StartTls,
                Helo("mx.acme.example"),
                Auth("ghost@acme.example", true),
            ],
            "535 5.7.8 Username and Password not accepted.",
        ),
        (
            &[
                Helo("mx.acme.example"),
                StartTls,
                Helo("mx.acme.example"),
                Auth("alerts@acme.example", true),
            ],
            "235 2.7.0 Accepted",
        ),
    ];
    for (cmds, expected) in table {
        assert_eq!(last(&mut r, secs(0), ELSEWHERE, 587, cmds), expected);
    }
    // Without TLS only IP authentication is possible: an AUTH-only setting refuses.
    assert_eq!(
        last(
            &mut r,
            secs(0),
            ELSEWHERE,
            587,
            &[Helo("mx.acme.example"), Mail("alerts@acme.example")]
        ),
        "530 5.7.0 Must issue a STARTTLS command first."
    );
}

/// P5: require TLS refuses mail on a connection without TLS.
#[test]
fn p05_require_tls() {
    let mut r = acme_with(&format!(
        "allowed_senders = \"domain_addresses\"\nrequire_tls = true\n{IP_ONLY}"
    ));
    let plain = [Helo("mx.acme.example"), Mail("printer@acme.example")];
    assert_eq!(
        last(&mut r, secs(0), OFFICE_IP, 587, &plain),
        "530 5.7.0 Must issue a STARTTLS command first."
    );
    let tls = [
        Helo("mx.acme.example"),
        StartTls,
        Helo("mx.acme.example"),
        Mail("printer@acme.example"),
    ];
    assert_eq!(last(&mut r, secs(0), OFFICE_IP, 587, &tls), "250 2.1.0 OK");
    assert_eq!(
        last(&mut r, secs(0), OFFICE_IP, 465, &plain),
        "250 2.1.0 OK",
        "465 is implicit TLS"
    );
}

/// P6: 25, 465 and 587 are served; any other port is refused at connect.
#[test]
fn p06_ports() {
    let mut r = acme_with(&format!(
        "allowed_senders = \"domain_addresses\"\n{IP_ONLY}"
    ));
    for port in [25, 465, 587] {
        assert_eq!(
            last(&mut r, secs(0), OFFICE_IP, port, &[Helo("mx.acme.example")]),
            "250 smtp-relay.gmail.com at your service"
        );
    }
    assert_eq!(
        session(&mut r, secs(0), OFFICE_IP, 2525, &[Helo("mx.acme.example")]),
        ["connection refused"]
    );
    // 465 speaks TLS from the start: STARTTLS there is out of sequence.
    assert_eq!(
        last(
            &mut r,
            secs(0),
            OFFICE_IP,
            465,
            &[Helo("x.acme.example"), StartTls]
        ),
        "503 5.5.1 TLS already active."
    );
}

/// P6, P5: TLS is what the client negotiated, not the port. Plain SMTP on the
/// implicit-TLS port and a TLS handshake on a plain port never reach SMTP (before,
/// the first passed `require_tls` and the second was refused 530).
#[test]
fn p06_tls_is_what_the_client_negotiated() {
    let mut r = acme_with(&format!(
        "allowed_senders = \"domain_addresses\"\nrequire_tls = true\n{IP_ONLY}"
    ));
    let ip = OFFICE_IP.parse().unwrap();
    for (port, wrong) in [(465, PlainSmtp), (587, TlsHandshake), (25, TlsHandshake)] {
        assert_eq!(
            r.connect(secs(0), ip, port, wrong)
                .err()
                .map(|e| e.to_string()),
            Some("TLS handshake failed".to_string()),
            "{port} {wrong:?}"
        );
    }
    let mut s = r.connect(secs(0), ip, 465, TlsHandshake).unwrap();
    s.helo_command(&mut r, secs(0), HeloVerb::Ehlo, "mx.acme.example");
    assert_eq!(
        s.mail_from(
            &mut r,
            secs(0),
            ReversePath::Address("printer@acme.example")
        )
        .to_string(),
        "250 2.1.0 OK",
        "implicit TLS on 465 satisfies require_tls"
    );
    s.quit(&mut r, secs(0));
}

/// P7: settings are tried in order; the first that authenticates applies.
#[test]
fn p07_first_authenticated_setting_applies() {
    let mut r = relay(&format!(
        "{ACME}
[[tenant.relay_setting]]
name = \"office\"
allowed_senders = \"registered_users\"
{IP_ONLY}
[[tenant.relay_setting]]
name = \"cloud\"
allowed_senders = \"any_address\"
smtp_auth = true
"
    ));
    let from_office = [Helo("mx.acme.example"), Mail("noreply@vendor.example")];
    // Office IP: the first setting (registered users only) applies.
    assert_eq!(
        last(&mut r, secs(0), OFFICE_IP, 25, &from_office),
        "550 5.7.0 Mail Sending denied."
    );
    // Elsewhere with AUTH: the second (any address, rewritten).
    let cloud = [
        Helo("app.cloud.example"),
        StartTls,
        Helo("app.cloud.example"),
        Auth("ops@acme.example", true),
        Mail("noreply@vendor.example"),
    ];
    assert_eq!(
        last(&mut r, secs(0), ELSEWHERE, 587, &cloud),
        "250 2.1.0 OK"
    );
    // Elsewhere without AUTH: no setting; the reply names what the first missed.
    assert_eq!(
        last(&mut r, secs(0), ELSEWHERE, 25, &from_office),
        "550 5.7.0 Mail relay denied [198.51.100.7]."
    );
}

/// P8: with any_address, a foreign or empty sender is rewritten to postmaster@ the
/// domain named by AUTH or HELO; a generic HELO names none.
#[test]
fn p08_any_address_rewrites_to_postmaster() {
    let mut r = acme_with(&format!("allowed_senders = \"any_address\"\n{IP_ONLY}"));
    let cases = [
        (
            "mx1.acme.example",
            "noreply@vendor.example",
            "250 2.1.0 OK",
            Some("acme.example"),
        ),
        (
            "mx1.acme-mail.example",
            "<>",
            "250 2.1.0 OK",
            Some("acme-mail.example"),
        ),
        (
            "mx1.acme.example",
            "printer@acme.example",
            "250 2.1.0 OK",
            None,
        ),
        (
            "localhost",
            "noreply@vendor.example",
            "550 5.7.1 Invalid credentials for relay [192.0.2.10].",
            None,
        ),
        (
            "[192.0.2.10]",
            "<>",
            "550 5.7.1 Invalid credentials for relay [192.0.2.10].",
            None,
        ),
    ];
    for (helo, from, expected, rewritten) in cases {
        let mut s = r
            .connect(secs(0), OFFICE_IP.parse().unwrap(), 25, PlainSmtp)
            .unwrap();
        s.helo_command(&mut r, secs(0), HeloVerb::Ehlo, helo);
        let reply = s.mail_from(&mut r, secs(0), reverse_path(&from.parse().unwrap()));
        assert_eq!(reply.to_string(), expected, "{helo} {from}");
        let got = s.transaction().and_then(|t| match t.relayed {
            RelayedSender::Postmaster(d) => Some(r.directory().domain_name(d).to_string()),
            RelayedSender::AsPresented => None,
        });
        assert_eq!(got.as_deref(), rewritten, "{helo} {from}");
        s.quit(&mut r, secs(0));
    }
}

/// P9: the empty envelope sender takes one recipient; the second gets 452.
#[test]
fn p09_null_sender_has_one_recipient() {
    let mut r = acme_with(&format!("allowed_senders = \"any_address\"\n{IP_ONLY}"));
    let replies = session(
        &mut r,
        secs(0),
        OFFICE_IP,
        25,
        &[Helo("mx.acme.example"), Mail("<>"), Rcpt(1), Rcpt(2), Data],
    );
    assert_eq!(
        replies[3..],
        [
            "250 2.1.5 OK",
            "452 4.5.3 Your message has too many recipients.",
            "250 2.0.0 OK"
        ]
    );
}

/// P10: the 101st recipient of a transaction gets 452; a new transaction takes it.
#[test]
fn p10_recipient_limit_per_transaction() {
    let mut r = acme_with(&format!(
        "allowed_senders = \"domain_addresses\"\n{IP_ONLY}"
    ));
    let replies = session(
        &mut r,
        secs(0),
        OFFICE_IP,
        25,
        &[
            Helo("mx.acme.example"),
            Mail("a@acme.example"),
            Rcpts(0, 100),
            Rcpt(100),
            Data,
            Mail("a@acme.example"),
            Rcpt(100),
        ],
    );
    assert_eq!(replies[3], "250 2.1.5 OK");
    assert_eq!(
        replies[4],
        "452 4.5.3 Your message has too many recipients."
    );
    assert_eq!(
        replies[5..],
        ["250 2.0.0 OK", "250 2.1.0 OK", "250 2.1.5 OK"]
    );
    let mut ten = relay(&format!(
        "[relay.policy]\nmax_recipients_per_transaction = 10\n{ACME}\n[[tenant.relay_setting]]\nname = \"m\"\nallowed_senders = \"domain_addresses\"\n{IP_ONLY}\n"
    ));
    assert_eq!(
        last(
            &mut ten,
            secs(0),
            OFFICE_IP,
            25,
            &[
                Helo("mx.acme.example"),
                Mail("a@acme.example"),
                Rcpts(0, 11)
            ]
        ),
        "452 4.5.3 Your message has too many recipients."
    );
}

/// P11: a change reaches the front-ends over 24 h; meanwhile connections see both.
#[test]
fn p11_settings_change_propagates_to_frontends() {
    let text = format!(
        "{ACME}
[[tenant.relay_setting]]
name = \"main\"
allowed_senders = \"registered_users\"
{IP_ONLY}
[[event]]
at = \"1h\"
kind = \"change_relay_setting\"
tenant = \"acme\"
[event.relay_setting]
name = \"main\"
allowed_senders = \"domain_addresses\"
{IP_ONLY}
"
    );
    let scenario = Model::parse("t.toml", &format!("{BASE}{text}")).unwrap();
    let mut r = Relay::new(
        &scenario.relay,
        &scenario.tenants,
        ChaCha12Rng::seed_from_u64(3),
    );
    r.apply(secs(3600), &scenario.events[0].command);
    let cmds = [Helo("mx.acme.example"), Mail("printer@acme.example")];
    let outcomes = |r: &mut Relay, t: SimTime| {
        (0..200)
            .filter(|_| last(r, t, OFFICE_IP, 25, &cmds) == "250 2.1.0 OK")
            .count()
    };
    assert_eq!(outcomes(&mut r, secs(3599)), 0);
    let midway = outcomes(&mut r, secs(3600 + 12 * 3600));
    assert!(
        20 < midway && midway < 180,
        "{midway} of 200 accepted at 12 h"
    );
    assert_eq!(outcomes(&mut r, secs(3600 + 86_400)), 200);
    assert!(r.settings_fully_applied_at(TenantIx(0)) <= secs(3600 + 86_400));
}

/// P12: an empty or malformed HELO argument gets 501; MAIL needs HELO first.
#[test]
fn p12_invalid_helo() {
    let mut r = acme_with(&format!(
        "allowed_senders = \"domain_addresses\"\n{IP_ONLY}"
    ));
    for name in ["", "bad name", "[999.1.1.1]"] {
        assert_eq!(
            last(&mut r, secs(0), OFFICE_IP, 25, &[Helo(name)]),
            "501 5.5.4 HELO/EHLO argument is invalid."
        );
    }
    assert_eq!(
        last(
            &mut r,
            secs(0),
            OFFICE_IP,
            25,
            &[Helo(""), Mail("a@acme.example")]
        ),
        "503 5.5.1 EHLO/HELO first."
    );
    assert_eq!(
        last(&mut r, secs(0), OFFICE_IP, 25, &[Helo("localhost")]),
        "250 smtp-relay.gmail.com at your service"
    );
}

/// P13: mail storage and Vault change no outcome.
#[test]
fn p13_storage_and_vault_change_nothing() {
    let run = |extra: &str| {
        let mut r = relay(&format!(
            "{ACME}{extra}\n[[tenant.relay_setting]]\nname = \"m\"\nallowed_senders = \"registered_users\"\n{IP_ONLY}\n"
        ));
        [
            ("alerts@acme.example", OFFICE_IP),
            ("x@acme.example", OFFICE_IP),
            ("alerts@acme.example", ELSEWHERE),
        ]
        .map(|(from, ip)| {
            session(
                &mut r,
                secs(0),
                ip,
                25,
                &[Helo("mx.acme.example"), Mail(from), Rcpt(1), Data],
            )
        })
    };
    assert_eq!(
        run(""),
        run("comprehensive_mail_storage = true\nvault = true")
    );
}

// ---------------------------------------------------------------------------- Q

fn quota_relay(quota: &str, tenant: &str) -> Relay {
    relay(&format!(
        "[relay.quota]\n{quota}\n{ACME}{tenant}\n[[tenant.relay_setting]]\nname = \"m\"\nallowed_senders = \"any_address\"\n{IP_ONLY}\n"
    ))
}

fn send(r: &mut Relay, t: SimTime, from: &str, rcpts: &[u32]) -> Vec<String> {
    let mut cmds = vec![Helo("mx.acme.example"), Mail(from)];
    cmds.extend(rcpts.iter().map(|&x| Rcpt(x)));
    cmds.push(Data);
    session(r, t, OFFICE_IP, 25, &cmds)[2..].to_vec()
}

/// Q1: the user's message N+1 in 24 h is refused at MAIL FROM with 550 5.4.5; the
/// window slides exactly 24 h after the first.
#[test]
fn q01_user_message_limit_is_a_rolling_day() {
    let mut r = quota_relay("user_messages_per_day = 3", "");
    for i in 0..3 {
        assert_eq!(
            send(&mut r, secs(i * 100), "alerts@acme.example", &[1])[0],
            "250 2.1.0 OK"
        );
    }
    assert_eq!(
        send(&mut r, secs(1000), "alerts@acme.example", &[1])[0],
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
    assert_eq!(
        send(&mut r, secs(1000), "ops@acme.example", &[1])[0],
        "250 2.1.0 OK",
        "other users unaffected"
    );
    assert_eq!(
        send(&mut r, SimTime(86_400_000 - 1), "alerts@acme.example", &[1])[0],
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
    r.handle_timeout(secs(86_400));
    assert_eq!(
        send(&mut r, secs(86_400), "alerts@acme.example", &[1])[0],
        "250 2.1.0 OK"
    );
    let ev = events(&mut r);
    let key = LimitKey {
        limit: LimitKind::UserMessages,
        subject: Subject::User(r.directory().user("alerts@acme.example").unwrap()),
    };
    assert_eq!(
        ev.iter()
            .map(|e| (e.key, e.change, e.time, e.used, e.limit_value))
            .collect::<Vec<_>>(),
        [
            (key, LimitChange::Hit, secs(1000), 3, 3),
            (key, LimitChange::Cleared, secs(86_400), 2, 3)
        ]
    );
}

/// Q2: the 10,001st unique recipient is refused with 550 5.4.5; repeats are free.
#[test]
fn q02_ten_thousand_unique_recipients() {
    let mut r = quota_relay("", "").clone_with_licences(36_000);
    for batch in 0..100 {
        let rcpts: Vec<u32> = (batch * 100..batch * 100 + 100).collect();
        assert_eq!(
            send(&mut r, secs(batch as u64), "alerts@acme.example", &rcpts)
                .last()
                .unwrap(),
            "250 2.0.0 OK"
        );
    }
    let replies = send(&mut r, secs(200), "alerts@acme.example", &[5, 10_000]);
    assert_eq!(
        replies[1..],
        [
            "250 2.1.5 OK",
            "550 5.4.5 Daily SMTP relay limit exceeded for user.",
            "250 2.0.0 OK"
        ]
    );
    assert_eq!(
        send(&mut r, secs(200), "ops@acme.example", &[10_000])[1],
        "250 2.1.5 OK"
    );
}

/// Q2, Q12: a recipient held by one open transaction is not new for another. With
/// a unique-recipient limit of 2, two open transactions of one user both adding
/// recipient 7 hold one recipient, so a third transaction may still add recipient 8;
/// a fourth recipient is refused.
#[test]
fn q02_one_recipient_in_two_open_transactions_counts_once() {
    let mut r = quota_relay("user_unique_recipients_per_day = 2", "");
    let ip = OFFICE_IP.parse().unwrap();
    let now = secs(0);
    let open = |r: &mut Relay| {
        let mut s = r.connect(now, ip, 25, PlainSmtp).unwrap();
        s.helo_command(r, now, HeloVerb::Ehlo, "mx.acme.example");
        assert_eq!(
            s.mail_from(r, now, ReversePath::Address("alerts@acme.example"))
                .to_string(),
            "250 2.1.0 OK"
        );
        s
    };
    let (mut a, mut b, mut c) = (open(&mut r), open(&mut r), open(&mut r));
    assert_eq!(
        a.rcpt_to(&mut r, now, RecipientId(7)).to_string(),
        "250 2.1.5 OK"
    );
    assert_eq!(
        b.rcpt_to(&mut r, now, RecipientId(7)).to_string(),
        "250 2.1.5 OK"
    );
    assert_eq!(
        c.rcpt_to(&mut r, now, RecipientId(8)).to_string(),
        "250 2.1.5 OK"
    );
    assert_eq!(
        c.rcpt_to(&mut r, now, RecipientId(9)).to_string(),
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
    // A ends without sending: 7 is still held by B.
    a.rset(&mut r, now);
    assert_eq!(
        a.mail_from(&mut r, now, ReversePath::Address("alerts@acme.example"))
            .to_string(),
        "250 2.1.0 OK"
    );
    assert_eq!(
        a.rcpt_to(&mut r, now, RecipientId(9)).to_string(),
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
    for s in [&mut b, &mut c] {
        assert_eq!(s.data(&mut r, now).to_string(), "250 2.0.0 OK");
    }
    r.check_invariants(now, true).unwrap();
    for s in [a, b, c] {
        s.quit(&mut r, now);
    }
    let key = LimitKey {
        limit: LimitKind::UserUniqueRecipients,
        subject: Subject::User(r.directory().user("alerts@acme.example").unwrap()),
    };
    assert_eq!(r.committed(now, key), 2);
}

/// Q3: the counted user is the envelope sender as presented — not the AUTH identity;
/// a non-registered sender has no per-user limit.
#[test]
fn q03_counted_user_is_the_envelope_sender() {
    let mut r = quota_relay("user_messages_per_day = 1", "");
    let mut s = r
        .connect(secs(0), OFFICE_IP.parse().unwrap(), 587, PlainSmtp)
        .unwrap();
    s.helo_command(&mut r, secs(0), HeloVerb::Ehlo, "mx.acme.example");
    s.starttls(&mut r, secs(0));
    s.helo_command(&mut r, secs(0), HeloVerb::Ehlo, "mx.acme.example");
    s.auth(&mut r, "alerts@acme.example", true);
    s.mail_from(
        &mut r,
        secs(0),
        ReversePath::Address("printer@acme.example"),
    );
    assert_eq!(
        s.transaction().unwrap().counted_user,
        None,
        "AUTH identity not counted"
    );
    s.quit(&mut r, secs(0));
    for _ in 0..5 {
        assert_eq!(
            send(&mut r, secs(1), "printer@acme.example", &[1])
                .last()
                .unwrap(),
            "250 2.0.0 OK"
        );
    }
    assert_eq!(
        send(&mut r, secs(1), "alerts@acme.example", &[1])
            .last()
            .unwrap(),
        "250 2.0.0 OK"
    );
    assert_eq!(
        send(&mut r, secs(1), "alerts@acme.example", &[1])[0],
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
}

/// Q3 on a refusal: when Q1 refuses at MAIL FROM the session still names the user
/// counted (and the customer charged), as after a Q2 refusal at RCPT TO.
#[test]
fn q03_a_q1_refusal_names_the_user_counted() {
    let mut r = quota_relay("user_messages_per_day = 1", "");
    send(&mut r, secs(0), "alerts@acme.example", &[1]);
    let alerts = r.directory().user("alerts@acme.example");
    let mut s = r
        .connect(secs(1), OFFICE_IP.parse().unwrap(), 25, PlainSmtp)
        .unwrap();
    s.helo_command(&mut r, secs(1), HeloVerb::Ehlo, "mx.acme.example");
    assert_eq!(
        s.mail_from(&mut r, secs(1), ReversePath::Address("alerts@acme.example"))
            .to_string(),
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
    assert!(s.transaction().is_none());
    let refused = s.last_attribution().expect("attributed before Q1 refused");
    assert_eq!(
        (refused.tenant, refused.counted_user),
        (TenantIx(0), alerts)
    );
    s.quit(&mut r, secs(1));
}

/// Q4: the customer's recipients per day, non-unique; Q5: per 10 minutes.
#[test]
fn q04_q05_customer_day_and_peak_limits() {
    // 1 licence: 130 per day, 9 per 10 minutes.
    let mut r = quota_relay("", "").clone_with_licences(1);
    let replies = send(
        &mut r,
        secs(0),
        "printer@acme.example",
        &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    );
    assert_eq!(replies[9], "250 2.1.5 OK");
    assert_eq!(
        replies[10],
        "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error."
    );
    let mut t = 600;
    for _ in 0..13 {
        r.handle_timeout(secs(t));
        send(&mut r, secs(t), "printer@acme.example", &[1; 9]);
        t += 600;
    }
    // 9 + 13 × 9 = 126 accepted; the day allows 130.
    let replies = send(&mut r, secs(t), "printer@acme.example", &[1; 9]);
    assert_eq!(replies[4], "250 2.1.5 OK");
    assert_eq!(
        replies[5],
        "550 5.7.1 Daily SMTP relay limit exceeded for customer."
    );
    let hits: Vec<_> = events(&mut r)
        .into_iter()
        .filter(|e| e.change == LimitChange::Hit)
        .map(|e| e.key.limit)
        .collect();
    assert!(hits.contains(&LimitKind::CustomerPeak) && hits.contains(&LimitKind::CustomerDay));
}

/// The same relay with `acme` at `licences` from time zero.
trait WithLicences {
    fn clone_with_licences(self, licences: u32) -> Relay;
}

impl WithLicences for Relay {
    fn clone_with_licences(mut self, licences: u32) -> Relay {
        let tenant = TenantIx(0);
        self.apply(
            SimTime::ZERO,
            &RelayCommand::SetLicences { tenant, licences },
        );
        self
    }
}

/// Q6: an unpaid tenant is refused at recipient 101 of the day and 51 of 10
/// minutes; paying the first invoice lifts both at once.
#[test]
fn q06_unpaid_tenant_limits_lift_when_paid() {
    let text = format!(
        "[relay.quota]\n{ACME}billing = \"unpaid\"\n[[tenant.relay_setting]]\nname = \"m\"\nallowed_senders = \"any_address\"\n{IP_ONLY}\n[[event]]\nat = \"2h\"\nkind = \"invoice_paid\"\ntenant = \"acme\"\n"
    );
    let scenario = Model::parse("t.toml", &format!("{BASE}{text}")).unwrap();
    let mut r = Relay::new(
        &scenario.relay,
        &scenario.tenants,
        ChaCha12Rng::seed_from_u64(1),
    );
    let fifty: Vec<u32> = (0..50).collect();
    assert_eq!(
        send(&mut r, secs(0), "printer@acme.example", &fifty)
            .last()
            .unwrap(),
        "250 2.0.0 OK"
    );
    assert_eq!(
        send(&mut r, secs(1), "printer@acme.example", &[1])[1],
        "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error."
    );
    r.handle_timeout(secs(600));
    assert_eq!(
        send(&mut r, secs(600), "printer@acme.example", &fifty)
            .last()
            .unwrap(),
        "250 2.0.0 OK"
    );
    r.handle_timeout(secs(1200));
    assert_eq!(
        send(&mut r, secs(1200), "printer@acme.example", &[1])[1],
        "550 5.7.1 Daily SMTP relay limit exceeded for customer."
    );
    r.apply(secs(7200), &scenario.events[0].command);
    assert_eq!(
        send(&mut r, secs(7200), "printer@acme.example", &[1])
            .last()
            .unwrap(),
        "250 2.0.0 OK"
    );
    let day: Vec<_> = events(&mut r)
        .into_iter()
        .filter(|e| e.key.limit == LimitKind::CustomerDay)
        .map(|e| (e.change, e.time, e.limit_value))
        .collect();
    assert_eq!(
        day,
        [
            (LimitChange::Hit, secs(1200), 100),
            (LimitChange::Cleared, secs(7200), 13_000)
        ]
    );
}

/// Q7: 1,000 messages to A and 1,000 to B: the user counts 2 unique recipients and
/// 2,000 messages, the customer 2,000 recipients.
#[test]
fn q07_worked_example() {
    let mut r = quota_relay("", "").clone_with_licences(1000);
    for i in 0..2000u64 {
        let reply = send(
            &mut r,
            SimTime(i * 10),
            "alerts@acme.example",
            &[(i % 2) as u32],
        );
        assert_eq!(reply.last().unwrap(), "250 2.0.0 OK");
    }
    let user = Subject::User(r.directory().user("alerts@acme.example").unwrap());
    let now = secs(60);
    assert_eq!(
        r.committed(
            now,
            LimitKey {
                limit: LimitKind::UserUniqueRecipients,
                subject: user
            }
        ),
        2
    );
    assert_eq!(
        r.committed(
            now,
            LimitKey {
                limit: LimitKind::UserMessages,
                subject: user
            }
        ),
        2000
    );
    assert_eq!(
        r.committed(
            now,
            LimitKey {
                limit: LimitKind::CustomerDay,
                subject: Subject::Customer(TenantIx(0))
            }
        ),
        2000
    );
}

/// Q8: an external sender relayed with the customer's domain in HELO counts against
/// that customer; user and customer counts are independent.
#[test]
fn q08_external_sender_with_customer_helo_is_charged_to_the_customer() {
    let mut r = quota_relay("", "").clone_with_licences(1);
    let replies = send(&mut r, secs(0), "noreply@vendor.example", &[1; 10]);
    assert_eq!(
        replies[10],
        "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error."
    );
    let user = Subject::User(r.directory().user("alerts@acme.example").unwrap());
    assert_eq!(
        r.committed(
            secs(0),
            LimitKey {
                limit: LimitKind::UserMessages,
                subject: user
            }
        ),
        0
    );
}

/// Q11: with fixed windows the day resets at the reset time for everyone at once.
#[test]
fn q11_fixed_window_resets_at_the_boundary() {
    let mut r = quota_relay(
        "window = \"fixed\"\nfixed_reset_at = \"1h\"\nuser_messages_per_day = 1",
        "",
    );
    assert_eq!(
        send(&mut r, secs(3000), "alerts@acme.example", &[1])
            .last()
            .unwrap(),
        "250 2.0.0 OK"
    );
    assert_eq!(
        send(&mut r, secs(3599), "alerts@acme.example", &[1])[0],
        "550 5.4.5 Daily SMTP relay limit exceeded for user."
    );
    assert_eq!(
        send(&mut r, secs(3600), "alerts@acme.example", &[1])
            .last()
            .unwrap(),
        "250 2.0.0 OK"
    );
}

/// Q12: a recipient refused at RCPT, and an aborted transaction, count nothing.
#[test]
fn q12_refused_and_aborted_recipients_are_not_counted() {
    let mut r = quota_relay("", "").clone_with_licences(1);
    session(
        &mut r,
        secs(0),
        OFFICE_IP,
        25,
        &[
            Helo("mx.acme.example"),
            Mail("x@acme.example"),
            Rcpts(0, 9),
            Rset,
        ],
    );
    let customer = LimitKey {
        limit: LimitKind::CustomerPeak,
        subject: Subject::Customer(TenantIx(0)),
    };
    assert_eq!(r.committed(secs(0), customer), 0);
    let replies = send(
        &mut r,
        secs(0),
        "x@acme.example",
        &(0..12).collect::<Vec<_>>(),
    );
    assert_eq!(replies.last().unwrap(), "250 2.0.0 OK");
    assert_eq!(r.committed(secs(0), customer), 9);
}

/// The usage meters (`quota_usage.csv`) see a transaction's reservations at their
/// fullest, which the engine notes once after its RCPTs: the same whether the RCPTs
/// come one by one (`rcpt_to`) or together (`rcpt_to_each`), also when the
/// transaction is reset after them; the recipients refused add nothing.
#[test]
fn usage_meters_see_a_transactions_reservations_one_by_one_or_together() {
    for together in [false, true] {
        // One licence: Q5 admits 9 recipients per 10 minutes, Q4 130 a day.
        let mut r = quota_relay("", "").clone_with_licences(1);
        let now = secs(0);
        let mut s = r
            .connect(now, OFFICE_IP.parse().unwrap(), 25, PlainSmtp)
            .unwrap();
        s.helo_command(&mut r, now, HeloVerb::Ehlo, "mx.acme.example");
        let from: EnvelopeSender = "alerts@acme.example".parse().unwrap();
        assert!(s.mail_from(&mut r, now, reverse_path(&from)).is_positive());
        let rcpts: Vec<RecipientId> = (0..12).map(RecipientId).collect();
        let mut replies = Vec::new();
        if together {
            s.rcpt_to_each(&mut r, now, &rcpts, |reply| replies.push(reply));
        } else {
            replies.extend(rcpts.iter().map(|&x| s.rcpt_to(&mut r, now, x)));
        }
        let accepted = replies.iter().filter(|reply| reply.is_positive()).count();
        assert_eq!(accepted, 9, "together: {together}");
        s.rset(&mut r, now);
        s.quit(&mut r, now);
        let fullest = |rows: &[relay::quota::usage::WindowUsage], limit| {
            rows.iter()
                .find(|w| w.key.limit == limit)
                .map(|w| (w.max_used, w.limit_value))
        };
        let mut rows = Vec::new();
        r.end_usage_bucket(secs(600), 10, &mut rows);
        assert_eq!(fullest(&rows, LimitKind::CustomerPeak), Some((9, 9)));
        assert_eq!(fullest(&rows, LimitKind::CustomerDay), Some((9, 130)));
        assert_eq!(
            fullest(&rows, LimitKind::UserUniqueRecipients),
            Some((9, 10_000))
        );
        // Nothing was committed: the next bucket starts empty.
        rows.clear();
        r.end_usage_bucket(secs(1200), 10, &mut rows);
        assert_eq!(fullest(&rows, LimitKind::CustomerPeak), Some((0, 9)));
    }
}

/// Q13: with block-all, a hit customer limit refuses every sender at MAIL FROM.
#[test]
fn q13_block_all_senders_refuses_at_mail_from() {
    for (block, expected) in [
        (false, "250 2.1.0 OK"),
        (
            true,
            "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.",
        ),
    ] {
        let mut r = quota_relay(
            "",
            &format!("block_all_senders_at_customer_limit = {block}"),
        )
        .clone_with_licences(1);
        send(&mut r, secs(0), "x@acme.example", &[1; 10]);
        assert_eq!(
            send(&mut r, secs(1), "alerts@acme.example", &[1])[0],
            expected,
            "block_all = {block}"
        );
        r.handle_timeout(secs(600));
        assert_eq!(
            send(&mut r, secs(600), "alerts@acme.example", &[1])[0],
            "250 2.1.0 OK"
        );
    }
}

/// Q13 at the boundary instant: the answer at an instant does not depend on whether
/// the relay's recheck timer for that instant ran before the command. With block-all
/// and no `handle_timeout` at all, MAIL FROM at the instant the window frees room is
/// accepted, and the clear is reported at that instant (peak: 600 s; day: 86,400 s).
#[test]
fn q13_block_all_at_the_clearing_instant_does_not_wait_for_the_timer() {
    for (quota, first, clears) in [
        ("", 9u32, secs(600)),
        (
            "customer_recipients_per_licence_per_peak = 1000",
            130,
            secs(86_400),
        ),
    ] {
        let mut r =
            quota_relay(quota, "block_all_senders_at_customer_limit = true").clone_with_licences(1);
        let rcpts: Vec<u32> = (0..first).collect();
        for chunk in rcpts.chunks(100) {
            assert_eq!(
                send(&mut r, secs(0), "x@acme.example", chunk)
                    .last()
                    .unwrap(),
                "250 2.0.0 OK"
            );
        }
        let refused = send(&mut r, secs(1), "x@acme.example", &[first]);
        assert!(refused[1].starts_with("450") || refused[1].starts_with("550"));
        let just_before = SimTime(clears.as_millis() - 1);
        assert_ne!(
            send(&mut r, just_before, "x@acme.example", &[first])[0],
            "250 2.1.0 OK",
            "still blocked 1 ms before"
        );
        assert_eq!(r.poll_timeout(), Some(clears));
        assert_eq!(
            send(&mut r, clears, "x@acme.example", &[first]),
            ["250 2.1.0 OK", "250 2.1.5 OK", "250 2.0.0 OK"],
            "{quota}"
        );
        let ev = events(&mut r);
        let cleared = ev
            .iter()
            .find(|e| e.change == LimitChange::Cleared)
            .unwrap();
        assert_eq!((cleared.time, cleared.used), (clears, 0));
    }
}

/// Hit and cleared pair up, cleared exactly when the window frees room.
#[test]
fn q05_peak_hit_clears_when_the_window_slides() {
    let mut r = quota_relay("", "").clone_with_licences(1);
    send(&mut r, secs(5), "x@acme.example", &[1; 5]);
    send(&mut r, secs(100), "x@acme.example", &[1; 5]);
    assert_eq!(
        r.poll_timeout(),
        Some(secs(605)),
        "4 of 9 expire at 605 s → room"
    );
    r.handle_timeout(secs(605));
    let ev: Vec<_> = events(&mut r)
        .iter()
        .map(|e| (e.change, e.time, e.used))
        .collect();
    assert_eq!(
        ev,
        [
            (LimitChange::Hit, secs(100), 9),
            (LimitChange::Cleared, secs(605), 4)
        ]
    );
}

/// D1: a DoS refusal at HELO (here the shared pool of generic names, D3, with one
/// token) answers the 421 with ` (EHLO)` — ` (HELO)` to a client that sent HELO —
/// and closes the connection: every later
/// command, QUIT included, gets that same 421.
#[test]
fn d01_dos_refusal_closes_the_connection() {
    let mut model = Model::parse("t.toml", &format!("{BASE}{ACME}")).unwrap();
    model.relay.dos.generic_helo_pool = relay::Rate {
        count: 1.0,
        per: SimDuration::HOUR,
    };
    let mut r = Relay::new(&model.relay, &model.tenants, ChaCha12Rng::seed_from_u64(1));
    let now = secs(0);
    let first = session(&mut r, now, "192.0.2.1", 25, &[Helo("localhost")]);
    assert_eq!(first[1], "250 smtp-relay.gmail.com at your service");
    let mut s = r
        .connect(now, "192.0.2.1".parse().unwrap(), 25, PlainSmtp)
        .unwrap();
    let closed = "421 4.7.0 Try again later, closing connection. (EHLO)";
    assert_eq!(
        s.helo_command(&mut r, now, HeloVerb::Ehlo, "localhost")
            .to_string(),
        closed
    );
    assert!(!s.is_open());
    assert!(matches!(s.phase(), Phase::Closed { .. }));
    let later = [
        s.helo_command(&mut r, now, HeloVerb::Ehlo, "mx.acme.example"),
        s.mail_from(&mut r, now, ReversePath::Address("alerts@acme.example")),
        s.rcpt_to(&mut r, now, RecipientId(1)),
        s.data(&mut r, now),
        s.rset(&mut r, now),
        s.starttls(&mut r, now),
        s.auth(&mut r, "alerts@acme.example", true),
    ];
    for reply in later {
        assert_eq!(reply.to_string(), closed);
    }
    assert_eq!(s.quit(&mut r, now).to_string(), closed);
    // A client that greets with HELO is told so.
    let mut s = r
        .connect(now, "192.0.2.1".parse().unwrap(), 25, PlainSmtp)
        .unwrap();
    assert_eq!(
        s.helo_command(&mut r, now, HeloVerb::Helo, "localhost")
            .to_string(),
        "421 4.7.0 Try again later, closing connection. (HELO)"
    );
}

/// D2: the concurrency count is of sessions not ended. A client gone without QUIT
/// is ended by its driver (`end`), which frees its place at once; a session
/// dropped open keeps it (the simulation's invariant check would report that).
#[test]
fn d02_a_session_ended_without_quit_releases_its_connection() {
    let mut model = Model::parse("t.toml", &format!("{BASE}{ACME}")).unwrap();
    model.relay.dos.max_concurrent_per_ip = 1;
    let mut r = Relay::new(&model.relay, &model.tenants, ChaCha12Rng::seed_from_u64(1));
    let ip = "192.0.2.1".parse().unwrap();
    let mut first = r.connect(secs(0), ip, 25, PlainSmtp).unwrap();
    assert!(
        r.connect(secs(0), ip, 25, PlainSmtp).is_err(),
        "one at a time"
    );
    assert_eq!(
        first.end(&mut r, secs(0)).to_string(),
        "221 2.0.0 closing connection"
    );
    let again = r
        .connect(secs(1), ip, 25, PlainSmtp)
        .expect("the ended session's place is free");
    drop(again);
    assert_eq!(r.open_connections(ip), 1, "dropped open, still counted");
    assert!(r.connect(secs(2), ip, 25, PlainSmtp).is_err());
}

/// D2: a session ended in place (`end`) gives its place back as `quit` does, and
/// opened again in the same memory (`connect_into`) it is a new session: greeted
/// afresh, its earlier transaction gone.
#[test]
fn d02_a_session_ended_in_place_opens_again_as_new() {
    let mut model = Model::parse("t.toml", &format!("{BASE}{ACME}")).unwrap();
    model.relay.dos.max_concurrent_per_ip = 1;
    let mut r = Relay::new(&model.relay, &model.tenants, ChaCha12Rng::seed_from_u64(1));
    let ip = "192.0.2.1".parse().unwrap();
    let mut s = relay::Session::ended();
    assert!(!s.is_open());
    r.connect_into(&mut s, secs(0), ip, 25, PlainSmtp).unwrap();
    assert_eq!(s.phase(), Phase::Connected);
    s.helo_command(&mut r, secs(0), HeloVerb::Ehlo, "mail.acme.example");
    assert!(
        r.connect(secs(0), ip, 25, PlainSmtp).is_err(),
        "one at a time"
    );
    assert_eq!(
        s.end(&mut r, secs(0)).to_string(),
        "221 2.0.0 closing connection"
    );
    assert!(!s.is_open());
    r.connect_into(&mut s, secs(1), ip, 25, PlainSmtp)
        .expect("the ended session's place is free");
    assert_eq!(s.phase(), Phase::Connected, "greeted afresh");
    // Opened again while still open: the old connection ends first, so its place
    // is free for the new one (one at a time still holds).
    r.connect_into(&mut s, secs(2), ip, 25, PlainSmtp)
        .expect("the open session ended first");
    assert_eq!(
        s.quit(&mut r, secs(2)).to_string(),
        "221 2.0.0 closing connection"
    );
}
