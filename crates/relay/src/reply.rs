//! Every reply the relay gives, with its exact code, enhanced status code and text,
//! in one table (`enhanced_and_text`) that names each text's source.
//!
//! Sources, cited per row: **G5** Google's SMTP error list (support.google.com/a/
//! answer/3726730); **F** replies seen live from smtp-relay.gmail.com in field
//! reports (`shared/reference/email-facts.md` I1, I2, C1, C2); **Gmail** the wording
//! Gmail's SMTP servers use for replies Google does not list (greeting, OK replies,
//! sequence errors, `Flushed`). A `Reply` is plain `Copy` data, so counting replies
//! per code costs no allocation; the text is only rendered for output.

use std::fmt;
use std::net::IpAddr;

/// The command that opened the SMTP dialogue: HELO or EHLO (RFC 5321 §4.1.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeloVerb {
    Helo,
    Ehlo,
}

/// One SMTP reply of the relay.
///
/// `#[repr(u8)]`: its tag is its first byte, which [`Reply::dense_index`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Reply {
    /// `220` greeting after connect.
    Greeting,
    /// `250` to HELO/EHLO.
    HeloOk,
    /// `220 2.0.0` to STARTTLS.
    ReadyForTls,
    /// `235 2.7.0` to a successful AUTH.
    AuthAccepted,
    /// `250 2.1.0` to MAIL FROM.
    SenderOk,
    /// `250 2.1.5` to RCPT TO.
    RecipientOk,
    /// `250 2.0.0` after DATA: the message is accepted (and counted, Q12).
    MessageAccepted,
    /// `250 2.1.5 Flushed` to RSET.
    ResetOk,
    /// `221 2.0.0` to QUIT.
    Closing,
    /// P6: the port is not one the relay listens on; no SMTP reply at all.
    ConnectionRefused,
    /// P6: plain SMTP on the implicit-TLS port, or a TLS handshake on a plain port;
    /// the connection fails before any SMTP reply.
    TlsHandshakeFailed,
    /// D1: DoS protection closes the connection. Refused at HELO/EHLO, the reply
    /// names the command the client sent: `(HELO)` or `(EHLO)` (field-seen form).
    TryAgainLater { at: Option<HeloVerb> },
    /// Q5.
    PeakCustomerLimit,
    /// P9, P10.
    TooManyRecipients,
    /// P12.
    InvalidHelo,
    /// A command out of sequence (MAIL before HELO, RCPT before MAIL, …).
    BadSequence(Sequence),
    /// P4, P5.
    MustStartTls,
    /// P2: a relay setting requires SMTP AUTH and the client did not authenticate.
    AuthenticationRequired,
    /// P4: AUTH with credentials the relay does not accept.
    BadCredentials,
    /// Q1, Q2.
    DailyUserLimit,
    /// P1 `registered_users`.
    MailSendingDenied,
    /// P2/P3: the connecting IP is not in an enabled range.
    MailRelayDenied(IpAddr),
    /// P1 `domain_addresses` / `any_address`, P8, Q8: the customer could not be
    /// identified; the reply names the client's IP, as the real relay's does.
    InvalidCredentials(IpAddr),
    /// Q4. The last variant: `Reply::VARIANTS` counts up to it.
    DailyCustomerLimit,
}

/// Which out-of-sequence command a `503` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sequence {
    HeloFirst,
    NestedMail,
    MailFirst,
    RcptFirst,
    TlsAlreadyActive,
}

