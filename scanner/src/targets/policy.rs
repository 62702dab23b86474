//! The address policy: which target addresses may be probed at all.
//!
//! Every rule is a CIDR prefix with an action (allow or block) and an origin
//! (the built-in default list or a user file). For an address, the most
//! specific matching rule decides; at equal prefix length a user rule beats a
//! default one, and block beats allow. An address no rule matches is allowed,
//! unless an allowlist was given: then, as with ZMap's `-w`, only what it
//! allows is in. Addresses given to nmap's `--exclude`/`--excludefile` are
//! removed whatever the rules say.
//!
//! The rules come from:
//! - [`DEFAULT_BLOCKLIST`]: default block rules, unless `--blocklist-file`
//!   replaces it with its own entries as user block rules;
//! - `--allowlist-file`: user allow rules.
//!
//! Resolution works on ranges, never on single addresses, so a 0.0.0.0/0
//! target set resolves in microseconds: the rules paint the address space in
//! order of increasing prefix length (at equal length default before user,
//! allow before block), each setting its whole prefix to its own verdict.
//! CIDR prefixes either nest or are disjoint, so the last rule to paint an
//! address is its longest, and at equal length its strongest, match.

use std::cmp::Reverse;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv4Subnets};
use thiserror::Error;

use super::error::TargetError;
use super::file::read_spec_tokens;
use super::iana::{DEFAULT_BLOCKLIST, SpecialRange};
use super::set::TargetSet;
use super::spec::parse_target_raw;

/// How the user can scan addresses the default blocklist holds back.
const WAYS_OUT: &str = "allow them with --allowlist-file or replace the list with --blocklist-file";

/// Default ranges named in a message before the rest are only counted.
const NAMED_RANGES_MAX: usize = 3;

/// Every IPv4 address.
const EVERYTHING: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::UNSPECIFIED, 0);

/// Where the blocklist comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocklist<'a> {
    /// The built-in [`DEFAULT_BLOCKLIST`].
    Default,
    /// `--blocklist-file FILE`: replaces the default list. An empty file
    /// (or `/dev/null`) means no blocklist at all.
    File(&'a Path),
}

/// Which target addresses may be probed: the rules resolved into ranges,
/// plus the user's exclusions. Build once, then [`apply`](Self::apply).
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    denied: Denied,
    excluded: TargetSet,
}

impl AddressPolicy {
    /// Reads the policy files and resolves the rules.
    ///
    /// `excluded` is the union of `--exclude` and `--excludefile`. Fails on an
    /// unreadable file, an invalid entry (naming file and line), or an
    /// allowlist file with no entry: it would allow nothing, which is surely
    /// a mistake rather than a request to scan nothing.
    pub fn new(
        blocklist: Blocklist<'_>,
        allowlist_file: Option<&Path>,
        excluded: TargetSet,
    ) -> Result<Self, PolicyError> {
        let mut rules = Vec::new();
        match blocklist {
            Blocklist::Default => rules.extend(
                DEFAULT_BLOCKLIST
                    .iter()
                    .map(|range| Rule::new(range.net, Origin::Default, Action::Block)),
            ),
            Blocklist::File(path) => rules.extend(
                read_cidrs(path)?
                    .into_iter()
                    .map(|net| Rule::new(net, Origin::User, Action::Block)),
            ),
        }
        if let Some(path) = allowlist_file {
            let allowed = read_cidrs(path)?;
            if allowed.is_empty() {
                return Err(PolicyError::EmptyAllowlist {
                    path: path.to_path_buf(),
                });
            }
            rules.extend(
                allowed
                    .into_iter()
                    .map(|net| Rule::new(net, Origin::User, Action::Allow)),
            );
        }
        Ok(Self::from_rules(rules, allowlist_file.is_some(), excluded))
    }

    /// Resolves `rules` by painting them in precedence order (see the module
    /// documentation). Costs one pass over the ranges per group of rules
    /// with the same prefix length, origin and action: at most 33 × 3.
    fn from_rules(mut rules: Vec<Rule>, allowlist_given: bool, excluded: TargetSet) -> Self {
        let mut denied = Denied::default();
        if allowlist_given {
            denied.outside_allowlist = TargetSet::from(EVERYTHING);
        }
        rules.sort_unstable_by_key(Rule::paint_order);
        for group in rules.chunk_by(|a, b| a.paint_order() == b.paint_order()) {
            let mut area = TargetSet::builder();
            for rule in group {
                area.add_net(rule.net);
            }
            denied.paint(&area.build(), group[0].verdict());
        }
        Self { denied, excluded }
    }

