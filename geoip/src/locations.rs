//! Named locations (IP ranges and countries) compiled for matching.
//!
//! A request's client IP is matched against every named location at once: one
//! walk down a prefix trie per address family collects every location whose
//! ranges cover the address, and one hash lookup adds the locations that list
//! its country. No per-request scan over the configured ranges.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

use crate::country::Country;

const INLINE_BITS: usize = 128;

/// A set of named-location indices (the index each location was given to
/// [`LocationTableBuilder::add`]).
///
/// Indices below 128 live inline; only larger ones allocate.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LocationSet {
    /// Indices 0..128.
    inline: u128,
    /// Indices 128.., 64 per word. Invariant: never ends in a zero word (only
    /// `insert` and `union_with` grow it, and both set a bit in the last
    /// word), so the derived `PartialEq` compares sets, not capacities.
    spill: Vec<u64>,
}

impl LocationSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `idx`.
    pub fn insert(&mut self, idx: usize) {
        if idx < INLINE_BITS {
            self.inline |= 1 << idx;
        } else {
            let bit = idx - INLINE_BITS;
            let word = bit / 64;
            if self.spill.len() <= word {
                self.spill.resize(word + 1, 0);
            }
            self.spill[word] |= 1 << (bit % 64);
        }
    }

    /// Whether `idx` is in the set.
    pub fn contains(&self, idx: usize) -> bool {
        if idx < INLINE_BITS {
            self.inline & (1 << idx) != 0
        } else {
            let bit = idx - INLINE_BITS;
            self.spill
                .get(bit / 64)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        }
    }

    /// Whether the two sets share an index.
    pub fn intersects(&self, other: &LocationSet) -> bool {
        self.inline & other.inline != 0
            || self.spill.iter().zip(&other.spill).any(|(a, b)| a & b != 0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.inline == 0 && self.spill.is_empty()
    }

    /// Number of indices in the set.
    pub fn len(&self) -> usize {
        self.inline.count_ones() as usize
            + self
                .spill
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>()
    }

    /// Adds every index of `other`.
    pub fn union_with(&mut self, other: &LocationSet) {
        self.inline |= other.inline;
        if self.spill.len() < other.spill.len() {
            self.spill.resize(other.spill.len(), 0);
        }
        for (a, b) in self.spill.iter_mut().zip(&other.spill) {
            *a |= b;
        }
    }

    /// The indices in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let inline = Bits(self.inline);
        let spill =
            self.spill.iter().enumerate().flat_map(|(w, &bits)| {
                Bits(u128::from(bits)).map(move |b| INLINE_BITS + w * 64 + b)
            });
        inline.chain(spill)
    }
}

/// The set bits of a word, lowest first (one step per set bit, not per bit).
struct Bits(u128);

impl Iterator for Bits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

impl std::fmt::Debug for LocationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<usize> for LocationSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut set = LocationSet::new();
        for idx in iter {
            set.insert(idx);
        }
        set
    }
}

/// Collects named locations, then [`build`](Self::build)s a [`LocationTable`].
#[derive(Default)]
pub struct LocationTableBuilder {
    v4: PrefixMap<Ipv4Net, LocationSet>,
    v6: PrefixMap<Ipv6Net, LocationSet>,
    countries: HashMap<Country, LocationSet>,
    len: usize,
}

impl LocationTableBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds location number `index` (0, 1, 2, … in the order of calls; the
    /// index is what [`LocationTable::matching`] reports) with its ranges and
    /// countries. Either list may be empty.
    ///
    /// Host bits in a range are ignored (`10.1.2.3/8` is `10.0.0.0/8`), and
    /// IPv6 ranges inside `::ffff:0:0/96` are stored as the IPv4 ranges they
    /// denote, because lookups canonicalise IPv4-mapped addresses.
    pub fn add(&mut self, index: usize, ranges: &[IpNet], countries: &[Country]) {
        debug_assert_eq!(index, self.len, "locations must be added in index order");
        self.len = self.len.max(index + 1);
        for range in ranges {
            match canonical_net(*range) {
                IpNet::V4(net) => self.v4.entry(net).or_default().insert(index),
                IpNet::V6(net) => self.v6.entry(net).or_default().insert(index),
            }
        }
        for country in countries {
            self.countries.entry(*country).or_default().insert(index);
        }
    }

    /// Freezes the table.
    pub fn build(self) -> LocationTable {
        LocationTable {
            v4: self.v4,
            v6: self.v6,
            countries: {
                let mut c: Vec<(Country, LocationSet)> = self.countries.into_iter().collect();
                c.sort_unstable_by_key(|(country, _)| *country);
                c
            },
            len: self.len,
        }
    }
}

