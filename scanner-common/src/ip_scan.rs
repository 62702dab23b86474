//! The IP protocol scan's probes (-sO), where both sides must agree on them.
//!
//! Every probe carries the cookie of [`ProbeId::ip_scan`](crate::cookie::ProbeId::ip_scan) in
//! its IP ID, which is all an ICMP error about an empty datagram can quote. Where the protocol
//! has a header of ours, the header carries more of it, as nmap's probes carry their own:
//!
//! | protocol | probe (as nmap's)                | cookie in                          | answer we check          |
//! |----------|----------------------------------|------------------------------------|--------------------------|
//! | TCP      | ACK to port 80                   | source port, sequence and ack no.  | RST in sequence          |
//! | UDP      | empty datagram to port 40125     | source port                        | datagram back to it      |
//! | ICMP     | echo request                     | identifier and sequence number     | echo reply               |
//! | SCTP     | INIT to port 80                  | source port, initiate tag          | packet with our tag      |
//! | IGMP     | membership query                 | (IP ID only)                       | -                        |
//! | others   | empty datagram                   | (IP ID only)                       | -                        |

/// Destination port of the TCP probe (nmap's DEFAULT_TCP_PROBE_PORT).
pub const TCP_PORT: u16 = 80;
/// Destination port of the UDP probe (nmap's DEFAULT_UDP_PROBE_PORT).
pub const UDP_PORT: u16 = 40125;
/// Destination port of the SCTP probe (nmap's DEFAULT_SCTP_PROBE_PORT).
pub const SCTP_PORT: u16 = 80;