    /// The addresses of `targets` that may be scanned, and what was removed.
    ///
    /// Fails only when `targets` is not empty and nothing is left; the error
    /// says why, and when the default blocklist is involved, how to scan
    /// those addresses anyway.
    pub fn apply(&self, targets: &TargetSet) -> Result<Applied, PolicyError> {
        let candidates = targets.difference(&self.excluded);
        let removed = Removed {
            excluded: targets.len() - candidates.len(),
            default_blocklist: per_default_range(&intersection(
                &candidates,
                &self.denied.by_default_blocklist,
            )),
            blocklist_file: intersection(&candidates, &self.denied.by_blocklist_file).len(),
            outside_allowlist: intersection(&candidates, &self.denied.outside_allowlist).len(),
        };
        let scannable = candidates
            .difference(&self.denied.by_default_blocklist)
            .difference(&self.denied.by_blocklist_file)
            .difference(&self.denied.outside_allowlist);
        if scannable.is_empty() && !targets.is_empty() {
            return Err(PolicyError::NothingToScan(removed));
        }
        Ok(Applied { scannable, removed })
    }
}

/// The outcome of [`AddressPolicy::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The targets the policy lets through.
    pub scannable: TargetSet,
    /// The targets it took out, and why.
    pub removed: Removed,
}

impl Applied {
    /// One line telling the user that the default blocklist skipped some
    /// targets and how to scan them anyway; `None` when it skipped none.
    /// Without the `note: ` prefix, which is the caller's.
    pub fn default_blocklist_note(&self) -> Option<String> {
        let count = self.removed.by_default_blocklist();
        (count > 0).then(|| {
            format!(
                "{} in the default blocklist ({}) and {} skipped; {WAYS_OUT}",
                addresses_are(count),
                name_ranges(&self.removed.default_blocklist),
                if count == 1 { "is" } else { "are" },
            )
        })
    }
}

/// Target addresses the policy took out, by reason; each address counts
/// once. Exclusion is checked first, then the rule that decided the address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Removed by `--exclude`/`--excludefile`.
    pub excluded: u64,
    /// Blocked by the default blocklist: per range (the most specific one
    /// holding them), in address order, only ranges holding targets.
    pub default_blocklist: Vec<(SpecialRange, u64)>,
    /// Blocked by `--blocklist-file`.
    pub blocklist_file: u64,
    /// Not covered by `--allowlist-file`.
    pub outside_allowlist: u64,
}

impl Removed {
    /// How many addresses the default blocklist blocked, over all its ranges.
    pub fn by_default_blocklist(&self) -> u64 {
        self.default_blocklist.iter().map(|&(_, count)| count).sum()
    }
}

/// `65536 target addresses are in the default blocklist (198.18.0.0/15
/// benchmarking, RFC 2544); allow them with ...`, reasons in that order.
impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default_blocked = self.by_default_blocklist();
        let mut reasons = Vec::new();
        if default_blocked > 0 {
            reasons.push(format!(
                "{} in the default blocklist ({})",
                addresses_are(default_blocked),
                name_ranges(&self.default_blocklist)
            ));
        }
        for (count, reason) in [
            (self.blocklist_file, "in the --blocklist-file"),
            (self.outside_allowlist, "outside the --allowlist-file"),
            (self.excluded, "excluded by --exclude/--excludefile"),
        ] {
            if count > 0 {
                reasons.push(format!("{} {reason}", addresses_are(count)));
            }
        }
        f.write_str(&reasons.join(", "))?;
        if default_blocked > 0 {
            write!(f, "; {WAYS_OUT}")?;
        }
        Ok(())
    }
}

/// Why a policy could not be built or left nothing to scan. Every message
/// is one line.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// A blocklist or allowlist file could not be read or has an invalid
    /// entry (the message names the file, and the line).
    #[error(transparent)]
    File(#[from] TargetError),
    /// The allowlist file has no entry.
    #[error(
        "--allowlist-file {path}: no addresses in file (an empty allowlist would allow nothing)",
        path = .path.display()
    )]
    EmptyAllowlist {
        /// The file that was read.
        path: PathBuf,
    },
    /// No target is left once the policy is applied.
    #[error("nothing to scan: {0}")]
    NothingToScan(Removed),
}

