//! Minimal header views and the one bounds check the verifier needs before every access.

use aya_ebpf::programs::XdpContext;

/// A pointer to a `T` at `offset` into the packet, if the packet is long enough.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*const T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + offset) as *const T)
}

/// Like [`ptr_at`], for writing in place.
#[inline(always)]
pub fn ptr_at_mut<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    ptr_at::<T>(ctx, offset).map(|ptr| ptr as *mut T)
}

#[repr(C)]
pub struct EthHdr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// Network order.
    pub ether_type: u16,
}

/// IPv4 header; multi-byte fields are kept in network order as loaded.
#[repr(C)]
pub struct Ipv4Hdr {
    pub version_ihl: u8,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    pub frag_off: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub check: u16,
    pub saddr: u32,
    pub daddr: u32,
}

impl Ipv4Hdr {
    /// Header length in bytes, or `None` when the header is not a valid IPv4 one.
    #[inline(always)]
    pub fn header_len(&self) -> Option<usize> {
        if self.version_ihl >> 4 != 4 {
            return None;
        }
        let len = usize::from(self.version_ihl & 0x0f) * 4;
        (len >= 20).then_some(len)
    }
    /// Source as `u32::from_be_bytes` of its octets (the form the cookie takes).
    #[inline(always)]
    pub fn src(&self) -> u32 {
        u32::from_be(self.saddr)
    }
    #[inline(always)]
    pub fn dst(&self) -> u32 {
        u32::from_be(self.daddr)
    }
    /// A non-first fragment has no transport header to read.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        u16::from_be(self.frag_off) & 0x1fff != 0
    }
    /// A first fragment (more follow) or a later one: not a whole datagram.
    #[inline(always)]
    pub fn is_fragmented(&self) -> bool {
        u16::from_be(self.frag_off) & 0x3fff != 0
    }
}

/// The first 20 bytes of a TCP header.
#[repr(C)]
pub struct TcpHdr {
    pub source: u16,
    pub dest: u16,
    pub seq: u32,
    pub ack_seq: u32,
    pub data_off: u8,
    pub flags: u8,
    pub window: u16,
    pub check: u16,
    pub urg_ptr: u16,
}

/// The first 8 bytes of a transport header: all an ICMP error must quote (RFC 792).
#[repr(C)]
pub struct QuotedL4 {
    pub source: u16,
    pub dest: u16,
    pub word: u32,
}

#[repr(C)]
pub struct IcmpHdr {
    pub icmp_type: u8,
    pub code: u8,
    pub check: u16,
    pub rest: u32,
}

/// The SCTP common header (RFC 9260 3.1), followed by the first chunk's type.
#[repr(C)]
pub struct SctpHdr {
    pub source: u16,
    pub dest: u16,
    pub vtag: u32,
    pub checksum: u32,
    pub chunk_type: u8,
}

/// The first 8 bytes of a UDP header.
#[repr(C)]
pub struct UdpHdr {
    pub source: u16,
    pub dest: u16,
    pub len: u16,
    pub check: u16,
}
