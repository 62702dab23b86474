//! nmap-compatible TCP/IP OS detection (-O), the pure part: probe packets, the tests computed
//! from the replies, fingerprints and their text, nmap-os-db and matching. No sockets here.
//!
//! A round, as the engine drives it (nmap runs up to five, two if the fingerprint cannot be
//! submitted, and stops at a perfect match):
//! 1. pick a [`probes::ProbePlan`] (ports, sequence numbers, ICMP id, TTLs: nmap's random
//!    choices) and send [`probes::ProbePlan::schedule`]: SEQ1-6 [`probes::SEQ_INTERVAL`]
//!    apart, then the rest; note each send in a [`replies::RoundReplies`];
//! 2. offer every IPv4 packet from the target to [`replies::RoundReplies::record_reply`]
//!    (it files replies by port / ICMP id as nmap does; resend probes still unanswered);
//! 3. [`attributes::fingerprint_round`] gives the round's [`fingerprint::SubjectFingerprint`];
//!    [`matcher::match_fingerprint`] scores it against an [`db::OsDb`].
//!
//! After the last round, [`matcher::best_round`] picks the round nmap reports,
//! [`matcher::Matches::verdict`] gives its "OS details" / "Aggressive OS guesses" line and
//! [`fingerprint::render_submission`] the "TCP/IP fingerprint" block.
//!
//! ```
//! use std::time::Duration;
//! use scanner::os::{attributes, probes::{ProbePlan, U1_IP_ID}, replies::RoundReplies};
//!
//! let plan = ProbePlan {
//!     source: [198, 18, 0, 1].into(),
//!     target: [198, 18, 0, 2].into(),
//!     open_tcp_port: Some(80),
//!     closed_tcp_port: Some(81),
//!     closed_udp_port: 40125,
//!     tcp_port_base: 45000,
//!     udp_source_port: 52000,
//!     tcp_seq_base: 0x3a5f_0c21,
//!     tcp_ack: 0x9d11_47e8,
//!     icmp_echo_id: 0x51c3,
//!     ttl: 52,
//!     udp_ttl: 58,
//!     u1_ip_id: U1_IP_ID,
//! };
//! let mut round = RoundReplies::new();
//! for (i, probe) in plan.schedule().into_iter().enumerate() {
//!     let packet = plan.packet(probe, 1000 + i as u16).expect("ports are known");
//!     // ... send `packet` ...
//!     round.record_sent(probe, Duration::from_millis(100 * i as u64));
//! }
//! // ... round.record_reply(&plan, &reply) for each packet from the target ...
//! let result = attributes::fingerprint_round(&plan, &round, None);
//! assert_eq!(result.fingerprint.to_string().lines().count(), 11); // SEQ and ten R=N
//! ```
//!
//! nmap's sources (osscan2.cc, osscan.cc) define the semantics; this is an independent
//! implementation of them, checked against captures of nmap 7.93 (tests/os_fixture.rs).

pub mod attributes;
pub mod db;
pub mod expr;
pub mod fingerprint;
pub mod ipid;
pub mod matcher;
pub mod packet;
pub mod probes;
pub mod replies;
pub mod sequence;
pub mod tcp_options;
