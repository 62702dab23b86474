//! Loads the responder program (scanner-ebpf's `responder` binary) with its configuration,
//! attaches it, and reads its counters. Like the scanner's program, it is attached through a
//! bpf_link owned by this process: it goes when the process goes.

use anyhow::{Context as _, Result, anyhow};
use aya::{Ebpf, EbpfLoader, programs::Xdp};
use scanner_common::responder::{
    CONFIG_GLOBAL, COUNTERS_MAP, Counter, Counts, PROGRAM, ResponderConfig,
};

use crate::reply::xdp::{AttachMode, load_and_attach, per_cpu_counters};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/responder"));

/// The attached responder. Dropping it detaches the program.
pub struct Responder {
    ebpf: Ebpf,
    mode: AttachMode,
}

impl Responder {
    pub fn attach(ifindex: u32, ifname: &str, config: &ResponderConfig) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .override_global(CONFIG_GLOBAL, config, true)
            .load(OBJECT)
            .context("loading the responder's XDP program (are you root?)")
            .map_err(crate::reply::kernel::explain)?;
        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| anyhow!("the responder object has no program {PROGRAM:?}"))?
            .try_into()?;
        let mode = load_and_attach(program, ifindex, ifname)?;
        Ok(Self { ebpf, mode })
    }

    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The counters over all CPUs.
    pub fn counts(&self) -> Result<Counts> {
        let mut counts = Counts::default();
        per_cpu_counters::<{ Counter::COUNT as usize }>(&self.ebpf, COUNTERS_MAP)?
            .iter()
            .for_each(|slots| counts.add_cpu(slots));
        Ok(counts)
    }
}
