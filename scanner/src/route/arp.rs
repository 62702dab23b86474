//! One ARP exchange of our own, to confirm a neighbour entry the kernel keeps but has not
//! confirmed lately (STALE, DELAY, PROBE). The kernel re-checks such an entry only when its
//! own traffic uses it; our frames bypass it, so after the peer's MAC changed every probe
//! would go to a MAC nobody has, and the scan would hear nothing at all.

use std::{
    io, mem,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use pnet_packet::{
    arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket},
    ethernet::EtherTypes,
};

/// An ARP packet for IPv4 over Ethernet (RFC 826): 8 bytes of header, two (MAC, IPv4) pairs.
const ARP_LEN: usize = 28;
const BROADCAST: [u8; 6] = [0xff; 6];

/// The request "who has `ip`? tell `source_ip` at `source_mac`".
pub fn request(source_mac: [u8; 6], source_ip: Ipv4Addr, ip: Ipv4Addr) -> [u8; ARP_LEN] {
    let mut bytes = [0u8; ARP_LEN];
    let mut arp = MutableArpPacket::new(&mut bytes).expect("28 bytes hold an ARP packet");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(source_mac.into());
    arp.set_sender_proto_addr(source_ip);
    arp.set_target_hw_addr([0; 6].into());
    arp.set_target_proto_addr(ip);
    bytes
}

/// The MAC `packet` gives for `ip`, when it is an Ethernet/IPv4 ARP reply from `ip`.
pub fn answer_for(packet: &[u8], ip: Ipv4Addr) -> Option<[u8; 6]> {
    let arp = ArpPacket::new(packet)?;
    let shaped = arp.get_hardware_type() == ArpHardwareTypes::Ethernet
        && arp.get_protocol_type() == EtherTypes::Ipv4
        && arp.get_hw_addr_len() == 6
        && arp.get_proto_addr_len() == 4;
    (shaped && arp.get_operation() == ArpOperations::Reply && arp.get_sender_proto_addr() == ip)
        .then(|| arp.get_sender_hw_addr().octets())
}

/// Asks who has `ip` on interface `index` and returns the MAC of the first reply within
/// `timeout`, `None` when none came. Needs CAP_NET_RAW.
pub fn who_has(
    index: u32,
    source_mac: [u8; 6],
    source_ip: Ipv4Addr,
    ip: Ipv4Addr,
    timeout: Duration,
) -> io::Result<Option<[u8; 6]>> {
    let protocol = (libc::ETH_P_ARP as u16).to_be();
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::c_int::from(protocol),
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: a zeroed sockaddr_ll is valid; the fields used are set below.
    let mut to: libc::sockaddr_ll = unsafe { mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = protocol;
    to.sll_ifindex = index as i32;
    // SAFETY: the address is valid for its length.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const to).cast(),
            mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if bound < 0 {
        return Err(io::Error::last_os_error());
    }
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&BROADCAST);
    let asked = request(source_mac, source_ip, ip);
    // SAFETY: buffer and address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            asked.as_ptr().cast(),
            asked.len(),
            0,
            (&raw const to).cast(),
            mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 128];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&raw mut poll, 1, millis) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if ready == 0 {
            continue;
        }
        // SAFETY: the buffer is valid for its length.
        let len = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if let Ok(len) = usize::try_from(len)
            && let Some(mac) = answer_for(&buf[..len], ip)
        {
            return Ok(Some(mac));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const THEIRS: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[test]
    fn the_request_is_rfc_826s_who_has() {
        let bytes = request(
            OURS,
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
        );
        assert_eq!(
            bytes,
            [
                0, 1, 8, 0, 6, 4, 0, 1, // Ethernet, IPv4, 6, 4, request
                2, 0, 0, 0, 0, 1, 198, 18, 0, 1, // sender
                0, 0, 0, 0, 0, 0, 198, 18, 0, 2, // target
            ]
        );
    }

    #[test]
    fn only_a_reply_from_the_address_asked_about_answers() {
        let ip = Ipv4Addr::new(198, 18, 0, 2);
        let reply = |op: u8, sender: Ipv4Addr| {
            let mut bytes = request(THEIRS, sender, Ipv4Addr::new(198, 18, 0, 1));
            bytes[7] = op;
            bytes
        };
        assert_eq!(answer_for(&reply(2, ip), ip), Some(THEIRS));
        // A request from it, a reply from another address, a short packet: no answer.
        assert_eq!(answer_for(&reply(1, ip), ip), None);
        assert_eq!(
            answer_for(&reply(2, Ipv4Addr::new(198, 18, 0, 3)), ip),
            None
        );
        assert_eq!(answer_for(&reply(2, ip)[..20], ip), None);
        let mut other_hardware = reply(2, ip);
        other_hardware[1] = 6;
        assert_eq!(answer_for(&other_hardware, ip), None);
    }
}
