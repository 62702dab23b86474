//! [`TargetSet`]: a compact, indexable set of IPv4 addresses.
//!
//! The scanner visits targets in a pseudo-random permutation of
//! `0..set.len()`, so it needs random access by index (`get`) and, on the
//! reply path, the inverse (`index_of`). Storing sorted disjoint ranges plus
//! a prefix-sum table makes both a binary search over the ranges, however
//! many addresses (up to 2^32) the set holds.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::path::Path;

use ipnet::Ipv4Net;

use super::error::TargetError;
use super::file::{read_spec_tokens, spec_tokens};
use super::spec::{parse_target, parse_target_raw};

/// A set of IPv4 addresses, kept as sorted, merged, inclusive `u32` ranges.
///
/// Invariants: ranges are sorted, non-empty, and neither overlap nor touch
/// (`prev.end + 1 < next.start`); `offsets[i]` is the number of addresses in
/// `ranges[..i]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSet {
    ranges: Vec<(u32, u32)>,
    offsets: Vec<u64>,
    len: u64,
}

impl TargetSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that accepts ranges in any order, overlapping or not.
    pub fn builder() -> TargetSetBuilder {
        TargetSetBuilder::new()
    }

    /// Parses command-line target specifications (see [`parse_target`]).
    pub fn from_specs<'a>(
        specs: impl IntoIterator<Item = &'a str>,
    ) -> Result<TargetSet, TargetError> {
        let mut builder = TargetSetBuilder::new();
        for spec in specs {
            builder.add_spec(spec)?;
        }
        Ok(builder.build())
    }

    /// Reads and parses a target file (nmap `-iL`, `--excludefile`).
    ///
    /// Errors name the file, and for invalid targets the line, as
    /// `FILE:LINE: invalid target "x": reason`; a file with no target is an
    /// error too (see [`read_spec_file`](super::read_spec_file)).
    pub fn from_file(path: &Path) -> Result<TargetSet, TargetError> {
        Self::from_tokens(path, read_spec_tokens(path)?)
    }

    /// Parses the content of a target file as [`TargetSet::from_file`] does, errors naming
    /// `path`.
    pub fn from_file_content(path: &Path, content: &[u8]) -> Result<TargetSet, TargetError> {
        Self::from_tokens(path, spec_tokens(path, content)?)
    }

    fn from_tokens(path: &Path, tokens: Vec<(usize, String)>) -> Result<TargetSet, TargetError> {
        let mut builder = TargetSetBuilder::new();
        for (line, spec) in tokens {
            let ranges = parse_target_raw(&spec).map_err(|reason| TargetError::InFile {
                path: path.to_path_buf(),
                line,
                spec: spec.clone(),
                reason,
            })?;
            builder.ranges.extend(ranges);
        }
        Ok(builder.build())
    }

    /// Number of addresses (up to 2^32, hence `u64`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of disjoint ranges (the cost driver of `get`/`index_of`).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The `index`-th address in ascending order; `None` past the end.
    ///
    /// O(log ranges), no allocation.
    pub fn get(&self, index: u64) -> Option<Ipv4Addr> {
        if index >= self.len {
            return None;
        }
        // offsets[0] == 0 <= index, so the partition point is at least 1.
        let i = self
            .offsets
            .partition_point(|&o| o <= index)
            .checked_sub(1)?;
        let (start, _) = self.ranges[i];
        let delta = u32::try_from(index - self.offsets[i]).ok()?;
        Some(Ipv4Addr::from(start + delta))
    }

    /// Position of `addr` in ascending order, the inverse of [`get`](Self::get).
    ///
    /// O(log ranges), no allocation.
    pub fn index_of(&self, addr: Ipv4Addr) -> Option<u64> {
        let a = u32::from(addr);
        let i = self.ranges.partition_point(|&(_, end)| end < a);
        let &(start, _) = self.ranges.get(i)?;
        (start <= a).then(|| self.offsets[i] + u64::from(a - start))
    }

    /// Whether `addr` is in the set.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.index_of(addr).is_some()
    }

    /// The lowest address.
    pub fn first(&self) -> Option<Ipv4Addr> {
        self.ranges.first().map(|&(s, _)| Ipv4Addr::from(s))
    }

    /// The highest address.
    pub fn last(&self) -> Option<Ipv4Addr> {
        self.ranges.last().map(|&(_, e)| Ipv4Addr::from(e))
    }

    /// The merged ranges in ascending order.
    pub fn ranges(&self) -> impl ExactSizeIterator<Item = RangeInclusive<u32>> + '_ {
        self.ranges.iter().map(|&(s, e)| s..=e)
    }

    /// Every address in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.ranges
            .iter()
            .flat_map(|&(s, e)| (s..=e).map(Ipv4Addr::from))
    }

    /// Addresses in `self` but not in `other` (for `--exclude`). Linear in
    /// the number of ranges of both sets.
    #[must_use]
    pub fn difference(&self, other: &TargetSet) -> TargetSet {
        let excl = &other.ranges;
        let mut out = Vec::with_capacity(self.ranges.len());
        let mut j = 0;
        for &(start, end) in &self.ranges {
            // u64 so that `excluded_end + 1` cannot overflow at 255.255.255.255.
            let mut next = u64::from(start);
            let end64 = u64::from(end);
            while j < excl.len() && u64::from(excl[j].1) < next {
                j += 1;
            }
            let mut k = j;
            while k < excl.len() && u64::from(excl[k].0) <= end64 {
                let (ex_start, ex_end) = excl[k];
                if u64::from(ex_start) > next {
                    out.push((narrow(next), ex_start - 1));
                }
                next = next.max(u64::from(ex_end) + 1);
                if next > end64 {
                    // This exclusion may reach into the next range: keep it.
                    break;
                }
                k += 1;
            }
            if next <= end64 {
                out.push((narrow(next), end));
            }
            j = k;
        }
        Self::from_normalized(out)
    }

    /// Addresses in either set. Linear in the number of ranges of both.
    #[must_use]
    pub fn union(&self, other: &TargetSet) -> TargetSet {
        let (a, b) = (&self.ranges, &other.ranges);
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let take_a = j >= b.len() || (i < a.len() && a[i].0 <= b[j].0);
            let next = if take_a { a[i] } else { b[j] };
            if take_a {
                i += 1;
            } else {
                j += 1;
            }
            push_merged(&mut merged, next);
        }
        Self::from_normalized(merged)
    }

    /// Builds from ranges that already satisfy the type's invariants.
    fn from_normalized(ranges: Vec<(u32, u32)>) -> Self {
        debug_assert!(is_normalized(&ranges));
        let mut offsets = Vec::with_capacity(ranges.len());
        let mut len = 0u64;
        for &(s, e) in &ranges {
            offsets.push(len);
            len += u64::from(e - s) + 1;
        }
        Self {
            ranges,
            offsets,
            len,
        }
    }
}