/// Who wrote a rule. The order is the precedence at equal prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    Default,
    User,
}

/// What a rule does. The order is the precedence at equal prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Allow,
    Block,
}

/// One prefix and what to do with the addresses it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    net: Ipv4Net,
    origin: Origin,
    action: Action,
}

impl Rule {
    fn new(net: Ipv4Net, origin: Origin, action: Action) -> Self {
        Self {
            net,
            origin,
            action,
        }
    }

    /// Rules paint in ascending order, each over the earlier ones.
    fn paint_order(&self) -> (u8, Origin, Action) {
        (self.net.prefix_len(), self.origin, self.action)
    }

    fn verdict(&self) -> Verdict {
        match (self.origin, self.action) {
            (_, Action::Allow) => Verdict::Allowed,
            (Origin::Default, Action::Block) => Verdict::DefaultBlocklist,
            (Origin::User, Action::Block) => Verdict::BlocklistFile,
        }
    }
}

/// What the rules say about an address, kept apart by reason for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allowed,
    DefaultBlocklist,
    BlocklistFile,
}

/// The addresses the rules deny, by reason. The sets are disjoint; an
/// address in none of them is allowed.
#[derive(Debug, Clone, Default)]
struct Denied {
    by_default_blocklist: TargetSet,
    by_blocklist_file: TargetSet,
    /// Only with an allowlist: what no rule matched.
    outside_allowlist: TargetSet,
}

impl Denied {
    /// Gives every address in `area` the verdict `verdict`, whatever it had.
    fn paint(&mut self, area: &TargetSet, verdict: Verdict) {
        for set in [
            &mut self.by_default_blocklist,
            &mut self.by_blocklist_file,
            &mut self.outside_allowlist,
        ] {
            *set = set.difference(area);
        }
        let denied_here = match verdict {
            Verdict::Allowed => return,
            Verdict::DefaultBlocklist => &mut self.by_default_blocklist,
            Verdict::BlocklistFile => &mut self.by_blocklist_file,
        };
        *denied_here = denied_here.union(area);
    }
}

