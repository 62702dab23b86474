//! IP protocol names for the IP protocol scan (-sO): nmap's `nmap-protocols` when installed,
//! an embedded copy of IANA's protocol-number keywords otherwise.

use std::{fs, path::Path};

pub const NMAP_PROTOCOLS: &str = "/usr/share/nmap/nmap-protocols";

/// IANA's assigned protocol numbers and their keywords, lower-cased as nmap spells them
/// (https://www.iana.org/assignments/protocol-numbers); numbers without a keyword are left out.
const IANA: &[(u8, &str)] = &[
    (0, "hopopt"),
    (1, "icmp"),
    (2, "igmp"),
    (3, "ggp"),
    (4, "ipv4"),
    (5, "st"),
    (6, "tcp"),
    (7, "cbt"),
    (8, "egp"),
    (9, "igp"),
    (10, "bbn-rcc-mon"),
    (11, "nvp-ii"),
    (12, "pup"),
    (13, "argus"),
    (14, "emcon"),
    (15, "xnet"),
    (16, "chaos"),
    (17, "udp"),
    (18, "mux"),
    (19, "dcn-meas"),
    (20, "hmp"),
    (21, "prm"),
    (22, "xns-idp"),
    (23, "trunk-1"),
    (24, "trunk-2"),
    (25, "leaf-1"),
    (26, "leaf-2"),
    (27, "rdp"),
    (28, "irtp"),
    (29, "iso-tp4"),
    (30, "netblt"),
    (31, "mfe-nsp"),
    (32, "merit-inp"),
    (33, "dccp"),
    (34, "3pc"),
    (35, "idpr"),
    (36, "xtp"),
    (37, "ddp"),
    (38, "idpr-cmtp"),
    (39, "tp++"),
    (40, "il"),
    (41, "ipv6"),
    (42, "sdrp"),
    (43, "ipv6-route"),
    (44, "ipv6-frag"),
    (45, "idrp"),
    (46, "rsvp"),
    (47, "gre"),
    (48, "dsr"),
    (49, "bna"),
    (50, "esp"),
    (51, "ah"),
    (52, "i-nlsp"),
    (53, "swipe"),
    (54, "narp"),
    (55, "min-ipv4"),
    (56, "tlsp"),
    (57, "skip"),
    (58, "ipv6-icmp"),
    (59, "ipv6-nonxt"),
    (60, "ipv6-opts"),
    (62, "cftp"),
    (64, "sat-expak"),
    (65, "kryptolan"),
    (66, "rvd"),
    (67, "ippc"),
    (69, "sat-mon"),
    (70, "visa"),
    (71, "ipcv"),
    (72, "cpnx"),
    (73, "cphb"),
    (74, "wsn"),
    (75, "pvp"),
    (76, "br-sat-mon"),
    (77, "sun-nd"),
    (78, "wb-mon"),
    (79, "wb-expak"),
    (80, "iso-ip"),
    (81, "vmtp"),
    (82, "secure-vmtp"),
    (83, "vines"),
    (84, "iptm"),
    (85, "nsfnet-igp"),
    (86, "dgp"),
    (87, "tcf"),
    (88, "eigrp"),
    (89, "ospfigp"),
    (90, "sprite-rpc"),
    (91, "larp"),
    (92, "mtp"),
    (93, "ax.25"),
    (94, "ipip"),
    (95, "micp"),
    (96, "scc-sp"),
    (97, "etherip"),
    (98, "encap"),
    (100, "gmtp"),
    (101, "ifmp"),
    (102, "pnni"),
    (103, "pim"),
    (104, "aris"),
    (105, "scps"),
    (106, "qnx"),
    (107, "a/n"),
    (108, "ipcomp"),
    (109, "snp"),
    (110, "compaq-peer"),
    (111, "ipx-in-ip"),
    (112, "vrrp"),
    (113, "pgm"),
    (115, "l2tp"),
    (116, "ddx"),
    (117, "iatp"),
    (118, "stp"),
    (119, "srp"),
    (120, "uti"),
    (121, "smp"),
    (122, "sm"),
    (123, "ptp"),
    (124, "isis"),
    (125, "fire"),
    (126, "crtp"),
    (127, "crudp"),
    (128, "sscopmce"),
    (129, "iplt"),
    (130, "sps"),
    (131, "pipe"),
    (132, "sctp"),
    (133, "fc"),
    (134, "rsvp-e2e-ignore"),
    (135, "mobility-header"),
    (136, "udplite"),
    (137, "mpls-in-ip"),
    (138, "manet"),
    (139, "hip"),
    (140, "shim6"),
    (141, "wesp"),
    (142, "rohc"),
    (143, "ethernet"),
    (144, "aggfrag"),
    (145, "nsh"),
    (253, "experimental1"),
    (254, "experimental2"),
];