/// `value` is a range bound computed in u64 but known to fit in u32.
fn narrow(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Appends `(s, e)` (whose start is >= every start already in `out`),
/// merging it into the last range when they overlap or touch.
fn push_merged(out: &mut Vec<(u32, u32)>, (s, e): (u32, u32)) {
    match out.last_mut() {
        Some(last) if u64::from(s) <= u64::from(last.1) + 1 => last.1 = last.1.max(e),
        _ => out.push((s, e)),
    }
}

/// Sorts and merges arbitrary non-empty `(start, end)` ranges.
pub(super) fn normalize(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    if is_normalized(&ranges) {
        return ranges;
    }
    ranges.sort_unstable();
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        push_merged(&mut out, r);
    }
    out
}

/// Whether ranges are non-empty, sorted, and neither overlap nor touch.
fn is_normalized(ranges: &[(u32, u32)]) -> bool {
    ranges.iter().all(|&(s, e)| s <= e)
        && ranges
            .windows(2)
            .all(|w| u64::from(w[0].1) + 1 < u64::from(w[1].0))
}

/// Collects ranges in any order and builds a [`TargetSet`].
#[derive(Debug, Clone, Default)]
pub struct TargetSetBuilder {
    ranges: Vec<(u32, u32)>,
}

impl TargetSetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an inclusive range of `u32` addresses; empty ranges are ignored.
    pub fn add_range(&mut self, range: RangeInclusive<u32>) -> &mut Self {
        if !range.is_empty() {
            self.ranges.push(range.into_inner());
        }
        self
    }

    /// Adds one address.
    pub fn add_addr(&mut self, addr: Ipv4Addr) -> &mut Self {
        let a = u32::from(addr);
        self.ranges.push((a, a));
        self
    }

    /// Adds every address of a network, host bits ignored.
    pub fn add_net(&mut self, net: Ipv4Net) -> &mut Self {
        self.ranges
            .push((u32::from(net.network()), u32::from(net.broadcast())));
        self
    }

    /// Parses and adds one target specification (see [`parse_target`]).
    pub fn add_spec(&mut self, spec: &str) -> Result<&mut Self, TargetError> {
        for r in parse_target(spec)? {
            self.add_range(r);
        }
        Ok(self)
    }

    /// Sorts, merges and indexes the collected ranges.
    #[must_use]
    pub fn build(self) -> TargetSet {
        TargetSet::from_normalized(normalize(self.ranges))
    }
}