impl Reply {
    /// Every reply that names no IP, in a fixed order: the index of a reply in this
    /// list is its `dense_index` (for tables without a map), and counts are listed
    /// in this order. A reply added to the enum without an IP belongs here: the
    /// tables by variant ([`Reply::CODE_BY_VARIANT`], [`Reply::SEVERAL_BY_VARIANT`])
    /// are built from this list (a reply missing from it would be counted apart, in
    /// the map of the replies that name an IP, and fingerprinted with code 0).
    pub const WITHOUT_DATA: [Reply; 28] = [
        Reply::Greeting,
        Reply::HeloOk,
        Reply::ReadyForTls,
        Reply::AuthAccepted,
        Reply::SenderOk,
        Reply::RecipientOk,
        Reply::MessageAccepted,
        Reply::ResetOk,
        Reply::Closing,
        Reply::ConnectionRefused,
        Reply::TlsHandshakeFailed,
        Reply::TryAgainLater { at: None },
        Reply::TryAgainLater {
            at: Some(HeloVerb::Helo),
        },
        Reply::TryAgainLater {
            at: Some(HeloVerb::Ehlo),
        },
        Reply::PeakCustomerLimit,
        Reply::TooManyRecipients,
        Reply::InvalidHelo,
        Reply::BadSequence(Sequence::HeloFirst),
        Reply::BadSequence(Sequence::NestedMail),
        Reply::BadSequence(Sequence::MailFirst),
        Reply::BadSequence(Sequence::RcptFirst),
        Reply::BadSequence(Sequence::TlsAlreadyActive),
        Reply::MustStartTls,
        Reply::AuthenticationRequired,
        Reply::BadCredentials,
        Reply::DailyUserLimit,
        Reply::MailSendingDenied,
        Reply::DailyCustomerLimit,
    ];

    /// The position in `WITHOUT_DATA`; `None` for the replies that name an IP.
    ///
    /// Counted for every reply of a run, so it reads its answer from a table by the
    /// variant's tag: a `match` over the 28 replies compiled to a jump through a
    /// table whose target changes from reply to reply (greeting, HELO, MAIL, RCPT …),
    /// a mispredicted indirect branch for most replies of a run.
    #[inline]
    pub fn dense_index(self) -> Option<usize> {
        use Reply::*;
        let first = Reply::FIRST_BY_TAG
            .get(usize::from(self.tag()))
            .copied()
            .unwrap_or(u8::MAX);
        // The variants with more than one position: their data's place after it.
        let within = match self {
            TryAgainLater { at: None } => 0,
            TryAgainLater { at: Some(verb) } => 1 + verb as u8,
            BadSequence(sequence) => sequence as u8,
            _ => 0,
        };
        (first != u8::MAX).then(|| usize::from(first + within))
    }

    /// The variant's number: its place in the declaration, from 0.
    const fn tag(self) -> u8 {
        // SAFETY: `Reply` is `#[repr(u8)]`: a `repr(C)` union of `repr(C)` structs
        // that each begin with the `u8` tag (the Reference, "Primitive representation
        // of enums with fields"), so the first byte of every `Reply` is its tag.
        unsafe { *(&self as *const Reply as *const u8) }
    }

    /// How many variants `Reply` has: the last one's tag and one.
    pub const VARIANTS: usize = Reply::DailyCustomerLimit.tag() as usize + 1;

    /// The first position in `WITHOUT_DATA` of each variant, by tag; `u8::MAX` for
    /// the variants that name an IP (not in the list).
    const FIRST_BY_TAG: [u8; Reply::VARIANTS] = {
        let mut first = [u8::MAX; Reply::VARIANTS];
        let mut i = Reply::WITHOUT_DATA.len();
        while i > 0 {
            i -= 1;
            first[Reply::WITHOUT_DATA[i].tag() as usize] = i as u8;
        }
        first
    };

    /// The variant's number: its place in the declaration, from 0, below
    /// [`Reply::VARIANTS`]. A variant with one reply (no data) is that reply: a count
    /// per variant counts it, without matching the reply (see
    /// [`Reply::SEVERAL_BY_VARIANT`] for the others).
    #[inline(always)]
    pub const fn variant(self) -> usize {
        self.tag() as usize
    }

