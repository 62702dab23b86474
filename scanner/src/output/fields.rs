//! `--output-fields`: the columns of -oC and the keys of -oJ, by ZMap's names where ZMap has the
//! field, and ours beside them.

use std::{net::Ipv4Addr, time::SystemTime};

use serde_json::Value;

use crate::{
    report::{PortEntry, ScanInfo, time},
    verdict::PortState,
};

/// One field of a result line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The target's address (ZMap's `saddr`: the reply's source); `ip` is our name for it.
    Saddr,
    Ip,
    /// The probes' source address (the reply's destination).
    Daddr,
    /// The target's port (the reply's source port); `port` is our name for it.
    Sport,
    Port,
    /// What decided: nmap's reason (`syn-ack`, `reset`, `port-unreach`, `no-response`, ...).
    Classification,
    /// 1 when the port is open, else 0 (ZMap's `success`).
    Success,
    Ttl,
    /// Unix seconds when the state was decided.
    TimestampTs,
    State,
    Reason,
    Proto,
    /// Who sent the deciding reply when not the target (a router's ICMP error), else empty.
    Responder,
}

const NAMES: &[(&str, Field)] = &[
    ("saddr", Field::Saddr),
    ("ip", Field::Ip),
    ("daddr", Field::Daddr),
    ("sport", Field::Sport),
    ("port", Field::Port),
    ("classification", Field::Classification),
    ("success", Field::Success),
    ("ttl", Field::Ttl),
    ("timestamp_ts", Field::TimestampTs),
    ("state", Field::State),
    ("reason", Field::Reason),
    ("proto", Field::Proto),
    ("responder", Field::Responder),
];

impl Field {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, field)| *field == self)
            .map_or("", |(name, _)| name)
    }
}

/// The fields of one output, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields(pub Vec<Field>);

impl Fields {
    /// -oC without --output-fields.
    pub fn csv_default() -> Self {
        use Field::*;
        Self(vec![
            Saddr,
            Sport,
            Proto,
            State,
            Reason,
            Ttl,
            Responder,
            TimestampTs,
        ])
    }

    /// `saddr,sport,state`: known names, each once.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut fields = Vec::new();
        for name in spec.split(',').map(str::trim) {
            let field = NAMES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, field)| *field)
                .ok_or_else(|| {
                    let known: Vec<&str> = NAMES.iter().map(|(name, _)| *name).collect();
                    format!(
                        "--output-fields {spec}: unknown field {name:?} (known: {})",
                        known.join(", ")
                    )
                })?;
            if fields.contains(&field) {
                return Err(format!("--output-fields {spec}: {name} twice"));
            }
            fields.push(field);
        }
        Ok(Self(fields))
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|field| field.name())
    }

    /// The field values of `entry` of `ip`, decided at `at`.
    pub fn values(
        &self,
        scan: &ScanInfo,
        ip: Ipv4Addr,
        entry: &PortEntry,
        at: SystemTime,
    ) -> Vec<Value> {
        self.0
            .iter()
            .map(|field| match field {
                Field::Saddr | Field::Ip => Value::from(ip.to_string()),
                Field::Daddr => Value::from(scan.source_ip.to_string()),
                Field::Sport | Field::Port => Value::from(entry.port),
                Field::Classification | Field::Reason => Value::from(entry.reason.as_str()),
                Field::Success => Value::from(u8::from(entry.state == PortState::Open)),
                Field::Ttl => Value::from(entry.ttl),
                Field::TimestampTs => Value::from(time::unix_seconds(at)),
                Field::State => Value::from(entry.state.as_str()),
                Field::Proto => Value::from(entry.proto.as_str()),
                Field::Responder => entry
                    .responder
                    .map_or(Value::Null, |ip| Value::from(ip.to_string())),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_order_and_mistakes_are_named() {
        let fields = Fields::parse("saddr, sport,classification,success").unwrap();
        assert_eq!(
            fields.names().collect::<Vec<_>>(),
            ["saddr", "sport", "classification", "success"]
        );
        let err = Fields::parse("saddr,bogus").unwrap_err();
        assert!(
            err.starts_with("--output-fields saddr,bogus: unknown field \"bogus\" (known: saddr,"),
            "{err}"
        );
        assert!(Fields::parse("ttl,ttl").unwrap_err().contains("ttl twice"));
        assert!(Fields::parse("").is_err());
    }
}
