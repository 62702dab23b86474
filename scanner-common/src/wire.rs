//! Wire constants both sides parse or emit.

pub const ETH_HEADER_LEN: usize = 14;
pub const ETH_P_IPV4: u16 = 0x0800;
pub const IPV4_HEADER_LEN: usize = 20;
pub const TCP_HEADER_LEN: usize = 20;
/// ICMP header up to the quoted packet (type, code, checksum, 4 bytes unused/rest).
pub const ICMP_HEADER_LEN: usize = 8;

pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const SCTP: u8 = 132;
}

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

pub mod icmp {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;

    /// Codes of destination unreachable (RFC 792, RFC 1812).
    pub mod unreach {
        pub const NET: u8 = 0;
        pub const HOST: u8 = 1;
        pub const PROTOCOL: u8 = 2;
        pub const PORT: u8 = 3;
        pub const NET_PROHIBITED: u8 = 9;
        pub const HOST_PROHIBITED: u8 = 10;
        pub const ADMIN_PROHIBITED: u8 = 13;
    }
}

pub const UDP_HEADER_LEN: usize = 8;
/// SCTP common header: ports, verification tag, checksum (RFC 9260 3.1).
pub const SCTP_HEADER_LEN: usize = 12;

pub mod sctp_chunk {
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const ABORT: u8 = 6;
    pub const COOKIE_ECHO: u8 = 10;
}
