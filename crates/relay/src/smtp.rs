//! SMTP as text: command lines in, reply lines out, over the typed [`Session`].
//!
//! The session (`session.rs`) takes resolved commands (a `HeloVerb` and a name, a
//! `ReversePath`, a `RecipientId`); a client that speaks SMTP sends lines. This
//! module parses each line (RFC 5321 §4.1: verbs case-insensitive, paths in angle
//! brackets, ESMTP parameters after them), runs the AUTH exchanges (RFC 4954: PLAIN
//! with or without an initial response, LOGIN's two challenges) and answers what
//! the relay's policy never sees (an unknown verb, a malformed path) with the
//! protocol's own reply. Still sans-IO: the caller feeds lines and the time, and
//! owns what the relay does not know — how an address is numbered and whether a
//! password is right ([`Client`]).
//!
//! A scenario's `[[dialogue]]` drives it at a simulated instant; a network front end
//! can drive the same code. `DATA` stands for the whole data phase here: the reply
//! is the one to the message's closing dot (a network front end sends `354` first
//! and feeds the line when the message has arrived).

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::quota::unique::RecipientId;
use crate::reply::{HeloVerb, Reply};
use crate::service::Relay;
use crate::session::{ClientOpening, ReversePath, Session, Transaction};
use crate::time::SimTime;

/// What the caller knows about a client that the relay core does not.
pub trait Client {
    /// The number of recipient address `address` (lower-case), the same number
    /// every time it is asked for the same address.
    fn recipient_id(&mut self, address: &str) -> RecipientId;

    /// Whether `password` is right for the registered user `username` (P4 checks
    /// that the user is registered; this, the secret).
    fn credentials_valid(&self, username: &str, password: &str) -> bool;
}

/// A reply to a line: the relay's, or the protocol's own for a line the relay's
/// rules never see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Relay(Reply),
    Protocol(Protocol),
}

/// Replies of the SMTP protocol layer. The texts are those Gmail's SMTP servers
/// send [assumption: they are not in the seed document; see
/// `reference/email-facts.md`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// An unknown verb.
    Unrecognized,
    /// A known verb with an argument it cannot take (a path without angle brackets).
    SyntaxError,
    /// NOOP.
    Ok,
    /// AUTH with a mechanism other than PLAIN and LOGIN.
    UnknownMechanism,
    /// An AUTH response that is not base64, or PLAIN without its two NULs.
    CannotDecode,
    /// AUTH LOGIN asks for the user name (`Username:` in base64) …
    LoginUsername,
    /// … and for the password (`Password:`); PLAIN without an initial response gets
    /// an empty challenge.
    LoginPassword,
    PlainChallenge,
    /// A client that gives up an AUTH exchange with `*` (RFC 4954 §4).
    AuthCancelled,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Unrecognized => "502 5.5.1 Unrecognized command.",
            Protocol::SyntaxError => "555 5.5.2 Syntax error.",
            Protocol::Ok => "250 2.0.0 OK",
            Protocol::UnknownMechanism => "504 5.7.4 Unrecognized authentication type.",
            Protocol::CannotDecode => "501 5.5.2 Cannot Decode response.",
            Protocol::LoginUsername => "334 VXNlcm5hbWU6",
            Protocol::LoginPassword => "334 UGFzc3dvcmQ6",
            Protocol::PlainChallenge => "334 ",
            Protocol::AuthCancelled => "501 5.7.0 Authentication cancelled.",
        })
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Relay(r) => r.fmt(f),
            Answer::Protocol(p) => p.fmt(f),
        }
    }
}

