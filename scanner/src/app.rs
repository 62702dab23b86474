//! From a command line to a finished scan: resolve the input into a plan, run it, print it.

use std::{
    net::Ipv4Addr,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result};
use scanner_common::DEFAULT_RING_BYTES;

use crate::{
    cli::{Cli, ScanType},
    engine::{self, ScanOptions, SourcePorts},
    order::ScanSpace,
    output::{
        json::JsonLines,
        summary,
        table::{self, Silence, TableOptions},
    },
    probe::{FrameAddrs, Probe, tcp_syn::TcpSyn},
    route,
    services::Services,
    targets::{PortList, TargetSet},
    verdict::Proto,
};

/// A problem with what the user asked for (exit code 2), as opposed to one met while scanning.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

fn input_error(err: impl std::fmt::Display) -> anyhow::Error {
    InputError(err.to_string()).into()
}

/// How long the kernel gets to resolve the next hop's MAC address.
const NEIGHBOUR_TIMEOUT: Duration = Duration::from_secs(1);
/// Ports scanned by default, as nmap: its most frequently open ones.
const DEFAULT_TOP_PORTS: usize = 1000;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let proto = match cli.scan_type {
        ScanType::Syn => TcpSyn::PROTO,
    };
    let space = Arc::new(ScanSpace::new(targets(&cli)?, ports(&cli, proto)?));
    let first = space
        .targets()
        .get(0)
        .ok_or_else(|| input_error("every target is excluded: nothing to scan"))?;
    let (interface, addrs) = network_path(&cli, first)?;
    let options = ScanOptions {
        interface,
        source_ip: addrs.source_ip,
        source_ports: cli
            .source_port
            .map_or(SourcePorts::EPHEMERAL, SourcePorts::fixed),
        rate: Some(cli.rate),
        retries: cli.retries,
        wait: cli.wait,
        ring_bytes: DEFAULT_RING_BYTES,
    };
    match cli.scan_type {
        ScanType::Syn => {
            let probe = TcpSyn::new(addrs, options.source_ports.base, options.source_ports.mask);
            scan(&cli, probe, space, &options)
        }
    }
}

fn scan<P: Probe + 'static>(
    cli: &Cli,
    probe: P,
    space: Arc<ScanSpace>,
    options: &ScanOptions,
) -> Result<ExitCode> {
    let mut json =
        match &cli.output_json {
            Some(path) => Some(JsonLines::create(path).map_err(|err| {
                input_error(format!("cannot write -oJ {}: {err}", path.display()))
            })?),
            None => None,
        };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let stop = Arc::new(AtomicBool::new(false));
    let probe = Arc::new(probe);
    let silent = probe.silent_verdict();
    let outcome = runtime.block_on(async {
        stop_on_signals(Arc::clone(&stop))?;
        engine::run(
            Arc::clone(&probe),
            Arc::clone(&space),
            options,
            stop,
            |result| {
                if let Some(json) = json.as_mut() {
                    json.write(result)?;
                }
                Ok(())
            },
        )
        .await
    })?;
    if let Some(json) = json {
        json.finish().context("writing JSON output")?;
    }
    let json_on_stdout = cli.output_json.as_deref() == Some(std::path::Path::new("-"));
    if !json_on_stdout {
        let text = table::render(
            &outcome.results,
            &space,
            P::PROTO,
            &Silence {
                verdict: silent,
                walked: outcome.stats.walked(),
            },
            &Services::load(),
            &TableOptions {
                reason: cli.reason,
                max_hosts: cli.max_host_tables,
            },
        );
        print!("{text}");
    }
    eprint!(
        "{}",
        summary::render(
            &outcome.stats,
            &outcome.results,
            silent,
            space.targets().len(),
            space.ports().len(),
        )
    );
    Ok(if outcome.stats.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Ctrl-C and SIGTERM end the scan early; results so far are still written.
fn stop_on_signals(stop: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        stop.store(true, Ordering::Relaxed);
    });
    Ok(())
}

fn targets(cli: &Cli) -> Result<TargetSet> {
    let mut targets =
        TargetSet::from_specs(cli.targets.iter().map(String::as_str)).map_err(input_error)?;
    if let Some(path) = &cli.input_list {
        targets = targets.union(&TargetSet::from_file(path).map_err(input_error)?);
    }
    if targets.is_empty() {
        return Err(input_error(
            "no targets: give addresses, ranges or CIDR blocks, or -iL FILE",
        ));
    }
    let mut excluded =
        TargetSet::from_specs(cli.exclude.iter().map(String::as_str)).map_err(input_error)?;
    if let Some(path) = &cli.excludefile {
        excluded = excluded.union(&TargetSet::from_file(path).map_err(input_error)?);
    }
    Ok(targets.difference(&excluded))
}

fn ports(cli: &Cli, proto: Proto) -> Result<PortList> {
    match &cli.ports {
        Some(spec) => PortList::parse_for(spec, proto).map_err(input_error),
        None => Ok(match Services::load().top_tcp_ports(DEFAULT_TOP_PORTS) {
            Some(top) => top.into_iter().collect(),
            None => (1..=1024).collect(),
        }),
    }
}

/// Interface, addresses and next hop, from the kernel's tables unless the user gave them.
/// All targets are assumed to share the first one's next hop, as ZMap and masscan assume.
fn network_path(cli: &Cli, first: Ipv4Addr) -> Result<(route::Interface, FrameAddrs)> {
    let gateway_mac = match &cli.gateway_mac {
        Some(mac) => Some(route::parse_mac(mac).map_err(input_error)?),
        None => None,
    };
    let route = route::route_to(first);
    let (interface, source, next_hop) = match &cli.interface {
        Some(name) => {
            let interface = route::interface_by_name(name).map_err(input_error)?;
            let source = match cli.source_ip {
                Some(ip) => ip,
                None => route::interface_ipv4(interface.index)?,
            };
            let next_hop = match &route {
                Ok(r) if r.interface.index == interface.index => r.next_hop(first),
                _ => first,
            };
            (interface, source, next_hop)
        }
        None => {
            let route = route?;
            let next_hop = route.next_hop(first);
            let source = cli.source_ip.unwrap_or(route.source);
            (route.interface, source, next_hop)
        }
    };
    let next_hop_mac = match gateway_mac {
        Some(mac) => mac,
        None => route::resolve_neighbour(&interface, next_hop, NEIGHBOUR_TIMEOUT)?,
    };
    let addrs = FrameAddrs {
        source_mac: interface.mac,
        next_hop_mac,
        source_ip: source,
    };
    Ok((interface, addrs))
}
