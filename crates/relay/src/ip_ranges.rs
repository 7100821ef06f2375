//! P3: the enabled IP ranges of a relay setting, as a sorted list of disjoint
//! intervals so that a lookup is one binary search, not a scan of every range.
//!
//! IPv4 and IPv6 live in separate lists (an IPv4 client never matches an IPv6 range;
//! an IPv4-mapped IPv6 address is looked up as the IPv4 address it maps). Disabled
//! ranges are left out: P3 says a disabled range authenticates nothing.

use std::net::IpAddr;

use ipnet::IpNet;

/// Disjoint, sorted, inclusive `[first, last]` intervals per address family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpRangeSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpRangeSet {
    /// The set of the `enabled` ranges among `ranges`.
    pub fn new<'a>(ranges: impl IntoIterator<Item = (&'a IpNet, bool)>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (net, enabled) in ranges {
            if !enabled {
                continue;
            }
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        IpRangeSet {
            v4: merged(v4),
            v6: merged(v6),
        }
    }

    /// P3: whether `ip` lies in an enabled range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(a)),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Sorts and merges overlapping or adjacent intervals.
fn merged<T: Copy + Ord + num_like::Successor>(mut list: Vec<(T, T)>) -> Vec<(T, T)> {
    list.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(list.len());
    for (first, last) in list {
        match out.last_mut() {
            Some(prev) if prev.1 >= first || prev.1.successor() == Some(first) => {
                prev.1 = prev.1.max(last);
            }
            _ => out.push((first, last)),
        }
    }
    out
}

fn find<T: Copy + Ord>(list: &[(T, T)], x: T) -> bool {
    // The last interval starting at or before `x` is the only one that can hold it.
    let after = list.partition_point(|&(first, _)| first <= x);
    after > 0 && x <= list[after - 1].1
}

mod num_like {
    pub trait Successor: Sized {
        fn successor(self) -> Option<Self>;
    }
    impl Successor for u32 {
        fn successor(self) -> Option<u32> {
            self.checked_add(1)
        }
    }
    impl Successor for u128 {
        fn successor(self) -> Option<u128> {
            self.checked_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ranges: &[(&str, bool)]) -> IpRangeSet {
        let nets: Vec<(IpNet, bool)> = ranges
            .iter()
            .map(|(r, e)| (r.parse::<IpNet>().unwrap(), *e))
            .collect();
        IpRangeSet::new(nets.iter().map(|(n, e)| (n, *e)))
    }

    /// P3: IPv4 and IPv6 ranges, enabled or disabled.
    #[test]
    fn p03_only_enabled_ranges_match() {
        let s = set(&[
            ("192.0.2.0/24", true),
            ("198.51.100.0/24", false),
            ("2001:db8::/112", true),
            ("203.0.113.7/32", true),
        ]);
        let table = [
            ("192.0.2.0", true),
            ("192.0.2.255", true),
            ("192.0.3.0", false),
            ("198.51.100.10", false),
            ("203.0.113.7", true),
            ("203.0.113.8", false),
            ("2001:db8::ffff", true),
            ("2001:db8::1:0", false),
            ("::ffff:192.0.2.9", true),
        ];
        for (ip, expected) in table {
            assert_eq!(s.contains(ip.parse().unwrap()), expected, "{ip}");
        }
    }

    #[test]
    fn p03_adjacent_and_overlapping_ranges_merge() {
        let s = set(&[
            ("10.0.1.0/24", true),
            ("10.0.0.0/24", true),
            ("10.0.0.128/25", true),
            ("255.255.255.255/32", true),
        ]);
        assert_eq!(s.v4.len(), 2);
        assert!(s.contains("10.0.1.200".parse().unwrap()));
        assert!(s.contains("255.255.255.255".parse().unwrap()));
    }

    proptest! {
        /// The binary search agrees with a scan of every range.
        #[test]
        fn p03_lookup_agrees_with_a_linear_scan(
            ranges in prop::collection::vec((any::<u32>(), 16u8..=32, any::<bool>()), 0..20),
            probes in prop::collection::vec(any::<u32>(), 1..50),
        ) {
            let nets: Vec<(IpNet, bool)> = ranges
                .iter()
                .map(|&(a, len, e)| {
                    let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(a), len).unwrap().trunc();
                    (IpNet::V4(net), e)
                })
                .collect();
            let s = IpRangeSet::new(nets.iter().map(|(n, e)| (n, *e)));
            for p in probes {
                let ip = IpAddr::V4(p.into());
                let oracle = nets.iter().any(|(n, e)| *e && n.contains(&ip));
                prop_assert_eq!(s.contains(ip), oracle);
            }
        }
    }
}
