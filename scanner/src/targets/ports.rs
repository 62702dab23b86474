//! Port lists in nmap `-p` syntax.
//!
//! A list is comma-separated items, each `N`, `A-B`, `-B` (1-B), `A-`
//! (A-65535) or `-` (1-65535). Port 0 is only included when written
//! explicitly, as in nmap. A protocol prefix `T:`, `U:`, `S:` or `P:`
//! applies to its item and every following item until the next prefix;
//! items before any prefix belong to every protocol:
//! `-p 22,U:53,161,T:80` is TCP {22, 80}, UDP {22, 53, 161}.

use std::fmt;

use thiserror::Error;

use crate::verdict::Proto;

/// Number of distinct port values, and so the size of the lookup table.
const PORT_COUNT: usize = 1 << 16;

/// Marks a port that is not in the list in the lookup table.
const ABSENT: u32 = u32::MAX;

/// The protocol a `-p` prefix selects (`T:`, `U:`, `S:`, `P:`), case-insensitively.
fn proto_of_prefix(prefix: &str) -> Option<Proto> {
    match prefix {
        "T" | "t" => Some(Proto::Tcp),
        "U" | "u" => Some(Proto::Udp),
        "S" | "s" => Some(Proto::Sctp),
        "P" | "p" => Some(Proto::Ip),
        _ => None,
    }
}

/// Why a port list was rejected. `Display` is one line quoting the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// The whole specification is empty.
    #[error("invalid port list \"\": no ports given")]
    Empty,
    /// Two commas in a row, or a leading/trailing comma.
    #[error("invalid port list {0:?}: empty item (stray comma?)")]
    EmptyItem(String),
    /// A number above 65535.
    #[error("invalid port {0:?}: ports are 0-65535")]
    OutOfRange(String),
    /// `A-B` with A > B.
    #[error("invalid port range {0:?}: start is after end")]
    Reversed(String),
    /// Neither a number nor a range (port names are not supported).
    #[error("invalid port {0:?}: expected a number 0-65535 or a range like 1-1024")]
    Invalid(String),
    /// A prefix other than `T:`, `U:`, `S:`, `P:`.
    #[error("invalid protocol prefix {0:?}: expected T:, U:, S: or P:")]
    UnknownProtocol(String),
    /// A prefix with nothing after it, such as `T:` or `T:,80`.
    #[error("invalid port list item {0:?}: no ports after the protocol prefix")]
    MissingPorts(String),
    /// The list is valid but names no port for the requested protocol.
    #[error("port list {spec:?} selects no {proto} ports")]
    NoPortsFor {
        /// The specification as given.
        spec: String,
        /// The protocol that was asked for.
        proto: Proto,
    },
}

/// One parsed item: a port range and the protocol it is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    proto: Option<Proto>,
    first: u16,
    last: u16,
}

impl Item {
    fn applies_to(self, proto: Proto) -> bool {
        self.proto.is_none_or(|p| p == proto)
    }
}

/// Ports in the user's order, without duplicates, with O(1) reverse lookup.
///
/// The scanner picks ports by index (`get`) and maps a reply's port back to
/// its index (`index_of`) on the hot path, so the reverse lookup is a
/// 65536-entry table (256 KiB) rather than a search or a hash.
#[derive(Clone)]
pub struct PortList {
    ports: Vec<u16>,
    /// `index[port]` is the port's position in `ports`, or [`ABSENT`].
    index: Box<[u32]>,
}

impl PortList {
    /// Parses a `-p` list, keeping the ports of every item whatever its
    /// protocol prefix. Use [`parse_for`](Self::parse_for) to honour prefixes.
    pub fn parse(spec: &str) -> Result<PortList, PortError> {
        Ok(Self::from_items(parse_items(spec)?))
    }

    /// Parses a `-p` list and keeps the items that apply to `proto`:
    /// unprefixed ones and those under `proto`'s prefix.
    ///
    /// Fails if the list is valid but selects no port for `proto`.
    pub fn parse_for(spec: &str, proto: Proto) -> Result<PortList, PortError> {
        let mut items = parse_items(spec)?;
        items.retain(|item| item.applies_to(proto));
        let list = Self::from_items(items);
        if list.is_empty() {
            return Err(PortError::NoPortsFor {
                spec: spec.to_owned(),
                proto,
            });
        }
        Ok(list)
    }

