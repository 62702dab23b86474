//! Where to send hand-built Ethernet frames: route, interface and next-hop MAC from rtnetlink.
//!
//! The scanner writes whole Ethernet frames to an AF_PACKET socket, so the kernel's IP stack does
//! none of the usual work for it. Before a scan we therefore ask the kernel, in the network
//! namespace of the calling thread, the same questions its own stack would answer: which
//! interface and source address a packet to the target would use (`route_to`), the MAC of that
//! interface, and the MAC of the next hop from the neighbour (ARP) table, prodding the kernel to
//! resolve it when it is not cached yet (`resolve_neighbour`).
//!
//! Every query is a short-lived, blocking `NETLINK_ROUTE` socket: rtnetlink answers synchronously
//! (a reply or the next dump part is produced inside our `send`/`recv` call), so a blocking
//! `recv` cannot wait forever, and a fresh socket per query means no stray replies to filter.

use std::io;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NLMSG_ALIGNTO, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkLayerType, LinkMessage, LinkXdp};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

mod arp;

/// A network interface we can send Ethernet frames on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Kernel interface index (what AF_PACKET's `sll_ifindex` wants).
    pub index: u32,
    /// Interface name, for messages.
    pub name: String,
    /// The interface's own MAC: the source address of every frame we build.
    pub mac: [u8; 6],
    /// Link MTU, the upper bound for the IP packets we put in a frame.
    pub mtu: u32,
}

/// The kernel's answer to "how would you send an IPv4 packet to this destination?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Outgoing interface.
    pub interface: Interface,
    /// Source address the kernel would pick (preferred source of the route, or of the interface).
    pub source: Ipv4Addr,
    /// Next-hop router, or `None` when the destination is on-link.
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    /// The address whose MAC goes into the frame's destination field: the gateway when there is
    /// one, otherwise `dst` itself (on-link).
    #[must_use]
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.gateway.unwrap_or(dst)
    }
}

/// Why a route, interface or neighbour could not be determined. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The socket could not be opened or used, or the kernel refused the request.
    #[error("rtnetlink {request} for {subject} failed: {source}")]
    Netlink {
        request: &'static str,
        subject: String,
        source: io::Error,
    },
    /// The kernel's reply could not be decoded.
    #[error("malformed rtnetlink reply to {request} for {subject}: {detail}")]
    Malformed {
        request: &'static str,
        subject: String,
        detail: String,
    },
    #[error("no route to {0}")]
    NoRoute(Ipv4Addr),
    /// A route exists but discards the packet (`ip route add blackhole|prohibit ...`).
    #[error("no route to {dst}: it matches a {kind} route")]
    Blocked { dst: Ipv4Addr, kind: &'static str },
    #[error("{0} is an address of this host; it cannot be reached through an Ethernet interface")]
    LocalDestination(Ipv4Addr),
    #[error("the route to {dst} is of type {kind}, not a unicast route")]
    UnsupportedRoute { dst: Ipv4Addr, kind: String },
    #[error("the route to {dst} goes through a non-IPv4 next hop, which is not supported")]
    NonIpv4NextHop { dst: Ipv4Addr },
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    #[error("no interface with index {0}")]
    NoSuchInterfaceIndex(u32),
    #[error("interface {0} is a loopback interface; raw Ethernet frames cannot be sent on it")]
    Loopback(String),
    #[error(
        "interface {name} is not an Ethernet interface (link type {kind}); it is not supported"
    )]
    NotEthernet { name: String, kind: String },
    #[error("interface with index {0} has no IPv4 address")]
    NoIpv4Address(u32),
    #[error(
        "could not resolve the MAC address of {ip} on {interface} (no ARP reply within {timeout:?}); give it with --gateway-mac"
    )]
    Unresolved {
        ip: Ipv4Addr,
        interface: String,
        timeout: Duration,
    },
    #[error("invalid MAC address {0:?}: expected six hex octets such as 02:00:00:00:00:02")]
    InvalidMac(String),
}

/// Asks the kernel's FIB which way a packet to `dst` would go.
///
/// This is a single `RTM_GETROUTE` for `dst`, not a dump of the routing table: the kernel runs
/// its real lookup, so policy routing rules, the route's preferred source and the namespace of
/// the calling thread are all honoured, exactly as for a packet the stack itself would send.
pub fn route_to(dst: Ipv4Addr) -> Result<Route, RouteError> {
    const REQUEST: &str = "RTM_GETROUTE";
    let mut query = RouteMessage::default();
    query.header.address_family = AddressFamily::Inet;
    query.header.destination_prefix_length = 32;
    query
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));

    let reply = rtnetlink(RouteNetlinkMessage::GetRoute(query), false)
        .map_err(|error| lookup_failure(dst, error))?;
    let route = reply
        .into_iter()
        .find_map(|message| match message {
            RouteNetlinkMessage::NewRoute(route) => Some(route),
            _ => None,
        })
        .ok_or_else(|| malformed(REQUEST, dst, "no RTM_NEWROUTE in the reply"))?;
    route_from_message(dst, &route)
}

