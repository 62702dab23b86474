//! Parsing of one target specification, nmap-compatible where nmap has
//! syntax for it.
//!
//! Accepted forms:
//! - an address: `198.18.0.1`
//! - a CIDR block, host bits allowed like nmap: `198.18.0.5/24`
//! - an address range (not in nmap, common in other scanners):
//!   `198.18.0.1-198.18.0.9`
//! - nmap octet ranges: each octet is a number, `*`, `a-b`, `-b`, `a-`, `-`
//!   or a comma list of those: `198.18.0-3.1-254`, `198.18.1,3.5`

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use ipnet::Ipv4Net;

use super::error::{MAX_SPEC_RANGES, SpecError, TargetError};
use super::set::normalize;

/// An octet as sorted, merged, inclusive value ranges.
type OctetSet = Vec<(u8, u8)>;

/// Parses one target specification into sorted, merged address ranges.
///
/// ```text
/// parse_target("198.18.0.0/31")       -> [198.18.0.0 ..= 198.18.0.1]
/// parse_target("198.18.1,3.5")        -> [198.18.1.5, 198.18.3.5]
/// parse_target("example.com")         -> Err(hostnames are not supported ...)
/// ```
pub fn parse_target(spec: &str) -> Result<Vec<RangeInclusive<u32>>, TargetError> {
    parse_target_raw(spec)
        .map(|ranges| ranges.into_iter().map(|(s, e)| s..=e).collect())
        .map_err(|reason| TargetError::invalid(spec, reason))
}

/// [`parse_target`] with the bare reason, so callers can add context
/// (such as a file name and line) to the error.
pub(super) fn parse_target_raw(spec: &str) -> Result<Vec<(u32, u32)>, SpecError> {
    check_charset(spec)?;
    let mut slash = spec.split('/');
    let addr_part = slash.next().unwrap_or_default();
    match (slash.next(), slash.next()) {
        (Some(_), Some(_)) => Err(SpecError::MultipleSlashes),
        (Some(prefix), None) => parse_cidr(addr_part, prefix).map(|r| vec![r]),
        (None, _) => match split_address_range(spec) {
            Some((start, end)) => parse_address_range(start, end).map(|r| vec![r]),
            None => parse_octet_ranges(spec),
        },
    }
}

/// Rejects inputs that are not IPv4 syntax at all, with a specific reason
/// for the common mistakes (empty, hostname, IPv6).
fn check_charset(spec: &str) -> Result<(), SpecError> {
    if spec.is_empty() {
        return Err(SpecError::Empty);
    }
    if spec.chars().any(char::is_whitespace) {
        return Err(SpecError::Whitespace);
    }
    if spec.contains(':') {
        return Err(if looks_like_ipv6(spec) {
            SpecError::Ipv6
        } else {
            SpecError::InvalidChar(':')
        });
    }
    if looks_like_hostname(spec) {
        return Err(SpecError::Hostname);
    }
    match spec
        .chars()
        .find(|c| !matches!(c, '0'..='9' | '.' | '-' | '*' | ',' | '/'))
    {
        Some(c) => Err(SpecError::InvalidChar(c)),
        None => Ok(()),
    }
}

/// An IPv6 address or network, optionally in brackets: `::1`, `[fe80::1]`,
/// `2001:db8::/32`.
fn looks_like_ipv6(spec: &str) -> bool {
    let addr = spec.split('/').next().unwrap_or_default();
    let addr = addr.strip_prefix('[').unwrap_or(addr);
    let addr = addr.strip_suffix(']').unwrap_or(addr);
    addr.parse::<Ipv6Addr>().is_ok()
}