    /// Number of distinct ports.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether the list has no port (only possible via `FromIterator`).
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// The ports in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u16> + '_ {
        self.ports.iter().copied()
    }

    /// The ports in order, as a slice.
    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }

    /// The `i`-th port.
    pub fn get(&self, i: usize) -> Option<u16> {
        self.ports.get(i).copied()
    }

    /// Position of `port` in the list. O(1), no allocation.
    pub fn index_of(&self, port: u16) -> Option<usize> {
        let &i = self.index.get(usize::from(port))?;
        if i == ABSENT {
            return None;
        }
        usize::try_from(i).ok()
    }

    /// Whether `port` is in the list. O(1).
    pub fn contains(&self, port: u16) -> bool {
        self.index_of(port).is_some()
    }

    /// Appends `port` unless already present.
    fn push(&mut self, port: u16) {
        let slot = &mut self.index[usize::from(port)];
        if *slot == ABSENT {
            // At most 65536 distinct ports, so the position fits in u32 and
            // never reaches ABSENT (u32::MAX).
            *slot = u32::try_from(self.ports.len()).unwrap_or(ABSENT);
            self.ports.push(port);
        }
    }

    /// Expands items in order, dropping repeats.
    fn from_items(items: Vec<Item>) -> Self {
        items
            .into_iter()
            .flat_map(|item| item.first..=item.last)
            .collect()
    }

    fn empty() -> Self {
        Self {
            ports: Vec::new(),
            index: vec![ABSENT; PORT_COUNT].into_boxed_slice(),
        }
    }
}

impl FromIterator<u16> for PortList {
    /// Collects ports in order, dropping repeats.
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut list = Self::empty();
        for port in iter {
            list.push(port);
        }
        list
    }
}

impl fmt::Debug for PortList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The lookup table is derived data and 65536 entries long: omit it.
        f.debug_tuple("PortList").field(&self.ports).finish()
    }
}

impl PartialEq for PortList {
    fn eq(&self, other: &Self) -> bool {
        // The table is a function of `ports`.
        self.ports == other.ports
    }
}

impl Eq for PortList {}

/// Splits a specification into items, tracking the current prefix.
fn parse_items(spec: &str) -> Result<Vec<Item>, PortError> {
    if spec.is_empty() {
        return Err(PortError::Empty);
    }
    let mut proto = None;
    let mut items = Vec::new();
    for raw in spec.split(',') {
        if raw.is_empty() {
            return Err(PortError::EmptyItem(spec.to_owned()));
        }
        let range = match raw.split_once(':') {
            Some((prefix, rest)) => {
                proto = Some(
                    proto_of_prefix(prefix)
                        .ok_or_else(|| PortError::UnknownProtocol(format!("{prefix}:")))?,
                );
                if rest.is_empty() {
                    return Err(PortError::MissingPorts(raw.to_owned()));
                }
                rest
            }
            None => raw,
        };
        let (first, last) = parse_range(range)?;
        items.push(Item { proto, first, last });
    }
    Ok(items)
}

/// `N`, `A-B`, `-B`, `A-` or `-`. Open ends are 1 and 65535: port 0 only
/// when written.
fn parse_range(range: &str) -> Result<(u16, u16), PortError> {
    let Some((first, last)) = range.split_once('-') else {
        let port = parse_port(range, range)?;
        return Ok((port, port));
    };
    let first = if first.is_empty() {
        1
    } else {
        parse_port(first, range)?
    };
    let last = if last.is_empty() {
        u16::MAX
    } else {
        parse_port(last, range)?
    };
    if first > last {
        return Err(PortError::Reversed(range.to_owned()));
    }
    Ok((first, last))
}

