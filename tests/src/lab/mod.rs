//! The lab: a scanner namespace and a target namespace joined by a veth pair, addressed from
//! 198.18.0.0/15 (RFC 2544) with no default route, torn down on every exit path.
//!
//! ```text
//!  scnlab-<pid>-<n>-s                          scnlab-<pid>-<n>-t
//!  vs0 198.18.0.1/24 02:00:00:00:00:01 <-veth-> vt0 198.18.0.2/24 02:00:00:00:00:02
//!  (both ends with one TX and one RX queue per CPU, at least 2: one AF_XDP sender per queue)
//!  route 198.18.128.0/17 via 198.18.0.2         local 198.18.128.0/17 dev lo (AnyIP)
//!                                               listeners on 0.0.0.0:<open ports>
//!                                               nft: <dropped> drop, <rejected> reject 3/13
//!  with a responder:                            with a responder:
//!  route 198.19.0.0/16 via 198.18.0.2           XDP on vt0 answers 198.19.0.0/16 itself
//!                                               with an SCTP peer (usrsctp):
//!                                               SCTP port 9 of 198.18.0.2 answers INIT ACK
//! ```

pub mod cmd;
mod listen;
mod netns;
mod nft;
mod responder;
mod sctp_peer;
mod signal;
mod snmp;
mod udp;

use std::{
    ffi::OsStr,
    fmt::{self, Write as _},
    fs,
    net::Ipv4Addr,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

pub use netns::{NETNS_DIR, PREFIX as NAMESPACE_PREFIX};
pub use responder::{Responder, ResponderSettings};
pub use scanner_common::responder::{Counts as ResponderCounts, Truth};
pub use sctp_peer::SctpPeer;
pub use udp::UdpService;

/// What the target does on which TCP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// A real listener answers SYN-ACK.
    pub open_ports: Vec<u16>,
    /// nftables drops the SYN: no answer at all.
    pub dropped_ports: Vec<u16>,
    /// nftables answers ICMP destination unreachable, administratively prohibited (3/13).
    pub rejected_ports: Vec<u16>,
    /// IP protocols whose packets nftables drops (for the IP protocol scan).
    pub dropped_protocols: Vec<u8>,
    /// SCTP ports nftables drops.
    pub dropped_sctp_ports: Vec<u16>,
    /// IP protocols nftables rejects with ICMP 3/13.
    pub rejected_protocols: Vec<u8>,
    /// `false` (the default) turns the target's ICMP rate limiting off; `true` keeps Linux's
    /// defaults (after a burst, about one ICMP error per second per peer), as real hosts do.
    pub icmp_ratelimit: bool,
    /// An XDP responder on the target's `vt0` for its own range (routed via the target),
    /// beside the kernel's listeners; `None` (the default): none.
    pub responder: Option<ResponderSettings>,
    /// Sysctls set in the target namespace (its own TCP/IP stack), e.g.
    /// `("net.ipv4.tcp_timestamps", "0")`: stacks that differ for OS detection.
    pub target_sysctls: Vec<(&'static str, &'static str)>,
    /// More scanner namespaces (at most [`Lab::MAX_EXTRA_SCANNERS`]), each with a veth of its
    /// own to the same target: the machines of a sharded scan (see [`Lab::extra_scanner_ns`]).
    pub extra_scanners: u8,
    /// UDP services of the target's own address (every other UDP port is closed: ICMP port
    /// unreachable).
    pub udp_services: Vec<(u16, UdpService)>,
    /// UDP ports nftables drops, and rejects with ICMP 3/13.
    pub dropped_udp_ports: Vec<u16>,
    pub rejected_udp_ports: Vec<u16>,
}