/// Letters, digits, `-`, `_` and dots with at least one letter: nothing in
/// IPv4 syntax has letters, so the user most likely meant a DNS name.
fn looks_like_hostname(spec: &str) -> bool {
    spec.chars().any(|c| c.is_ascii_alphabetic())
        && spec
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `a.b.c.d/prefix`; host bits are cleared, as nmap does.
fn parse_cidr(addr: &str, prefix: &str) -> Result<(u32, u32), SpecError> {
    let addr = parse_plain_address(addr)?;
    if prefix.is_empty() {
        return Err(SpecError::MissingPrefix);
    }
    let invalid = || SpecError::InvalidPrefix(prefix.to_owned());
    if !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let len: u8 = prefix.parse().map_err(|_| invalid())?;
    let net = Ipv4Net::new(addr, len).map_err(|_| invalid())?;
    Ok((u32::from(net.network()), u32::from(net.broadcast())))
}

/// Splits `a.b.c.d-e.f.g.h` at its dash. Octet-range syntax never has a
/// complete address before a dash and more dots after it, so this does not
/// misread `1.2.3.1-254` or `1.2-3.4.5`.
fn split_address_range(spec: &str) -> Option<(&str, &str)> {
    let (start, end) = spec.split_once('-')?;
    (start.matches('.').count() == 3 && end.contains('.')).then_some((start, end))
}

/// `start-end` with two plain addresses, `start <= end`.
fn parse_address_range(start: &str, end: &str) -> Result<(u32, u32), SpecError> {
    let (start, end) = (parse_plain_address(start)?, parse_plain_address(end)?);
    if start > end {
        return Err(SpecError::ReversedRange { start, end });
    }
    Ok((u32::from(start), u32::from(end)))
}

/// Four plain decimal octets. Leading zeros mean decimal, as in nmap.
fn parse_plain_address(part: &str) -> Result<Ipv4Addr, SpecError> {
    let octets = split_octets(part)?;
    let mut bytes = [0u8; 4];
    for (byte, octet) in bytes.iter_mut().zip(octets) {
        if octet.contains(['-', '*', ',']) {
            return Err(SpecError::NotPlainAddress(part.to_owned()));
        }
        *byte = parse_octet_number(octet)?;
    }
    Ok(Ipv4Addr::from(bytes))
}

/// Splits at dots into exactly four non-empty octets.
fn split_octets(part: &str) -> Result<[&str; 4], SpecError> {
    let mut octets = [""; 4];
    let mut found = 0;
    for (i, octet) in part.split('.').enumerate() {
        if let Some(slot) = octets.get_mut(i) {
            *slot = octet;
        }
        found = i + 1;
    }
    if found != 4 {
        return Err(SpecError::OctetCount {
            part: part.to_owned(),
            found,
        });
    }
    if let Some(i) = octets.iter().position(|o| o.is_empty()) {
        return Err(SpecError::EmptyOctet { position: i + 1 });
    }
    Ok(octets)
}

/// A decimal number 0..=255.
fn parse_octet_number(s: &str) -> Result<u8, SpecError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::InvalidOctet(s.to_owned()));
    }
    s.parse()
        .map_err(|_| SpecError::OctetOutOfRange(s.to_owned()))
}

/// nmap octet-range syntax, expanded to the cartesian product of the four
/// octets as merged ranges.
fn parse_octet_ranges(spec: &str) -> Result<Vec<(u32, u32)>, SpecError> {
    let octets = split_octets(spec)?;
    let mut sets: [OctetSet; 4] = Default::default();
    for (set, octet) in sets.iter_mut().zip(octets) {
        *set = parse_octet_set(octet)?;
    }
    let count = range_count(&sets);
    if count > MAX_SPEC_RANGES {
        return Err(SpecError::TooManyRanges(count));
    }
    Ok(normalize(expand(&sets)))
}

/// How many ranges [`expand`] makes of `sets`, counted before it makes them.
fn range_count(sets: &[OctetSet; 4]) -> u64 {
    let Some(last_partial) = sets.iter().rposition(|s| s.as_slice() != [(0, 255)]) else {
        return 1;
    };
    let values =
        |set: &OctetSet| -> u64 { set.iter().map(|&(lo, hi)| u64::from(hi - lo) + 1).sum() };
    sets[..last_partial].iter().map(values).product::<u64>() * sets[last_partial].len() as u64
}

