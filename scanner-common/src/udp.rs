//! The UDP scan's probes (-sU), where both sides must agree on them.
//!
//! A probe carries the cookie of its port in its source port and IP ID, which an answer
//! from the port and an ICMP error about it reflect. A DNS query carries more of it in its id,
//! which every DNS answer echoes: answers from a DNS port must carry it.

/// Ports whose probes are DNS queries and whose answers must carry [`dns_id`] in the DNS
/// header's first two bytes: DNS and multicast DNS (RFC 6762 answers unicast queries from a
/// port other than 5353 with the query's id).
///
/// [`dns_id`]: crate::cookie::Cookie::dns_id
pub const DNS_PORTS: [u16; 2] = [53, 5353];

/// Bytes of the DNS header: the id, flags and four counts (RFC 1035 4.1.1).
pub const DNS_HEADER_LEN: usize = 12;

/// Whether probes to `port` are DNS queries that carry the cookie in their id.
#[inline(always)]
pub const fn carries_dns_id(port: u16) -> bool {
    port == DNS_PORTS[0] || port == DNS_PORTS[1]
}
