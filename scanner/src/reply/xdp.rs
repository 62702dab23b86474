//! Loads the XDP program with the scan's configuration and attaches it to the interface.
//!
//! Attachment goes through a bpf_link (kernel >= 5.9), owned by this process: when the scan
//! ends, fails, or the process dies, the link's fd closes and the kernel detaches the program.

use super::{kernel, occupied};
use anyhow::{Context as _, Result, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{Xdp, XdpMode},
};
use scanner_common::{CONFIG_GLOBAL, COUNTERS_MAP, Counter, REPLIES_MAP, XDP_PROGRAM, XdpConfig};

static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/scanner"));

/// How the program runs on the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP), before any socket buffer exists.
    Native,
    /// Generic XDP, the fallback for drivers without native support.
    Generic,
}

impl AttachMode {
    /// "native" or "generic".
    pub fn as_str(self) -> &'static str {
        match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        }
    }
}

/// The loaded and attached XDP program. Dropping it detaches the program.
pub struct ReplyFilter {
    ebpf: Ebpf,
    mode: AttachMode,
}

/// The XDP program's counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpCounters {
    pub seen: u64,
    pub matched: u64,
    pub bad_cookie: u64,
    pub ring_full: u64,
    pub capture_lost: u64,
}

/// Loads `program` into the kernel and attaches it to the interface: native XDP, or generic
/// when the driver has no native support. The bpf_link belongs to the program's [`Ebpf`].
/// A kernel older than [`kernel::MINIMUM`] gets one line naming what it lacks instead of the
/// kernel's own error, and an interface that already runs a program one naming it.
pub fn load_and_attach(program: &mut Xdp, ifindex: u32, ifname: &str) -> Result<AttachMode> {
    occupied::check_free(ifindex, ifname)?;
    program
        .load()
        .context("the kernel rejected the XDP program")
        .map_err(kernel::explain)?;
    Ok(match program.attach(ifindex, XdpMode::Driver) {
        Ok(_) => AttachMode::Native,
        Err(native) => {
            program
                .attach(ifindex, XdpMode::Skb)
                .with_context(|| {
                    format!("attaching XDP to {ifname} (native mode failed too: {native})")
                })
                .map_err(kernel::explain)?;
            AttachMode::Generic
        }
    })
}

impl ReplyFilter {
    pub fn attach(ifindex: u32, ifname: &str, config: &XdpConfig, ring_bytes: u32) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .override_global(CONFIG_GLOBAL, config, true)
            .map_max_entries(REPLIES_MAP, ring_bytes)
            .load(XDP_OBJECT)
            .context("loading the XDP program (are you root?)")
            .map_err(kernel::explain)?;
        let program: &mut Xdp = ebpf
            .program_mut(XDP_PROGRAM)
            .ok_or_else(|| anyhow!("the XDP object has no program {XDP_PROGRAM:?}"))?
            .try_into()?;
        let mode = load_and_attach(program, ifindex, ifname)?;
        Ok(Self { ebpf, mode })
    }

    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The ring buffer of [`scanner_common::ReplyRecord`]s; can be taken once.
    pub fn take_replies(&mut self) -> Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map(REPLIES_MAP)
            .ok_or_else(|| anyhow!("ring buffer {REPLIES_MAP} already taken"))?;
        Ok(RingBuf::try_from(map)?)
    }

    pub fn counters(&self) -> Result<XdpCounters> {
        let mut totals = [0u64; Counter::COUNT as usize];
        for cpu in per_cpu_counters::<{ Counter::COUNT as usize }>(&self.ebpf, COUNTERS_MAP)? {
            for (total, value) in totals.iter_mut().zip(cpu) {
                *total += value;
            }
        }
        Ok(XdpCounters {
            seen: totals[Counter::Seen as usize],
            matched: totals[Counter::Matched as usize],
            bad_cookie: totals[Counter::BadCookie as usize],
            ring_full: totals[Counter::RingFull as usize],
            capture_lost: totals[Counter::CaptureLost as usize],
        })
    }
}

/// The `N` counters of a per-CPU array map, one row per CPU (both XDP programs count so).
pub fn per_cpu_counters<const N: usize>(ebpf: &Ebpf, map: &str) -> Result<Vec<[u64; N]>> {
    let map = ebpf.map(map).ok_or_else(|| anyhow!("no map {map}"))?;
    let array = PerCpuArray::<_, u64>::try_from(map)?;
    let mut rows: Vec<[u64; N]> = Vec::new();
    for index in 0..N {
        let values = array.get(&(index as u32), 0)?;
        rows.resize(values.len(), [0; N]);
        for (row, value) in rows.iter_mut().zip(values.iter()) {
            row[index] = *value;
        }
    }
    Ok(rows)
}