/// One command line, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Helo(HeloVerb, &'a str),
    StartTls,
    /// AUTH with its mechanism and initial response, if any.
    Auth {
        mechanism: &'a str,
        initial: Option<&'a str>,
    },
    /// MAIL FROM: the path between the angle brackets (empty for `<>`).
    Mail(&'a str),
    /// RCPT TO: the path between the angle brackets.
    Rcpt(&'a str),
    Data,
    Rset,
    Noop,
    Quit,
}

impl<'a> Command<'a> {
    /// Parses one line (without its CRLF).
    pub fn parse(line: &'a str) -> Result<Command<'a>, Protocol> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, rest) = match line.split_once(' ') {
            Some((v, r)) => (v, r.trim()),
            None => (line, ""),
        };
        let is = |name: &str| verb.eq_ignore_ascii_case(name);
        Ok(if is("HELO") {
            Command::Helo(HeloVerb::Helo, rest)
        } else if is("EHLO") {
            Command::Helo(HeloVerb::Ehlo, rest)
        } else if is("STARTTLS") {
            Command::StartTls
        } else if is("AUTH") {
            let mut words = rest.split_ascii_whitespace();
            let mechanism = words.next().ok_or(Protocol::SyntaxError)?;
            Command::Auth {
                mechanism,
                initial: words.next(),
            }
        } else if is("MAIL") {
            Command::Mail(path_after(rest, "FROM:")?)
        } else if is("RCPT") {
            let path = path_after(rest, "TO:")?;
            if path.is_empty() {
                return Err(Protocol::SyntaxError);
            }
            Command::Rcpt(path)
        } else if is("DATA") {
            Command::Data
        } else if is("RSET") {
            Command::Rset
        } else if is("NOOP") {
            Command::Noop
        } else if is("QUIT") {
            Command::Quit
        } else {
            return Err(Protocol::Unrecognized);
        })
    }
}

/// The path of `FROM:<path> PARAMS` or `TO:<path> PARAMS` (RFC 5321 §4.1.1.2): what
/// is between the angle brackets; ESMTP parameters after it are ignored.
fn path_after<'a>(rest: &'a str, keyword: &str) -> Result<&'a str, Protocol> {
    let head = rest.get(..keyword.len()).ok_or(Protocol::SyntaxError)?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(Protocol::SyntaxError);
    }
    let path = rest[keyword.len()..].trim_start();
    let inner = path.strip_prefix('<').ok_or(Protocol::SyntaxError)?;
    let end = inner.find('>').ok_or(Protocol::SyntaxError)?;
    Ok(&inner[..end])
}

/// Where an AUTH exchange stands between lines.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AuthExchange {
    /// AUTH PLAIN sent without an initial response: the next line is it.
    Plain,
    /// AUTH LOGIN: the next line is the user name …
    LoginUsername,
    /// … then the password.
    LoginPassword { username: String },
}

/// One SMTP connection as lines: a [`Session`] and the state of an AUTH exchange.
#[must_use = "a connection stays open until `close`"]
#[derive(Debug)]
pub struct TextSession {
    session: Option<Session>,
    auth: Option<AuthExchange>,
    /// Address buffer: MAIL and RCPT paths lower-cased without an allocation each.
    lower: String,
}

impl TextSession {
    /// A client connects (see [`Relay::connect`]); `Err` is the refusal.
    pub fn connect(
        relay: &mut Relay,
        now: SimTime,
        ip: IpAddr,
        port: u16,
        opening: ClientOpening,
    ) -> Result<TextSession, Reply> {
        let session = relay.connect(now, ip, port, opening)?;
        Ok(TextSession {
            session: Some(session),
            auth: None,
            lower: String::new(),
        })
    }

    /// Whether DATA would be taken now ([`Session::data_ready`]).
    pub fn data_ready(&self) -> Result<(), Reply> {
        match &self.session {
            Some(s) => s.data_ready(),
            None => Err(Reply::Closing),
        }
    }

    /// Whether TLS is on (after STARTTLS, or from the start on an implicit-TLS port).
    pub fn tls(&self) -> bool {
        self.session.as_ref().is_some_and(Session::tls)
    }

    /// The open transaction's attribution ([`Session::transaction`]).
    pub fn transaction(&self) -> Option<&Transaction> {
        self.session.as_ref().and_then(Session::transaction)
    }