/// The error for a failed route lookup. The kernel reports it with the errno of the route type
/// that matched (`fib_props` in net/ipv4/fib_semantics.c): no route at all, or an `unreachable`
/// route, gives EHOSTUNREACH or ENETUNREACH; `blackhole` gives EINVAL; `prohibit` gives EACCES.
fn lookup_failure(dst: Ipv4Addr, error: NetlinkError) -> RouteError {
    match error {
        NetlinkError::Kernel(libc::ENETUNREACH | libc::EHOSTUNREACH) => RouteError::NoRoute(dst),
        NetlinkError::Kernel(libc::EINVAL) => RouteError::Blocked {
            dst,
            kind: "blackhole",
        },
        NetlinkError::Kernel(libc::EACCES) => RouteError::Blocked {
            dst,
            kind: "prohibit",
        },
        other => other.into_route_error("RTM_GETROUTE", dst.to_string()),
    }
}

/// Accepts only unicast routes: a local destination never leaves the host, and broadcast or
/// multicast destinations have no single next-hop MAC. The discarding types are normally
/// reported as lookup errors instead, but are handled here too in case a kernel answers with them.
fn check_route_type(dst: Ipv4Addr, kind: RouteType) -> Result<(), RouteError> {
    let blocked = |kind| Err(RouteError::Blocked { dst, kind });
    match kind {
        RouteType::Unicast => Ok(()),
        RouteType::Local => Err(RouteError::LocalDestination(dst)),
        RouteType::Unreachable => Err(RouteError::NoRoute(dst)),
        RouteType::BlackHole => blocked("blackhole"),
        RouteType::Prohibit => blocked("prohibit"),
        other => Err(RouteError::UnsupportedRoute {
            dst,
            kind: format!("{other:?}").to_lowercase(),
        }),
    }
}

/// Turns the kernel's `RTM_NEWROUTE` answer into a `Route`, rejecting what we cannot send on.
fn route_from_message(dst: Ipv4Addr, route: &RouteMessage) -> Result<Route, RouteError> {
    check_route_type(dst, route.header.kind)?;
    let mut oif = None;
    let mut source = None;
    let mut gateway = None;
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => source = Some(*ip),
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
            // An IPv6 gateway for an IPv4 route (RFC 5549) would need IPv6 neighbour discovery.
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) => {
                return Err(RouteError::NonIpv4NextHop { dst });
            }
            _ => {}
        }
    }
    let oif = oif.ok_or_else(|| malformed("RTM_GETROUTE", dst, "no output interface"))?;
    let interface = interface_by_index(oif)?;
    // The kernel reports the source it selected; fall back to the interface's first address
    // for the (theoretical) case where it leaves RTA_PREFSRC out.
    let source = match source {
        Some(source) => source,
        None => interface_ipv4(oif)?,
    };
    Ok(Route {
        interface,
        source,
        gateway,
    })
}

/// Looks an interface up by name (for `-e/--interface`) with `RTM_GETLINK`.
///
/// Fails for names the kernel does not know, for loopback and for non-Ethernet links, since the
/// scanner can only send Ethernet frames.
pub fn interface_by_name(name: &str) -> Result<Interface, RouteError> {
    // The kernel would reject or truncate these (IFNAMSIZ is 16 including the NUL).
    if name.is_empty() || name.len() >= 16 || name.contains(['\0', '/']) {
        return Err(RouteError::NoSuchInterface(name.to_owned()));
    }
    let mut query = LinkMessage::default();
    query
        .attributes
        .push(LinkAttribute::IfName(name.to_owned()));
    get_link(query, name, || RouteError::NoSuchInterface(name.to_owned()))
}

/// Looks an interface up by index, as named by a route's output interface.
fn interface_by_index(index: u32) -> Result<Interface, RouteError> {
    let mut query = LinkMessage::default();
    query.header.index = index;
    get_link(query, &format!("interface index {index}"), || {
        RouteError::NoSuchInterfaceIndex(index)
    })
}

