//! The relay policy of the admin console (rules P1, P2, P5, P7, P8, P12): which
//! relay setting a connection falls under, whether its envelope sender is allowed,
//! and how it is rewritten. Pure functions over the connection's facts; the session
//! (`session.rs`) calls them in SMTP order.

use std::net::IpAddr;

use crate::config::{AllowedSenders, RelaySetting};
use crate::directory::{Directory, DomainId, TenantIx, UserId};
use crate::ip_ranges::IpRangeSet;
use crate::reply::Reply;

/// A relay setting ready for matching: its ranges in a lookup structure (P3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledSetting {
    pub name: String,
    pub allowed_senders: AllowedSenders,
    pub only_listed_ips: bool,
    pub smtp_auth: bool,
    pub require_tls: bool,
    pub ips: IpRangeSet,
}

impl CompiledSetting {
    pub fn new(setting: &RelaySetting) -> Self {
        CompiledSetting {
            name: setting.name.clone(),
            allowed_senders: setting.allowed_senders,
            only_listed_ips: setting.only_listed_ips,
            smtp_auth: setting.smtp_auth,
            require_tls: setting.require_tls,
            ips: IpRangeSet::new(
                setting
                    .ip_ranges
                    .iter()
                    .map(|(net, enabled)| (net, *enabled)),
            ),
        }
    }
}

/// P12: what a HELO/EHLO argument says about the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeloName {
    /// Empty or not a host name / address literal: `501 5.5.4`.
    Invalid,
    /// `localhost`, an address literal, Google's own names, …: identifies no domain
    /// (P8) and shares the global DoS pool (D3).
    Generic,
    /// A host name; `Some` when it is (in) one of a customer's domains (Q8, P8).
    Named(Option<DomainId>),
}

/// P12: classifies a HELO/EHLO argument. `generic` are the `[relay.policy]
/// generic_helo_names` (compared case-insensitively); every address literal is
/// generic too.
pub fn classify_helo(name: &str, generic: &[String], directory: &Directory) -> HeloName {
    let name = name.trim();
    if let Some(literal) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        let ip = literal.strip_prefix("IPv6:").unwrap_or(literal);
        return match ip.parse::<IpAddr>() {
            Ok(_) => HeloName::Generic,
            Err(_) => HeloName::Invalid,
        };
    }
    if !is_host_name(name) {
        return HeloName::Invalid;
    }
    if generic.iter().any(|g| g.eq_ignore_ascii_case(name)) {
        return HeloName::Generic;
    }
    HeloName::Named(directory.owned_domain(&name.to_ascii_lowercase()))
}

/// RFC 5321 `Domain`: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What the relay knows about a connection when MAIL FROM arrives.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionFacts {
    pub ip: IpAddr,
    pub tls: bool,
    /// P4: the registered user the client authenticated as.
    pub auth_user: Option<UserId>,
    pub helo: HeloName,
}

/// P2 [assumption `require_both_auth_methods`], P7 [assumption]: the first setting of
/// the tenant whose authentication the connection satisfies. With both methods set,
/// both must pass (the default) or either (the setting off). When none applies, the
/// reply names what the **first** setting missed: an unlisted IP (P3) before missing
/// AUTH (P4: `530 5.7.0` without TLS, else `530 5.5.1 Authentication Required.`). A
/// tenant without relay settings relays nothing (`550 5.7.0 Mail relay denied`).
pub fn match_setting<'a>(
    settings: &'a [CompiledSetting],
    tenant: TenantIx,
    facts: &ConnectionFacts,
    directory: &Directory,
    require_both: bool,
) -> Result<&'a CompiledSetting, Reply> {
    let authenticated = facts
        .auth_user
        .is_some_and(|u| directory.tenant_of_user(u) == tenant);
    let ip_ok = |s: &CompiledSetting| s.ips.contains(facts.ip);
    let passes = |s: &CompiledSetting| {
        let ip = !s.only_listed_ips || ip_ok(s);
        let auth = !s.smtp_auth || authenticated;
        if require_both || !(s.only_listed_ips && s.smtp_auth) {
            ip && auth
        } else {
            (s.only_listed_ips && ip_ok(s)) || authenticated
        }
    };
    if let Some(setting) = settings.iter().find(|s| passes(s)) {
        return Ok(setting);
    }
    let Some(first) = settings.first() else {
        return Err(Reply::MailRelayDenied(facts.ip));
    };
    if first.only_listed_ips && !ip_ok(first) {
        Err(Reply::MailRelayDenied(facts.ip))
    } else if !facts.tls {
        Err(Reply::MustStartTls)
    } else {
        Err(Reply::AuthenticationRequired)
    }
}