    /// The code of each variant's replies, by [`Reply::variant`]: a variant's
    /// replies share their code, so a reply counted and fingerprinted by its
    /// variant reads its code here instead of matching the reply a second time.
    pub const CODE_BY_VARIANT: [u16; Reply::VARIANTS] = {
        let mut codes = [0; Reply::VARIANTS];
        let mut i = 0;
        while i < Reply::WITHOUT_DATA.len() {
            codes[Reply::WITHOUT_DATA[i].tag() as usize] = Reply::WITHOUT_DATA[i].code();
            i += 1;
        }
        let ip = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        codes[Reply::MailRelayDenied(ip).tag() as usize] = Reply::MailRelayDenied(ip).code();
        codes[Reply::InvalidCredentials(ip).tag() as usize] = Reply::InvalidCredentials(ip).code();
        codes
    };

    /// Bit [`Reply::variant`] set: the variant has more than one reply, told apart by
    /// its data (`TryAgainLater`, `BadSequence`, and the two that name an IP, which
    /// are not in `WITHOUT_DATA`); clear: the variant is one reply.
    pub const SEVERAL_BY_VARIANT: u32 = {
        assert!(Reply::VARIANTS <= 32, "one bit per variant");
        let mut replies = [0u32; Reply::VARIANTS];
        let mut i = 0;
        while i < Reply::WITHOUT_DATA.len() {
            replies[Reply::WITHOUT_DATA[i].tag() as usize] += 1;
            i += 1;
        }
        let mut several = 0u32;
        let mut v = 0;
        while v < Reply::VARIANTS {
            if replies[v] != 1 {
                several |= 1 << v;
            }
            v += 1;
        }
        several
    };

    /// Each variant's reply, by [`Reply::variant`], for the variants that are one
    /// reply (the others' places hold `MailRelayDenied`, never read).
    const ALONE_BY_VARIANT: [Reply; Reply::VARIANTS] = {
        let ip = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        let mut alone = [Reply::MailRelayDenied(ip); Reply::VARIANTS];
        let mut i = Reply::WITHOUT_DATA.len();
        while i > 0 {
            i -= 1;
            alone[Reply::WITHOUT_DATA[i].tag() as usize] = Reply::WITHOUT_DATA[i];
        }
        alone
    };

    /// The same reply, taken from a table when it is the one of its variant: for a
    /// reply a call has just returned, which comes back through memory (it is 18
    /// bytes) written as its tag byte alone, where copying it whole reads 16 bytes
    /// and waits until that byte reaches the cache (a store is not forwarded to a
    /// wider load). Only the tag is read back here.
    #[inline(always)]
    pub fn settled(self) -> Reply {
        if self.is_alone_in_variant() {
            Reply::ALONE_BY_VARIANT[self.variant()]
        } else {
            self
        }
    }

    /// Whether `self` is the one reply of its variant (clear in
    /// [`Reply::SEVERAL_BY_VARIANT`]).
    #[inline(always)]
    pub const fn is_alone_in_variant(self) -> bool {
        Reply::SEVERAL_BY_VARIANT >> self.tag() & 1 == 0
    }

    /// The three-digit code; `0` when the connection failed before any reply.
    pub const fn code(self) -> u16 {
        use Reply::*;
        match self {
            ConnectionRefused | TlsHandshakeFailed => 0,
            Greeting | ReadyForTls => 220,
            Closing => 221,
            AuthAccepted => 235,
            HeloOk | SenderOk | RecipientOk | MessageAccepted | ResetOk => 250,
            TryAgainLater { .. } => 421,
            PeakCustomerLimit => 450,
            TooManyRecipients => 452,
            InvalidHelo => 501,
            BadSequence(_) => 503,
            MustStartTls | AuthenticationRequired => 530,
            BadCredentials => 535,
            DailyUserLimit
            | MailSendingDenied
            | MailRelayDenied(_)
            | InvalidCredentials(_)
            | DailyCustomerLimit => 550,
        }
    }

    /// A 4xx reply: the client should try again later (M1).
    pub fn is_transient(self) -> bool {
        (400..500).contains(&self.code())
    }