/// Sends one `RTM_GETLINK` query and converts its answer; `missing` builds the error for ENODEV.
fn get_link(
    query: LinkMessage,
    subject: &str,
    missing: impl FnOnce() -> RouteError,
) -> Result<Interface, RouteError> {
    const REQUEST: &str = "RTM_GETLINK";
    let reply = match rtnetlink(RouteNetlinkMessage::GetLink(query), false) {
        Err(NetlinkError::Kernel(libc::ENODEV)) => return Err(missing()),
        other => other.map_err(|e| e.into_route_error(REQUEST, subject.to_owned()))?,
    };
    let link = reply
        .into_iter()
        .find_map(|message| match message {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        })
        .ok_or_else(|| malformed(REQUEST, subject, "no RTM_NEWLINK in the reply"))?;
    interface_from_link(&link, subject)
}

/// Extracts name, MAC and MTU from a link message, accepting only Ethernet-framed links.
fn interface_from_link(link: &LinkMessage, subject: &str) -> Result<Interface, RouteError> {
    let mut name = None;
    let mut address = None;
    let mut mtu = None;
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::IfName(value) => name = Some(value.clone()),
            LinkAttribute::Address(value) => address = Some(value.as_slice()),
            LinkAttribute::Mtu(value) => mtu = Some(*value),
            _ => {}
        }
    }
    let name = name.ok_or_else(|| malformed("RTM_GETLINK", subject, "no interface name"))?;
    let not_ethernet = |kind: String| RouteError::NotEthernet {
        name: name.clone(),
        kind,
    };
    let mac = match link.header.link_layer_type {
        LinkLayerType::Loopback => return Err(RouteError::Loopback(name)),
        LinkLayerType::Ether => address
            .and_then(|bytes| <[u8; 6]>::try_from(bytes).ok())
            .ok_or_else(|| not_ethernet("ether without a 6-byte address".to_owned()))?,
        other => return Err(not_ethernet(other.to_string().to_lowercase())),
    };
    let mtu = mtu.ok_or_else(|| malformed("RTM_GETLINK", subject, "no MTU"))?;
    Ok(Interface {
        index: link.header.index,
        name,
        mac,
        mtu,
    })
}

/// The id of the XDP program attached to interface `index` (`IFLA_XDP_PROG_ID`), if any.
pub fn attached_xdp_program(index: u32) -> Result<Option<u32>, RouteError> {
    let mut query = LinkMessage::default();
    query.header.index = index;
    let subject = format!("interface index {index}");
    let reply = rtnetlink(RouteNetlinkMessage::GetLink(query), false)
        .map_err(|e| e.into_route_error("RTM_GETLINK", subject))?;
    Ok(reply
        .iter()
        .filter_map(|message| match message {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        })
        .flat_map(|link| &link.attributes)
        .filter_map(|attribute| match attribute {
            LinkAttribute::Xdp(xdp) => Some(xdp),
            _ => None,
        })
        .flatten()
        .find_map(|xdp| match xdp {
            LinkXdp::ProgId(id) if *id != 0 => Some(*id),
            _ => None,
        }))
}

/// The first IPv4 address of interface `index`, used as the source address when the user
/// picks the interface (`-e`) but no source (`-S`).
pub fn interface_ipv4(index: u32) -> Result<Ipv4Addr, RouteError> {
    interface_ipv4s(index)?
        .into_iter()
        .next()
        .ok_or(RouteError::NoIpv4Address(index))
}

/// Every IPv4 address of interface `index` (an `RTM_GETADDR` dump).
pub fn interface_ipv4s(index: u32) -> Result<Vec<Ipv4Addr>, RouteError> {
    let mut query = AddressMessage::default();
    query.header.family = AddressFamily::Inet;
    let reply = rtnetlink(RouteNetlinkMessage::GetAddress(query), true)
        .map_err(|e| e.into_route_error("RTM_GETADDR", format!("interface index {index}")))?;
    Ok(reply
        .iter()
        .filter_map(|message| match message {
            RouteNetlinkMessage::NewAddress(address) if address.header.index == index => {
                local_ipv4(address)
            }
            _ => None,
        })
        .collect())
}

/// Our own address in an address message. `IFA_LOCAL` comes first because on point-to-point
/// links `IFA_ADDRESS` is the peer's address.
fn local_ipv4(address: &AddressMessage) -> Option<Ipv4Addr> {
    let ipv4 = |wanted_local: bool| {
        address
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                AddressAttribute::Local(IpAddr::V4(ip)) if wanted_local => Some(*ip),
                AddressAttribute::Address(IpAddr::V4(ip)) if !wanted_local => Some(*ip),
                _ => None,
            })
    };
    ipv4(true).or_else(|| ipv4(false))
}

