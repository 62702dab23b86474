//! OS detection's probe identity: which ports and ICMP id nmap-style OS probes to a target use,
//! derived from the scan's key, so the XDP program recognises their replies without state.
//!
//! nmap's probes must carry nmap's sequence numbers, windows and options, so there is no room
//! for a cookie in them; what stays ours to choose is where they leave from. Each target gets
//! a keyed base for its TCP source ports, its U1 source port and its echo identifier; round
//! `r` of up to [`MAX_TRIES`] uses the block at `base + r * stride`. A reply is claimed when
//! its destination port (or echo id, or quoted U1 source port) falls in the target's window.

use crate::cookie::{Cookie, Key, ProbeId};

/// Rounds ("tries") whose probes have ports of their own: nmap's `--max-os-tries` up to this.
pub const MAX_TRIES: u8 = 10;
/// TCP source ports per round: SEQ1-6, OPS1-6, ECN, T1-T7.
pub const TCP_PORTS_PER_TRY: u16 = 20;
/// Echo ids per round: IE1 and IE2.
pub const ECHO_IDS_PER_TRY: u16 = 2;
/// TCP source ports of all rounds of one target.
pub const TCP_PORT_WINDOW: u16 = TCP_PORTS_PER_TRY * MAX_TRIES as u16;
pub const ECHO_ID_WINDOW: u16 = ECHO_IDS_PER_TRY * MAX_TRIES as u16;
pub const UDP_PORT_WINDOW: u16 = MAX_TRIES as u16;

/// Source ports come from 33000-63999, as nmap's (`magic_port`); the windows fit above them.
const PORT_FLOOR: u32 = 33_000;
const PORT_SPAN: u32 = 31_000;

/// The protocol byte of the identity message; keys are per scan, so OS detection's identities
/// never meet another scan's.
const OS_IDENTITY_PROTO: u8 = 0xff;

/// Where one target's OS probes leave from and which echo id they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsIdentity {
    pub tcp_port_base: u16,
    pub udp_port_base: u16,
    pub echo_id_base: u16,
}

impl OsIdentity {
    /// `source` and `target` as `u32::from_be_bytes` of their octets.
    #[inline(always)]
    pub fn of(key: &Key, source: u32, target: u32) -> Self {
        let cookie = Cookie::of(
            key,
            &ProbeId {
                source,
                target,
                port: 0,
                proto: OS_IDENTITY_PROTO,
            },
        )
        .0;
        Self {
            tcp_port_base: (PORT_FLOOR + (cookie as u32 & 0xffff) % PORT_SPAN) as u16,
            udp_port_base: (PORT_FLOOR + ((cookie >> 16) as u32 & 0xffff) % PORT_SPAN) as u16,
            // Never 0 across the window: some stacks ignore echo requests with id 0.
            echo_id_base: 1 + ((cookie >> 32) as u16 % (u16::MAX - ECHO_ID_WINDOW)),
        }
    }

    /// Whether a TCP reply to `port` answers one of this target's OS probes.
    #[inline(always)]
    pub fn claims_tcp_port(&self, port: u16) -> bool {
        port.wrapping_sub(self.tcp_port_base) < TCP_PORT_WINDOW
    }

    /// Whether an echo reply with identifier `id` answers IE1 or IE2 of some round.
    #[inline(always)]
    pub fn claims_echo_id(&self, id: u16) -> bool {
        id.wrapping_sub(self.echo_id_base) < ECHO_ID_WINDOW
    }

    /// Whether a port unreachable quoting a UDP datagram from `port` quotes a U1.
    #[inline(always)]
    pub fn claims_udp_port(&self, port: u16) -> bool {
        port.wrapping_sub(self.udp_port_base) < UDP_PORT_WINDOW
    }

    /// The first TCP source port of round `try_index` (0-based, < [`MAX_TRIES`]).
    pub fn tcp_port_base_of(&self, try_index: u8) -> u16 {
        self.tcp_port_base + u16::from(try_index) * TCP_PORTS_PER_TRY
    }

    pub fn udp_port_of(&self, try_index: u8) -> u16 {
        self.udp_port_base + u16::from(try_index)
    }

    pub fn echo_id_base_of(&self, try_index: u8) -> u16 {
        self.echo_id_base + u16::from(try_index) * ECHO_IDS_PER_TRY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_stays_inside_the_windows_and_the_port_range() {
        for k0 in 0..2000u64 {
            let key = Key { k0, k1: !k0 };
            let id = OsIdentity::of(&key, 0xc612_0001, 0xc612_8000 + k0 as u32);
            for r in 0..MAX_TRIES {
                let tcp = id.tcp_port_base_of(r);
                assert!(tcp >= 33_000 && tcp + TCP_PORTS_PER_TRY - 1 < u16::MAX);
                assert!(id.claims_tcp_port(tcp) && id.claims_tcp_port(tcp + 19));
                assert!(id.claims_udp_port(id.udp_port_of(r)));
                let echo = id.echo_id_base_of(r);
                assert!(echo != 0 && echo.checked_add(1).is_some());
                assert!(id.claims_echo_id(echo) && id.claims_echo_id(echo + 1));
            }
            assert!(!id.claims_tcp_port(id.tcp_port_base - 1));
            assert!(!id.claims_tcp_port(id.tcp_port_base + TCP_PORT_WINDOW));
            assert!(!id.claims_udp_port(id.udp_port_base + UDP_PORT_WINDOW));
            assert!(!id.claims_echo_id(id.echo_id_base + ECHO_ID_WINDOW));
        }
    }

    #[test]
    fn identities_depend_on_key_and_target() {
        let key = Key { k0: 7, k1: 9 };
        let a = OsIdentity::of(&key, 1, 2);
        assert_ne!(a, OsIdentity::of(&key, 1, 3));
        assert_ne!(a, OsIdentity::of(&Key { k0: 8, k1: 9 }, 1, 2));
    }
}