/// Truncates host bits and maps `::ffff:a.b.c.d/(96+n)` to `a.b.c.d/n`.
fn canonical_net(net: IpNet) -> IpNet {
    match net.trunc() {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => match Ipv4Net::new(v4, v6.prefix_len() - 96) {
                Ok(v4net) => IpNet::V4(v4net),
                Err(_) => IpNet::V6(v6),
            },
            None => IpNet::V6(v6),
        },
        other => other,
    }
}

/// Compiled named locations; immutable, shared by all requests of a snapshot.
#[derive(Clone)]
pub struct LocationTable {
    v4: PrefixMap<Ipv4Net, LocationSet>,
    v6: PrefixMap<Ipv6Net, LocationSet>,
    /// Sorted by country: a binary search over a handful of entries beats
    /// hashing (SipHash) on the request path.
    countries: Vec<(Country, LocationSet)>,
    len: usize,
}

impl LocationTable {
    /// Every location whose ranges contain `ip` — all covering prefixes, not
    /// only the longest, because ranges of different locations may nest or
    /// overlap — plus every location whose countries contain `country`.
    ///
    /// `ip` is `None` when there is no client address (e.g. a `whatif`
    /// without `--ip`): then ranges match nothing. [`Country::Unknown`]
    /// matches only locations that list `unknown`. IPv4-mapped IPv6 addresses
    /// are matched as IPv4.
    pub fn matching(&self, ip: Option<IpAddr>, country: Country) -> LocationSet {
        let mut set = self
            .countries
            .binary_search_by_key(&country, |(c, _)| *c)
            .ok()
            .and_then(|i| self.countries.get(i))
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => {
                for s in self.v4.cover_values(&host_v4(v4)) {
                    set.union_with(s);
                }
            }
            Some(IpAddr::V6(v6)) => {
                for s in self.v6.cover_values(&host_v6(v6)) {
                    set.union_with(s);
                }
            }
            None => {}
        }
        set
    }

    /// Number of locations added (the largest index + 1).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no location was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for LocationTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocationTable")
            .field("locations", &self.len)
            .field("v4_prefixes", &self.v4.len())
            .field("v6_prefixes", &self.v6.len())
            .field("countries", &self.countries.len())
            .finish()
    }
}

fn host_v4(ip: Ipv4Addr) -> Ipv4Net {
    Ipv4Net::from(ip)
}