/// Reads a policy file (target file syntax) as CIDR blocks. A range that is
/// not one block is split into the blocks that make it up, so that each
/// keeps its own prefix length, its specificity. An empty file gives none.
fn read_cidrs(path: &Path) -> Result<Vec<Ipv4Net>, TargetError> {
    let tokens = match read_spec_tokens(path) {
        Ok(tokens) => tokens,
        Err(TargetError::EmptyFile { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut nets = Vec::new();
    for (line, spec) in tokens {
        let ranges = parse_target_raw(&spec).map_err(|reason| TargetError::InFile {
            path: path.to_path_buf(),
            line,
            spec,
            reason,
        })?;
        for (start, end) in ranges {
            nets.extend(Ipv4Subnets::new(start.into(), end.into(), 0));
        }
    }
    Ok(nets)
}

/// Addresses in both sets.
fn intersection(a: &TargetSet, b: &TargetSet) -> TargetSet {
    a.difference(&a.difference(b))
}

/// Counts `blocked` (default-blocked targets) per default range, each
/// address under the most specific range holding it (255.255.255.255 under
/// limited broadcast, not under 240.0.0.0/4).
fn per_default_range(blocked: &TargetSet) -> Vec<(SpecialRange, u64)> {
    let mut most_specific_first = DEFAULT_BLOCKLIST;
    most_specific_first.sort_by_key(|range| Reverse(range.net.prefix_len()));
    let mut left = blocked.clone();
    let mut counts = Vec::new();
    for range in most_specific_first {
        if left.is_empty() {
            break;
        }
        let net = TargetSet::from(range.net);
        let count = intersection(&left, &net).len();
        if count > 0 {
            counts.push((range, count));
            left = left.difference(&net);
        }
    }
    counts.sort_by_key(|(range, _)| range.net);
    counts
}

/// `1 target address is` / `65536 target addresses are`.
fn addresses_are(count: u64) -> String {
    if count == 1 {
        "1 target address is".to_owned()
    } else {
        format!("{count} target addresses are")
    }
}

/// `10.0.0.0/8 private-use, RFC 1918; 198.18.0.0/15 benchmarking, RFC 2544`,
/// the first few only, then how many more.
fn name_ranges(counts: &[(SpecialRange, u64)]) -> String {
    let mut names: Vec<String> = counts
        .iter()
        .take(NAMED_RANGES_MAX)
        .map(|(range, _)| range.to_string())
        .collect();
    if counts.len() > NAMED_RANGES_MAX {
        names.push(format!("and {} more", counts.len() - NAMED_RANGES_MAX));
    }
    names.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::SpecError;
    use crate::targets::temp_file::TempFile;
    use std::time::{Duration, Instant};

    fn set(specs: &[&str]) -> TargetSet {
        TargetSet::from_specs(specs.iter().copied()).unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn special(cidr: &str) -> SpecialRange {
        *DEFAULT_BLOCKLIST
            .iter()
            .find(|range| range.net == net(cidr))
            .unwrap_or_else(|| panic!("{cidr} is not in the default blocklist"))
    }

    /// A policy from file contents; `blocklist: None` keeps the default list.
    fn policy(
        blocklist: Option<&str>,
        allowlist: Option<&str>,
        excluded: &[&str],
    ) -> AddressPolicy {
        let blocklist_file = blocklist.map(TempFile::new);
        let allowlist_file = allowlist.map(TempFile::new);
        AddressPolicy::new(
            blocklist_file
                .as_ref()
                .map_or(Blocklist::Default, |file| Blocklist::File(&file.0)),
            allowlist_file.as_ref().map(|file| file.0.as_path()),
            set(excluded),
        )
        .unwrap()
    }

    fn nothing_to_scan(policy: &AddressPolicy, targets: &[&str]) -> Removed {
        match policy.apply(&set(targets)) {
            Err(PolicyError::NothingToScan(removed)) => removed,
            other => panic!("expected nothing to scan, got {other:?}"),
        }
    }

    #[test]
    fn default_list_holds_the_known_special_ranges() {
        assert_eq!(DEFAULT_BLOCKLIST.len(), 16, "ZMap's blocklist.conf has 16");
        for (cidr, name, rfc) in [
            ("10.0.0.0/8", "private-use", 1918),
            ("127.0.0.0/8", "loopback", 1122),
            ("198.18.0.0/15", "benchmarking", 2544),
            ("224.0.0.0/4", "multicast", 5771),
            ("240.0.0.0/4", "reserved", 1112),
            ("255.255.255.255/32", "limited broadcast", 919),
        ] {
            let range = special(cidr);
            assert_eq!((range.name, range.rfc), (name, rfc), "{cidr}");
        }
        assert_eq!(
            special("198.18.0.0/15").to_string(),
            "198.18.0.0/15 benchmarking, RFC 2544"
        );
    }

    #[test]
    fn default_list_is_in_address_order_without_host_bits() {
        for range in DEFAULT_BLOCKLIST {
            assert_eq!(range.net, range.net.trunc(), "{range}");
        }
        assert!(DEFAULT_BLOCKLIST.windows(2).all(|w| w[0].net < w[1].net));
    }

    #[test]
    fn default_blocklist_blocks_special_ranges() {
        let policy = policy(None, None, &[]);
        let applied = policy
            .apply(&set(&["198.18.0.0/16", "8.8.8.0/24", "10.1.2.3"]))
            .unwrap();
        assert_eq!(applied.scannable, set(&["8.8.8.0/24"]));
        assert_eq!(
            applied.removed.default_blocklist,
            vec![
                (special("10.0.0.0/8"), 1),
                (special("198.18.0.0/15"), 65536)
            ]
        );
        assert_eq!(applied.removed.by_default_blocklist(), 65537);
    }

    #[test]
    fn default_blocklist_note_names_the_range_and_the_ways_out() {
        let policy = policy(None, None, &[]);
        let applied = policy.apply(&set(&["198.18.0.0/16", "8.8.8.8"])).unwrap();
        assert_eq!(
            applied.default_blocklist_note().unwrap(),
            "65536 target addresses are in the default blocklist (198.18.0.0/15 benchmarking, \
             RFC 2544) and are skipped; allow them with --allowlist-file or replace the list \
             with --blocklist-file"
        );
        let untouched = policy.apply(&set(&["8.8.8.8"])).unwrap();
        assert_eq!(untouched.default_blocklist_note(), None);
        assert_eq!(untouched.removed, Removed::default());
    }

    #[test]
    fn blocklist_file_replaces_the_default() {
        let policy = policy(Some("192.0.2.0/25 # half of TEST-NET-1\n"), None, &[]);
        let applied = policy
            .apply(&set(&["198.18.0.0/24", "192.0.2.0/24", "10.0.0.1"]))
            .unwrap();
        assert_eq!(
            applied.scannable,
            set(&["198.18.0.0/24", "192.0.2.128/25", "10.0.0.1"])
        );
        assert_eq!(applied.removed.blocklist_file, 128);
        assert!(applied.removed.default_blocklist.is_empty());
        assert_eq!(applied.default_blocklist_note(), None);
    }

    #[test]
    fn empty_blocklist_file_allows_everything() {
        let everything = TargetSet::from(EVERYTHING);
        for contents in ["", "# no entries\n\n"] {
            let policy = policy(Some(contents), None, &[]);
            assert_eq!(policy.apply(&everything).unwrap().scannable, everything);
        }
        let dev_null =
            AddressPolicy::new(Blocklist::File(Path::new("/dev/null")), None, set(&[])).unwrap();
        assert_eq!(
            dev_null.apply(&everything).unwrap().scannable.len(),
            1 << 32
        );
    }

    #[test]
    fn allowlist_restricts_to_its_entries() {
        let policy = policy(None, Some("8.8.8.0/24\n1.1.1.1\n"), &[]);
        let applied = policy.apply(&set(&["8.8.0.0/16", "1.1.1.0/24"])).unwrap();
        assert_eq!(applied.scannable, set(&["8.8.8.0/24", "1.1.1.1"]));
        assert_eq!(applied.removed.outside_allowlist, (65536 - 256) + 255);
    }

    #[test]
    fn allowlist_entry_equal_to_a_default_range_wins_the_tie() {
        let policy = policy(None, Some("198.18.0.0/15\n"), &[]);
        let applied = policy.apply(&set(&["198.18.0.0/15"])).unwrap();
        assert_eq!(applied.scannable.len(), 1 << 17);
        assert_eq!(applied.default_blocklist_note(), None);
    }

    #[test]
    fn more_specific_default_range_beats_a_broad_allowlist() {
        let policy = policy(None, Some("0.0.0.0/0\n"), &[]);
        let applied = policy.apply(&set(&["10.0.0.0/7"])).unwrap();
        assert_eq!(applied.scannable, set(&["11.0.0.0/8"]));
        assert_eq!(
            applied.removed.default_blocklist,
            vec![(special("10.0.0.0/8"), 1 << 24)]
        );
    }

    #[test]
    fn user_allow_inside_a_default_range_is_allowed() {
        let policy = policy(None, Some("10.1.0.0/16\n"), &[]);
        let applied = policy.apply(&set(&["10.0.0.0/8"])).unwrap();
        assert_eq!(applied.scannable, set(&["10.1.0.0/16"]));
        assert_eq!(
            applied.removed.default_blocklist,
            vec![(special("10.0.0.0/8"), (1 << 24) - (1 << 16))]
        );
    }

    #[test]
    fn user_block_inside_an_allowlist_is_blocked() {
        let policy = policy(Some("8.8.8.8\n"), Some("8.8.8.0/24\n"), &[]);
        let applied = policy.apply(&set(&["8.8.8.0/24"])).unwrap();
        assert_eq!(applied.scannable.len(), 255);
        assert!(!applied.scannable.contains(ip("8.8.8.8")));
        assert_eq!(applied.removed.blocklist_file, 1);
    }

    #[test]
    fn user_block_beats_user_allow_at_equal_length() {
        let policy = policy(Some("8.8.8.0/24\n"), Some("8.8.8.0/24\n"), &[]);
        let removed = nothing_to_scan(&policy, &["8.8.8.0/24"]);
        assert_eq!(removed.blocklist_file, 256);
    }

    #[test]
    fn excludes_always_win() {
        let allowing = policy(
            None,
            Some("198.18.0.0/15\n198.18.0.1/32\n"),
            &["198.18.0.0/24"],
        );
        let applied = allowing.apply(&set(&["198.18.0.0/23"])).unwrap();
        assert_eq!(applied.scannable, set(&["198.18.1.0/24"]));
        assert_eq!(applied.removed.excluded, 256);
        // Excluded addresses are not also counted as blocked.
        let default_policy = policy(None, None, &["198.18.0.0/16"]);
        let removed = nothing_to_scan(&default_policy, &["198.18.0.0/15"]);
        assert_eq!(removed.excluded, 65536);
        assert_eq!(removed.by_default_blocklist(), 65536);
    }

    #[test]
    fn ranges_in_files_keep_the_specificity_of_their_blocks() {
        // 9.255.255.255/32 + 10.0.0.0/31: both more specific than 10.0.0.0/8.
        let policy = policy(None, Some("9.255.255.255-10.0.0.1\n10.0.0-1.5\n"), &[]);
        let applied = policy.apply(&set(&["9.255.255.0-10.0.1.255"])).unwrap();
        assert_eq!(
            applied.scannable,
            set(&[
                "9.255.255.255",
                "10.0.0.0",
                "10.0.0.1",
                "10.0.0.5",
                "10.0.1.5"
            ])
        );
    }

    #[test]
    fn full_scan_resolves_fast_and_skips_exactly_the_default_ranges() {
        let everything = TargetSet::from(EVERYTHING);
        let started = Instant::now();
        let policy = policy(None, None, &[]);
        let applied = policy.apply(&everything).unwrap();
        let elapsed = started.elapsed();
        // Per address this would take many seconds; over ranges, microseconds.
        assert!(elapsed < Duration::from_millis(100), "took {elapsed:?}");

        // The sizes of the default ranges, summed by hand; 255.255.255.255/32
        // lies inside 240.0.0.0/4 and so adds nothing.
        let blocked: u64 = 3 * (1 << 24) // 0/8, 10/8, 127/8
            + (1 << 22) // 100.64/10
            + 2 * (1 << 16) // 169.254/16, 192.168/16
            + (1 << 20) // 172.16/12
            + 5 * (1 << 8) // the five /24s
            + (1 << 17) // 198.18/15
            + 2 * (1 << 28); // 224/4, 240/4
        assert_eq!(blocked, 592_708_864);
        assert_eq!(applied.scannable.len(), (1 << 32) - blocked);
        assert_eq!(applied.removed.by_default_blocklist(), blocked);
        assert_eq!(applied.removed.default_blocklist.len(), 16);
        assert!(
            applied
                .removed
                .default_blocklist
                .contains(&(special("240.0.0.0/4"), (1 << 28) - 1))
        );
        assert!(
            applied
                .removed
                .default_blocklist
                .contains(&(special("255.255.255.255/32"), 1))
        );
        for addr in [
            "0.255.255.255",
            "10.0.0.0",
            "198.19.255.255",
            "255.255.255.255",
        ] {
            assert!(!applied.scannable.contains(ip(addr)), "{addr}");
        }
        for addr in ["1.0.0.0", "9.255.255.255", "198.20.0.0", "223.255.255.255"] {
            assert!(applied.scannable.contains(ip(addr)), "{addr}");
        }
        let note = applied.default_blocklist_note().unwrap();
        assert!(
            note.starts_with(
                "592708864 target addresses are in the default blocklist (0.0.0.0/8 this \
                 network, RFC 1122; 10.0.0.0/8 private-use, RFC 1918; 100.64.0.0/10 shared \
                 address space, RFC 6598; and 13 more) and are skipped; "
            ),
            "{note}"
        );
    }

    #[test]
    fn malformed_line_is_reported_with_file_and_line() {
        let file = TempFile::new("10.0.0.0/8\n# comment\n1.2.3.4 300.1.1.1\n");
        for (blocklist, allowlist) in [
            (Blocklist::File(&file.0), None),
            (Blocklist::Default, Some(file.0.as_path())),
        ] {
            let err = AddressPolicy::new(blocklist, allowlist, set(&[])).unwrap_err();
            let PolicyError::File(TargetError::InFile {
                line, spec, reason, ..
            }) = &err
            else {
                panic!("unexpected error {err:?}");
            };
            assert_eq!((*line, spec.as_str()), (3, "300.1.1.1"));
            assert!(
                matches!(reason, SpecError::OctetOutOfRange(_)),
                "{reason:?}"
            );
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    "{}:3: invalid target \"300.1.1.1\": ",
                    file.0.display()
                )),
                "{message}"
            );
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn missing_file_is_an_error() {
        let path = std::env::temp_dir().join(format!(
            "policy-test-{}-does-not-exist.txt",
            std::process::id()
        ));
        for (blocklist, allowlist) in [
            (Blocklist::File(&path), None),
            (Blocklist::Default, Some(path.as_path())),
        ] {
            let err = AddressPolicy::new(blocklist, allowlist, set(&[])).unwrap_err();
            let PolicyError::File(TargetError::Read { error, .. }) = &err else {
                panic!("unexpected error {err:?}");
            };
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
            assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
        }
    }

    #[test]
    fn empty_allowlist_is_an_error() {
        let file = TempFile::new("# nothing allowed\n");
        let err = AddressPolicy::new(Blocklist::Default, Some(&file.0), set(&[])).unwrap_err();
        assert!(matches!(err, PolicyError::EmptyAllowlist { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "--allowlist-file {}: no addresses in file (an empty allowlist would allow nothing)",
                file.0.display()
            )
        );
    }

    #[test]
    fn everything_blocked_by_default_names_the_range_and_the_ways_out() {
        let policy = policy(None, None, &[]);
        let err = policy.apply(&set(&["198.18.0.0/16"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing to scan: 65536 target addresses are in the default blocklist \
             (198.18.0.0/15 benchmarking, RFC 2544); allow them with --allowlist-file or \
             replace the list with --blocklist-file"
        );
    }

    #[test]
    fn nothing_left_for_other_reasons_says_which() {
        let excluded = policy(None, None, &["8.8.8.0/24"]);
        let err = excluded.apply(&set(&["8.8.8.0/24"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing to scan: 256 target addresses are excluded by --exclude/--excludefile"
        );
        let mixed = policy(Some("8.8.4.4\n"), Some("8.8.8.8\n8.8.4.4\n"), &["8.8.8.8"]);
        let err = mixed
            .apply(&set(&["8.8.8.8", "8.8.4.4", "1.1.1.1"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "nothing to scan: 1 target address is in the --blocklist-file, 1 target address is \
             outside the --allowlist-file, 1 target address is excluded by \
             --exclude/--excludefile"
        );
    }

    #[test]
    fn no_targets_is_not_the_policys_error() {
        let applied = policy(None, None, &[]).apply(&TargetSet::new()).unwrap();
        assert!(applied.scannable.is_empty());
        assert_eq!(applied.removed, Removed::default());
    }

    /// Random rules of every origin and action, checked address by address
    /// against the precedence stated plainly: longest prefix, then user over
    /// default, then block over allow.
    #[test]
    fn painting_matches_a_naive_longest_prefix_match() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let window = u32::from(ip("10.0.0.0"))..u32::from(ip("10.0.16.0"));
        for _ in 0..200 {
            let allowlist_given = random() % 2 == 0;
            let rules: Vec<Rule> = (0..1 + random() % 12)
                .map(|_| {
                    let prefix_len = match random() % 10 {
                        0 => 0,
                        1 => 8,
                        _ => 19 + (random() % 14) as u8,
                    };
                    let addr = window.start + (random() as u32) % (window.end - window.start);
                    let origin = if random() % 2 == 0 {
                        Origin::Default
                    } else {
                        Origin::User
                    };
                    let action = if random() % 2 == 0 {
                        Action::Allow
                    } else {
                        Action::Block
                    };
                    let net = Ipv4Net::new(Ipv4Addr::from(addr), prefix_len).unwrap();
                    Rule::new(net.trunc(), origin, action)
                })
                .collect();
            let excluded_start = window.start + (random() as u32) % (window.end - window.start);
            let mut excluded = TargetSet::builder();
            excluded.add_range(excluded_start..=excluded_start + (random() % 64) as u32);
            let excluded = excluded.build();
            let policy =
                AddressPolicy::from_rules(rules.clone(), allowlist_given, excluded.clone());
            let scannable = match policy.apply(&TargetSet::from(EVERYTHING)) {
                Ok(applied) => applied.scannable,
                Err(PolicyError::NothingToScan(_)) => TargetSet::new(),
                Err(err) => panic!("{err}"),
            };
            let probes = window
                .clone()
                .chain([0, u32::from(ip("9.255.255.255")), u32::MAX]);
            for addr in probes.map(Ipv4Addr::from) {
                let deciding = rules
                    .iter()
                    .filter(|rule| rule.net.contains(&addr))
                    .max_by_key(|rule| {
                        (
                            rule.net.prefix_len(),
                            rule.origin == Origin::User,
                            rule.action == Action::Block,
                        )
                    });
                let allowed =
                    deciding.map_or(!allowlist_given, |rule| rule.action == Action::Allow);
                let expected = allowed && !excluded.contains(addr);
                assert_eq!(
                    scannable.contains(addr),
                    expected,
                    "{addr} with rules {rules:?}, allowlist given: {allowlist_given}"
                );
            }
        }
    }
}