/// A usable neighbour table entry: its MAC, and whether the kernel vouches for it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourEntry {
    pub mac: [u8; 6],
    /// REACHABLE (confirmed within the last half minute or so), PERMANENT or NOARP; STALE,
    /// DELAY and PROBE entries are the kernel's last knowledge, unconfirmed.
    pub confirmed: bool,
}

/// The entry the neighbour table holds for `ip` on interface `index`, if it holds a usable one.
///
/// Entries still being resolved (INCOMPLETE) or given up on (FAILED) carry no valid MAC and
/// count as missing; NOARP and PERMANENT entries are static and always usable.
pub fn neighbour_mac(index: u32, ip: Ipv4Addr) -> Result<Option<NeighbourEntry>, RouteError> {
    let mut query = NeighbourMessage::default();
    query.header.family = AddressFamily::Inet;
    let reply = rtnetlink(RouteNetlinkMessage::GetNeighbour(query), true)
        .map_err(|e| e.into_route_error("RTM_GETNEIGH", format!("{ip} on interface {index}")))?;
    Ok(reply.iter().find_map(|message| match message {
        RouteNetlinkMessage::NewNeighbour(entry) => usable_mac(entry, index, ip),
        _ => None,
    }))
}

/// `entry` when it is the entry for `ip` on `index` and in a usable state.
fn usable_mac(entry: &NeighbourMessage, index: u32, ip: Ipv4Addr) -> Option<NeighbourEntry> {
    let confirmed = matches!(
        entry.header.state,
        NeighbourState::Reachable | NeighbourState::Permanent | NeighbourState::Noarp
    );
    let usable = confirmed
        || matches!(
            entry.header.state,
            NeighbourState::Stale | NeighbourState::Delay | NeighbourState::Probe
        );
    if !usable || entry.header.ifindex != index {
        return None;
    }
    let destination = entry
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)) => Some(*dst),
            _ => None,
        });
    if destination != Some(ip) {
        return None;
    }
    entry
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            NeighbourAttribute::LinkLayerAddress(mac) => <[u8; 6]>::try_from(mac.as_slice()).ok(),
            _ => None,
        })
        .map(|mac| NeighbourEntry { mac, confirmed })
}

/// How long an unconfirmed neighbour entry's address gets to answer our ARP request.
const CONFIRM_TIMEOUT: Duration = Duration::from_millis(500);

/// The next hop's MAC and how we know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// From the neighbour table: confirmed there, or confirmed by our ARP request.
    Table([u8; 6]),
    /// The table's unconfirmed entry was out of date: `mac` answered our ARP request.
    Corrected { mac: [u8; 6], stale: [u8; 6] },
    /// The table's unconfirmed entry, which did not answer our ARP request within `waited`.
    Unconfirmed { mac: [u8; 6], waited: Duration },
    /// The table's unconfirmed entry; our ARP request could not be sent.
    Unchecked { mac: [u8; 6], why: String },
}

impl Resolved {
    pub fn mac(&self) -> [u8; 6] {
        match *self {
            Resolved::Table(mac)
            | Resolved::Corrected { mac, .. }
            | Resolved::Unconfirmed { mac, .. }
            | Resolved::Unchecked { mac, .. } => mac,
        }
    }
}

/// How often the neighbour table is re-read while waiting for an ARP reply.
const NEIGHBOUR_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The MAC of `ip` on `interface`, asking the kernel to resolve it when it is not cached.
///
/// We do not send ARP ourselves: an ordinary UDP datagram to `ip` makes the kernel queue it and
/// run its own ARP exchange (with its own retries, and the answer lands in the neighbour table
/// where other tools see it too). Port 9 is the discard service, and the datagram is empty, so
/// even when it is delivered it asks nothing of the peer. Then the table is polled until
/// `timeout`.
///
/// An entry the kernel has not confirmed lately (STALE after half a minute unused) is checked
/// with an ARP request of our own first: our frames bypass the kernel's own re-check, so a
/// peer whose MAC changed would otherwise get every probe at a MAC nobody has.
pub fn resolve_neighbour(
    interface: &Interface,
    ip: Ipv4Addr,
    source_ip: Ipv4Addr,
    timeout: Duration,
) -> Result<Resolved, RouteError> {
    if let Some(entry) = neighbour_mac(interface.index, ip)? {
        if entry.confirmed {
            return Ok(Resolved::Table(entry.mac));
        }
        let timeout = timeout.min(CONFIRM_TIMEOUT);
        return Ok(
            match arp::who_has(interface.index, interface.mac, source_ip, ip, timeout) {
                Ok(Some(mac)) if mac == entry.mac => Resolved::Table(mac),
                Ok(Some(mac)) => Resolved::Corrected {
                    mac,
                    stale: entry.mac,
                },
                Ok(None) => Resolved::Unconfirmed {
                    mac: entry.mac,
                    waited: timeout,
                },
                Err(err) => Resolved::Unchecked {
                    mac: entry.mac,
                    why: err.to_string(),
                },
            },
        );
    }
    provoke_arp(ip);
    let deadline = Instant::now() + timeout;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        thread::sleep(NEIGHBOUR_POLL_INTERVAL.min(deadline - now));
        if let Some(entry) = neighbour_mac(interface.index, ip)? {
            return Ok(Resolved::Table(entry.mac));
        }
    }
    Err(RouteError::Unresolved {
        ip,
        interface: interface.name.clone(),
        timeout,
    })
}