impl FromIterator<RangeInclusive<u32>> for TargetSet {
    fn from_iter<I: IntoIterator<Item = RangeInclusive<u32>>>(iter: I) -> Self {
        let mut builder = TargetSetBuilder::new();
        for r in iter {
            builder.add_range(r);
        }
        builder.build()
    }
}

impl FromIterator<Ipv4Addr> for TargetSet {
    fn from_iter<I: IntoIterator<Item = Ipv4Addr>>(iter: I) -> Self {
        let mut builder = TargetSetBuilder::new();
        for a in iter {
            builder.add_addr(a);
        }
        builder.build()
    }
}

impl From<Ipv4Net> for TargetSet {
    fn from(net: Ipv4Net) -> Self {
        let mut builder = TargetSetBuilder::new();
        builder.add_net(net);
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn set(ranges: &[(u32, u32)]) -> TargetSet {
        ranges.iter().map(|&(s, e)| s..=e).collect()
    }

    fn pairs(set: &TargetSet) -> Vec<(u32, u32)> {
        set.ranges().map(RangeInclusive::into_inner).collect()
    }

    /// Reference model: the addresses as a sorted vector.
    fn naive(ranges: &[(u32, u32)]) -> Vec<u32> {
        let mut v: Vec<u32> = ranges.iter().flat_map(|&(s, e)| s..=e).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn empty_set() {
        let s = TargetSet::new();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(s.get(0), None);
        assert_eq!(s.index_of(Ipv4Addr::UNSPECIFIED), None);
        assert_eq!(s.first(), None);
        assert_eq!(s.last(), None);
        assert_eq!(s.ranges().count(), 0);
        assert_eq!(s.iter().count(), 0);
    }

    #[test]
    fn merges_overlapping_adjacent_and_unsorted() {
        let s = set(&[(10, 20), (5, 9), (15, 30), (40, 40), (41, 45), (50, 49)]);
        assert_eq!(pairs(&s), vec![(5, 30), (40, 45)]);
        assert_eq!(s.len(), 26 + 6);
        assert_eq!(s.range_count(), 2);
    }

    #[test]
    fn reversed_ranges_are_ignored_by_builder() {
        #[allow(clippy::reversed_empty_ranges)]
        let s: TargetSet = [5..=1, 7..=7].into_iter().collect();
        assert_eq!(pairs(&s), vec![(7, 7)]);
    }

    #[test]
    fn exhausted_range_is_ignored() {
        let mut r = 1u32..=1;
        assert_eq!(r.next(), Some(1));
        let s: TargetSet = [r].into_iter().collect();
        assert!(s.is_empty());
    }

    #[test]
    fn get_index_of_round_trip_exhaustive() {
        let ranges = [(3, 7), (10, 10), (12, 20), (100, 131), (1000, 1001)];
        let s = set(&ranges);
        let model = naive(&ranges);
        assert_eq!(s.len(), model.len() as u64);
        for (i, &a) in model.iter().enumerate() {
            let addr = Ipv4Addr::from(a);
            assert_eq!(s.get(i as u64), Some(addr), "get({i})");
            assert_eq!(s.index_of(addr), Some(i as u64), "index_of({addr})");
        }
        assert_eq!(s.get(model.len() as u64), None);
        assert_eq!(s.get(u64::MAX), None);
        for a in 0..1100u32 {
            let expected = model.binary_search(&a).ok().map(|i| i as u64);
            assert_eq!(s.index_of(Ipv4Addr::from(a)), expected, "index_of({a})");
            assert_eq!(s.contains(Ipv4Addr::from(a)), expected.is_some());
        }
        assert_eq!(s.iter().map(u32::from).collect::<Vec<_>>(), model);
    }

    #[test]
    fn slash_zero_covers_everything() {
        let s = TargetSet::from(Ipv4Net::new(Ipv4Addr::new(1, 2, 3, 4), 0).unwrap());
        assert_eq!(s.len(), 1 << 32);
        assert_eq!(s.get(0), Some(Ipv4Addr::new(0, 0, 0, 0)));
        assert_eq!(s.get((1 << 32) - 1), Some(Ipv4Addr::BROADCAST));
        assert_eq!(s.get(1 << 32), None);
        assert_eq!(s.index_of(Ipv4Addr::BROADCAST), Some((1 << 32) - 1));
        assert_eq!(s.index_of(Ipv4Addr::new(0, 0, 1, 0)), Some(256));
        assert_eq!(s.last(), Some(Ipv4Addr::BROADCAST));
    }

    #[test]
    fn ranges_at_the_top_of_the_address_space() {
        let s = set(&[(u32::MAX, u32::MAX), (u32::MAX - 5, u32::MAX - 1), (0, 0)]);
        assert_eq!(pairs(&s), vec![(0, 0), (u32::MAX - 5, u32::MAX)]);
        assert_eq!(s.len(), 7);
        assert_eq!(s.get(6), Some(Ipv4Addr::BROADCAST));
        assert_eq!(s.index_of(Ipv4Addr::BROADCAST), Some(6));
    }

    #[test]
    fn difference_excluding_first_and_last_address() {
        let s = set(&[(ip("10.0.0.0"), ip("10.0.0.255"))]);
        let ex = set(&[
            (ip("10.0.0.0"), ip("10.0.0.0")),
            (ip("10.0.0.255"), ip("10.0.0.255")),
        ]);
        let d = s.difference(&ex);
        assert_eq!(pairs(&d), vec![(ip("10.0.0.1"), ip("10.0.0.254"))]);
        assert_eq!(d.len(), 254);
        assert_eq!(d.first(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn difference_excluding_everything() {
        let s = set(&[(1, 5), (10, 20)]);
        assert!(s.difference(&s).is_empty());
        assert!(s.difference(&set(&[(0, u32::MAX)])).is_empty());
        assert!(TargetSet::new().difference(&s).is_empty());
        assert_eq!(s.difference(&TargetSet::new()), s);
    }

    #[test]
    fn difference_excluding_middle_block() {
        let s = set(&[(ip("198.18.0.0"), ip("198.19.255.255"))]);
        let ex = set(&[(ip("198.18.128.0"), ip("198.18.255.255"))]);
        let d = s.difference(&ex);
        assert_eq!(
            pairs(&d),
            vec![
                (ip("198.18.0.0"), ip("198.18.127.255")),
                (ip("198.19.0.0"), ip("198.19.255.255"))
            ]
        );
        assert_eq!(d.len(), (1 << 17) - (1 << 15));
        assert_eq!(d.get(32768), Some(Ipv4Addr::new(198, 19, 0, 0)));
    }

    #[test]
    fn difference_exclusion_spanning_several_ranges() {
        let s = set(&[(0, 10), (20, 30), (40, 50), (60, 70)]);
        let ex = set(&[(5, 45), (70, u32::MAX)]);
        assert_eq!(pairs(&s.difference(&ex)), vec![(0, 4), (46, 50), (60, 69)]);
    }

    #[test]
    fn difference_at_the_top_of_the_address_space() {
        let s = set(&[(0, u32::MAX)]);
        let d = s.difference(&set(&[(u32::MAX, u32::MAX)]));
        assert_eq!(pairs(&d), vec![(0, u32::MAX - 1)]);
        let d = s.difference(&set(&[(0, 0)]));
        assert_eq!(pairs(&d), vec![(1, u32::MAX)]);
    }

    #[test]
    fn difference_matches_model_on_small_sets() {
        // Every pair of sets drawn from a few shapes over 0..16.
        let shapes: &[&[(u32, u32)]] = &[
            &[],
            &[(0, 15)],
            &[(0, 0)],
            &[(15, 15)],
            &[(2, 4), (8, 9)],
            &[(1, 1), (3, 3), (5, 5), (7, 7)],
            &[(4, 11)],
            &[(0, 3), (12, 15)],
        ];
        for a in shapes {
            for b in shapes {
                let (sa, sb) = (set(a), set(b));
                let (ma, mb) = (naive(a), naive(b));
                let diff: Vec<u32> = ma.iter().copied().filter(|x| !mb.contains(x)).collect();
                let mut uni: Vec<u32> = ma.iter().chain(&mb).copied().collect();
                uni.sort_unstable();
                uni.dedup();
                let d = sa.difference(&sb);
                let u = sa.union(&sb);
                assert_eq!(
                    d.iter().map(u32::from).collect::<Vec<_>>(),
                    diff,
                    "{a:?} - {b:?}"
                );
                assert_eq!(
                    u.iter().map(u32::from).collect::<Vec<_>>(),
                    uni,
                    "{a:?} | {b:?}"
                );
                assert!(is_normalized(&d.ranges) && is_normalized(&u.ranges));
                assert_eq!(d.len(), diff.len() as u64);
                assert_eq!(u.len(), uni.len() as u64);
            }
        }
    }

    #[test]
    fn union_merges_touching_ranges_from_both_sides() {
        let a = set(&[(0, 4), (10, 14)]);
        let b = set(&[(5, 9), (20, u32::MAX)]);
        assert_eq!(pairs(&a.union(&b)), vec![(0, 14), (20, u32::MAX)]);
        assert_eq!(a.union(&TargetSet::new()), a);
        assert_eq!(TargetSet::new().union(&a), a);
    }

    #[test]
    fn builder_accepts_addrs_nets_and_specs() {
        let mut b = TargetSet::builder();
        b.add_addr(Ipv4Addr::new(10, 0, 0, 1))
            .add_net("10.0.1.7/24".parse().unwrap())
            .add_range(ip("10.0.0.2")..=ip("10.0.0.255"));
        b.add_spec("10.0.2.1-3").unwrap();
        let s = b.build();
        assert_eq!(
            pairs(&s),
            vec![
                (ip("10.0.0.1"), ip("10.0.1.255")),
                (ip("10.0.2.1"), ip("10.0.2.3"))
            ]
        );
    }

    #[test]
    fn from_addrs() {
        let s: TargetSet = [Ipv4Addr::new(1, 1, 1, 2), Ipv4Addr::new(1, 1, 1, 1)]
            .into_iter()
            .collect();
        assert_eq!(pairs(&s), vec![(ip("1.1.1.1"), ip("1.1.1.2"))]);
    }

    #[test]
    fn from_specs_and_errors() {
        let s = TargetSet::from_specs(["198.18.0.0/30", "198.18.0.4", "198.18.1,3.5"]).unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(s.range_count(), 3);
        let err = TargetSet::from_specs(["198.18.0.1", "example.com"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid target \"example.com\": hostnames are not supported (no DNS): \
             give an IPv4 address, range or CIDR block"
        );
        assert!(TargetSet::from_specs([]).unwrap().is_empty());
    }
}
