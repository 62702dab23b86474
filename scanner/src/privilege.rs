//! Least privilege. A scan needs four capabilities, and only while it sets up: the raw
//! sockets (CAP_NET_RAW), attaching XDP (CAP_NET_ADMIN), loading the program and its maps
//! (CAP_BPF) and the verifier's pointer checks (CAP_PERFMON). They are checked before anything
//! is touched — a missing one is named in one line, with how to grant it — and dropped, all of
//! them, once the last stage's XDP program is attached and its sockets are open, as ZMap drops
//! root: result handling, output and teardown (closing a bpf_link detaches it) need none.

use caps::{CapSet, Capability, CapsHashSet};

/// What a scan needs, and what for.
pub const NEEDED: [(Capability, &str); 4] = [
    (Capability::CAP_NET_RAW, "raw sockets"),
    (Capability::CAP_NET_ADMIN, "attaching XDP"),
    (Capability::CAP_BPF, "loading the XDP program"),
    (Capability::CAP_PERFMON, "the verifier's checks"),
];

/// The `setcap` argument that grants them.
pub const SETCAP: &str = "cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon+ep";

/// Whether a stage keeps its capabilities for a later one, or drops them once set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterSetup {
    /// Another stage attaches after this one (discovery before the port scan, the port scan
    /// before -O).
    Keep,
    Drop,
}

impl AfterSetup {
    /// Drops every capability if this is the last stage.
    pub fn apply(self) -> anyhow::Result<()> {
        match self {
            Self::Keep => Ok(()),
            Self::Drop => drop_all(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "missing {}: a scan needs cap_net_raw, cap_net_admin, cap_bpf and cap_perfmon: run it as root, \
     or grant them with `sudo setcap {SETCAP} {}` (`cargo xtask install` does)",
    describe(.missing),
    .program
)]
pub struct MissingCapabilities {
    pub missing: Vec<Capability>,
    pub program: String,
}

fn describe(missing: &[Capability]) -> String {
    let names: Vec<String> = missing
        .iter()
        .map(|cap| {
            let why = NEEDED
                .iter()
                .find(|(needed, _)| needed == cap)
                .map_or("", |(_, why)| why);
            format!("{cap} ({why})")
        })
        .collect();
    let noun = if names.len() == 1 {
        "capability"
    } else {
        "capabilities"
    };
    format!("{noun} {}", names.join(", "))
}

/// Fails, naming each one, unless the process may use all four capabilities.
pub fn check() -> Result<(), MissingCapabilities> {
    let effective = caps::read(None, CapSet::Effective).unwrap_or_default();
    let missing = missing_from(&effective);
    if missing.is_empty() {
        return Ok(());
    }
    let program = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "scanner".to_owned());
    Err(MissingCapabilities { missing, program })
}

/// The needed capabilities `effective` lacks. CAP_SYS_ADMIN stands in for CAP_BPF and
/// CAP_PERFMON, as the kernel lets it.
fn missing_from(effective: &CapsHashSet) -> Vec<Capability> {
    let admin = effective.contains(&Capability::CAP_SYS_ADMIN);
    NEEDED
        .iter()
        .map(|&(cap, _)| cap)
        .filter(|cap| !effective.contains(cap))
        .filter(|cap| !(admin && matches!(cap, Capability::CAP_BPF | Capability::CAP_PERFMON)))
        .collect()
}

/// Gives up every capability for good: no new privileges on exec, an empty bounding set
/// (when allowed to empty it), and empty ambient, inheritable, effective and permitted sets.
pub fn drop_all() -> anyhow::Result<()> {
    use anyhow::Context as _;
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setting no_new_privs");
    }
    let effective = caps::read(None, CapSet::Effective).context("reading capabilities")?;
    if effective.contains(&Capability::CAP_SETPCAP) {
        for cap in caps::read(None, CapSet::Bounding).context("reading the bounding set")? {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).with_context(|| format!("clearing the {set:?} capabilities"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_exactly_what_is_missing() {
        let all: CapsHashSet = NEEDED.iter().map(|&(cap, _)| cap).collect();
        assert!(missing_from(&all).is_empty());
        let raw_only: CapsHashSet = [Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN].into();
        assert_eq!(
            missing_from(&raw_only),
            [Capability::CAP_BPF, Capability::CAP_PERFMON]
        );
        let old_kernel: CapsHashSet = [
            Capability::CAP_NET_RAW,
            Capability::CAP_NET_ADMIN,
            Capability::CAP_SYS_ADMIN,
        ]
        .into();
        assert!(missing_from(&old_kernel).is_empty());
    }

    #[test]
    fn the_message_is_one_line_with_the_remedy() {
        let message = MissingCapabilities {
            missing: vec![Capability::CAP_BPF, Capability::CAP_PERFMON],
            program: "/usr/local/bin/scanner".to_owned(),
        }
        .to_string();
        assert!(!message.contains('\n'));
        assert!(message.starts_with(
            "missing capabilities CAP_BPF (loading the XDP program), CAP_PERFMON (the verifier's checks)"
        ));
        assert!(message.contains(
            "`sudo setcap cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon+ep /usr/local/bin/scanner`"
        ));
    }
}
