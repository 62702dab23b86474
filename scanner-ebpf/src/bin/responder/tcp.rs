//! TCP: a SYN without ACK or RST to an address of the range is a probe. Open: SYN-ACK
//! acknowledging it (seq from the ground truth's hash, window 64240). Closed: RST-ACK
//! acknowledging it (seq 0, RFC 9293 3.10.7.1). The answer is the probe rewritten in place —
//! MACs, addresses and ports swapped, TTL 64, options and payload cut off — and its IPv4 and
//! TCP checksums computed afresh.

use aya_ebpf::{helpers::bpf_xdp_adjust_tail, programs::XdpContext};
use scanner_common::{
    checksum::Sum,
    responder::{self, Counter, ResponderConfig, Truth},
    wire::{ETH_HEADER_LEN, ETH_P_IPV4, IPV4_HEADER_LEN, TCP_HEADER_LEN, ip_proto, tcp_flags},
};
use scanner_ebpf::headers::{EthHdr, Ipv4Hdr, TcpHdr, ptr_at, ptr_at_mut};

use crate::{Outcome, count_probe};

const TCP_AT: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN;
/// The answer's frame: Ethernet, a 20-byte IPv4 header, a 20-byte TCP header, nothing else.
const ANSWER_LEN: usize = TCP_AT + TCP_HEADER_LEN;
const ANSWER_IP_LEN: u16 = (IPV4_HEADER_LEN + TCP_HEADER_LEN) as u16;
const TTL: u8 = 64;
/// Linux's initial window for a 1460-byte MSS.
const WINDOW: u16 = 64240;
const DONT_FRAGMENT: u16 = 0x4000;
/// Version 4, 20-byte header: the only IPv4 header the responder answers.
const VERSION_IHL: u8 = 0x45;

#[inline(always)]
pub fn answer(ctx: &XdpContext, config: &ResponderConfig, ip: &Ipv4Hdr) -> Outcome {
    if ip.version_ihl != VERSION_IHL || ip.is_fragmented() {
        return Outcome::Malformed;
    }
    let Some(eth) = ptr_at::<EthHdr>(ctx, 0) else {
        return Outcome::Malformed;
    };
    let Some(tcp) = ptr_at::<TcpHdr>(ctx, TCP_AT) else {
        return Outcome::Malformed;
    };
    let (eth, tcp) = unsafe { (&*eth, &*tcp) };
    let header_len = usize::from(tcp.data_off >> 4) * 4;
    let ip_len = usize::from(u16::from_be(ip.total_len));
    let frame_len = ctx.data_end() - ctx.data();
    if header_len < TCP_HEADER_LEN
        || ip_len < IPV4_HEADER_LEN + header_len
        || ETH_HEADER_LEN + ip_len > frame_len
    {
        return Outcome::Malformed;
    }
    if tcp.flags & tcp_flags::SYN == 0 || tcp.flags & (tcp_flags::ACK | tcp_flags::RST) != 0 {
        return Outcome::Pass;
    }
    count_probe();
    let (us, peer) = (ip.dst(), ip.src());
    let (our_port, peer_port) = (u16::from_be(tcp.dest), u16::from_be(tcp.source));
    let answer = responder::answer(config, us, our_port, ip_proto::TCP);
    let (flags, seq, window, counter) = match answer.truth {
        Truth::Silent => return Outcome::Silent,
        Truth::Open => (
            tcp_flags::SYN | tcp_flags::ACK,
            answer.isn,
            WINDOW,
            Counter::Open,
        ),
        Truth::Closed => (tcp_flags::RST | tcp_flags::ACK, 0, 0, Counter::Closed),
    };
    // Everything the answer takes from the probe, read before the frame changes.
    let ack = u32::from_be(tcp.seq).wrapping_add(1);
    let (peer_mac, our_mac) = (eth.src, eth.dst);

    // Options, payload and padding go: the answer is a bare header.
    if frame_len > ANSWER_LEN {
        let delta = ANSWER_LEN as i32 - frame_len as i32;
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
            return Outcome::Malformed;
        }
    }
    // The frame moved (or may have): every pointer is checked again.
    let (Some(eth), Some(ip), Some(tcp)) = (
        ptr_at_mut::<EthHdr>(ctx, 0),
        ptr_at_mut::<Ipv4Hdr>(ctx, ETH_HEADER_LEN),
        ptr_at_mut::<TcpHdr>(ctx, TCP_AT),
    ) else {
        return Outcome::Malformed;
    };

    let ip_check = Sum::default()
        // Version and header length, TOS 0; the ID is 0.
        .add16(u16::from(VERSION_IHL) << 8)
        .add16(ANSWER_IP_LEN)
        .add16(DONT_FRAGMENT)
        .add16((u16::from(TTL) << 8) | u16::from(ip_proto::TCP))
        .add32(us)
        .add32(peer)
        .finish();
    let tcp_check = Sum::default()
        // Pseudo-header: addresses, protocol, TCP length.
        .add32(us)
        .add32(peer)
        .add16(u16::from(ip_proto::TCP))
        .add16(TCP_HEADER_LEN as u16)
        // The header.
        .add16(our_port)
        .add16(peer_port)
        .add32(seq)
        .add32(ack)
        .add16((((TCP_HEADER_LEN / 4) as u16) << 12) | u16::from(flags))
        .add16(window)
        .finish();
    // SAFETY: each pointer was bounds-checked above; packet data need not be aligned, so the
    // headers are written unaligned.
    unsafe {
        eth.write_unaligned(EthHdr {
            dst: peer_mac,
            src: our_mac,
            ether_type: ETH_P_IPV4.to_be(),
        });
        ip.write_unaligned(Ipv4Hdr {
            version_ihl: VERSION_IHL,
            tos: 0,
            total_len: ANSWER_IP_LEN.to_be(),
            id: 0,
            frag_off: DONT_FRAGMENT.to_be(),
            ttl: TTL,
            protocol: ip_proto::TCP,
            check: ip_check.to_be(),
            saddr: us.to_be(),
            daddr: peer.to_be(),
        });
        tcp.write_unaligned(TcpHdr {
            source: our_port.to_be(),
            dest: peer_port.to_be(),
            seq: seq.to_be(),
            ack_seq: ack.to_be(),
            data_off: ((TCP_HEADER_LEN / 4) as u8) << 4,
            flags,
            window: window.to_be(),
            check: tcp_check.to_be(),
            urg_ptr: 0,
        });
    }
    Outcome::Answered(counter)
}