/// Sends one empty UDP datagram to `ip:9` so the kernel resolves `ip`'s MAC. Failures are
/// ignored on purpose: an unresolvable neighbour shows up as a timeout, which has the better
/// error message, and a send error (e.g. EHOSTUNREACH from an earlier failed ARP) says nothing
/// more.
fn provoke_arp(ip: Ipv4Addr) {
    if let Ok(socket) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        && socket.connect((ip, 9)).is_ok()
    {
        let _ = socket.send(&[]);
    }
}

/// Parses a MAC address such as `02:00:00:00:00:02` or `02-00-00-00-00-02` (for
/// `--gateway-mac`). Octets are one or two hex digits; the separator must be used consistently.
pub fn parse_mac(s: &str) -> Result<[u8; 6], RouteError> {
    let invalid = || RouteError::InvalidMac(s.to_owned());
    let text = s.trim();
    let separator = if text.contains(':') { ':' } else { '-' };
    let mut mac = [0u8; 6];
    let mut octets = text.split(separator);
    for byte in &mut mac {
        let octet = octets.next().ok_or_else(invalid)?;
        let valid = (1..=2).contains(&octet.len()) && octet.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(invalid());
        }
        *byte = u8::from_str_radix(octet, 16).map_err(|_| invalid())?;
    }
    if octets.next().is_some() {
        return Err(invalid());
    }
    Ok(mac)
}

/// Formats a MAC the way `ip link` prints it: lowercase, colon-separated.
#[must_use]
pub fn format_mac(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Shorthand for a `RouteError::Malformed`.
fn malformed(request: &'static str, subject: impl ToString, detail: &str) -> RouteError {
    RouteError::Malformed {
        request,
        subject: subject.to_string(),
        detail: detail.to_owned(),
    }
}

/// Failure of one netlink exchange, before it is given a subject by the caller. Kept apart from
/// `RouteError` so callers can turn specific errnos (ENODEV, ENETUNREACH) into precise errors.
#[derive(Debug)]
enum NetlinkError {
    /// The socket itself failed (open, send, recv).
    Io(io::Error),
    /// The kernel answered with NLMSG_ERROR (or a failed NLMSG_DONE); holds the positive errno.
    Kernel(i32),
    /// The reply could not be decoded.
    Malformed(String),
}

impl NetlinkError {
    fn into_route_error(self, request: &'static str, subject: String) -> RouteError {
        match self {
            Self::Io(source) => RouteError::Netlink {
                request,
                subject,
                source,
            },
            Self::Kernel(errno) => RouteError::Netlink {
                request,
                subject,
                source: io::Error::from_raw_os_error(errno),
            },
            Self::Malformed(detail) => RouteError::Malformed {
                request,
                subject,
                detail,
            },
        }
    }
}

impl From<io::Error> for NetlinkError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Sequence number of our requests; each request has a socket of its own, so one value suffices.
const SEQUENCE: u32 = 1;

/// Sends one rtnetlink request and returns the messages of its reply.
///
/// `dump` asks for a whole table (`NLM_F_DUMP`); the reply then spans several datagrams marked
/// `NLM_F_MULTI` and ends with `NLMSG_DONE`. Without it the kernel answers with one message (or
/// an `NLMSG_ERROR`). This is the only place that talks to the socket.
fn rtnetlink(
    request: RouteNetlinkMessage,
    dump: bool,
) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    // Only the kernel (port 0) may talk to us.
    socket.connect(&SocketAddr::new(0, 0))?;

    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
    header.sequence_number = SEQUENCE;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::from(request));
    message.finalize();
    let mut buffer = vec![0; message.buffer_len()];
    message.serialize(&mut buffer);
    retry_interrupted(|| socket.send(&buffer, 0))?;

    let mut replies = Vec::new();
    loop {
        receive_datagram(&socket, &mut buffer)?;
        if collect_datagram(&buffer, &mut replies)? == Progress::Finished {
            return Ok(replies);
        }
    }
}

