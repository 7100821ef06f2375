//! `--anonymise`: addresses replaced by stable pseudonyms, so a log can be shared
//! for a capacity study without them. A pseudonym is a keyed hash (BLAKE3 in keyed
//! mode, the key derived from the user's secret): the same address gives the same
//! pseudonym in every import with the same secret, so distinct counts (Q2) and
//! per-sender counts (Q1) are kept; without the secret, guessing an address cannot
//! be checked against its pseudonym.
//!
//! Local parts always; domains too with `--anonymise-domains` (else they are kept:
//! the tenant's domains say which recipients are internal). 64 bits of hash per
//! part: two addresses of a million-address log collide with odds of about 1 in
//! 30 million.

use crate::Record;

/// Pseudonyms under one secret.
#[derive(Clone)]
pub struct Anonymiser {
    key: [u8; 32],
    domains: bool,
}

impl std::fmt::Debug for Anonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Anonymiser")
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

impl Anonymiser {
    /// Pseudonyms under `secret` (any bytes; a passphrase will do), local parts only
    /// or domains too.
    pub fn new(secret: &[u8], domains: bool) -> Anonymiser {
        Anonymiser {
            key: blake3::derive_key("relaysim import --anonymise v1", secret),
            domains,
        }
    }

    /// Whether domains are replaced too.
    pub fn domains(&self) -> bool {
        self.domains
    }

    fn hash(&self, kind: u8, text: &str) -> String {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(&[kind]);
        hasher.update(text.as_bytes());
        let bytes = hasher.finalize();
        bytes.as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `local@domain` with its local part (and, if asked, its domain) replaced; the
    /// domain compared without case. Text without `@` (a count, `<>`) as it is.
    pub fn address(&self, address: &str) -> String {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return address.to_string();
        };
        let domain = domain.to_ascii_lowercase();
        let local = format!("u{}", self.hash(b'l', local));
        if self.domains {
            format!("{local}@d{}.example", self.hash(b'd', &domain))
        } else {
            format!("{local}@{domain}")
        }
    }

    /// `text` (a server's reply) with every address in it replaced, and with
    /// `--anonymise-domains` every domain name too (but Google's own, which name the
    /// relay and its help pages). IP addresses are kept.
    pub fn text(&self, text: &str) -> String {
        let word = |c: char| c.is_ascii_alphanumeric() || "._%+-=@".contains(c);
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(word) {
            out.push_str(&rest[..start]);
            let len = rest[start..]
                .find(|c: char| !word(c))
                .unwrap_or(rest.len() - start);
            let run = &rest[start..start + len];
            // A sentence's full stop is not part of the name.
            let name = run.trim_end_matches('.');
            out.push_str(&self.name(name));
            out.push_str(&run[name.len()..]);
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        out
    }

    /// A word of a reply: an address, a domain name, or neither.
    fn name(&self, word: &str) -> String {
        match word.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => self.address(word),
            Some(_) => word.to_string(),
            None if self.domains && is_domain(word) && !is_google(word) => {
                format!("d{}.example", self.hash(b'd', &word.to_ascii_lowercase()))
            }
            None => word.to_string(),
        }
    }

    /// `record` with its addresses replaced.
    pub fn record(&self, mut record: Record) -> Record {
        match &mut record {
            Record::Queued { from, .. } => *from = self.address(from),
            Record::Attempt { rcpt, reply, .. } => {
                *rcpt = self.address(rcpt);
                if let Some(reply) = reply {
                    *reply = self.text(reply);
                }
            }
            Record::Removed { .. } => {}
        }
        record
    }
}

/// `mail.acme.example`: dotted labels, the last of letters (not an IP address, not
/// a reply code like `4.2.1`).
fn is_domain(word: &str) -> bool {
    let labels: Vec<&str> = word.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Google's names in its replies (`smtp-relay.gmail.com`, `support.google.com`).
fn is_google(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    ["google.com", "gmail.com", "googlemail.com"]
        .iter()
        .any(|g| d == *g || d.ends_with(&format!(".{g}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_under_one_secret_only() {
        let a = Anonymiser::new(b"s3cret", false);
        let b = Anonymiser::new(b"s3cret", false);
        let other = Anonymiser::new(b"other", false);
        let x = a.address("alice@Acme.example");
        assert_eq!(x, b.address("alice@acme.example"));
        assert_ne!(x, other.address("alice@acme.example"));
        assert_ne!(x, a.address("bob@acme.example"));
        assert!(
            x.ends_with("@acme.example") && x.starts_with('u') && x.len() == 17 + 13,
            "{x}"
        );
        assert!(!x.contains("alice"));
        assert_eq!(a.address("<>"), "<>");
        assert_eq!(a.address(""), "");
        let d = Anonymiser::new(b"s3cret", true);
        let y = d.address("alice@acme.example");
        assert!(y.ends_with(".example") && !y.contains("acme"), "{y}");
        assert_eq!(y.split('@').next(), x.split('@').next());
        assert!(format!("{d:?}").contains("domains: true"));
    }

    #[test]
    fn addresses_inside_replies_are_replaced() {
        let a = Anonymiser::new(b"k", false);
        let text = "550 5.1.1 <bob.smith@example.org>: Recipient address rejected; see a@b";
        let out = a.text(text);
        assert!(!out.contains("bob.smith"), "{out}");
        assert!(out.starts_with("550 5.1.1 <u"), "{out}");
        assert!(out.contains(&a.address("bob.smith@example.org")));
        assert!(out.ends_with(&format!("see {}", a.address("a@b"))), "{out}");
        // No address: as it was; a lone @ too; domains kept.
        assert_eq!(
            a.text("450 4.2.1 Try again @ 10:00"),
            "450 4.2.1 Try again @ 10:00"
        );
        let relay = "550 5.7.0 Mail relay denied [203.0.113.5]. Invalid credentials for relay for one of the domains in: ops.acme.example (as obtained from HELO and MAIL FROM). Visit https://support.google.com/a/answer/6140680";
        assert_eq!(a.text(relay), relay);
        // With domains: every domain name but Google's; IPs and codes kept.
        let d = Anonymiser::new(b"k", true);
        let out = d.text(relay);
        assert!(!out.contains("acme"), "{out}");
        assert!(
            out.contains("[203.0.113.5]") && out.starts_with("550 5.7.0 "),
            "{out}"
        );
        assert!(
            out.contains("https://support.google.com/a/answer/6140680"),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "domains in: d{}.example (",
                d.hash(b'd', "ops.acme.example")
            )),
            "{out}"
        );
        assert_eq!(
            d.text("to <x@Acme.example>."),
            format!("to <{}>.", d.address("x@acme.example"))
        );
    }
}