    /// Who the last MAIL FROM was charged to ([`Session::last_attribution`]).
    pub fn last_attribution(&self) -> Option<&Transaction> {
        self.session.as_ref().and_then(Session::last_attribution)
    }

    /// False once the relay closed the connection (D1) or the client quit.
    pub fn is_open(&self) -> bool {
        self.session.as_ref().is_some_and(Session::is_open)
    }

    /// The reply to one line. Send lines only while [`TextSession::is_open`]: a
    /// real server has closed the connection after QUIT or a 421; a line after that
    /// gets the closing reply again.
    pub fn line(
        &mut self,
        relay: &mut Relay,
        now: SimTime,
        line: &str,
        client: &mut impl Client,
    ) -> Answer {
        let Some(session) = self.session.as_mut() else {
            return Answer::Relay(Reply::Closing);
        };
        if let Some(exchange) = self.auth.take() {
            return auth_step(
                session,
                relay,
                exchange,
                line.trim(),
                client,
                &mut self.auth,
            );
        }
        let command = match Command::parse(line) {
            Ok(c) => c,
            Err(p) => return Answer::Protocol(p),
        };
        Answer::Relay(match command {
            Command::Helo(verb, name) => session.helo_command(relay, now, verb, name),
            Command::StartTls => session.starttls(relay, now),
            Command::Auth { mechanism, initial } => {
                return auth_start(session, relay, mechanism, initial, client, &mut self.auth);
            }
            Command::Mail(path) => {
                lower_into(path, &mut self.lower);
                let from = if path.is_empty() {
                    ReversePath::Null
                } else {
                    ReversePath::Address(&self.lower)
                };
                session.mail_from(relay, now, from)
            }
            Command::Rcpt(path) => {
                lower_into(path, &mut self.lower);
                let id = client.recipient_id(&self.lower);
                session.rcpt_to(relay, now, id)
            }
            Command::Data => session.data(relay, now),
            Command::Rset => session.rset(relay, now),
            Command::Noop => return Answer::Protocol(Protocol::Ok),
            Command::Quit => {
                let session = self.session.take().expect("checked above");
                session.quit(relay, now)
            }
        })
    }

    /// Ends the connection (a client that drops it without QUIT): its open
    /// transaction is released, DoS protection counts it gone.
    pub fn close(mut self, relay: &mut Relay, now: SimTime) {
        if let Some(session) = self.session.take() {
            let _ = session.quit(relay, now);
        }
    }
}

fn lower_into(path: &str, out: &mut String) {
    out.clear();
    out.extend(path.chars().flat_map(char::to_lowercase));
}

/// AUTH MECHANISM [initial-response].
fn auth_start(
    session: &mut Session,
    relay: &mut Relay,
    mechanism: &str,
    initial: Option<&str>,
    client: &mut impl Client,
    next: &mut Option<AuthExchange>,
) -> Answer {
    // The session's order rules (HELO first, P4's TLS first) come before any
    // challenge: ask it with no credentials, as a real server checks before 334.
    let gate = session.auth_allowed();
    if let Err(reply) = gate {
        return Answer::Relay(reply);
    }
    if mechanism.eq_ignore_ascii_case("PLAIN") {
        match initial {
            Some(response) => {
                auth_step(session, relay, AuthExchange::Plain, response, client, next)
            }
            None => {
                *next = Some(AuthExchange::Plain);
                Answer::Protocol(Protocol::PlainChallenge)
            }
        }
    } else if mechanism.eq_ignore_ascii_case("LOGIN") {
        match initial {
            Some(user) => auth_step(
                session,
                relay,
                AuthExchange::LoginUsername,
                user,
                client,
                next,
            ),
            None => {
                *next = Some(AuthExchange::LoginUsername);
                Answer::Protocol(Protocol::LoginUsername)
            }
        }
    } else {
        Answer::Protocol(Protocol::UnknownMechanism)
    }
}

