//! The target's filtered ports and protocols, in nftables: dropped ones answer nothing,
//! rejected ones answer ICMP destination unreachable, administratively prohibited (3/13).

use std::process::Command;

use anyhow::Result;

use super::cmd;

/// The table the lab owns in the target namespace.
pub const TABLE: &str = "scnlab";

/// What the target filters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filters<'a> {
    /// TCP ports.
    pub dropped_ports: &'a [u16],
    pub rejected_ports: &'a [u16],
    /// IP protocols (for the IP protocol scan).
    pub dropped_protocols: &'a [u8],
    /// SCTP ports.
    pub dropped_sctp_ports: &'a [u16],
    pub rejected_protocols: &'a [u8],
    /// UDP ports.
    pub dropped_udp_ports: &'a [u16],
    pub rejected_udp_ports: &'a [u16],
}

/// The ruleset for `nft -f -`, or `None` when nothing is filtered.
pub fn ruleset(filters: &Filters<'_>) -> Option<String> {
    fn set<T: ToString>(items: &[T]) -> String {
        let items: Vec<String> = items.iter().map(T::to_string).collect();
        format!("{{ {} }}", items.join(", "))
    }
    const REJECT: &str = "reject with icmp type admin-prohibited";
    let mut rules = String::new();
    if !filters.dropped_ports.is_empty() {
        rules += &format!("\t\ttcp dport {} drop\n", set(filters.dropped_ports));
    }
    if !filters.rejected_ports.is_empty() {
        rules += &format!("\t\ttcp dport {} {REJECT}\n", set(filters.rejected_ports));
    }
    if !filters.dropped_udp_ports.is_empty() {
        rules += &format!("\t\tudp dport {} drop\n", set(filters.dropped_udp_ports));
    }
    if !filters.rejected_udp_ports.is_empty() {
        rules += &format!(
            "\t\tudp dport {} {REJECT}\n",
            set(filters.rejected_udp_ports)
        );
    }
    if !filters.dropped_sctp_ports.is_empty() {
        rules += &format!("\t\tsctp dport {} drop\n", set(filters.dropped_sctp_ports));
    }
    if !filters.dropped_protocols.is_empty() {
        rules += &format!("\t\tip protocol {} drop\n", set(filters.dropped_protocols));
    }
    if !filters.rejected_protocols.is_empty() {
        rules += &format!(
            "\t\tip protocol {} {REJECT}\n",
            set(filters.rejected_protocols)
        );
    }
    if rules.is_empty() {
        return None;
    }
    Some(format!(
        "table ip {TABLE} {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority 0; policy accept;\n\
         {rules}\
         \t}}\n\
         }}\n"
    ))
}

/// Applies the ruleset in namespace `ns` (`ip netns exec ns nft -f -`), if there is one.
pub fn apply(ns: &str, filters: &Filters<'_>) -> Result<()> {
    let Some(ruleset) = ruleset(filters) else {
        return Ok(());
    };
    cmd::run(
        Command::new("ip").args(["netns", "exec", ns, "nft", "-f", "-"]),
        Some(ruleset.as_bytes()),
        cmd::TIMEOUT,
    )
    .map_err(|err| {
        if err.to_string().contains("No such file") {
            err.context("nft not found: install nftables (`cargo xtask setup`)")
        } else {
            err
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(dropped: &'static [u16], rejected: &'static [u16]) -> Filters<'static> {
        Filters {
            dropped_ports: dropped,
            rejected_ports: rejected,
            ..Filters::default()
        }
    }

    #[test]
    fn ruleset_has_one_rule_per_kind() {
        assert_eq!(ruleset(&ports(&[], &[])), None);
        let rules = ruleset(&ports(&[8081, 9000], &[8082])).unwrap();
        assert!(rules.contains("tcp dport { 8081, 9000 } drop\n"), "{rules}");
        assert!(
            rules.contains("tcp dport { 8082 } reject with icmp type admin-prohibited\n"),
            "{rules}"
        );
        assert!(rules.starts_with("table ip scnlab {"), "{rules}");
        let rules = ruleset(&ports(&[], &[8082])).unwrap();
        assert!(!rules.contains("drop"), "{rules}");
        let rules = ruleset(&Filters {
            dropped_protocols: &[47],
            rejected_protocols: &[50, 51],
            ..Filters::default()
        })
        .unwrap();
        assert!(rules.contains("ip protocol { 47 } drop\n"), "{rules}");
        assert!(
            rules.contains("ip protocol { 50, 51 } reject with icmp type admin-prohibited\n"),
            "{rules}"
        );
    }
}