/// A decimal port number; `range` is the item it came from, for errors.
fn parse_port(number: &str, range: &str) -> Result<u16, PortError> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::Invalid(range.to_owned()));
    }
    number
        .parse()
        .map_err(|_| PortError::OutOfRange(number.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(spec: &str) -> Vec<u16> {
        PortList::parse(spec)
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .as_slice()
            .to_vec()
    }

    fn ports_for(spec: &str, proto: Proto) -> Vec<u16> {
        PortList::parse_for(spec, proto)
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .iter()
            .collect()
    }

    fn err(spec: &str) -> PortError {
        PortList::parse(spec).unwrap_err()
    }

    #[test]
    fn numbers_and_ranges_keep_order_and_dedup() {
        assert_eq!(ports("80"), vec![80]);
        assert_eq!(ports("443,80,22"), vec![443, 80, 22]);
        assert_eq!(ports("80,20-23,22,80"), vec![80, 20, 21, 22, 23]);
        assert_eq!(ports("5-5"), vec![5]);
        assert_eq!(ports("0"), vec![0]);
        assert_eq!(ports("0-2"), vec![0, 1, 2]);
        assert_eq!(ports("65535"), vec![65535]);
        assert_eq!(ports("0080"), vec![80]);
    }

    #[test]
    fn open_ranges_skip_port_zero() {
        assert_eq!(ports("-3"), vec![1, 2, 3]);
        assert_eq!(ports("65533-"), vec![65533, 65534, 65535]);
        let all = PortList::parse("-").unwrap();
        assert_eq!(all.len(), 65535);
        assert_eq!(all.get(0), Some(1));
        assert_eq!(all.get(65534), Some(65535));
        assert!(!all.contains(0));
        let with_zero = PortList::parse("0,-").unwrap();
        assert_eq!(with_zero.len(), 65536);
        assert_eq!(with_zero.index_of(65535), Some(65535));
    }

    #[test]
    fn get_and_index_of_round_trip() {
        let list = PortList::parse("8080,22,1000-1010,80,21-23").unwrap();
        assert_eq!(list.len(), 1 + 1 + 11 + 1 + 2);
        for (i, port) in list.iter().enumerate() {
            assert_eq!(list.get(i), Some(port));
            assert_eq!(list.index_of(port), Some(i));
        }
        assert_eq!(list.get(list.len()), None);
        for port in 0..=u16::MAX {
            assert_eq!(
                list.index_of(port).is_some(),
                list.as_slice().contains(&port)
            );
        }
    }

    #[test]
    fn protocol_prefixes_like_nmap() {
        let spec = "22,U:53,161,T:80,S:9,P:6";
        assert_eq!(ports_for(spec, Proto::Tcp), vec![22, 80]);
        assert_eq!(ports_for(spec, Proto::Udp), vec![22, 53, 161]);
        assert_eq!(ports_for(spec, Proto::Sctp), vec![22, 9]);
        assert_eq!(ports_for(spec, Proto::Ip), vec![22, 6]);
        assert_eq!(ports(spec), vec![22, 53, 161, 80, 9, 6]);
        assert_eq!(ports_for("t:1-3,u:4", Proto::Tcp), vec![1, 2, 3]);
        assert_eq!(ports_for("80", Proto::Udp), vec![80]);
    }

    #[test]
    fn no_ports_for_protocol() {
        assert_eq!(
            PortList::parse_for("U:53", Proto::Tcp),
            Err(PortError::NoPortsFor {
                spec: "U:53".into(),
                proto: Proto::Tcp
            })
        );
        assert_eq!(
            PortList::parse_for("U:53", Proto::Tcp)
                .unwrap_err()
                .to_string(),
            "port list \"U:53\" selects no TCP ports"
        );
    }

    #[test]
    fn specific_errors() {
        assert_eq!(err(""), PortError::Empty);
        assert_eq!(err(","), PortError::EmptyItem(",".into()));
        assert_eq!(err("80,"), PortError::EmptyItem("80,".into()));
        assert_eq!(err(",80"), PortError::EmptyItem(",80".into()));
        assert_eq!(err("80,,443"), PortError::EmptyItem("80,,443".into()));
        assert_eq!(err("70000"), PortError::OutOfRange("70000".into()));
        assert_eq!(err("1-70000"), PortError::OutOfRange("70000".into()));
        assert_eq!(
            err("99999999999999999999999"),
            PortError::OutOfRange("99999999999999999999999".into())
        );
        assert_eq!(err("5-1"), PortError::Reversed("5-1".into()));
        assert_eq!(err("1-2-3"), PortError::Invalid("1-2-3".into()));
        assert_eq!(err("http"), PortError::Invalid("http".into()));
        assert_eq!(err("--"), PortError::Invalid("--".into()));
        assert_eq!(err("+80"), PortError::Invalid("+80".into()));
        assert_eq!(err(" 80"), PortError::Invalid(" 80".into()));
        assert_eq!(err("T:"), PortError::MissingPorts("T:".into()));
        assert_eq!(err("T:,80"), PortError::MissingPorts("T:".into()));
        assert_eq!(err("X:80"), PortError::UnknownProtocol("X:".into()));
        assert_eq!(err(":80"), PortError::UnknownProtocol(":".into()));
        assert_eq!(err("T:U:80"), PortError::Invalid("U:80".into()));
        assert_eq!(
            err("70000").to_string(),
            "invalid port \"70000\": ports are 0-65535"
        );
    }

    #[test]
    fn odd_inputs_never_panic_and_give_one_line_errors() {
        let odd = [
            "",
            "-",
            "--",
            ",",
            ",,",
            "80,",
            "T:",
            "U:",
            ":",
            "::",
            "T::80",
            "70000",
            "65536",
            "5-1",
            "-0",
            "0-",
            "1.5",
            "80 443",
            "80\n",
            "\u{0}",
            "é",
            "T:80,",
            "T:-",
            "-65536",
            "a-b",
            "1-",
            "-1",
            "[1-10]",
            "*",
            "ht*",
            "1,2,3,4,5-",
        ];
        for spec in odd {
            for proto in [Proto::Tcp, Proto::Udp] {
                match PortList::parse_for(spec, proto) {
                    Ok(list) => assert!(!list.is_empty()),
                    Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
                }
            }
            let _ = PortList::parse(spec);
        }
        // "-0" is 1-0: reversed, not a silent empty list.
        assert_eq!(err("-0"), PortError::Reversed("-0".into()));
        assert_eq!(ports("0-"), (0..=u16::MAX).collect::<Vec<_>>());
    }

    #[test]
    fn from_iterator_dedups_and_debug_is_compact() {
        let list: PortList = [443u16, 80, 443, 22].into_iter().collect();
        assert_eq!(list.as_slice(), &[443, 80, 22]);
        assert_eq!(format!("{list:?}"), "PortList([443, 80, 22])");
        let empty: PortList = std::iter::empty().collect();
        assert!(empty.is_empty());
        assert_eq!(empty.index_of(0), None);
        assert_eq!(list.clone(), list);
    }
}