/// One response line of an AUTH exchange.
fn auth_step(
    session: &mut Session,
    relay: &mut Relay,
    exchange: AuthExchange,
    response: &str,
    client: &mut impl Client,
    next: &mut Option<AuthExchange>,
) -> Answer {
    if response == "*" {
        return Answer::Protocol(Protocol::AuthCancelled);
    }
    let Ok(decoded) = BASE64.decode(response) else {
        return Answer::Protocol(Protocol::CannotDecode);
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return Answer::Protocol(Protocol::CannotDecode);
    };
    match exchange {
        AuthExchange::Plain => {
            // authzid NUL authcid NUL password (RFC 4616).
            let mut parts = text.split('\0');
            let (Some(_authzid), Some(user), Some(password), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Answer::Protocol(Protocol::CannotDecode);
            };
            let user = user.to_ascii_lowercase();
            let valid = client.credentials_valid(&user, password);
            Answer::Relay(session.auth(relay, &user, valid))
        }
        AuthExchange::LoginUsername => {
            *next = Some(AuthExchange::LoginPassword {
                username: text.to_ascii_lowercase(),
            });
            Answer::Protocol(Protocol::LoginPassword)
        }
        AuthExchange::LoginPassword { username } => {
            let valid = client.credentials_valid(&username, &text);
            Answer::Relay(session.auth(relay, &username, valid))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_as_rfc_5321_writes_them() {
        use Command::*;
        let table: &[(&str, Result<Command<'_>, Protocol>)] = &[
            (
                "EHLO mail.acme.example",
                Ok(Helo(HeloVerb::Ehlo, "mail.acme.example")),
            ),
            ("helo x", Ok(Helo(HeloVerb::Helo, "x"))),
            ("EHLO", Ok(Helo(HeloVerb::Ehlo, ""))),
            ("MAIL FROM:<a@b.example>", Ok(Mail("a@b.example"))),
            ("mail from: <a@b.example> SIZE=100", Ok(Mail("a@b.example"))),
            ("MAIL FROM:<>", Ok(Mail(""))),
            ("MAIL FROM:a@b.example", Err(Protocol::SyntaxError)),
            ("MAIL TO:<a@b.example>", Err(Protocol::SyntaxError)),
            ("RCPT TO:<x@y.example>", Ok(Rcpt("x@y.example"))),
            ("RCPT TO:<>", Err(Protocol::SyntaxError)),
            ("RCPT", Err(Protocol::SyntaxError)),
            (
                "AUTH PLAIN AGFAYg==",
                Ok(Auth {
                    mechanism: "PLAIN",
                    initial: Some("AGFAYg=="),
                }),
            ),
            (
                "AUTH LOGIN",
                Ok(Auth {
                    mechanism: "LOGIN",
                    initial: None,
                }),
            ),
            ("AUTH", Err(Protocol::SyntaxError)),
            ("STARTTLS", Ok(StartTls)),
            ("data", Ok(Data)),
            ("RSET\r\n", Ok(Rset)),
            ("NOOP", Ok(Noop)),
            ("QUIT", Ok(Quit)),
            ("VRFY x", Err(Protocol::Unrecognized)),
            ("", Err(Protocol::Unrecognized)),
        ];
        for (line, expected) in table {
            assert_eq!(&Command::parse(line), expected, "{line:?}");
        }
    }

    #[test]
    fn protocol_replies_have_a_code_and_an_enhanced_code_or_a_challenge() {
        for p in [
            Protocol::Unrecognized,
            Protocol::SyntaxError,
            Protocol::Ok,
            Protocol::UnknownMechanism,
            Protocol::CannotDecode,
            Protocol::AuthCancelled,
        ] {
            let text = p.to_string();
            let (code, rest) = text.split_once(' ').unwrap();
            assert!(code.parse::<u16>().is_ok(), "{text}");
            assert!(rest.split(' ').next().unwrap().contains('.'), "{text}");
        }
        assert_eq!(
            BASE64.decode("VXNlcm5hbWU6").unwrap(),
            b"Username:".to_vec()
        );
        assert_eq!(
            BASE64.decode("UGFzc3dvcmQ6").unwrap(),
            b"Password:".to_vec()
        );
    }
}