impl Default for LabConfig {
    /// Open 22, 80, 443; 8081 dropped; 8082 rejected; every other port closed (RST).
    fn default() -> Self {
        LabConfig {
            open_ports: vec![22, 80, 443],
            dropped_ports: vec![8081],
            rejected_ports: vec![8082],
            dropped_protocols: Vec::new(),
            dropped_sctp_ports: Vec::new(),
            rejected_protocols: Vec::new(),
            icmp_ratelimit: false,
            responder: None,
            target_sysctls: Vec::new(),
            extra_scanners: 0,
            udp_services: Vec::new(),
            dropped_udp_ports: Vec::new(),
            rejected_udp_ports: Vec::new(),
        }
    }
}

/// The ground truth of one TCP port of every target address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortTruth {
    /// SYN-ACK.
    Open,
    /// RST (no listener, no filter).
    Closed,
    /// No answer (nft drop).
    Dropped,
    /// ICMP 3/13 (nft reject with icmp type admin-prohibited).
    Rejected,
}

impl PortTruth {
    /// The state nmap reports for it: `open`, `closed` or `filtered`.
    pub fn nmap_state(self) -> &'static str {
        match self {
            PortTruth::Open => "open",
            PortTruth::Closed => "closed",
            PortTruth::Dropped | PortTruth::Rejected => "filtered",
        }
    }

    /// What the target answers to a SYN.
    pub fn answer(self) -> &'static str {
        match self {
            PortTruth::Open => "SYN-ACK",
            PortTruth::Closed => "RST",
            PortTruth::Dropped => "nothing (nft drop)",
            PortTruth::Rejected => "ICMP 3/13 admin-prohibited (nft reject)",
        }
    }
}

impl LabConfig {
    /// Only the responder answers: no listeners, no filtered ports (the kernel still answers
    /// RST for every port of 198.18.128.0/17).
    pub fn responder_only(settings: ResponderSettings) -> Self {
        LabConfig {
            open_ports: Vec::new(),
            dropped_ports: Vec::new(),
            rejected_ports: Vec::new(),
            dropped_protocols: Vec::new(),
            dropped_sctp_ports: Vec::new(),
            rejected_protocols: Vec::new(),
            icmp_ratelimit: false,
            responder: Some(settings),
            target_sysctls: Vec::new(),
            extra_scanners: 0,
            udp_services: Vec::new(),
            dropped_udp_ports: Vec::new(),
            rejected_udp_ports: Vec::new(),
        }
    }

    /// What the target does on `port`.
    pub fn truth(&self, port: u16) -> PortTruth {
        if self.open_ports.contains(&port) {
            PortTruth::Open
        } else if self.dropped_ports.contains(&port) {
            PortTruth::Dropped
        } else if self.rejected_ports.contains(&port) {
            PortTruth::Rejected
        } else {
            PortTruth::Closed
        }
    }

    /// A port that is closed (RST) in this configuration: 23 unless configured otherwise.
    pub fn closed_port(&self) -> u16 {
        (23..=u16::MAX)
            .chain(1..23)
            .find(|&port| self.truth(port) == PortTruth::Closed)
            .expect("not every port is configured")
    }

    /// Every configured port plus [`closed_port`](Self::closed_port), sorted: one of each kind.
    pub fn interesting_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = [&self.open_ports, &self.dropped_ports, &self.rejected_ports]
            .into_iter()
            .flatten()
            .copied()
            .chain([self.closed_port()])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// No port 0, no port in two lists; a responder range inside the lab's block.
    pub fn validate(&self) -> Result<()> {
        if let Some(settings) = &self.responder {
            settings.validate()?;
        }
        if self.extra_scanners > Lab::MAX_EXTRA_SCANNERS {
            bail!(
                "lab config: {} extra scanners, at most {}",
                self.extra_scanners,
                Lab::MAX_EXTRA_SCANNERS
            );
        }
        let lists = [
            ("open", &self.open_ports),
            ("dropped", &self.dropped_ports),
            ("rejected", &self.rejected_ports),
        ];
        for (i, (kind, ports)) in lists.iter().enumerate() {
            if ports.contains(&0) {
                bail!("lab config: port 0 among the {kind} ports");
            }
            for (other, other_ports) in &lists[i + 1..] {
                if let Some(port) = ports.iter().find(|port| other_ports.contains(port)) {
                    bail!("lab config: port {port} is both {kind} and {other}");
                }
            }
        }
        Ok(())
    }
}

