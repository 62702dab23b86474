//! The scanner side of the lab's link, the same for every tool: how answers get into vs0, its
//! offloads and qdisc, its counters, and the nudges masscan needs.

use std::{
    net::{Ipv4Addr, UdpSocket},
    process::Command,
};

use anyhow::{Context as _, Result, bail, ensure};
use scanner_common::{
    responder::{Share, Truth, truth},
    wire::ip_proto,
};
use scanner_tests::{Lab, ResponderSettings, lab::Responder};

use super::{Context, tools::Tool};
use crate::cmd;

/// What runs vs0's NAPI, without which the veth never takes the responder's answers in. This
/// scanner attaches its own XDP program, which does; masscan and zmap attach nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Napi {
    /// GRO on vs0. libpcap then counts on 64 KiB packets (it takes GRO for a large-receive
    /// offload) and sizes its ring for them, which costs masscan answers.
    Gro,
    /// GRO off; during masscan's and zmap's runs, an XDP program on vs0 that passes everything
    /// (`scanner responder` answering for one address nobody probes).
    Xdp,
}

/// The address the pass-through responder answers for: in the lab's block, probed by nobody.
const UNUSED: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 127, 255), 32);

impl Napi {
    pub fn describe(self) -> &'static str {
        match self {
            Napi::Gro => {
                "answers reach masscan and zmap through GRO on vs0 (no XDP program there); \
                 libpcap then sizes its ring for 64 KiB packets, which costs masscan answers \
                 (compare `--napi xdp`)"
            }
            Napi::Xdp => {
                "answers reach masscan and zmap through an XDP program on vs0 that passes \
                 everything (`scanner responder` for one address nobody probes, 198.18.127.255/32), \
                 attached during their runs only, GRO off; this scanner attaches its own"
            }
        }
    }

    /// Whether `tool`'s runs need the pass-through program on vs0.
    fn needs_pass_through(self, tool: Tool) -> bool {
        self == Napi::Xdp && !tool.is_ours()
    }
}

/// vs0 for every tool: TSO, GSO and scatter-gather off (masscan's libpcap ring loses answers
/// otherwise), GRO as `napi` says, and a pfifo qdisc of 1000 packets (a NIC's default
/// txqueuelen) instead of the veth's noqueue: when the target's 256-frame ring is full, the
/// veth (kernel 6.16 on) stops the queue and packets wait there instead of being dropped. (This
/// scanner bypasses qdiscs and retries the kernel's refusals itself.) Returns what `ethtool -k`
/// and `tc` then say.
pub fn configure(lab: &Lab, napi: Napi) -> Result<String> {
    let interface = lab.scanner_if();
    let tc = |args: &[&str]| {
        cmd::output(
            Command::new("tc")
                .args(["-n", lab.scanner_ns(), "qdisc"])
                .args(args),
        )
    };
    tc(&[
        "replace", "dev", interface, "root", "pfifo", "limit", "1000",
    ])?;
    let qdisc = tc(&["show", "dev", interface])?;
    ensure!(
        qdisc.contains("pfifo") && qdisc.contains("limit 1000p"),
        "{interface}: qdisc {qdisc:?}"
    );
    let gro = match napi {
        Napi::Gro => "on",
        Napi::Xdp => "off",
    };
    cmd::output(lab.command_in_scanner("ethtool").args([
        "-K", interface, "tso", "off", "gso", "off", "sg", "off", "gro", gro,
    ]))?;
    let features = cmd::output(lab.command_in_scanner("ethtool").args(["-k", interface]))?;
    let wanted = [
        ("tcp-segmentation-offload", "off"),
        ("generic-segmentation-offload", "off"),
        ("scatter-gather", "off"),
        ("generic-receive-offload", gro),
    ];
    let mut said = Vec::new();
    for (feature, value) in wanted {
        let line = features
            .lines()
            .find(|line| line.starts_with(&format!("{feature}:")))
            .with_context(|| format!("`ethtool -k {interface}` shows no {feature}"))?;
        ensure!(
            line.split(':')
                .nth(1)
                .is_some_and(|v| v.trim().starts_with(value)),
            "{interface}: {line} (wanted {value})"
        );
        said.push(format!("{feature} {value}"));
    }
    said.push("qdisc pfifo limit 1000".to_owned());
    Ok(format!("{interface}: {}", said.join(", ")))
}

/// The pass-through XDP program on vs0, while `tool` runs (if `napi` wants one for it).
pub struct PassThrough(Option<Responder>);

