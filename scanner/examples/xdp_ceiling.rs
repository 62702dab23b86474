//! The ceiling row of `cargo xtask bench`: what this machine can send through AF_XDP at all.
//! One fixed SYN frame, built once, is handed to the scanner's own AF_XDP sender again and
//! again, one thread per device queue: no permutation, pacing, cookies, per-probe patching or
//! reply path. Prints how many frames left and how fast.
//!
//!     xdp_ceiling vs0 --threads 2 --frames 524288 --source 198.18.0.1 \
//!         --source-mac 02:00:00:00:00:01 --gateway-mac 02:00:00:00:00:02 --target 198.19.0.1
//!
//! Run it only where the frames go to a lab (the bench runs it in the lab's scanner namespace).

use std::{ffi::CString, net::Ipv4Addr, thread, time::Instant};

use clap::Parser;
use scanner::{
    probe::{FrameAddrs, Probe, tcp_syn::TcpSyn},
    send::XdpSender,
};
use scanner_common::cookie::{Cookie, ProbeId};

#[derive(Parser)]
struct Args {
    /// The interface to send on.
    interface: String,
    /// Sender threads, on device queues 0..threads.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Frames to send in all.
    #[arg(long)]
    frames: u64,
    #[arg(long)]
    source: Ipv4Addr,
    #[arg(long, value_parser = mac)]
    source_mac: [u8; 6],
    #[arg(long, value_parser = mac)]
    gateway_mac: [u8; 6],
    /// The one address every frame goes to.
    #[arg(long)]
    target: Ipv4Addr,
    #[arg(long, default_value_t = 80)]
    port: u16,
}

fn mac(text: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|byte| u8::from_str_radix(byte, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not a MAC address"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{text:?} is not a MAC address"))
}

fn main() {
    let args = Args::parse();
    let name = CString::new(args.interface.clone()).expect("an interface name");
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        eprintln!("xdp_ceiling: no interface {}", args.interface);
        std::process::exit(1);
    }
    let syn = TcpSyn::new(
        FrameAddrs {
            source_mac: args.source_mac,
            next_hop_mac: args.gateway_mac,
            source_ip: args.source,
        },
        40_000,
        0,
    );
    let mut frame = syn.template().to_vec();
    let id = ProbeId::port_scan(u32::from(args.source), u32::from(args.target), args.port, 6);
    let len = syn.patch(
        &mut frame,
        args.target,
        args.port,
        Cookie::of(&Default::default(), &id),
        0,
    );
    frame.truncate(len);

    let per_thread = args.frames / u64::from(args.threads.max(1));
    let started = Instant::now();
    let sent: u64 = thread::scope(|scope| {
        let workers: Vec<_> = (0..args.threads.max(1))
            .map(|queue| {
                let frame = &frame;
                scope.spawn(move || -> std::io::Result<u64> {
                    let mut sender = XdpSender::open(ifindex, queue, frame)?;
                    let batch = sender.max_batch() as u64;
                    let mut sent = 0;
                    while sent < per_thread {
                        let n = batch.min(per_thread - sent);
                        sender.send(n as usize)?;
                        sent += n;
                    }
                    sender.flush()?;
                    Ok(sent - sender.dropped())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| match worker.join().expect("a sender thread") {
                Ok(sent) => sent,
                Err(err) => {
                    eprintln!("xdp_ceiling: AF_XDP on {}: {err}", args.interface);
                    std::process::exit(1);
                }
            })
            .sum()
    });
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "xdp_ceiling: {sent} frames in {seconds:.3} s on {} queue(s): {:.0} frames/s",
        args.threads,
        sent as f64 / seconds
    );
}
