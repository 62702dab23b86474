//! SCTP (RFC 9260), as a host without associations answers out-of-the-blue packets (8.4) to
//! an address of the range, deciding with the ground truth of (address, port, 132):
//!
//! | first chunk            | open                 | closed                            | silent |
//! |------------------------|----------------------|-----------------------------------|--------|
//! | INIT (tag 0, alone)    | INIT ACK with cookie | ABORT, tag = initiate tag, T = 0  | drop   |
//! | COOKIE ECHO            | drop (not our cookie)| ABORT, tag reflected, T = 1       | drop   |
//! | anything else          | to the kernel        | to the kernel                     | ...    |
//!
//! Packets RFC 9260 says to discard silently are dropped and counted as malformed: a bad
//! CRC-32C (6.8), an INIT with a non-zero verification tag or bundled with other chunks
//! (8.5.1, 6.10), an initiate tag or stream count of 0 (3.3.2; the optional ABORT for a zero
//! stream count is not sent), any other chunk under tag 0 (8.5.1). The answer is the probe
//! rewritten in place, like TCP's, its SCTP part built and checksummed by
//! [`scanner_common::sctp`].

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    responder::{self, Counter, ResponderConfig, Truth},
    sctp::{self, CHECKSUM_AT, Crc32c, INIT_CHUNK_LEN, InitAck, Ports},
    wire::{ETH_HEADER_LEN, IPV4_HEADER_LEN, ip_proto, sctp_chunk},
};
use scanner_ebpf::headers::{EthHdr, Ipv4Hdr, ptr_at, ptr_at_mut};

use crate::{
    Outcome, count_probe,
    frame::{self, VERSION_IHL},
};

const SCTP_AT: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN;
/// The longest SCTP packet whose checksum the program verifies (a bounded loop, one byte per
/// round); longer ones — no probe is — go to the kernel. INITs of nmap, Linux and usrsctp
/// are 32 to about 100 bytes.
const MAX_CHECKED_LEN: usize = 512;
/// Our receive window (Linux's default for SCTP).
const A_RWND: u32 = 106_496;
/// Streams we ask for (Linux's default), fewer if the peer takes fewer.
const OUTBOUND_STREAMS: u16 = 10;
/// Streams we accept.
const INBOUND_STREAMS: u16 = 65535;

/// The common header and the first chunk's header, as bytes.
type Head = [u8; sctp::HEADER_LEN + sctp::CHUNK_HEADER_LEN];

#[inline(always)]
pub fn answer(ctx: &XdpContext, config: &ResponderConfig, ip: &Ipv4Hdr) -> Outcome {
    if ip.version_ihl != VERSION_IHL || ip.is_fragmented() {
        return Outcome::Malformed;
    }
    let (Some(eth), Some(head)) = (ptr_at::<EthHdr>(ctx, 0), ptr_at::<Head>(ctx, SCTP_AT)) else {
        return Outcome::Malformed;
    };
    // SAFETY: bounds-checked; a byte array has no alignment to respect.
    let (eth, head) = unsafe { (&*eth, *head) };
    let ip_len = usize::from(u16::from_be(ip.total_len));
    let frame_len = ctx.data_end() - ctx.data();
    if ip_len < IPV4_HEADER_LEN + head.len() || ETH_HEADER_LEN + ip_len > frame_len {
        return Outcome::Malformed;
    }
    let sctp_len = ip_len - IPV4_HEADER_LEN;
    let chunk_type = head[12];
    if chunk_type != sctp_chunk::INIT && chunk_type != sctp_chunk::COOKIE_ECHO {
        return Outcome::Pass;
    }
    let Some(crc) = checksum(ctx, sctp_len) else {
        return Outcome::Malformed;
    };
    if head[CHECKSUM_AT..CHECKSUM_AT + 4] != crc.to_le_bytes() {
        return Outcome::Discarded;
    }
    let ports = Ports {
        ours: u16::from_be_bytes([head[2], head[3]]),
        peer: u16::from_be_bytes([head[0], head[1]]),
    };
    let vtag = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let chunk_len = usize::from(u16::from_be_bytes([head[14], head[15]]));
    let (us, peer) = (ip.dst(), ip.src());
    let macs = (eth.src, eth.dst);

    if chunk_type == sctp_chunk::COOKIE_ECHO {
        if vtag == 0
            || chunk_len < sctp::CHUNK_HEADER_LEN
            || chunk_len > sctp_len - sctp::HEADER_LEN
        {
            return Outcome::Discarded;
        }
        count_probe();
        return match responder::truth(config, us, ports.ours, ip_proto::SCTP) {
            // No association, and the cookie is not one we issued (5.1.5): silently discarded.
            Truth::Open | Truth::Silent => Outcome::Silent,
            Truth::Closed => {
                let abort = sctp::abort(ports, vtag, true);
                send(ctx, macs, (us, peer), frame_len, &abort, Counter::Closed)
            }
        };
    }

    // INIT: alone in its packet (its length padded to 4 fills the packet), under tag 0.
    let padded = (chunk_len + 3) & !3;
    if vtag != 0 || chunk_len < INIT_CHUNK_LEN || padded != sctp_len - sctp::HEADER_LEN {
        return Outcome::Discarded;
    }
    let Some(init) = ptr_at::<[u8; 16]>(ctx, SCTP_AT + head.len()) else {
        return Outcome::Malformed;
    };
    // SAFETY: bounds-checked.
    let init = unsafe { *init };
    let peer_tag = u32::from_be_bytes([init[0], init[1], init[2], init[3]]);
    let peer_outbound = u16::from_be_bytes([init[8], init[9]]);
    let peer_inbound = u16::from_be_bytes([init[10], init[11]]);
    if peer_tag == 0 || peer_outbound == 0 || peer_inbound == 0 {
        return Outcome::Discarded;
    }
    count_probe();
    let answer = responder::answer(config, us, ports.ours, ip_proto::SCTP);
    match answer.truth {
        Truth::Silent => Outcome::Silent,
        Truth::Closed => {
            let abort = sctp::abort(ports, peer_tag, false);
            send(ctx, macs, (us, peer), frame_len, &abort, Counter::Closed)
        }
        Truth::Open => {
            // The truth's hash, which TCP takes for its ISN, is our tag and first TSN (3.3.2
            // allows the TSN to equal the tag); a tag must not be 0.
            let tag = answer.isn.max(1);
            let ack = InitAck {
                peer_tag,
                initiate_tag: tag,
                a_rwnd: A_RWND,
                outbound_streams: OUTBOUND_STREAMS.min(peer_inbound),
                inbound_streams: INBOUND_STREAMS,
                initial_tsn: tag,
            };
            let init_ack = sctp::init_ack(ports, &ack);
            send(ctx, macs, (us, peer), frame_len, &init_ack, Counter::Open)
        }
    }
}

