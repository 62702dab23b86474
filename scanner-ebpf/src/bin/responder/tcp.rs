//! TCP: a SYN without ACK or RST to an address of the range is a probe. Open: SYN-ACK
//! acknowledging it (seq from the ground truth's hash, window 64240). Closed: RST-ACK
//! acknowledging it (seq 0, RFC 9293 3.10.7.1). The answer is the probe rewritten in place —
//! MACs, addresses and ports swapped, TTL 64, options and payload cut off — and its IPv4 and
//! TCP checksums computed afresh.

use aya_ebpf::programs::XdpContext;
use scanner_common::{
    checksum::Sum,
    responder::{self, Counter, ResponderConfig, Truth},
    wire::{ETH_HEADER_LEN, IPV4_HEADER_LEN, TCP_HEADER_LEN, ip_proto, tcp_flags},
};
use scanner_ebpf::headers::{EthHdr, Ipv4Hdr, TcpHdr, ptr_at, ptr_at_mut};

use crate::{
    Outcome, count_probe,
    frame::{self, VERSION_IHL},
};

const TCP_AT: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN;
/// The answer's frame: Ethernet, a 20-byte IPv4 header, a 20-byte TCP header, nothing else.
const ANSWER_LEN: usize = TCP_AT + TCP_HEADER_LEN;
/// Linux's initial window for a 1460-byte MSS.
const WINDOW: u16 = 64240;

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
    if frame_len > ANSWER_LEN && !frame::resize(ctx, frame_len, ANSWER_LEN) {
        return Outcome::Malformed;
    }
    // The frame moved (or may have): every pointer is checked again.
    if !frame::write_headers(
        ctx,
        (peer_mac, our_mac),
        (us, peer),
        ip_proto::TCP,
        TCP_HEADER_LEN,
    ) {
        return Outcome::Malformed;
    }
    let Some(tcp) = ptr_at_mut::<TcpHdr>(ctx, TCP_AT) else {
        return Outcome::Malformed;
    };
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
    // SAFETY: bounds-checked above; packet data need not be aligned.
    unsafe {
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
