//! The target's filtered ports, in nftables: dropped ports answer nothing, rejected ports answer
//! ICMP destination unreachable, administratively prohibited (type 3, code 13).

use std::process::Command;

use anyhow::Result;

use super::cmd;

/// The table the lab owns in the target namespace.
pub const TABLE: &str = "scnlab";

/// The ruleset for `nft -f -`, or `None` when no port is filtered.
pub fn ruleset(dropped: &[u16], rejected: &[u16]) -> Option<String> {
    if dropped.is_empty() && rejected.is_empty() {
        return None;
    }
    let set = |ports: &[u16]| {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        format!("{{ {} }}", ports.join(", "))
    };
    let mut rules = String::new();
    if !dropped.is_empty() {
        rules += &format!("\t\ttcp dport {} drop\n", set(dropped));
    }
    if !rejected.is_empty() {
        rules += &format!(
            "\t\ttcp dport {} reject with icmp type admin-prohibited\n",
            set(rejected)
        );
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
pub fn apply(ns: &str, dropped: &[u16], rejected: &[u16]) -> Result<()> {
    let Some(ruleset) = ruleset(dropped, rejected) else {
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

    #[test]
    fn ruleset_has_one_rule_per_kind() {
        assert_eq!(ruleset(&[], &[]), None);
        let rules = ruleset(&[8081, 9000], &[8082]).unwrap();
        assert!(rules.contains("tcp dport { 8081, 9000 } drop\n"), "{rules}");
        assert!(
            rules.contains("tcp dport { 8082 } reject with icmp type admin-prohibited\n"),
            "{rules}"
        );
        assert!(rules.starts_with("table ip scnlab {"), "{rules}");
        let rules = ruleset(&[], &[8082]).unwrap();
        assert!(!rules.contains("drop"), "{rules}");
    }
}
