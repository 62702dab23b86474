//! `cargo xtask lab check`: the lab checked against its own ground truth, with the kernel's
//! TCP client in the scanner namespace (no scanner needed).

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use scanner_tests::{Lab, LabConfig, PortTruth, lab_namespaces};

/// What a connect() from the scanner namespace says about a port.
fn connect_result(addr: Ipv4Addr, port: u16) -> PortTruth {
    match TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_millis(500)) {
        Ok(_) => PortTruth::Open,
        Err(err) => match err.kind() {
            io::ErrorKind::ConnectionRefused => PortTruth::Closed,
            io::ErrorKind::TimedOut => PortTruth::Dropped,
            // ICMP 3/13 is a hard error: EHOSTUNREACH.
            io::ErrorKind::HostUnreachable => PortTruth::Rejected,
            other => panic!("connect {addr}:{port}: unexpected {other:?}: {err}"),
        },
    }
}

/// Addresses spread over the AnyIP range, plus the target's own.
fn sample_addresses() -> Vec<Ipv4Addr> {
    let (base, len) = Lab::TARGET_RANGE;
    let size = 1u32 << (32 - len);
    let mut addresses: Vec<Ipv4Addr> = [0, 1, 77, size / 2 + 3, size - 1]
        .into_iter()
        .map(|offset| Ipv4Addr::from(u32::from(base) + offset))
        .collect();
    addresses.push(Lab::TARGET_IP);
    addresses
}

fn check_one(lab: &Lab) -> Result<()> {
    let config = lab.config();
    let ports = config.interesting_ports();
    let addresses = sample_addresses();
    let (mismatches, rate_limited) = lab.in_scanner_ns(|| {
        let (mut mismatches, mut rate_limited) = (Vec::new(), 0);
        for &addr in &addresses {
            for &port in &ports {
                let (truth, seen) = (config.truth(port), connect_result(addr, port));
                if config.icmp_ratelimit
                    && truth == PortTruth::Rejected
                    && seen == PortTruth::Dropped
                {
                    // What real Linux hosts do after a burst of 6 ICMP errors per peer.
                    rate_limited += 1;
                } else if seen != truth {
                    mismatches.push(format!("{addr}:{port} expected {truth:?}, saw {seen:?}"));
                }
            }
        }
        (mismatches, rate_limited)
    });
    ensure!(
        mismatches.is_empty(),
        "{}: {}",
        lab.scanner_ns(),
        mismatches.join("; ")
    );
    // ICMP rate limiting is off: a burst of rejected connects all get their ICMP error.
    if !config.icmp_ratelimit
        && let Some(&rejected) = config.rejected_ports.first()
    {
        let (base, _) = Lab::TARGET_RANGE;
        let unanswered = lab.in_scanner_ns(|| {
            (0..50u32)
                .map(|i| Ipv4Addr::from(u32::from(base) + 1000 + i))
                .filter(|&addr| connect_result(addr, rejected) != PortTruth::Rejected)
                .count()
        });
        ensure!(
            unanswered == 0,
            "{unanswered} of 50 rejected connects got no ICMP error: rate limited?"
        );
    }
    let active = lab.snmp_counter(true, "Tcp", "ActiveOpens")?;
    let passive = lab.snmp_counter(false, "Tcp", "PassiveOpens")?;
    let unreach = lab.snmp_counter(false, "Icmp", "OutDestUnreachs")?;
    let listen_drops = lab.snmp_counter(false, "TcpExt", "ListenDrops")?;
    let open = addresses.len() * config.open_ports.len();
    ensure!(
        passive as usize == open,
        "target PassiveOpens {passive}, expected {open}"
    );
    ensure!(
        active as usize >= open,
        "scanner ActiveOpens {active} < {open}"
    );
    ensure!(
        unreach > 0 || config.rejected_ports.is_empty(),
        "no ICMP unreachable sent"
    );
    ensure!(listen_drops == 0, "target ListenDrops {listen_drops}");
    ensure!(!lab.xdp_attached()?, "an XDP program is attached to vs0");
    println!(
        "  {}: {} addresses x ports {ports:?} as configured ({}); scanner Tcp ActiveOpens \
         {active}, target Tcp PassiveOpens {passive}, Icmp OutDestUnreachs {unreach}; no XDP on \
         vs0",
        lab.scanner_ns(),
        addresses.len(),
        if config.icmp_ratelimit {
            format!("ICMP rate limited: {rate_limited} rejected connects got no ICMP error")
        } else {
            "no ICMP rate limit: 50 rejected connects in a burst all got ICMP 3/13".to_owned()
        }
    );
    Ok(())
}

pub fn run() -> Result<()> {
    let before = lab_namespaces();
    let start = Instant::now();
    let configs = [
        LabConfig::default(),
        LabConfig {
            open_ports: vec![8080],
            dropped_ports: vec![],
            rejected_ports: vec![22, 80],
            icmp_ratelimit: true,
            responder: None,
            ..LabConfig::default()
        },
    ];
    let names: Vec<(String, String)> = thread::scope(|scope| {
        let handles: Vec<_> = configs
            .iter()
            .map(|config| {
                scope.spawn(move || -> Result<(String, String)> {
                    let up = Instant::now();
                    let lab = Lab::up(config.clone())?;
                    println!(
                        "  {} / {} up in {:.0?}",
                        lab.scanner_ns(),
                        lab.target_ns(),
                        up.elapsed()
                    );
                    check_one(&lab)?;
                    let names = (lab.scanner_ns().to_owned(), lab.target_ns().to_owned());
                    let down = Instant::now();
                    lab.down();
                    println!("  {} down in {:.0?}", names.0, down.elapsed());
                    Ok(names)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("lab thread panicked"))
            .collect::<Result<Vec<_>>>()
    })?;
    ensure!(names[0] != names[1], "two labs got the same namespaces");
    let left: Vec<String> = lab_namespaces()
        .into_iter()
        .filter(|name| names.iter().any(|(s, t)| name == s || name == t))
        .collect();
    ensure!(left.is_empty(), "left behind: {left:?}");

    // A panic unwinding through a test drops its lab.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(|| {
        let lab = Lab::up(LabConfig::default()).expect("lab up");
        let name = lab.scanner_ns().to_owned();
        std::panic::panic_any(name);
    });
    std::panic::set_hook(hook);
    let name = panicked
        .err()
        .and_then(|payload| payload.downcast::<String>().ok())
        .context("the panicking closure did not panic with the lab's name")?;
    if lab_namespaces().contains(&name) {
        bail!("{name} survived a panic");
    }
    println!("  a panic tore down {name}");
    let after = lab_namespaces();
    println!(
        "lab check passed in {:.1?} (lab namespaces before: {}, after: {})",
        start.elapsed(),
        before.len(),
        after.len()
    );
    Ok(())
}
