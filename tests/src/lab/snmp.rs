//! Counters from `/proc/net/snmp` and `/proc/net/netstat`: pairs of lines, a header
//! (`Tcp: RtoAlgorithm RtoMin ...`) followed by the values (`Tcp: 1 200 ...`).

/// The value of `proto`.`field` in `text`, if present (signed: `Tcp MaxConn` is -1).
pub fn parse_counter(text: &str, proto: &str, field: &str) -> Option<i64> {
    let prefix = format!("{proto}:");
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let Some(names) = header.strip_prefix(&prefix) else {
            continue;
        };
        let values = lines.next()?.strip_prefix(&prefix)?;
        if let Some(i) = names.split_whitespace().position(|name| name == field) {
            return values.split_whitespace().nth(i)?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 1234
Icmp: InMsgs InErrors
Icmp: 5 0
Tcp: RtoAlgorithm RtoMin MaxConn OutRsts
Tcp: 1 200 -1 42
";

    #[test]
    fn finds_fields_by_header() {
        assert_eq!(parse_counter(SNMP, "Tcp", "OutRsts"), Some(42));
        assert_eq!(parse_counter(SNMP, "Tcp", "MaxConn"), Some(-1));
        assert_eq!(parse_counter(SNMP, "Icmp", "InMsgs"), Some(5));
        assert_eq!(parse_counter(SNMP, "Ip", "InReceives"), Some(1234));
        assert_eq!(parse_counter(SNMP, "Tcp", "Nope"), None);
        assert_eq!(parse_counter(SNMP, "Udp", "InDatagrams"), None);
        // "Ip" must not match "IpExt".
        assert_eq!(
            parse_counter("IpExt: InNoRoutes\nIpExt: 3\n", "Ip", "InNoRoutes"),
            None
        );
    }
}