/// The name of every protocol number that has one.
pub struct Protocols {
    names: Vec<Option<Box<str>>>,
}

impl Protocols {
    /// Nmap's table if present and readable, else the embedded one.
    pub fn load() -> Self {
        Self::from_file(Path::new(NMAP_PROTOCOLS)).unwrap_or_else(Self::embedded)
    }

    pub fn embedded() -> Self {
        let mut names = vec![None; 256];
        for &(number, name) in IANA {
            names[usize::from(number)] = Some(name.into());
        }
        Self { names }
    }

    pub fn from_file(path: &Path) -> Option<Self> {
        let table = Self::parse(&fs::read_to_string(path).ok()?);
        // A file that names nothing is no table.
        table.names.iter().any(Option::is_some).then_some(table)
    }

    /// Lines look like `tcp  6  # Transmission Control`; lines that do not are skipped.
    pub fn parse(text: &str) -> Self {
        let mut names = vec![None; 256];
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut fields = line.split_whitespace();
            let (Some(name), Some(number)) = (fields.next(), fields.next()) else {
                continue;
            };
            if let Ok(number) = number.parse::<u8>() {
                names[usize::from(number)] = Some(name.into());
            }
        }
        Self { names }
    }

    /// The protocol's name, if it has one.
    pub fn name(&self, number: u8) -> Option<&str> {
        self.names[usize::from(number)].as_deref()
    }

    /// The protocols that have a name (what nmap's -F scans with -sO), in order.
    pub fn named(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=u8::MAX).filter(|&number| self.name(number).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nmaps_format() {
        let table = Protocols::parse(
            "# comment\nhopopt  0  # IPv6 Hop-by-Hop Option\nicmp 1\nbroken\nbad 300\nudp\t17\t# User Datagram\n",
        );
        assert_eq!(table.name(0), Some("hopopt"));
        assert_eq!(table.name(1), Some("icmp"));
        assert_eq!(table.name(17), Some("udp"));
        assert_eq!(table.name(2), None);
        assert_eq!(table.named().collect::<Vec<_>>(), [0, 1, 17]);
    }

    #[test]
    fn embedded_table_is_ianas() {
        let table = Protocols::embedded();
        for (number, name) in [
            (1, "icmp"),
            (6, "tcp"),
            (17, "udp"),
            (132, "sctp"),
            (136, "udplite"),
        ] {
            assert_eq!(table.name(number), Some(name));
        }
        assert_eq!(table.name(200), None, "unassigned");
        assert_eq!(table.name(255), None, "reserved");
        assert!(
            IANA.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "sorted, no duplicates"
        );
    }

    /// Where nmap's file is installed, the embedded names agree with it but for the few
    /// keywords IANA changed since nmap took its copy.
    #[test]
    fn embedded_names_agree_with_nmaps_file() {
        let Some(nmap) = Protocols::from_file(Path::new(NMAP_PROTOCOLS)) else {
            return;
        };
        let embedded = Protocols::embedded();
        let differing: Vec<u8> = embedded
            .named()
            .filter(|&n| {
                nmap.name(n)
                    .is_some_and(|name| Some(name) != embedded.name(n))
            })
            .collect();
        // 48 DSR (nmap: dsp), 55 Min-IPv4 (mobile), 124 ISIS over IPv4 (isis-ipv4),
        // 135 Mobility Header (mobility-hdr).
        assert_eq!(differing, [48, 55, 124, 135]);
    }
}
