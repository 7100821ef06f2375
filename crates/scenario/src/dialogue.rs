//! `[[dialogue]]`: one scripted client connection to the relay at a simulated
//! instant, with the reply expected for each command (like the SMTP-session tests
//! of Exim's own test suite). `relaysim test` checks the replies; the connection is
//! part of the run, so what it sends counts in the relay's windows like any other
//! client's.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::DiagnosticSink;
use super::values::Duration;

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Dialogue {
    /// Shown in `relaysim test` output (default: "dialogue N at AT").
    pub name: Option<String>,
    /// When, from the scenario start: after everything before this instant (and
    /// what was scheduled at it before the run began) has been simulated.
    #[schemars(with = "Duration")]
    pub at: Spanned<Duration>,
    pub connect: Connect,
    /// The password the relay accepts in AUTH PLAIN and AUTH LOGIN (P4) for every
    /// registered user without one of its own in its tenant's `passwords`; unset:
    /// those users authenticate with any password when no tenant gives passwords,
    /// and not at all when one does.
    pub password: Option<String>,
    /// The client's lines (none when the connection is expected to be refused),
    /// each with the reply expected: `["RCPT TO:<a@example.org>",
    /// "452 4.5.3"]`. A reply matches when it starts with the expected text. `DATA`
    /// stands for the whole data phase: its reply is the one to the message's end.
    /// The connection is closed after the last line if the script did not QUIT.
    #[serde(default = "no_script")]
    #[schemars(with = "Vec<[String; 2]>")]
    pub script: Spanned<Vec<Spanned<[String; 2]>>>,
}

/// Where the scripted client connects from and to.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Connect {
    /// The client's source IP, as the relay's IP-range rules (P2) and DoS
    /// protection (D2) see it.
    #[schemars(with = "String")]
    pub source_ip: Spanned<IpAddr>,
    /// The relay's port (P6): 25, 587, or 465 (implicit TLS).
    #[serde(default = "default_port")]
    #[schemars(with = "Option<u16>")]
    pub port: Spanned<u16>,
    /// Whether the client opens with a TLS handshake (default: on the relay's
    /// implicit-TLS ports, 465). `tls = false` on 465 plays a client that speaks
    /// plain SMTP there (P6: it gets no SMTP dialogue).
    pub tls: Option<bool>,
    /// The start of the reply expected to the connection itself: the greeting
    /// (default "220"), a DoS refusal ("421 4.7.0", D2), or "connection refused"
    /// (a port the relay does not listen on, P6). When the connection is refused,
    /// the script is not sent.
    #[serde(default = "default_greeting")]
    pub expect: String,
}

fn default_greeting() -> String {
    "220".to_string()
}

fn no_script() -> Spanned<Vec<Spanned<[String; 2]>>> {
    Spanned::new(0..0, Vec::new())
}

fn default_port() -> Spanned<u16> {
    Spanned::new(0..0, 25)
}

/// The checks of one dialogue that need no other section: a script, each expected
/// reply a reply code, the instant within the run.
pub(super) fn check(d: &Dialogue, horizon: Option<Duration>, sink: &mut DiagnosticSink) {
    let refusal_expected = !d.connect.expect.starts_with("220");
    if d.script.get_ref().is_empty() && !refusal_expected {
        sink.error_with_help(
            d.script.span(),
            "this dialogue has no script",
            "empty",
            "add script = [[\"EHLO mail.example.com\", \"250\"], …]: a line to send and the reply expected",
        );
    }
    for step in d.script.get_ref() {
        let [line, expected] = step.get_ref();
        if line.contains(['\r', '\n']) {
            sink.error_with_help(
                step.span(),
                "a script line holds a line break",
                "one command per step",
                "write each command as its own [\"COMMAND\", \"REPLY\"] step",
            );
        }
        let code = expected
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let after = expected.as_bytes().get(3);
        if code.is_none() || after.is_some_and(|b| *b != b' ') {
            sink.error_with_help(
                step.span(),
                &format!("expected reply `{expected}` does not start with a reply code"),
                "not a reply",
                "start it with the three-digit code, e.g. \"250\", \"452 4.5.3\" or \"530 5.7.0 Must issue a STARTTLS command first.\"",
            );
        }
    }
    if let Some(h) = horizon
        && d.at.get_ref().get() >= h.get()
    {
        sink.error_with_help(
            d.at.span(),
            &format!(
                "dialogue at {} is at or after the end of the run ({h})",
                d.at.get_ref()
            ),
            "never happens",
            "move it before [simulation] duration or lengthen the run",
        );
    }
}