/// The CRC-32C of the packet's `len` SCTP bytes, its checksum field taken as zero; `None` when
/// the packet is longer than [`MAX_CHECKED_LEN`] or shorter than `len`.
#[inline(always)]
fn checksum(ctx: &XdpContext, len: usize) -> Option<u32> {
    if len > MAX_CHECKED_LEN {
        return None;
    }
    let mut crc = Crc32c::new();
    for i in 0..MAX_CHECKED_LEN {
        if i >= len {
            break;
        }
        let byte = byte_at(ctx, SCTP_AT + i)?;
        crc = crc.byte(if (CHECKSUM_AT..CHECKSUM_AT + 4).contains(&i) {
            0
        } else {
            byte
        });
    }
    Some(crc.finish())
}

/// The packet's byte at `offset`, if there is one. The packet's bounds are read afresh
/// (volatile): from the earlier length checks LLVM would otherwise prove this check redundant
/// and drop it, and the verifier, which cannot follow that proof, would refuse the program.
#[inline(always)]
fn byte_at(ctx: &XdpContext, offset: usize) -> Option<u8> {
    // SAFETY: `ctx.ctx` points at the kernel's `xdp_md` for the whole program run.
    let (start, end) = unsafe {
        (
            core::ptr::read_volatile(&(*ctx.ctx).data) as usize,
            core::ptr::read_volatile(&(*ctx.ctx).data_end) as usize,
        )
    };
    if start + offset + 1 > end {
        return None;
    }
    // SAFETY: bounds-checked just above.
    Some(unsafe { *((start + offset) as *const u8) })
}

/// Turns the frame into `packet` from `us` to `peer`, an answer counted as `counter`; a probe
/// the driver would not resize is malformed.
#[inline(always)]
fn send<const N: usize>(
    ctx: &XdpContext,
    macs: ([u8; 6], [u8; 6]),
    addresses: (u32, u32),
    frame_len: usize,
    packet: &[u8; N],
    counter: Counter,
) -> Outcome {
    if !frame::resize(ctx, frame_len, SCTP_AT + N)
        || !frame::write_headers(ctx, macs, addresses, ip_proto::SCTP, N)
    {
        return Outcome::Malformed;
    }
    let Some(sctp) = ptr_at_mut::<[u8; N]>(ctx, SCTP_AT) else {
        return Outcome::Malformed;
    };
    // SAFETY: bounds-checked after the resize.
    unsafe { sctp.write_unaligned(*packet) };
    Outcome::Answered(counter)
}
