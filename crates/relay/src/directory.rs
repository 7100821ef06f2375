//! Who is who: the customers' domains and registered users, as the relay sees them.
//!
//! Q8 needs "which customer owns this domain or a parent of it" (subdomains count as
//! the customer's); Q3 needs "is this envelope sender a registered user". Both are
//! hash lookups built once; domains and addresses are lower-case since parsing.

use rustc_hash::FxHashMap;

use crate::config::TenantConfig;

/// Index of a tenant (customer) in the scenario's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantIx(pub u32);

/// A registered user, dense from 0 in the scenario's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub u32);

/// One of the domains a tenant owns (primary or secondary), dense from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainId(pub u32);

#[derive(Clone, Debug, Default)]
pub struct Directory {
    domain_ids: FxHashMap<Box<str>, DomainId>,
    domains: Vec<(Box<str>, TenantIx)>,
    user_ids: FxHashMap<Box<str>, UserId>,
    users: Vec<(Box<str>, TenantIx)>,
    users_of_tenant: Vec<Vec<UserId>>,
}

impl Directory {
    pub fn new(tenants: &[TenantConfig]) -> Self {
        let mut dir = Directory::default();
        for (t, tenant) in tenants.iter().enumerate() {
            let ix = TenantIx(t as u32);
            for domain in &tenant.domains {
                let id = DomainId(dir.domains.len() as u32);
                dir.domains.push((domain.as_str().into(), ix));
                dir.domain_ids.insert(domain.as_str().into(), id);
            }
            let mut mine = Vec::with_capacity(tenant.users.len());
            for user in &tenant.users {
                let id = UserId(dir.users.len() as u32);
                dir.users.push((user.as_str().into(), ix));
                dir.user_ids.insert(user.as_str().into(), id);
                mine.push(id);
            }
            dir.users_of_tenant.push(mine);
        }
        dir
    }

    /// Q8: the owned domain that `name` is, or is a subdomain of (the closest one).
    pub fn owned_domain(&self, name: &str) -> Option<DomainId> {
        let mut rest = name;
        loop {
            if let Some(&id) = self.domain_ids.get(rest) {
                return Some(id);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// Q8: the owned domain of an address's domain part.
    pub fn owned_domain_of_address(&self, address: &str) -> Option<DomainId> {
        address
            .rsplit_once('@')
            .and_then(|(_, domain)| self.owned_domain(domain))
    }

    /// Q3: the registered user with exactly this address.
    pub fn user(&self, address: &str) -> Option<UserId> {
        self.user_ids.get(address).copied()
    }

    pub fn owner(&self, domain: DomainId) -> TenantIx {
        self.domains[domain.0 as usize].1
    }

    pub fn domain_name(&self, domain: DomainId) -> &str {
        &self.domains[domain.0 as usize].0
    }

    pub fn tenant_of_user(&self, user: UserId) -> TenantIx {
        self.users[user.0 as usize].1
    }

    pub fn user_address(&self, user: UserId) -> &str {
        &self.users[user.0 as usize].0
    }

    pub fn users_of(&self, tenant: TenantIx) -> &[UserId] {
        &self.users_of_tenant[tenant.0 as usize]
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Billing;

    /// A tenant with `domains` (primary first) and registered `users`.
    pub(crate) fn tenant(
        id: &str,
        licences: u32,
        domains: &[&str],
        users: &[&str],
    ) -> TenantConfig {
        TenantConfig {
            id: id.into(),
            licences,
            billing: Billing::Paid,
            domains: domains.iter().map(|d| d.to_string()).collect(),
            users: users.iter().map(|u| u.to_string()).collect(),
            block_all_senders_at_customer_limit: false,
            user_limits: Default::default(),
            relay_settings: Vec::new(),
        }
    }

    pub(crate) fn two_tenants() -> Vec<TenantConfig> {
        vec![
            tenant(
                "acme",
                10,
                &["acme.example", "acme-mail.example"],
                &["alerts@acme.example", "ops@acme-mail.example"],
            ),
            tenant("other", 5, &["other.example"], &["a@other.example"]),
        ]
    }

    /// Q8: the customer's domains, secondary domains and subdomains are its own.
    #[test]
    fn q08_subdomains_belong_to_the_owner_of_the_closest_domain() {
        let dir = Directory::new(&two_tenants());
        let table = [
            ("acme.example", Some(("acme.example", 0))),
            ("mail.eu.acme.example", Some(("acme.example", 0))),
            ("acme-mail.example", Some(("acme-mail.example", 0))),
            ("other.example", Some(("other.example", 1))),
            ("notacme.example", None),
            ("example", None),
            ("", None),
        ];
        for (name, expected) in table {
            let got = dir
                .owned_domain(name)
                .map(|d| (dir.domain_name(d), dir.owner(d).0));
            assert_eq!(got, expected, "{name}");
        }
        assert!(dir.owned_domain_of_address("x@mx.acme.example").is_some());
    }

    /// Q3: registered users by exact address.
    #[test]
    fn q03_registered_users_are_found_by_address() {
        let dir = Directory::new(&two_tenants());
        let ops = dir.user("ops@acme-mail.example").unwrap();
        assert_eq!(dir.tenant_of_user(ops), TenantIx(0));
        assert_eq!(dir.user_address(ops), "ops@acme-mail.example");
        assert_eq!(dir.user("nobody@acme.example"), None);
        assert_eq!(dir.users_of(TenantIx(1)).len(), 1);
    }
}