impl PassThrough {
    pub fn start(lab: &Lab, context: &Context, napi: Napi, tool: Tool) -> Result<PassThrough> {
        if !napi.needs_pass_through(tool) {
            return Ok(PassThrough(None));
        }
        let settings = ResponderSettings {
            range: UNUSED,
            open: Share::ZERO,
            closed: Share::ZERO,
            ..ResponderSettings::new(&context.scanner)
        };
        let responder = Responder::start(lab.scanner_ns(), lab.scanner_if(), &settings)
            .context("the pass-through XDP program on vs0")?;
        Ok(PassThrough(Some(responder)))
    }

    /// Detaches it; it must not have seen a probe.
    pub fn stop(self) -> Result<()> {
        if let Some(responder) = self.0 {
            let counts = responder.stop()?;
            ensure!(
                counts.probes == 0,
                "the pass-through on vs0 saw {} probes",
                counts.probes
            );
        }
        Ok(())
    }
}

/// Answers reach a tool without XDP of its own: nmap -sS on 16 addresses of the range, 3
/// ports, must see the ground truth (open, closed, and silence as filtered).
pub fn check(lab: &mut Lab, context: &Context, napi: Napi) -> Result<String> {
    lab.start_responder(context.settings.clone())?;
    let pass = PassThrough::start(lab, context, napi, Tool::Masscan)?;
    let first = context.settings.addresses().next().context("empty range")?;
    let ports = [22u16, 80, 443];
    let mut nmap = lab.command_in_scanner("nmap");
    nmap.args([
        "-n",
        "-Pn",
        "-sS",
        "--max-retries",
        "0",
        "-oG",
        "-",
        "-p",
        "22,80,443",
    ])
    .arg(format!("{first}/28"));
    let output = cmd::output(&mut nmap);
    pass.stop()?;
    lab.stop_responder()?;
    let output = output?;
    let config = context.settings.config()?;
    let mut agree = 0;
    let mut answered = 0;
    for line in output.lines().filter(|line| line.contains("Ports: ")) {
        let host: Ipv4Addr = line
            .split_whitespace()
            .nth(1)
            .and_then(|host| host.parse().ok())
            .with_context(|| format!("nmap line {line:?}"))?;
        for entry in line.split("Ports: ").nth(1).unwrap_or_default().split(", ") {
            let mut fields = entry.split('/');
            let (Some(port), Some(state)) = (fields.next(), fields.next()) else {
                continue;
            };
            let port: u16 = port.trim().parse()?;
            let expected = match truth(&config, u32::from(host), port, ip_proto::TCP) {
                Truth::Open => "open",
                Truth::Closed => "closed",
                Truth::Silent => "filtered",
            };
            answered += usize::from(state != "filtered");
            agree += usize::from(state == expected);
        }
    }
    let total = 16 * ports.len();
    let how = match napi {
        Napi::Gro => "GRO on, no XDP on vs0",
        Napi::Xdp => "GRO off, the pass-through XDP program on vs0",
    };
    if agree != total || answered == 0 {
        bail!(
            "Answers check ({how}): nmap -sS agreed with the ground truth on {agree} of {total} \
             ports ({answered} answered): the responder's answers do not reach tools without \
             XDP of their own"
        );
    }
    Ok(format!(
        "Answers check ({how}): nmap -sS saw the ground truth on all {total} ports ({answered} \
         answered)"
    ))
}

/// The discard port: the scanner's kernel answers ICMP port unreachable, in the lab.
const NUDGE_PORT: u16 = 9;

/// A UDP socket in the target namespace, connected to the scanner's discard port: each
/// datagram is a packet for vs0, which wakes a tool blocked in libpcap (see
/// [`Tool::needs_nudges`]).
pub fn nudger(lab: &Lab) -> Result<UdpSocket> {
    lab.in_target_ns(|| -> std::io::Result<UdpSocket> {
        let socket = UdpSocket::bind((Lab::TARGET_IP, 0))?;
        socket.connect((Lab::SCANNER_IP, NUDGE_PORT))?;
        Ok(socket)
    })
    .context("a UDP socket in the target namespace")
}

/// One datagram. Errors (the ICMP unreachable of the last one, reported on this connected
/// socket) do not matter.
pub fn nudge(socket: &UdpSocket) {
    let _ = socket.send(b"nudge");
}

/// vs0's received packets (`ip -j -s link`): the answers the link delivered, and the odd other
/// packet (ARP, nudges).
pub fn rx_packets(lab: &Lab) -> Result<u64> {
    let json = cmd::output(Command::new("ip").args([
        "-n",
        lab.scanner_ns(),
        "-j",
        "-s",
        "link",
        "show",
        "dev",
        lab.scanner_if(),
    ]))?;
    let value: serde_json::Value = serde_json::from_str(&json)?;
    value[0]["stats64"]["rx"]["packets"]
        .as_u64()
        .with_context(|| format!("no rx packets in {json}"))
}