    /// A 5xx reply: the client gives up on what it was refused (M1).
    pub fn is_permanent(self) -> bool {
        self.code() >= 500
    }

    /// A 2xx/3xx reply.
    pub fn is_positive(self) -> bool {
        (200..400).contains(&self.code())
    }

    /// The enhanced status code and the text after it: the one table of reply
    /// texts, each row with its source (see the module documentation).
    fn enhanced_and_text(self) -> (&'static str, &'static str) {
        use Reply::*;
        match self {
            // Gmail
            Greeting => ("", "smtp-relay.gmail.com ESMTP"),
            HeloOk => ("", "smtp-relay.gmail.com at your service"),
            ReadyForTls => ("2.0.0", "Ready to start TLS"),
            AuthAccepted => ("2.7.0", "Accepted"),
            SenderOk => ("2.1.0", "OK"),
            RecipientOk => ("2.1.5", "OK"),
            MessageAccepted => ("2.0.0", "OK"),
            ResetOk => ("2.1.5", "Flushed"),
            Closing => ("2.0.0", "closing connection"),
            // No SMTP reply: the TCP connection is refused, or TLS fails first.
            ConnectionRefused => ("", "connection refused"),
            TlsHandshakeFailed => ("", "TLS handshake failed"),
            // G5; `(HELO)`/`(EHLO)` after it: F (I1, I2)
            TryAgainLater { at: None } => ("4.7.0", "Try again later, closing connection."),
            TryAgainLater {
                at: Some(HeloVerb::Helo),
            } => ("4.7.0", "Try again later, closing connection. (HELO)"),
            TryAgainLater {
                at: Some(HeloVerb::Ehlo),
            } => ("4.7.0", "Try again later, closing connection. (EHLO)"),
            // G5
            PeakCustomerLimit => (
                "4.2.1",
                "Peak SMTP relay limit exceeded for customer. This is a temporary error.",
            ),
            TooManyRecipients => ("4.5.3", "Your message has too many recipients."),
            InvalidHelo => ("5.5.4", "HELO/EHLO argument is invalid."),
            // Gmail
            BadSequence(Sequence::HeloFirst) => ("5.5.1", "EHLO/HELO first."),
            BadSequence(Sequence::NestedMail) => ("5.5.1", "Nested MAIL command."),
            BadSequence(Sequence::MailFirst) => ("5.5.1", "need MAIL command."),
            BadSequence(Sequence::RcptFirst) => ("5.5.1", "RCPT first."),
            BadSequence(Sequence::TlsAlreadyActive) => ("5.5.1", "TLS already active."),
            // G5
            MustStartTls => ("5.7.0", "Must issue a STARTTLS command first."),
            AuthenticationRequired => ("5.5.1", "Authentication Required."),
            BadCredentials => ("5.7.8", "Username and Password not accepted."),
            DailyUserLimit => ("5.4.5", "Daily SMTP relay limit exceeded for user."),
            MailSendingDenied => ("5.7.0", "Mail Sending denied."),
            // G5, with the client IP in brackets: F (C1)
            MailRelayDenied(_) => ("5.7.0", "Mail relay denied"),
            // G5, with the client IP in brackets: F (C2)
            InvalidCredentials(_) => ("5.7.1", "Invalid credentials for relay"),
            // G5
            DailyCustomerLimit => ("5.7.1", "Daily SMTP relay limit exceeded for customer."),
        }
    }
}