/// A running lab; dropping it (or [`Lab::down`]) tears it down.
pub struct Lab {
    scanner_ns: String,
    target_ns: String,
    extra_scanner_ns: Vec<String>,
    config: LabConfig,
    listeners: Option<listen::Listeners>,
    udp_servers: Option<udp::UdpServers>,
    queues: u32,
    responder: Option<Responder>,
    /// The settings of the responder started last (its ground truth).
    responder_settings: Option<ResponderSettings>,
    torn_down: bool,
}

/// Per-process lab counter: parallel tests in one process get separate labs.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

impl Lab {
    pub const SCANNER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    pub const TARGET_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    /// The link's prefix length (198.18.0.0/24).
    pub const LINK_PREFIX: u8 = 24;
    /// AnyIP: the target kernel answers for all 32768 addresses of 198.18.128.0/17.
    pub const TARGET_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 128, 0), 17);
    pub const SCANNER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    pub const TARGET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    pub const SCANNER_IF: &'static str = "vs0";
    pub const TARGET_IF: &'static str = "vt0";
    /// Extra scanner k (from 1) has the link 198.18.k.0/24: the scanner .1 on its `vs0`, the
    /// target .2 on `vt<k>`; the target range is routed through each.
    pub const MAX_EXTRA_SCANNERS: u8 = 8;

    /// Creates a lab. Removes stale labs of dead processes first; on any error, whatever was
    /// created is torn down again.
    pub fn up(config: LabConfig) -> Result<Lab> {
        config.validate()?;
        signal::install()?;
        cleanup_stale();

        let pid = std::process::id();
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let mut lab = Lab {
            scanner_ns: netns::name(pid, n, netns::Side::Scanner),
            target_ns: netns::name(pid, n, netns::Side::Target),
            extra_scanner_ns: (1..=config.extra_scanners)
                .map(|k| netns::name(pid, n, netns::Side::ExtraScanner(k)))
                .collect(),
            config,
            listeners: None,
            udp_servers: None,
            queues: veth_queues(),
            responder: None,
            responder_settings: None,
            torn_down: false,
        };
        let names = lab.namespaces();
        signal::register_and_create(&names, || names.iter().try_for_each(|ns| netns::add(ns)))?;
        lab.configure()
            .with_context(|| format!("setting up lab {}", lab.scanner_ns))?;
        if let Some(settings) = lab.config.responder.clone() {
            lab.start_responder(settings)?;
        }
        Ok(lab)
    }

    /// Starts a responder on the target's `vt0` (see [`ResponderSettings`]) and routes its
    /// range via the target; returns once it answers. One at a time: stop the last one first.
    /// Start it from a thread that outlives it (its child gets SIGTERM when this thread ends).
    ///
    /// `vt0` runs its NAPI in a kernel thread from then on (threaded NAPI). Otherwise the
    /// responder's XDP program runs in the softirq of the CPU that sent the probes, so a
    /// sender and the responder share one core: about 250k probes/s on this machine with one
    /// sender thread, against about 800k with the responder in a thread of its own.
    pub fn start_responder(&mut self, settings: ResponderSettings) -> Result<()> {
        if self.responder.is_some() {
            bail!("a responder runs already in {}", self.target_ns);
        }
        settings.validate()?;
        ip(&format!(
            "-n {} route replace {} via {} dev {}",
            self.scanner_ns,
            settings.cidr(),
            Self::TARGET_IP,
            Self::SCANNER_IF
        ))?;
        self.responder = Some(Responder::start(
            &self.target_ns,
            Self::TARGET_IF,
            &settings,
        )?);
        self.responder_settings = Some(settings);
        // The veth has NAPI instances only while XDP is attached (or GRO on): now.
        let threaded = format!("/sys/class/net/{}/threaded", Self::TARGET_IF);
        cmd::run(
            command_in(&self.target_ns, "tee").arg(&threaded),
            Some(b"1"),
            cmd::TIMEOUT,
        )
        .with_context(|| format!("threaded NAPI for {}", Self::TARGET_IF))?;
        Ok(())
    }

    /// Starts a real SCTP peer in the target namespace: usrsctp's discard server, answering
    /// INIT with INIT ACK on [`TARGET_IP`](Self::TARGET_IP) port [`SctpPeer::PORT`] (9) only
    /// (see [`SctpPeer`]). Dropping the guard kills it; drop it before the lab.
    pub fn start_sctp_peer(&self) -> Result<SctpPeer> {
        SctpPeer::start(&self.target_ns, Self::TARGET_IP)
    }

    /// Stops the running responder and returns its counters.
    pub fn stop_responder(&mut self) -> Result<ResponderCounts> {
        self.responder
            .take()
            .context("no responder is running")?
            .stop()
    }

    /// The running responder, if any.
    pub fn responder(&self) -> Option<&Responder> {
        self.responder.as_ref()
    }

    /// The settings of the responder started last: its range and ground truth.
    pub fn responder_settings(&self) -> Option<&ResponderSettings> {
        self.responder_settings.as_ref()
    }

    fn configure(&mut self) -> Result<()> {
        let (s, t) = (self.scanner_ns.clone(), self.target_ns.clone());
        let mut sysctls = vec![
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
        ];
        netns::run_in(&s, || set_sysctls(&sysctls))??;
        sysctls.extend([
            ("net.ipv4.tcp_max_syn_backlog", "65536"),
            ("net.core.somaxconn", "65535"),
        ]);
        if !self.config.icmp_ratelimit {
            sysctls.extend([
                // An empty ratemask exempts every ICMP type from both the per-peer limit
                // and the host-wide one (icmp_msgs_per_sec), and, unlike icmp_msgs_per_sec
                // and icmp_msgs_burst, it is per namespace on every kernel (those two are
                // global on some 6.1 builds, so writing them in a namespace fails there).
                ("net.ipv4.icmp_ratelimit", "0"),
                ("net.ipv4.icmp_ratemask", "0"),
            ]);
        }
        sysctls.extend(self.config.target_sysctls.iter().copied());
        netns::run_in(&t, || set_sysctls(&sysctls))??;

        let mac = |mac: [u8; 6]| mac.map(|byte| format!("{byte:02x}")).join(":");
        let (scanner_mac, target_mac) = (mac(Self::SCANNER_MAC), mac(Self::TARGET_MAC));
        let scanner_addr = format!("{}/{}", Self::SCANNER_IP, Self::LINK_PREFIX);
        let target_addr = format!("{}/{}", Self::TARGET_IP, Self::LINK_PREFIX);
        let range = format!("{}/{}", Self::TARGET_RANGE.0, Self::TARGET_RANGE.1);
        // Created directly inside the namespaces: it never exists in ours. Without explicit
        // counts a veth has one active queue per direction (however many it could have).
        let queues = format!("numtxqueues {0} numrxqueues {0}", self.queues);
        ip(&format!(
            "link add name {} netns {s} address {scanner_mac} {queues} type veth \
             peer name {} netns {t} address {target_mac} {queues}",
            Self::SCANNER_IF,
            Self::TARGET_IF
        ))?;
        for (ns, dev, addr) in [
            (&s, Self::SCANNER_IF, &scanner_addr),
            (&t, Self::TARGET_IF, &target_addr),
        ] {
            ip(&format!("-n {ns} link set lo up"))?;
            ip(&format!("-n {ns} addr add {addr} dev {dev}"))?;
            ip(&format!("-n {ns} link set {dev} up"))?;
        }
        // A veth hands the target's segments over with their checksums left to "offload"
        // (CHECKSUM_PARTIAL), which no one computes: captures on the scanner side would show
        // them wrong, unlike frames off a real wire. The target computes them itself.
        ip(&format!(
            "netns exec {t} ethtool -K {} tx off",
            Self::TARGET_IF
        ))?;
        // A NIC has a transmit queue (txqueuelen 1000); a veth in a namespace has none, and
        // then drops what its peer's 256-frame ring cannot take. With a qdisc, the veth stops
        // its queue instead, and senders that bypass qdiscs (AF_XDP, AF_PACKET with
        // PACKET_QDISC_BYPASS) are told to retry, as on real hardware.
        ip(&format!(
            "netns exec {s} tc qdisc replace dev {} root pfifo limit 1000",
            Self::SCANNER_IF
        ))?;
        // The scanner resolves its next hop through ARP itself: no static entry on its side.
        ip(&format!(
            "-n {s} route add {range} via {} dev {}",
            Self::TARGET_IP,
            Self::SCANNER_IF
        ))?;
        ip(&format!("-n {t} route add local {range} dev lo"))?;
        ip(&format!(
            "-n {t} neigh replace {} lladdr {scanner_mac} dev {} nud permanent",
            Self::SCANNER_IP,
            Self::TARGET_IF
        ))?;

        nft::apply(
            &t,
            &nft::Filters {
                dropped_ports: &self.config.dropped_ports,
                rejected_ports: &self.config.rejected_ports,
                dropped_protocols: &self.config.dropped_protocols,
                dropped_sctp_ports: &self.config.dropped_sctp_ports,
                rejected_protocols: &self.config.rejected_protocols,
                dropped_udp_ports: &self.config.dropped_udp_ports,
                rejected_udp_ports: &self.config.rejected_udp_ports,
            },
        )?;
        self.listeners = Some(listen::Listeners::open(&t, &self.config.open_ports)?);
        self.udp_servers = Some(udp::UdpServers::open(&t, &self.config.udp_services)?);
        for (k, ns) in (1..).zip(self.extra_scanner_ns.clone()) {
            self.configure_extra_scanner(k, &ns)
                .with_context(|| format!("extra scanner {ns}"))?;
        }
        // Carrier is up at once, but the operational state follows asynchronously (linkwatch);
        // a scanner that checks the interface must not see it half up.
        for (ns, dev) in [(&s, Self::SCANNER_IF), (&t, Self::TARGET_IF)] {
            wait_until_up(ns, dev)?;
        }
        Ok(())
    }

    /// Extra scanner `k`'s namespace `ns`: set up as the scanner's, on link 198.18.k.0/24.
    fn configure_extra_scanner(&self, k: u8, ns: &str) -> Result<()> {
        let t = &self.target_ns;
        netns::run_in(ns, || {
            set_sysctls(&[
                ("net.ipv6.conf.all.disable_ipv6", "1"),
                ("net.ipv6.conf.default.disable_ipv6", "1"),
            ])
        })??;
        let mac = |last: u8| format!("02:00:00:00:{k:02x}:{last:02x}");
        let (scanner_ip, target_ip) = (Ipv4Addr::new(198, 18, k, 1), Ipv4Addr::new(198, 18, k, 2));
        let (scanner_if, target_if) = (Self::SCANNER_IF, format!("vt{k}"));
        let queues = format!("numtxqueues {0} numrxqueues {0}", self.queues);
        ip(&format!(
            "link add name {scanner_if} netns {ns} address {} {queues} type veth \
             peer name {target_if} netns {t} address {} {queues}",
            mac(1),
            mac(2)
        ))?;
        for (ns, dev, addr) in [(ns, scanner_if, scanner_ip), (t, &target_if, target_ip)] {
            ip(&format!("-n {ns} link set lo up"))?;
            ip(&format!(
                "-n {ns} addr add {addr}/{} dev {dev}",
                Self::LINK_PREFIX
            ))?;
            ip(&format!("-n {ns} link set {dev} up"))?;
        }
        // As on the main link (see `configure`).
        ip(&format!("netns exec {t} ethtool -K {target_if} tx off"))?;
        ip(&format!(
            "netns exec {ns} tc qdisc replace dev {scanner_if} root pfifo limit 1000"
        ))?;
        let (range, len) = Self::TARGET_RANGE;
        ip(&format!(
            "-n {ns} route add {range}/{len} via {target_ip} dev {scanner_if}"
        ))?;
        ip(&format!(
            "-n {t} neigh replace {scanner_ip} lladdr {} dev {target_if} nud permanent",
            mac(1)
        ))?;
        wait_until_up(ns, scanner_if)?;
        wait_until_up(t, &target_if)
    }

    pub fn scanner_ns(&self) -> &str {
        &self.scanner_ns
    }

    pub fn target_ns(&self) -> &str {
        &self.target_ns
    }

    /// The extra scanner namespaces ([`LabConfig::extra_scanners`]), extra scanner 1 first.
    /// Each has its own `vs0` (198.18.k.1) to the target; scan from there with
    /// `ip netns exec <ns> ...`.
    pub fn extra_scanner_ns(&self) -> &[String] {
        &self.extra_scanner_ns
    }

    /// Every namespace of this lab: scanner, target, the extra scanners.
    fn namespaces(&self) -> Vec<&str> {
        [self.scanner_ns.as_str(), self.target_ns.as_str()]
            .into_iter()
            .chain(self.extra_scanner_ns.iter().map(String::as_str))
            .collect()
    }

    /// "vs0".
    pub fn scanner_if(&self) -> &str {
        Self::SCANNER_IF
    }

    /// "vt0".
    pub fn target_if(&self) -> &str {
        Self::TARGET_IF
    }

    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// TX (and RX) queues of each veth end: one per CPU, at least 2.
    pub fn queues(&self) -> u32 {
        self.queues
    }

    /// `ip netns exec <scanner ns> program`.
    pub fn command_in_scanner(&self, program: impl AsRef<OsStr>) -> Command {
        command_in(&self.scanner_ns, program)
    }

    /// `ip netns exec <target ns> program`.
    pub fn command_in_target(&self, program: impl AsRef<OsStr>) -> Command {
        command_in(&self.target_ns, program)
    }

    /// Runs `f` on a fresh thread inside the scanner namespace and returns its result (a panic
    /// in `f` is resumed here). Sockets, XDP links and maps `f` creates stay in that namespace.
    pub fn in_scanner_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        netns::run_in(&self.scanner_ns, f).unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Like [`in_scanner_ns`](Self::in_scanner_ns), in the target namespace.
    pub fn in_target_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        netns::run_in(&self.target_ns, f).unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// A counter as that namespace's kernel sees it: `proto` is a line prefix of
    /// `/proc/net/snmp` (`Ip`, `Icmp`, `Tcp`, `Udp`...) or of `/proc/net/netstat` (`TcpExt`,
    /// `IpExt`), `field` a column (`OutRsts`, `InErrs`, `ListenDrops`...).
    pub fn snmp_counter(&self, ns_is_scanner: bool, proto: &str, field: &str) -> Result<u64> {
        let ns = if ns_is_scanner {
            &self.scanner_ns
        } else {
            &self.target_ns
        };
        let files = [
            "/proc/thread-self/net/snmp",
            "/proc/thread-self/net/netstat",
        ];
        let texts = netns::run_in(ns, || {
            files.map(|file| fs::read_to_string(file).with_context(|| format!("reading {file}")))
        })?;
        for text in texts {
            if let Some(value) = snmp::parse_counter(&text?, proto, field) {
                return u64::try_from(value)
                    .with_context(|| format!("{proto} {field} is negative ({value}) in {ns}"));
            }
        }
        bail!("no counter {proto} {field} in /proc/net/snmp or /proc/net/netstat of {ns}")
    }

    /// Deletes the target namespace now, as an operator or a crash would mid-scan: its
    /// listeners and responder first (their sockets keep it alive), then the namespace, whose
    /// end destroys the veth pair, so the scanner's vs0 disappears too. Returns once it has.
    pub fn delete_target_ns(&mut self) -> Result<()> {
        self.listeners = None;
        self.udp_servers = None;
        self.responder = None;
        netns::del(&self.target_ns)?;
        let deadline = Instant::now() + cmd::TIMEOUT;
        while ip(&format!(
            "-n {} link show dev {}",
            self.scanner_ns,
            Self::SCANNER_IF
        ))
        .is_ok()
        {
            if Instant::now() > deadline {
                bail!(
                    "{} still has {} {:?} after its peer's namespace was deleted",
                    self.scanner_ns,
                    Self::SCANNER_IF,
                    cmd::TIMEOUT
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Whether any XDP program is attached to vs0 in the scanner namespace.
    pub fn xdp_attached(&self) -> Result<bool> {
        let out = ip(&format!(
            "-n {} -d link show dev {}",
            self.scanner_ns,
            Self::SCANNER_IF
        ))?;
        Ok(shows_xdp(&out))
    }

    /// A human-readable description: namespaces, interfaces, addresses, ports and what they
    /// answer.
    pub fn summary(&self) -> String {
        let (range, len) = Self::TARGET_RANGE;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "scanner: netns {} if {} {}/{} (no static neighbour: ARP resolves {})",
            self.scanner_ns,
            Self::SCANNER_IF,
            Self::SCANNER_IP,
            Self::LINK_PREFIX,
            Self::TARGET_IP,
        );
        let _ = writeln!(
            text,
            "         route {range}/{len} via {}, no default route",
            Self::TARGET_IP
        );
        let _ = writeln!(
            text,
            "link:    veth, {} TX and RX queues on each end",
            self.queues
        );
        let _ = writeln!(
            text,
            "target:  netns {} if {} {}/{}, AnyIP {range}/{len} (all {} addresses answer)",
            self.target_ns,
            Self::TARGET_IF,
            Self::TARGET_IP,
            Self::LINK_PREFIX,
            1u64 << (32 - len),
        );
        let _ = writeln!(
            text,
            "         ICMP rate limiting {}",
            if self.config.icmp_ratelimit {
                "on (Linux defaults)"
            } else {
                "off"
            }
        );
        if let Some(responder) = &self.responder {
            let _ = writeln!(text, "         {}", responder.ready_line());
        }
        let _ = writeln!(text, "ports (every target address, TCP):");
        for port in self.config.interesting_ports() {
            let truth = self.config.truth(port);
            let _ = writeln!(
                text,
                "  {port:>5}  {:<8}  {}{}",
                truth.nmap_state(),
                truth.answer(),
                if truth == PortTruth::Closed {
                    " (as every port not listed)"
                } else {
                    ""
                }
            );
        }
        text
    }

    /// Tears the lab down now (dropping it does the same).
    pub fn down(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        // Sockets and processes keep a namespace alive: close and stop them first.
        self.listeners = None;
        self.udp_servers = None;
        self.responder = None;
        let names: Vec<String> = self.namespaces().iter().map(|ns| ns.to_string()).collect();
        for ns in &names {
            if let Err(err) = netns::del(ns) {
                eprintln!("scanner-tests: tearing down the lab: {err:#}");
            }
        }
        signal::unregister(&names.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab")
            .field("scanner_ns", &self.scanner_ns)
            .field("target_ns", &self.target_ns)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Deletes the lab namespaces whose creating process no longer runs (labs of killed runs);
/// returns how many namespaces it deleted. Labs of live processes are left alone.
pub fn cleanup_stale() -> usize {
    lab_namespaces()
        .into_iter()
        .filter(|name| netns::parse(name).is_some_and(|(pid, _, _)| !netns::pid_alive(pid)))
        .filter(|name| match netns::del(name) {
            Ok(deleted) => deleted,
            Err(err) => {
                eprintln!("scanner-tests: removing stale lab namespace: {err:#}");
                false
            }
        })
        .count()
}

/// The lab namespaces that exist now (ours: `scnlab-<pid>-<n>-{s,t}`), sorted.
pub fn lab_namespaces() -> Vec<String> {
    netns::lab_namespaces()
}

/// The PID that created lab namespace `name`, and whether it still runs; `None` if `name` is
/// not a lab namespace.
pub fn namespace_owner(name: &str) -> Option<(u32, bool)> {
    let (pid, _, _) = netns::parse(name)?;
    Some((pid, netns::pid_alive(pid)))
}

fn command_in(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

/// `ip` with `args` (split at whitespace: names and addresses have none).
fn ip(args: &str) -> Result<String> {
    cmd::run(
        Command::new("ip").args(args.split_whitespace()),
        None,
        cmd::TIMEOUT,
    )
}

/// Waits (up to 5 s) until `dev` in `ns` is operationally up.
fn wait_until_up(ns: &str, dev: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = ip(&format!("-n {ns} -o link show dev {dev}"))?;
        if out.contains(" state UP ") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{dev} in {ns} is not up after 5 s: {}", out.trim());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Queues per veth end: one per CPU (one sender thread each), at least 2 so that multi-queue
/// tests run on any machine.
fn veth_queues() -> u32 {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cpus).unwrap_or(u32::MAX).clamp(2, 256)
}

fn set_sysctls(sysctls: &[(&str, &str)]) -> Result<()> {
    sysctls
        .iter()
        .try_for_each(|(key, value)| netns::write_sysctl(key, value))
}

/// Whether `ip -d link show` output shows an attached XDP program.
fn shows_xdp(link_show: &str) -> bool {
    link_show.split_whitespace().any(|token| {
        matches!(
            token,
            "xdp" | "xdpgeneric" | "xdpdrv" | "xdpoffload" | "xdpmulti"
        ) || token.starts_with("prog/xdp")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ground_truth() {
        let config = LabConfig::default();
        assert_eq!(config.truth(80), PortTruth::Open);
        assert_eq!(config.truth(8081), PortTruth::Dropped);
        assert_eq!(config.truth(8082), PortTruth::Rejected);
        assert_eq!(config.truth(8083), PortTruth::Closed);
        assert_eq!(config.interesting_ports(), [22, 23, 80, 443, 8081, 8082]);
        config.validate().unwrap();
        let clash = LabConfig {
            dropped_ports: vec![80],
            ..LabConfig::default()
        };
        assert!(clash.validate().is_err());
    }

    #[test]
    fn xdp_in_link_show() {
        let plain = "2: vs0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP \
                     mode DEFAULT group default qlen 1000\n    link/ether 02:00:00:00:00:01 brd \
                     ff:ff:ff:ff:ff:ff link-netns scnlab-1-0-t promiscuity 0\n    veth \
                     addrgenmode eui64 numtxqueues 2 gso_max_size 65536";
        assert!(!shows_xdp(plain));
        let native = plain.replace("mtu 1500 qdisc", "mtu 1500 xdp qdisc")
            + "\n    prog/xdp id 42 name scanner tag 0123456789abcdef jited";
        assert!(shows_xdp(&native));
        assert!(shows_xdp(
            &plain.replace("mtu 1500 qdisc", "mtu 1500 xdpgeneric qdisc")
        ));
    }
}