fn host_v6(ip: Ipv6Addr) -> Ipv6Net {
    Ipv6Net::from(ip)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }
    fn c(s: &str) -> Country {
        Country::parse(s).unwrap()
    }
    fn set(v: &[usize]) -> LocationSet {
        v.iter().copied().collect()
    }

    #[test]
    fn set_basics() {
        let mut s = LocationSet::new();
        assert!(s.is_empty());
        for i in [0, 5, 127, 128, 200, 1000] {
            s.insert(i);
        }
        assert!(!s.is_empty());
        assert_eq!(s.len(), 6);
        assert!(s.contains(127) && s.contains(128) && s.contains(1000));
        assert!(!s.contains(1) && !s.contains(129) && !s.contains(5000));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![0, 5, 127, 128, 200, 1000]
        );
        assert!(s.intersects(&set(&[1000])));
        assert!(s.intersects(&set(&[5])));
        assert!(!s.intersects(&set(&[1, 129, 4000])));
        assert!(!s.intersects(&LocationSet::new()));
        assert_eq!(format!("{:?}", set(&[3, 1])), "{1, 3}");
    }

    #[test]
    fn set_equality_ignores_insertion_order_and_union_shape() {
        let mut a = set(&[300]);
        a.union_with(&set(&[1]));
        let mut b = set(&[1]);
        b.union_with(&set(&[300]));
        assert_eq!(a, b);
        let mut c = set(&[1]);
        c.union_with(&LocationSet::new());
        assert_eq!(c, set(&[1]));
    }

    #[test]
    fn small_sets_do_not_allocate() {
        let s = set(&[0, 64, 127]);
        assert_eq!(s.spill.capacity(), 0);
    }

    fn table() -> LocationTable {
        let mut b = LocationTableBuilder::new();
        b.add(0, &nets(&["10.0.0.0/8", "2001:db8::/32"]), &[]); // corp
        b.add(1, &nets(&["10.1.0.0/16"]), &[c("DE")]); // nested office
        b.add(2, &nets(&["10.1.2.0/24", "2001:db8:10::/48"]), &[]); // nested deeper
        b.add(3, &[], &[c("KP"), c("IR")]); // embargoed
        b.add(4, &[], &[c("unknown")]);
        b.add(5, &nets(&["10.1.2.3/8"]), &[]); // host bits: same as 10/8
        b.add(6, &nets(&["::ffff:192.0.2.0/120"]), &[]); // mapped range
        b.add(7, &nets(&["0.0.0.0/0"]), &[]);
        b.build()
    }

    #[test]
    fn nested_ranges_all_match() {
        let t = table();
        assert_eq!(t.len(), 8);
        let unk = Country::Unknown;
        let us = c("US");
        assert_eq!(t.matching(ip("10.1.2.3"), us), set(&[0, 1, 2, 5, 7]));
        assert_eq!(t.matching(ip("10.1.3.3"), us), set(&[0, 1, 5, 7]));
        assert_eq!(t.matching(ip("10.9.9.9"), us), set(&[0, 5, 7]));
        assert_eq!(t.matching(ip("11.0.0.1"), us), set(&[7]));
        assert_eq!(t.matching(ip("11.0.0.1"), unk), set(&[4, 7]));
    }

    #[test]
    fn v6_ranges() {
        let t = table();
        let us = c("US");
        assert_eq!(t.matching(ip("2001:db8:10::1"), us), set(&[0, 2]));
        assert_eq!(t.matching(ip("2001:db8:11::1"), us), set(&[0]));
        assert_eq!(t.matching(ip("2001:db9::1"), us), set(&[]));
    }

    #[test]
    fn mapped_addresses_and_ranges_are_canonical() {
        let t = table();
        let us = c("US");
        assert_eq!(t.matching(ip("::ffff:10.1.2.3"), us), set(&[0, 1, 2, 5, 7]));
        assert_eq!(t.matching(ip("192.0.2.9"), us), set(&[6, 7]));
        assert_eq!(t.matching(ip("::ffff:192.0.2.9"), us), set(&[6, 7]));
    }

    #[test]
    fn countries_and_unknown() {
        let t = table();
        assert_eq!(t.matching(None, c("KP")), set(&[3]));
        assert_eq!(t.matching(None, c("IR")), set(&[3]));
        assert_eq!(t.matching(None, c("DE")), set(&[1]));
        assert_eq!(t.matching(None, c("FR")), set(&[]));
        // Unknown is matched only by locations listing it, never by ranges
        // or by other countries.
        assert_eq!(t.matching(None, Country::Unknown), set(&[4]));
        // Country and range both match: one set.
        assert_eq!(t.matching(ip("10.1.0.1"), c("DE")), set(&[0, 1, 5, 7]));
    }

    #[test]
    fn empty_table_matches_nothing() {
        let t = LocationTableBuilder::new().build();
        assert!(t.is_empty());
        assert!(t.matching(ip("1.2.3.4"), Country::Unknown).is_empty());
    }

    #[test]
    fn many_locations_spill() {
        let mut b = LocationTableBuilder::new();
        for i in 0..300 {
            b.add(i, &nets(&["10.0.0.0/8"]), &[]);
        }
        let t = b.build();
        let m = t.matching(ip("10.0.0.1"), Country::Unknown);
        assert_eq!(m.len(), 300);
        assert!(m.contains(299));
    }

    fn any_net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (0u8..4, 0u8..4, 6u8..=32).prop_map(|(a, b, len)| {
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, a, b, 0), len).unwrap())
            }),
            (0u16..4, 0u16..4, 16u8..=128).prop_map(|(a, b, len)| {
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, a, b, 0, 0, 0, 0), len).unwrap(),
                )
            }),
        ]
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u8..4, 0u8..4, any::<u8>()).prop_map(|(a, b, c)| IpAddr::from([10, a, b, c])),
            (0u8..4, 0u8..4)
                .prop_map(|(a, b)| { IpAddr::V6(Ipv4Addr::new(10, a, b, 1).to_ipv6_mapped()) }),
            (0u16..4, 0u16..4, any::<u16>())
                .prop_map(|(a, b, c)| { IpAddr::from([0x2001, 0xdb8, a, b, 0, 0, 0, c]) }),
        ]
    }

    fn any_country() -> impl Strategy<Value = Country> {
        prop::sample::select(vec![c("DE"), c("US"), c("KP"), Country::Unknown])
    }

    proptest! {
        /// The trie answer equals a linear scan over every location.
        #[test]
        fn matching_equals_linear_scan(
            locations in prop::collection::vec(
                (prop::collection::vec(any_net(), 0..4), prop::collection::vec(any_country(), 0..2)),
                0..140,
            ),
            ip in prop::option::of(any_ip()),
            country in any_country(),
        ) {
            let mut b = LocationTableBuilder::new();
            for (i, (ranges, countries)) in locations.iter().enumerate() {
                b.add(i, ranges, countries);
            }
            let t = b.build();
            let want: LocationSet = locations
                .iter()
                .enumerate()
                .filter(|(_, (ranges, countries))| {
                    countries.contains(&country)
                        || ip.is_some_and(|ip| ranges.iter().any(|r| r.contains(&ip.to_canonical())))
                })
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(t.matching(ip, country), want);
        }
    }

    #[test]
    fn table_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<LocationTable>();
    }
}
