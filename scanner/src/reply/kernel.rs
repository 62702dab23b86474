//! The kernel features the XDP programs need, with the release that brought each, so that a
//! kernel refusing them is told apart from every other refusal: one line naming what it lacks.
//!
//! Only consulted after a failure: distributions backport BPF features into older releases
//! (RHEL's 4.18 and 5.14), where the programs may well load.

use std::ffi::CStr;

/// A kernel feature and the mainline release (major, minor) that added it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub since: (u32, u32),
}

/// What the scanner's and the responder's XDP programs use, oldest first.
pub const REQUIRED: &[Feature] = &[
    Feature {
        name: "the BPF ring buffer (BPF_MAP_TYPE_RINGBUF)",
        since: (5, 8),
    },
    Feature {
        name: "XDP attached through a bpf_link",
        since: (5, 9),
    },
    Feature {
        name: "the bpf_xdp_load_bytes helper",
        since: (5, 18),
    },
];

/// The oldest mainline kernel with every [`REQUIRED`] feature.
pub const MINIMUM: (u32, u32) = (5, 18);

/// The running kernel's release (`uname -r`).
pub fn running_release() -> Option<String> {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return None;
    }
    let release = unsafe { CStr::from_ptr(name.release.as_ptr()) };
    Some(release.to_string_lossy().into_owned())
}

/// (major, minor) of a release such as `6.1.0-57-amd64` or `5.4.0`.
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The first required feature `release` predates, as one line; `None` when it has them all
/// (or its release cannot be read, then the kernel's own error says more).
pub fn too_old(release: &str) -> Option<String> {
    let running = version(release)?;
    let missing = REQUIRED.iter().find(|feature| running < feature.since)?;
    Some(format!(
        "Linux {release} is older than {}.{}, which added {}: the scanner needs Linux {}.{} or later",
        missing.since.0, missing.since.1, missing.name, MINIMUM.0, MINIMUM.1
    ))
}

/// `err`, unless the running kernel is too old for the programs: then that, in one line.
pub fn explain(err: anyhow::Error) -> anyhow::Error {
    match running_release().as_deref().and_then(too_old) {
        Some(line) => anyhow::Error::msg(line),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_with_distribution_suffixes() {
        assert_eq!(version("6.1.0-57-amd64"), Some((6, 1)));
        assert_eq!(version("5.18.0"), Some((5, 18)));
        assert_eq!(version("6.18.5-arch1-1"), Some((6, 18)));
        assert_eq!(version("4.18.0-553.el8_10.x86_64"), Some((4, 18)));
        assert_eq!(version("garbage"), None);
    }

    #[test]
    fn the_first_missing_feature_is_named() {
        let line = too_old("5.4.0-150-generic").unwrap();
        assert_eq!(
            line,
            "Linux 5.4.0-150-generic is older than 5.8, which added the BPF ring buffer \
             (BPF_MAP_TYPE_RINGBUF): the scanner needs Linux 5.18 or later"
        );
        assert!(too_old("5.8.0").unwrap().contains("bpf_link"));
        assert!(
            too_old("5.15.0-91-generic")
                .unwrap()
                .contains("bpf_xdp_load_bytes")
        );
        assert_eq!(too_old("5.18.0"), None);
        assert_eq!(too_old("6.1.0-57-amd64"), None);
        assert_eq!(too_old("10.0"), None);
        assert_eq!(too_old("unknown"), None);
    }

    #[test]
    fn minimum_is_the_newest_requirement() {
        assert_eq!(
            REQUIRED.iter().map(|feature| feature.since).max(),
            Some(MINIMUM)
        );
    }
}