/// The envelope sender as presented in MAIL FROM, resolved against the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentedSender {
    /// `MAIL FROM:<>` (bounces, auto-replies).
    Null,
    /// An address; `domain` is the customer domain it is in, `user` the registered
    /// user it is.
    Address {
        domain: Option<DomainId>,
        user: Option<UserId>,
    },
}

/// The envelope sender the relay passes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayedSender {
    AsPresented,
    /// P8: rewritten to `postmaster@<domain>`.
    Postmaster(DomainId),
}

/// P1 and P8: whether the setting allows this sender, and the sender relayed.
///
/// - `registered_users`: a registered user of this tenant, else `550 5.7.0 Mail
///   Sending denied.`;
/// - `domain_addresses`: any address in the tenant's domains or their subdomains,
///   else `550 5.7.1 Invalid credentials for relay.`;
/// - `any_address`: an address in the tenant's domains passes as is; any other
///   address, and the empty sender, is rewritten to `postmaster@<domain>` where the
///   domain is identified from SMTP AUTH (the authenticated user's domain), else
///   from the HELO name (P8); if neither names a domain of this tenant, `550 5.7.1
///   Invalid credentials for relay.`
pub fn allowed_sender(
    setting: &CompiledSetting,
    tenant: TenantIx,
    sender: PresentedSender,
    facts: &ConnectionFacts,
    directory: &Directory,
) -> Result<RelayedSender, Reply> {
    let own = |d: Option<DomainId>| d.is_some_and(|d| directory.owner(d) == tenant);
    match (setting.allowed_senders, sender) {
        (AllowedSenders::RegisteredUsers, PresentedSender::Address { user: Some(u), .. })
            if directory.tenant_of_user(u) == tenant =>
        {
            Ok(RelayedSender::AsPresented)
        }
        (AllowedSenders::RegisteredUsers, _) => Err(Reply::MailSendingDenied),
        (
            AllowedSenders::DomainAddresses | AllowedSenders::AnyAddress,
            PresentedSender::Address { domain, .. },
        ) if own(domain) => Ok(RelayedSender::AsPresented),
        (AllowedSenders::DomainAddresses, _) => Err(Reply::InvalidCredentials(facts.ip)),
        (AllowedSenders::AnyAddress, _) => {
            let from_auth = facts
                .auth_user
                .filter(|&u| directory.tenant_of_user(u) == tenant)
                .and_then(|u| directory.owned_domain_of_address(directory.user_address(u)));
            let from_helo = match facts.helo {
                HeloName::Named(d) if own(d) => d,
                _ => None,
            };
            from_auth
                .or(from_helo)
                .map(RelayedSender::Postmaster)
                .ok_or(Reply::InvalidCredentials(facts.ip))
        }
    }
}