/// The reply line as the relay sends it, e.g.
/// `550 5.7.0 Mail relay denied [192.0.2.7].`
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (enhanced, text) = self.enhanced_and_text();
        if self.code() == 0 {
            return f.write_str(text);
        }
        write!(f, "{}", self.code())?;
        if !enhanced.is_empty() {
            write!(f, " {enhanced}")?;
        }
        write!(f, " {text}")?;
        if let Reply::MailRelayDenied(ip) | Reply::InvalidCredentials(ip) = self {
            write!(f, " [{ip}].")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal replies of docs/rules.md, verbatim.
    #[test]
    fn refusal_texts_match_the_rulebook() {
        let table = [
            (
                Reply::DailyUserLimit,
                "550 5.4.5 Daily SMTP relay limit exceeded for user.",
            ),
            (
                Reply::DailyCustomerLimit,
                "550 5.7.1 Daily SMTP relay limit exceeded for customer.",
            ),
            (
                Reply::PeakCustomerLimit,
                "450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.",
            ),
            (Reply::MailSendingDenied, "550 5.7.0 Mail Sending denied."),
            (
                Reply::InvalidCredentials("203.0.113.10".parse().unwrap()),
                "550 5.7.1 Invalid credentials for relay [203.0.113.10].",
            ),
            (Reply::ResetOk, "250 2.1.5 Flushed"),
            (
                Reply::MailRelayDenied("192.0.2.7".parse().unwrap()),
                "550 5.7.0 Mail relay denied [192.0.2.7].",
            ),
            (
                Reply::MustStartTls,
                "530 5.7.0 Must issue a STARTTLS command first.",
            ),
            (
                Reply::BadCredentials,
                "535 5.7.8 Username and Password not accepted.",
            ),
            (
                Reply::TooManyRecipients,
                "452 4.5.3 Your message has too many recipients.",
            ),
            (
                Reply::InvalidHelo,
                "501 5.5.4 HELO/EHLO argument is invalid.",
            ),
            (
                Reply::TryAgainLater { at: None },
                "421 4.7.0 Try again later, closing connection.",
            ),
            (
                Reply::TryAgainLater {
                    at: Some(HeloVerb::Helo),
                },
                "421 4.7.0 Try again later, closing connection. (HELO)",
            ),
            (
                Reply::TryAgainLater {
                    at: Some(HeloVerb::Ehlo),
                },
                "421 4.7.0 Try again later, closing connection. (EHLO)",
            ),
            (Reply::ConnectionRefused, "connection refused"),
        ];
        for (reply, text) in table {
            assert_eq!(reply.to_string(), text);
        }
    }

    #[test]
    fn variants_give_the_code_and_whether_they_are_one_reply() {
        let ip = "192.0.2.1".parse().unwrap();
        let all = Reply::WITHOUT_DATA
            .iter()
            .copied()
            .chain([Reply::MailRelayDenied(ip), Reply::InvalidCredentials(ip)]);
        for r in all {
            assert_eq!(Reply::CODE_BY_VARIANT[r.variant()], r.code(), "{r:?}");
            let listed = Reply::WITHOUT_DATA
                .iter()
                .filter(|o| o.variant() == r.variant())
                .count();
            assert_eq!(r.is_alone_in_variant(), listed == 1, "{r:?}");
            assert_eq!(r.settled(), r, "{r:?}");
        }
        let v6 = Reply::InvalidCredentials("2001:db8::1".parse().unwrap());
        assert_eq!(v6.settled(), v6);
    }

    #[test]
    fn dense_indexes_match_the_list() {
        for (i, r) in Reply::WITHOUT_DATA.iter().enumerate() {
            assert_eq!(r.dense_index(), Some(i), "{r:?}");
        }
        let ip = "192.0.2.1".parse().unwrap();
        assert_eq!(Reply::MailRelayDenied(ip).dense_index(), None);
        assert_eq!(Reply::InvalidCredentials(ip).dense_index(), None);
    }

    #[test]
    fn classes_follow_the_first_digit() {
        assert!(Reply::PeakCustomerLimit.is_transient());
        assert!(Reply::DailyUserLimit.is_permanent());
        assert!(Reply::MessageAccepted.is_positive());
        assert!(!Reply::ConnectionRefused.is_positive());
        assert!(!Reply::ConnectionRefused.is_permanent());
    }
}