/// Reads one whole datagram into `buffer`, however large. A netlink datagram that does not fit
/// the buffer is silently truncated, so we first peek at its size (`MSG_PEEK | MSG_TRUNC` makes
/// `recv` return the real length) and size the buffer to match.
fn receive_datagram(socket: &Socket, buffer: &mut Vec<u8>) -> io::Result<()> {
    let size = retry_interrupted(|| {
        socket.recv(&mut &mut [0u8; 0][..], libc::MSG_PEEK | libc::MSG_TRUNC)
    })?;
    buffer.clear();
    buffer.resize(size, 0);
    let received = retry_interrupted(|| socket.recv(&mut &mut buffer[..], 0))?;
    buffer.truncate(received);
    Ok(())
}

/// Repeats a socket call that a signal interrupted.
fn retry_interrupted<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Whether a reply is complete after the datagram just read.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    Finished,
    MoreToCome,
}

/// Appends the messages of one received datagram to `replies`.
///
/// A datagram may hold several netlink messages back to back, each padded to 4 bytes. The reply
/// is finished at `NLMSG_DONE`, at an `NLMSG_ERROR` (an error, or an ACK), or after a message
/// without `NLM_F_MULTI` (a single answer). A dump the kernel flags `NLM_F_DUMP_INTR` (the table
/// changed while it was being dumped) is still used: we look for one entry, and a caller that
/// misses it polls again anyway.
fn collect_datagram(
    datagram: &[u8],
    replies: &mut Vec<RouteNetlinkMessage>,
) -> Result<Progress, NetlinkError> {
    let mut progress = Progress::MoreToCome;
    let mut offset = 0;
    while offset < datagram.len() {
        let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[offset..])
            .map_err(|error| NetlinkError::Malformed(error.to_string()))?;
        let length = message.header.length as usize;
        if length == 0 {
            return Err(NetlinkError::Malformed("zero-length message".to_owned()));
        }
        offset += length.next_multiple_of(usize::from(NLMSG_ALIGNTO));
        if message.header.sequence_number != SEQUENCE {
            continue;
        }
        let multipart = message.header.flags & NLM_F_MULTIPART != 0;
        match message.payload {
            NetlinkPayload::InnerMessage(inner) => {
                replies.push(inner);
                if !multipart {
                    progress = Progress::Finished;
                }
            }
            NetlinkPayload::Error(error) => match error.code {
                Some(code) => return Err(NetlinkError::Kernel(code.get().saturating_abs())),
                None => progress = Progress::Finished,
            },
            NetlinkPayload::Done(done) if done.code < 0 => {
                return Err(NetlinkError::Kernel(done.code.saturating_abs()));
            }
            NetlinkPayload::Done(_) => progress = Progress::Finished,
            NetlinkPayload::Overrun(_) => {
                return Err(NetlinkError::Malformed("receive buffer overrun".to_owned()));
            }
            _ => {}
        }
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};
    use std::num::NonZeroI32;

    #[test]
    fn parses_colon_and_dash_separated_macs() {
        let expected = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
        assert_eq!(parse_mac("02:00:00:00:00:02").unwrap(), expected);
        assert_eq!(parse_mac("02-00-00-00-00-02").unwrap(), expected);
        assert_eq!(parse_mac("2:0:0:0:0:2").unwrap(), expected);
        assert_eq!(
            parse_mac("AA:bb:Cc:dD:ee:FF").unwrap(),
            [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]
        );
        assert_eq!(parse_mac(" 02:00:00:00:00:02\n").unwrap(), expected);
    }

    #[test]
    fn rejects_malformed_macs() {
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:02:03",
            "02:00:00:00:00:",
            "02::00:00:00:02",
            "002:00:00:00:00:02",
            "0g:00:00:00:00:02",
            "02:00-00:00:00:02",
            "+2:00:00:00:00:02",
            "020000000002",
            "02.00.00.00.00.02",
        ] {
            let error = parse_mac(bad).expect_err(bad);
            let message = error.to_string();
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn formats_macs_lowercase_with_colons() {
        assert_eq!(format_mac(&[0x02, 0, 0, 0, 0, 0x02]), "02:00:00:00:00:02");
        assert_eq!(
            format_mac(&[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
            "aa:bb:cc:dd:ee:ff"
        );
        let mac = [0x5e, 0x0a, 0x1b, 0xff, 0x00, 0x7f];
        assert_eq!(parse_mac(&format_mac(&mac)).unwrap(), mac);
    }

    #[test]
    fn next_hop_is_gateway_or_destination() {
        let interface = Interface {
            index: 2,
            name: "va".to_owned(),
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
        };
        let mut route = Route {
            interface,
            source: Ipv4Addr::new(198, 18, 0, 1),
            gateway: Some(Ipv4Addr::new(198, 18, 0, 2)),
        };
        let dst = Ipv4Addr::new(198, 18, 128, 5);
        assert_eq!(route.next_hop(dst), Ipv4Addr::new(198, 18, 0, 2));
        route.gateway = None;
        assert_eq!(route.next_hop(dst), dst);
    }

    #[test]
    fn error_messages_name_their_subject() {
        let unresolved = RouteError::Unresolved {
            ip: Ipv4Addr::new(198, 18, 0, 2),
            interface: "vs0".to_owned(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            unresolved.to_string(),
            "could not resolve the MAC address of 198.18.0.2 on vs0 (no ARP reply within 1s); \
             give it with --gateway-mac"
        );
        assert_eq!(
            RouteError::NoRoute(Ipv4Addr::new(198, 18, 128, 1)).to_string(),
            "no route to 198.18.128.1"
        );
    }

    /// Serializes netlink messages back to back, as the kernel packs them into one datagram.
    fn datagram(messages: Vec<(u16, NetlinkPayload<RouteNetlinkMessage>)>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (flags, payload) in messages {
            let mut header = NetlinkHeader::default();
            header.flags = flags;
            header.sequence_number = SEQUENCE;
            let mut message = NetlinkMessage::new(header, payload);
            message.finalize();
            let start = bytes.len();
            bytes.resize(start + message.buffer_len(), 0);
            message.serialize(&mut bytes[start..]);
        }
        bytes
    }

    fn neighbour() -> NetlinkPayload<RouteNetlinkMessage> {
        let mut entry = NeighbourMessage::default();
        entry.header.family = AddressFamily::Inet;
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(entry))
    }

    fn done(code: i32) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut message = DoneMessage::default();
        message.code = code;
        NetlinkPayload::Done(message)
    }

    #[test]
    fn multipart_dump_spans_datagrams_until_done() {
        let mut replies = Vec::new();
        let first = datagram(vec![
            (NLM_F_MULTIPART, neighbour()),
            (NLM_F_MULTIPART, neighbour()),
        ]);
        let progress = collect_datagram(&first, &mut replies).unwrap();
        assert_eq!(progress, Progress::MoreToCome);
        let last = datagram(vec![
            (NLM_F_MULTIPART, neighbour()),
            (NLM_F_MULTIPART, done(0)),
        ]);
        let progress = collect_datagram(&last, &mut replies).unwrap();
        assert_eq!(progress, Progress::Finished);
        assert_eq!(replies.len(), 3);
    }

    #[test]
    fn single_reply_without_multi_flag_finishes() {
        let mut replies = Vec::new();
        let progress = collect_datagram(&datagram(vec![(0, neighbour())]), &mut replies).unwrap();
        assert_eq!(progress, Progress::Finished);
        assert_eq!(replies.len(), 1);
    }

    #[test]
    fn kernel_errors_become_positive_errnos() {
        let mut error = ErrorMessage::default();
        error.code = NonZeroI32::new(-libc::ENETUNREACH);
        let bytes = datagram(vec![(0, NetlinkPayload::Error(error))]);
        let result = collect_datagram(&bytes, &mut Vec::new());
        assert!(matches!(
            result,
            Err(NetlinkError::Kernel(libc::ENETUNREACH))
        ));

        let bytes = datagram(vec![(NLM_F_MULTIPART, done(-libc::EINTR))]);
        let result = collect_datagram(&bytes, &mut Vec::new());
        assert!(matches!(result, Err(NetlinkError::Kernel(libc::EINTR))));
    }

    #[test]
    fn truncated_datagram_is_an_error_not_a_panic() {
        let bytes = datagram(vec![(NLM_F_MULTIPART, neighbour())]);
        for cut in 1..bytes.len() {
            let result = collect_datagram(&bytes[..cut], &mut Vec::new());
            assert!(
                matches!(result, Err(NetlinkError::Malformed(_))),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn lookup_errnos_map_to_route_errors() {
        let dst = Ipv4Addr::new(198, 18, 64, 1);
        let message = |errno| lookup_failure(dst, NetlinkError::Kernel(errno)).to_string();
        assert_eq!(message(libc::ENETUNREACH), "no route to 198.18.64.1");
        assert_eq!(message(libc::EHOSTUNREACH), "no route to 198.18.64.1");
        assert_eq!(
            message(libc::EINVAL),
            "no route to 198.18.64.1: it matches a blackhole route"
        );
        assert_eq!(
            message(libc::EPERM),
            "rtnetlink RTM_GETROUTE for 198.18.64.1 failed: Operation not permitted (os error 1)"
        );
        assert!(check_route_type(dst, RouteType::Unicast).is_ok());
        assert!(matches!(
            check_route_type(dst, RouteType::Broadcast),
            Err(RouteError::UnsupportedRoute { kind, .. }) if kind == "broadcast"
        ));
    }

    fn neighbour_entry(state: NeighbourState, mac: &[u8]) -> NeighbourMessage {
        let mut entry = NeighbourMessage::default();
        entry.header.family = AddressFamily::Inet;
        entry.header.ifindex = 2;
        entry.header.state = state;
        entry.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(Ipv4Addr::new(198, 18, 0, 2))),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ];
        entry
    }

    #[test]
    fn only_resolved_neighbour_entries_count() {
        let ip = Ipv4Addr::new(198, 18, 0, 2);
        let mac = [2, 0, 0, 0, 0, 2];
        for state in [
            NeighbourState::Reachable,
            NeighbourState::Stale,
            NeighbourState::Permanent,
        ] {
            let confirmed = state != NeighbourState::Stale;
            assert_eq!(
                usable_mac(&neighbour_entry(state, &mac), 2, ip),
                Some(NeighbourEntry { mac, confirmed })
            );
        }
        for state in [NeighbourState::Incomplete, NeighbourState::Failed] {
            assert_eq!(usable_mac(&neighbour_entry(state, &mac), 2, ip), None);
        }
        let reachable = neighbour_entry(NeighbourState::Reachable, &mac);
        assert_eq!(usable_mac(&reachable, 3, ip), None);
        assert_eq!(
            usable_mac(&reachable, 2, Ipv4Addr::new(198, 18, 0, 3)),
            None
        );
        let short = neighbour_entry(NeighbourState::Reachable, &mac[..4]);
        assert_eq!(usable_mac(&short, 2, ip), None);
    }

    fn link(kind: LinkLayerType, address: &[u8]) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.header.index = 7;
        link.header.link_layer_type = kind;
        link.attributes = vec![
            LinkAttribute::IfName("vs0".to_owned()),
            LinkAttribute::Address(address.to_vec()),
            LinkAttribute::Mtu(9000),
        ];
        link
    }

    #[test]
    fn only_ethernet_links_become_interfaces() {
        let mac = [2, 0, 0, 0, 0, 1];
        let interface = interface_from_link(&link(LinkLayerType::Ether, &mac), "vs0").unwrap();
        let expected = Interface {
            index: 7,
            name: "vs0".to_owned(),
            mac,
            mtu: 9000,
        };
        assert_eq!(interface, expected);
        let tun = interface_from_link(&link(LinkLayerType::None, &[]), "vs0").unwrap_err();
        assert_eq!(
            tun.to_string(),
            "interface vs0 is not an Ethernet interface (link type none); it is not supported"
        );
        let odd = interface_from_link(&link(LinkLayerType::Ether, &[1, 2]), "vs0");
        assert!(matches!(odd, Err(RouteError::NotEthernet { .. })));
    }

    // The following talk to the kernel but need no privileges: every namespace has `lo`.

    #[test]
    fn unknown_interface_is_named_in_the_error() {
        let error = interface_by_name("nope").unwrap_err();
        assert_eq!(error.to_string(), "no interface named \"nope\"");
        assert!(matches!(
            interface_by_name("a-name-far-too-long"),
            Err(RouteError::NoSuchInterface(_))
        ));
    }

    #[test]
    fn loopback_is_refused() {
        assert!(matches!(interface_by_name("lo"), Err(RouteError::Loopback(name)) if name == "lo"));
        assert!(matches!(
            route_to(Ipv4Addr::LOCALHOST),
            Err(RouteError::LocalDestination(_))
        ));
    }
}
