//! What every answer does to its probe's frame: take the length of the answer, and carry the
//! probe's Ethernet and IPv4 headers turned around (TTL 64, ID 0, DF, checksum afresh).

use aya_ebpf::{helpers::bpf_xdp_adjust_tail, programs::XdpContext};
use scanner_common::{
    checksum::Sum,
    wire::{ETH_HEADER_LEN, ETH_P_IPV4, IPV4_HEADER_LEN},
};
use scanner_ebpf::headers::{EthHdr, Ipv4Hdr, ptr_at_mut};

const TTL: u8 = 64;
const DONT_FRAGMENT: u16 = 0x4000;
/// Version 4, 20-byte header: the only IPv4 header the responder answers.
pub const VERSION_IHL: u8 = 0x45;

/// Makes the frame `answer_len` bytes long (cutting options, payload and padding, or growing
/// into the tailroom); `false` when the driver refused.
#[inline(always)]
pub fn resize(ctx: &XdpContext, frame_len: usize, answer_len: usize) -> bool {
    if frame_len == answer_len {
        return true;
    }
    let delta = answer_len as i32 - frame_len as i32;
    unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) == 0 }
}

/// Writes the answer's Ethernet and IPv4 headers, from `us` to `peer` (addresses as
/// `u32::from_be_bytes`), carrying `l4_len` bytes of `protocol`. Pointers are checked afresh:
/// call it after [`resize`]. `false` when the frame is too short.
#[inline(always)]
pub fn write_headers(
    ctx: &XdpContext,
    (peer_mac, our_mac): ([u8; 6], [u8; 6]),
    (us, peer): (u32, u32),
    protocol: u8,
    l4_len: usize,
) -> bool {
    let (Some(eth), Some(ip)) = (
        ptr_at_mut::<EthHdr>(ctx, 0),
        ptr_at_mut::<Ipv4Hdr>(ctx, ETH_HEADER_LEN),
    ) else {
        return false;
    };
    let total_len = (IPV4_HEADER_LEN + l4_len) as u16;
    let check = Sum::default()
        // Version and header length, TOS 0; the ID is 0.
        .add16(u16::from(VERSION_IHL) << 8)
        .add16(total_len)
        .add16(DONT_FRAGMENT)
        .add16((u16::from(TTL) << 8) | u16::from(protocol))
        .add32(us)
        .add32(peer)
        .finish();
    // SAFETY: both pointers were bounds-checked above; packet data need not be aligned.
    unsafe {
        eth.write_unaligned(EthHdr {
            dst: peer_mac,
            src: our_mac,
            ether_type: ETH_P_IPV4.to_be(),
        });
        ip.write_unaligned(Ipv4Hdr {
            version_ihl: VERSION_IHL,
            tos: 0,
            total_len: total_len.to_be(),
            id: 0,
            frag_off: DONT_FRAGMENT.to_be(),
            ttl: TTL,
            protocol,
            check: check.to_be(),
            saddr: us.to_be(),
            daddr: peer.to_be(),
        });
    }
    true
}