/// Q8: the customer charged for a transaction: the authenticated user's customer,
/// else the owner of the envelope sender's domain, else the owner of the HELO name
/// (an external sender relayed with one of the customer's domains in HELO). `None`:
/// nobody can be identified (`550 5.7.1 Invalid credentials for relay.`, the first
/// cause Google lists).
pub fn charged_tenant(
    sender: PresentedSender,
    facts: &ConnectionFacts,
    directory: &Directory,
) -> Option<TenantIx> {
    let by_auth = facts.auth_user.map(|u| directory.tenant_of_user(u));
    let by_sender = match sender {
        PresentedSender::Address {
            domain: Some(d), ..
        } => Some(directory.owner(d)),
        _ => None,
    };
    let by_helo = match facts.helo {
        HeloName::Named(Some(d)) => Some(directory.owner(d)),
        _ => None,
    };
    by_auth.or(by_sender).or(by_helo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tests::two_tenants;

    fn generic() -> Vec<String> {
        crate::config::PolicyConfig::default().generic_helo_names
    }

    /// P12: empty and malformed names are invalid; generic names and address literals
    /// identify nothing; a customer host name identifies its domain.
    #[test]
    fn p12_helo_names_are_classified() {
        let dir = Directory::new(&two_tenants());
        let acme = dir.owned_domain("acme.example");
        let table = [
            ("", HeloName::Invalid),
            ("   ", HeloName::Invalid),
            ("bad name", HeloName::Invalid),
            ("-x.example", HeloName::Invalid),
            ("a..b", HeloName::Invalid),
            ("[300.1.1.1]", HeloName::Invalid),
            ("localhost", HeloName::Generic),
            ("LOCALHOST.localdomain", HeloName::Generic),
            ("smtp-relay.gmail.com", HeloName::Generic),
            ("smtp.gmail.com", HeloName::Generic),
            ("[127.0.0.1]", HeloName::Generic),
            ("[IPv6:2001:db8::1]", HeloName::Generic),
            ("mx1.acme.example", HeloName::Named(acme)),
            ("MX1.ACME.EXAMPLE", HeloName::Named(acme)),
            ("printer7", HeloName::Named(None)),
            ("mail.vendor.example", HeloName::Named(None)),
        ];
        for (name, expected) in table {
            assert_eq!(classify_helo(name, &generic(), &dir), expected, "{name:?}");
        }
    }

    fn setting(allowed: AllowedSenders, ips: bool, auth: bool) -> CompiledSetting {
        let nets = ["192.0.2.0/24".parse::<ipnet::IpNet>().unwrap()];
        CompiledSetting {
            name: "s".into(),
            allowed_senders: allowed,
            only_listed_ips: ips,
            smtp_auth: auth,
            require_tls: false,
            ips: IpRangeSet::new(nets.iter().map(|n| (n, true))),
        }
    }

    fn facts(ip: &str, tls: bool, auth_user: Option<UserId>, helo: HeloName) -> ConnectionFacts {
        ConnectionFacts {
            ip: ip.parse().unwrap(),
            tls,
            auth_user,
            helo,
        }
    }

    /// P2, P7: IP and/or AUTH; the first satisfied setting applies; the reply of a
    /// connection no setting admits.
    #[test]
    fn p02_p07_authentication_picks_the_first_satisfied_setting() {
        let dir = Directory::new(&two_tenants());
        let alerts = dir.user("alerts@acme.example");
        let other_user = dir.user("a@other.example");
        let acme = TenantIx(0);
        let ip_only = setting(AllowedSenders::DomainAddresses, true, false);
        let auth_only = CompiledSetting {
            name: "auth".into(),
            ..setting(AllowedSenders::AnyAddress, false, true)
        };
        let both = setting(AllowedSenders::RegisteredUsers, true, true);
        let n = HeloName::Named(None);
        type Case = (
            Vec<CompiledSetting>,
            ConnectionFacts,
            bool,
            Result<&'static str, Reply>,
        );
        let cases: Vec<Case> = vec![
            (
                vec![ip_only.clone()],
                facts("192.0.2.5", false, None, n),
                true,
                Ok("s"),
            ),
            (
                vec![ip_only.clone()],
                facts("198.51.100.1", false, None, n),
                true,
                Err(Reply::MailRelayDenied("198.51.100.1".parse().unwrap())),
            ),
            (
                vec![ip_only.clone(), auth_only.clone()],
                facts("198.51.100.1", true, alerts, n),
                true,
                Ok("auth"),
            ),
            (
                vec![auth_only.clone()],
                facts("10.0.0.1", false, None, n),
                true,
                Err(Reply::MustStartTls),
            ),
            (
                vec![auth_only.clone()],
                facts("10.0.0.1", true, None, n),
                true,
                Err(Reply::AuthenticationRequired),
            ),
            // AUTH as another customer's user does not authenticate for this one.
            (
                vec![auth_only.clone()],
                facts("10.0.0.1", true, other_user, n),
                true,
                Err(Reply::AuthenticationRequired),
            ),
            // P2 [assumption]: both set, both required …
            (
                vec![both.clone()],
                facts("192.0.2.5", true, None, n),
                true,
                Err(Reply::AuthenticationRequired),
            ),
            // … or either, with require_both_auth_methods = false.
            (
                vec![both.clone()],
                facts("192.0.2.5", true, None, n),
                false,
                Ok("s"),
            ),
            (
                vec![both.clone()],
                facts("10.9.9.9", true, alerts, n),
                false,
                Ok("s"),
            ),
            (
                vec![],
                facts("192.0.2.5", true, alerts, n),
                true,
                Err(Reply::MailRelayDenied("192.0.2.5".parse().unwrap())),
            ),
        ];
        for (i, (settings, f, require_both, expected)) in cases.into_iter().enumerate() {
            let got =
                match_setting(&settings, acme, &f, &dir, require_both).map(|s| s.name.as_str());
            assert_eq!(got, expected, "case {i}");
        }
    }

    /// P1, P8: the three allowed-sender modes and the postmaster rewrite.
    #[test]
    fn p01_p08_allowed_senders_and_postmaster_rewrite() {
        let dir = Directory::new(&two_tenants());
        let acme = TenantIx(0);
        let acme_domain = dir.owned_domain("acme.example");
        let alerts = dir.user("alerts@acme.example");
        let registered = PresentedSender::Address {
            domain: acme_domain,
            user: alerts,
        };
        let unregistered = PresentedSender::Address {
            domain: acme_domain,
            user: None,
        };
        let external = PresentedSender::Address {
            domain: None,
            user: None,
        };
        let other_tenant_user = PresentedSender::Address {
            domain: dir.owned_domain("other.example"),
            user: dir.user("a@other.example"),
        };
        let plain = facts("192.0.2.5", false, None, HeloName::Named(None));
        let helo_acme = facts("192.0.2.5", false, None, HeloName::Named(acme_domain));
        let generic_helo = facts("192.0.2.5", false, None, HeloName::Generic);
        let authed = facts("192.0.2.5", true, alerts, HeloName::Generic);
        use AllowedSenders::*;
        use RelayedSender::*;
        let pm = Postmaster(acme_domain.unwrap());
        let ip = plain.ip;
        let table = [
            (RegisteredUsers, registered, plain, Ok(AsPresented)),
            (
                RegisteredUsers,
                unregistered,
                plain,
                Err(Reply::MailSendingDenied),
            ),
            (
                RegisteredUsers,
                other_tenant_user,
                plain,
                Err(Reply::MailSendingDenied),
            ),
            (
                RegisteredUsers,
                PresentedSender::Null,
                helo_acme,
                Err(Reply::MailSendingDenied),
            ),
            (DomainAddresses, unregistered, plain, Ok(AsPresented)),
            (
                DomainAddresses,
                external,
                helo_acme,
                Err(Reply::InvalidCredentials(ip)),
            ),
            (
                DomainAddresses,
                PresentedSender::Null,
                helo_acme,
                Err(Reply::InvalidCredentials(ip)),
            ),
            (AnyAddress, unregistered, generic_helo, Ok(AsPresented)),
            (AnyAddress, external, helo_acme, Ok(pm)),
            (AnyAddress, PresentedSender::Null, helo_acme, Ok(pm)),
            (AnyAddress, external, authed, Ok(pm)),
            (
                AnyAddress,
                external,
                generic_helo,
                Err(Reply::InvalidCredentials(ip)),
            ),
            (
                AnyAddress,
                PresentedSender::Null,
                plain,
                Err(Reply::InvalidCredentials(ip)),
            ),
        ];
        for (i, (mode, sender, f, expected)) in table.into_iter().enumerate() {
            let s = setting(mode, true, false);
            assert_eq!(
                allowed_sender(&s, acme, sender, &f, &dir),
                expected,
                "case {i}"
            );
        }
    }

    /// Q8: AUTH, then the sender's domain, then the HELO domain name the customer.
    #[test]
    fn q08_charged_customer_is_identified_in_order() {
        let dir = Directory::new(&two_tenants());
        let acme_domain = dir.owned_domain("acme.example");
        let other_domain = dir.owned_domain("other.example");
        let other_sender = PresentedSender::Address {
            domain: other_domain,
            user: None,
        };
        let external = PresentedSender::Address {
            domain: None,
            user: None,
        };
        let helo_acme = facts("192.0.2.5", false, None, HeloName::Named(acme_domain));
        let authed_acme = facts(
            "192.0.2.5",
            true,
            dir.user("alerts@acme.example"),
            HeloName::Generic,
        );
        let table = [
            (other_sender, helo_acme, Some(TenantIx(1))),
            (external, helo_acme, Some(TenantIx(0))),
            (PresentedSender::Null, helo_acme, Some(TenantIx(0))),
            (other_sender, authed_acme, Some(TenantIx(0))),
            (
                external,
                facts("192.0.2.5", false, None, HeloName::Generic),
                None,
            ),
        ];
        for (i, (sender, f, expected)) in table.into_iter().enumerate() {
            assert_eq!(charged_tenant(sender, &f, &dir), expected, "case {i}");
        }
    }
}
