//! Populations: many similar users and senders from one declaration.
//!
//! A tenant's `users_pattern = { count = 2000, pattern = "user{n}@acme.example" }`
//! registers `user1@…` to `user2000@…`; a `[[sender]]` with `population = 2000` is
//! 2,000 members, each its own arrival process and random stream, its envelope
//! senders with `{n}` replaced by its member number. A scenario of "every one of our
//! 36,000 users sends a little" is then a few lines, not 36,000 blocks (which also
//! took some 25 bytes of memory per byte of TOML to read).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The placeholder of the member number, 1 to the population.
pub const MEMBER: &str = "{n}";

/// The most users one pattern registers, and members one population has: a million,
/// more than the largest Workspace customer's users under one relay.
pub const MAX_POPULATION: u32 = 1_000_000;

/// `users_pattern`: `count` registered users, `{n}` in `pattern` numbered from 1.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct UserPattern {
    /// How many users, 1 to 1,000,000.
    #[schemars(with = "u32", range(min = 1, max = 1_000_000))]
    pub count: Spanned<u32>,
    /// An address with `{n}` in its local part, e.g. "user{n}@acme.example".
    #[schemars(with = "String")]
    pub pattern: Spanned<String>,
}

impl UserPattern {
    /// The addresses, in member order.
    pub fn addresses(&self) -> impl Iterator<Item = String> + '_ {
        (1..=*self.count.get_ref()).map(|n| member_address(self.pattern.get_ref(), n))
    }
}

/// How a population's `rate` is meant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatePer {
    /// Each member sends at `rate` (default).
    #[default]
    Member,
    /// The members together send at `rate`, each `rate / population`.
    Population,
}

/// `text` with every `{n}` replaced by `n`.
pub fn member_address(text: &str, n: u32) -> String {
    text.replace(MEMBER, &n.to_string())
}

/// Why a pattern is not one: `{n}` must be in the local part (the domain is the same
/// for every member, so it can be checked once).
pub fn pattern_problem(pattern: &str) -> Option<&'static str> {
    let (local, domain) = pattern.rsplit_once('@')?;
    if domain.contains(MEMBER) {
        Some("`{n}` may only stand in the part before the @")
    } else if !local.contains(MEMBER) {
        Some("the pattern has no `{n}`: every user would have the same address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_numbered_from_one() {
        let p = UserPattern {
            count: Spanned::new(0..0, 3),
            pattern: Spanned::new(0..0, "user{n}@acme.example".into()),
        };
        let all: Vec<String> = p.addresses().collect();
        assert_eq!(
            all,
            [
                "user1@acme.example",
                "user2@acme.example",
                "user3@acme.example"
            ]
        );
        assert_eq!(
            member_address("a{n}.b{n}@x.example", 12),
            "a12.b12@x.example"
        );
    }

    #[test]
    fn patterns_number_the_local_part() {
        assert_eq!(pattern_problem("user{n}@acme.example"), None);
        assert!(pattern_problem("user@acme{n}.example").is_some());
        assert!(pattern_problem("user@acme.example").is_some());
    }
}