/// One octet: a comma list of `n`, `*`, `a-b`, `-b`, `a-` or `-`.
fn parse_octet_set(octet: &str) -> Result<OctetSet, SpecError> {
    let mut items = Vec::new();
    for item in octet.split(',') {
        if item.is_empty() {
            return Err(SpecError::EmptyListItem(octet.to_owned()));
        }
        items.push(parse_octet_item(item)?);
    }
    items.sort_unstable();
    let mut merged: OctetSet = Vec::with_capacity(items.len());
    for (lo, hi) in items {
        match merged.last_mut() {
            Some(last) if u16::from(lo) <= u16::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    Ok(merged)
}

/// One item of an octet list.
fn parse_octet_item(item: &str) -> Result<(u8, u8), SpecError> {
    if item == "*" {
        return Ok((0, 255));
    }
    let Some((lo, hi)) = item.split_once('-') else {
        let n = parse_octet_number(item)?;
        return Ok((n, n));
    };
    let lo = if lo.is_empty() {
        0
    } else {
        parse_octet_number(lo)?
    };
    let hi = if hi.is_empty() {
        255
    } else if hi.contains('-') {
        return Err(SpecError::InvalidOctet(item.to_owned()));
    } else {
        parse_octet_number(hi)?
    };
    if lo > hi {
        return Err(SpecError::ReversedOctetRange(item.to_owned()));
    }
    Ok((lo, hi))
}

/// The cartesian product of four octet sets as address ranges, ascending.
///
/// Trailing octets that are complete (`0-255`) fold into the ranges of the
/// last incomplete octet, so `10.*.*.*` is one range, not 2^24.
fn expand(sets: &[OctetSet; 4]) -> Vec<(u32, u32)> {
    let Some(last_partial) = sets.iter().rposition(|s| s.as_slice() != [(0, 255)]) else {
        return vec![(0, u32::MAX)];
    };
    let mut out = Vec::new();
    push_product(sets, last_partial, 0, 0, &mut out);
    out
}

/// Recursive step of [`expand`]: fixes octet `depth` to each of its values,
/// down to `last_partial`, whose value ranges become address ranges.
fn push_product(
    sets: &[OctetSet; 4],
    last_partial: usize,
    depth: usize,
    base: u32,
    out: &mut Vec<(u32, u32)>,
) {
    // depth <= 3, so the shift is 0..=24 and the mask cannot overflow.
    let shift = 8 * (3 - depth as u32);
    let ranges = &sets[depth];
    if depth == last_partial {
        let low_bits = (1u32 << shift) - 1;
        for &(lo, hi) in ranges {
            let start = base | (u32::from(lo) << shift);
            let end = base | (u32::from(hi) << shift) | low_bits;
            out.push((start, end));
        }
        return;
    }
    for &(lo, hi) in ranges {
        for value in lo..=hi {
            let next = base | (u32::from(value) << shift);
            push_product(sets, last_partial, depth + 1, next, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn ranges(spec: &str) -> Vec<(u32, u32)> {
        parse_target(spec)
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .into_iter()
            .map(RangeInclusive::into_inner)
            .collect()
    }

    fn r(a: &str, b: &str) -> (u32, u32) {
        (ip(a), ip(b))
    }

    fn reason(spec: &str) -> SpecError {
        match parse_target(spec) {
            Ok(v) => panic!("{spec:?} parsed as {v:?}"),
            Err(e) => e.spec_error().cloned().unwrap(),
        }
    }

    #[test]
    fn single_address() {
        assert_eq!(ranges("198.18.0.1"), vec![r("198.18.0.1", "198.18.0.1")]);
        assert_eq!(ranges("0.0.0.0"), vec![(0, 0)]);
        assert_eq!(ranges("255.255.255.255"), vec![(u32::MAX, u32::MAX)]);
    }

    #[test]
    fn leading_zeros_are_decimal_like_nmap() {
        assert_eq!(ranges("010.0.0.001"), vec![r("10.0.0.1", "10.0.0.1")]);
    }

    #[test]
    fn cidr_blocks() {
        assert_eq!(
            ranges("198.18.0.0/15"),
            vec![r("198.18.0.0", "198.19.255.255")]
        );
        assert_eq!(
            ranges("198.18.0.5/24"),
            vec![r("198.18.0.0", "198.18.0.255")]
        );
        assert_eq!(ranges("198.18.0.5/32"), vec![r("198.18.0.5", "198.18.0.5")]);
        assert_eq!(ranges("198.18.0.5/31"), vec![r("198.18.0.4", "198.18.0.5")]);
        assert_eq!(ranges("1.2.3.4/0"), vec![(0, u32::MAX)]);
        assert_eq!(ranges("1.2.3.4/08"), vec![r("1.0.0.0", "1.255.255.255")]);
    }

    #[test]
    fn address_ranges() {
        assert_eq!(
            ranges("198.18.0.1-198.18.0.9"),
            vec![r("198.18.0.1", "198.18.0.9")]
        );
        assert_eq!(ranges("1.2.3.4-1.2.3.4"), vec![r("1.2.3.4", "1.2.3.4")]);
        assert_eq!(
            ranges("1.2.255.250-1.3.0.5"),
            vec![r("1.2.255.250", "1.3.0.5")]
        );
    }

    #[test]
    fn octet_ranges() {
        assert_eq!(
            ranges("198.18.0-3.1-254"),
            vec![
                r("198.18.0.1", "198.18.0.254"),
                r("198.18.1.1", "198.18.1.254"),
                r("198.18.2.1", "198.18.2.254"),
                r("198.18.3.1", "198.18.3.254"),
            ]
        );
        assert_eq!(
            ranges("198.18.1,3.5"),
            vec![r("198.18.1.5", "198.18.1.5"), r("198.18.3.5", "198.18.3.5")]
        );
        assert_eq!(ranges("10.0.0.-3"), vec![r("10.0.0.0", "10.0.0.3")]);
        assert_eq!(ranges("10.0.0.250-"), vec![r("10.0.0.250", "10.0.0.255")]);
        assert_eq!(ranges("10.0.0.-"), vec![r("10.0.0.0", "10.0.0.255")]);
    }

    #[test]
    fn complete_trailing_octets_fold_into_one_range() {
        assert_eq!(ranges("10.*.*.*"), vec![r("10.0.0.0", "10.255.255.255")]);
        assert_eq!(ranges("10.1-2.*.*"), vec![r("10.1.0.0", "10.2.255.255")]);
        assert_eq!(ranges("*.*.*.*"), vec![(0, u32::MAX)]);
        assert_eq!(
            ranges("10.0.0-255.0-255"),
            vec![r("10.0.0.0", "10.0.255.255")]
        );
    }

    #[test]
    fn octet_lists_merge_and_sort() {
        assert_eq!(
            ranges("10.0.0.9,1-3,2-5,7"),
            vec![
                r("10.0.0.1", "10.0.0.5"),
                r("10.0.0.7", "10.0.0.7"),
                r("10.0.0.9", "10.0.0.9")
            ]
        );
        // Wrap-around adjacency between consecutive third-octet values.
        assert_eq!(
            ranges("10.0.1-2.0-10,250-255"),
            vec![
                r("10.0.1.0", "10.0.1.10"),
                r("10.0.1.250", "10.0.2.10"),
                r("10.0.2.250", "10.0.2.255"),
            ]
        );
    }

    /// Found by `cargo xtask fuzz` (target_file, a timeout): `19-.18-.*.10` made 14 million
    /// ranges, seconds and a hundred MiB per line of a file. Refused before expanding.
    #[test]
    fn octet_ranges_that_multiply_past_the_limit_are_refused_before_expanding() {
        let started = std::time::Instant::now();
        let err = parse_target("19-.18-.*.10").unwrap_err().to_string();
        assert!(
            err.contains("expands to 14439936 separate address ranges, more than the 1048576"),
            "{err}"
        );
        assert!(parse_target("*.*.*.1").is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // At the limit and below: fine.
        assert_eq!(parse_target("10.*.*.1").unwrap().len(), 65536);
        assert_eq!(parse_target("*.*.0-15.1").unwrap().len(), 1 << 20);
        assert_eq!(parse_target("1-.*.*.*").unwrap().len(), 1);
    }

    #[test]
    fn octet_ranges_in_front_octets() {
        let got = ranges("1-2.0.0.1");
        assert_eq!(got, vec![r("1.0.0.1", "1.0.0.1"), r("2.0.0.1", "2.0.0.1")]);
        assert_eq!(ranges("*.0.0.1").len(), 256);
    }

    #[test]
    fn hostnames_are_rejected_with_a_hint() {
        for spec in [
            "example.com",
            "localhost",
            "a.b.c.d",
            "scanme.nmap.org",
            "host-1_a",
        ] {
            assert_eq!(reason(spec), SpecError::Hostname, "{spec}");
        }
        let msg = parse_target("example.com").unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid target \"example.com\": hostnames are not supported (no DNS): \
             give an IPv4 address, range or CIDR block"
        );
    }

    #[test]
    fn ipv6_is_rejected() {
        for spec in ["::1", "[::1]", "2001:db8::/32", "fe80::1", "::ffff:1.2.3.4"] {
            assert_eq!(reason(spec), SpecError::Ipv6, "{spec}");
        }
        assert_eq!(reason("T:80"), SpecError::InvalidChar(':'));
    }

    #[test]
    fn specific_errors() {
        assert_eq!(reason(""), SpecError::Empty);
        assert_eq!(reason("1.2.3.4 1.2.3.5"), SpecError::Whitespace);
        assert_eq!(reason("1.2.3.4\n"), SpecError::Whitespace);
        assert_eq!(
            reason("1.2.3"),
            SpecError::OctetCount {
                part: "1.2.3".into(),
                found: 3
            }
        );
        assert_eq!(
            reason("1.2.3.4.5"),
            SpecError::OctetCount {
                part: "1.2.3.4.5".into(),
                found: 5
            }
        );
        assert_eq!(reason("1..2.3"), SpecError::EmptyOctet { position: 2 });
        assert_eq!(reason(".1.2.3"), SpecError::EmptyOctet { position: 1 });
        assert_eq!(reason("1.2.3."), SpecError::EmptyOctet { position: 4 });
        assert_eq!(
            reason("256.1.1.1"),
            SpecError::OctetOutOfRange("256".into())
        );
        assert_eq!(
            reason("1.1.1.99999999999999999999"),
            SpecError::OctetOutOfRange("99999999999999999999".into())
        );
        assert_eq!(reason("1.2.3.4/"), SpecError::MissingPrefix);
        assert_eq!(reason("1.2.3.4/33"), SpecError::InvalidPrefix("33".into()));
        assert_eq!(reason("1.2.3.4/-1"), SpecError::InvalidPrefix("-1".into()));
        assert_eq!(
            reason("1.2.3.4/1,2"),
            SpecError::InvalidPrefix("1,2".into())
        );
        assert_eq!(
            reason("1.2.3.4/99999999999"),
            SpecError::InvalidPrefix("99999999999".into())
        );
        assert_eq!(reason("1.2.3.4/24/1"), SpecError::MultipleSlashes);
        assert_eq!(
            reason("1.2.3.4-1.2.3.3"),
            SpecError::ReversedRange {
                start: Ipv4Addr::new(1, 2, 3, 4),
                end: Ipv4Addr::new(1, 2, 3, 3)
            }
        );
        assert_eq!(
            reason("1.2.3.9-5"),
            SpecError::ReversedOctetRange("9-5".into())
        );
        assert_eq!(
            reason("1.2.3.1-2-3"),
            SpecError::InvalidOctet("1-2-3".into())
        );
        assert_eq!(
            reason("1.2.3.1,,2"),
            SpecError::EmptyListItem("1,,2".into())
        );
        assert_eq!(reason("1.2.3.1,"), SpecError::EmptyListItem("1,".into()));
        assert_eq!(reason("1.2.3.**"), SpecError::InvalidOctet("**".into()));
        assert_eq!(
            reason("1.2.0-3.0/24"),
            SpecError::NotPlainAddress("1.2.0-3.0".into())
        );
        assert_eq!(
            reason("1.2.3.*-1.2.3.4"),
            SpecError::NotPlainAddress("1.2.3.*".into())
        );
        assert_eq!(
            reason("1.2.3.4-1.2.3"),
            SpecError::OctetCount {
                part: "1.2.3".into(),
                found: 3
            }
        );
        assert_eq!(reason("1.2.3.4/24x"), SpecError::InvalidChar('x'));
        assert_eq!(reason("1.2.3.4%"), SpecError::InvalidChar('%'));
        assert_eq!(reason("1.2.3.4é"), SpecError::InvalidChar('é'));
    }

    #[test]
    fn odd_inputs_never_panic_and_give_one_line_errors() {
        let odd = [
            "",
            "-",
            "--",
            "*",
            ",",
            ".",
            "...",
            "....",
            "/",
            "//",
            "1.2.3",
            "1.2.3.4/",
            "1.2.3.4/33",
            "256.1.1.1",
            "1.2.3.4-1.2.3.3",
            "a.b.c.d",
            "::1",
            "1..2.3",
            "1.2.3.4/24/1",
            "70000",
            "5-1",
            "80,",
            "T:",
            "1.2.3.4-",
            "-1.2.3.4",
            "1.2.3.4--5",
            "1.2.3.4-1.2.3.4-1.2.3.5",
            "1.2.3.4/ 24",
            "1.2.3.4\n",
            "1.2.3.4,",
            ",1.2.3.4",
            "1.2.3.-5-",
            "1.2.3.4-..",
            "0x1.2.3.4",
            "1e3.1.1.1",
            "1.2.3.4/+1",
            "\u{0}",
            "1.2.3.4\u{0}",
            "1.2.3.*/24",
            "1.2.3.4-*",
            "*-*",
            "1.2.3.,",
            "1.2.3.-,-",
        ];
        for spec in odd {
            match parse_target(spec) {
                Ok(v) => assert!(
                    matches!(spec, "1.2.3.4-" | "-1.2.3.4" | "1.2.3.-,-"),
                    "{spec:?} unexpectedly parsed: {v:?}"
                ),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(!msg.contains('\n'), "{msg}");
                    assert!(msg.contains(&format!("{spec:?}")), "{msg}");
                }
            }
        }
    }

    #[test]
    fn dash_forms_that_nmap_reads_as_octet_ranges() {
        // "4-" is 4-255 in the last octet, "-1" is 0-1 in the first.
        assert_eq!(ranges("1.2.3.4-"), vec![r("1.2.3.4", "1.2.3.255")]);
        assert_eq!(
            ranges("-1.2.3.4"),
            vec![r("0.2.3.4", "0.2.3.4"), r("1.2.3.4", "1.2.3.4")]
        );
    }
}
