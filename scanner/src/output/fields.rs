//! `--output-fields`: the columns of -oC and the keys of -oJ, by ZMap's names where ZMap has the
//! field, and ours beside them. Values are borrowed or copied, never allocated: they are written
//! once per reply.

use std::{fmt, net::Ipv4Addr, time::SystemTime};

use serde::{Serialize, Serializer, ser::SerializeMap};

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
    /// The source port of our probe (the reply's destination port); empty for silence and -sO.
    Dport,
    /// What decided: nmap's reason (`syn-ack`, `reset`, `port-unreach`, `no-response`, ...).
    Classification,
    /// 1 when the port is open, else 0 (ZMap's `success`).
    Success,
    Ttl,
    /// Unix seconds when the state was decided (written).
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
    ("dport", Field::Dport),
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

    /// This field of `entry` of host `ip`.
    pub fn value(self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> Value {
        match self {
            Field::Saddr | Field::Ip => Value::Addr(ip),
            Field::Daddr => Value::Addr(scan.source_ip),
            Field::Sport | Field::Port => Value::Number(entry.port.into()),
            Field::Dport => entry
                .local_port
                .map_or(Value::Empty, |port| Value::Number(port.into())),
            Field::Classification | Field::Reason => Value::Text(entry.reason.as_str()),
            Field::Success => Value::Number(u64::from(entry.state == PortState::Open)),
            Field::Ttl => Value::Number(entry.ttl.into()),
            // Read only when asked for: one clock read per line at most.
            Field::TimestampTs => Value::Number(time::unix_seconds(SystemTime::now())),
            Field::State => Value::Text(entry.state.as_str()),
            Field::Proto => Value::Text(entry.proto.as_str()),
            Field::Responder => entry.responder.map_or(Value::Empty, Value::Addr),
        }
    }
}

/// A field's value: JSON writes numbers as numbers and `Empty` as null, CSV all as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Addr(Ipv4Addr),
    Number(u64),
    Text(&'static str),
    Empty,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Addr(ip) => ip.fmt(f),
            Value::Number(n) => n.fmt(f),
            Value::Text(text) => f.write_str(text),
            Value::Empty => Ok(()),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Addr(ip) => serializer.collect_str(ip),
            Value::Number(n) => serializer.serialize_u64(*n),
            Value::Text(text) => serializer.serialize_str(text),
            Value::Empty => serializer.serialize_none(),
        }
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

    /// `entry` of `ip` as a JSON object of these fields, in order.
    pub fn object<'a>(
        &'a self,
        scan: &'a ScanInfo,
        ip: Ipv4Addr,
        entry: &'a PortEntry,
    ) -> impl Serialize + 'a {
        Object {
            fields: self,
            scan,
            ip,
            entry,
        }
    }
}

struct Object<'a> {
    fields: &'a Fields,
    scan: &'a ScanInfo,
    ip: Ipv4Addr,
    entry: &'a PortEntry,
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.0.len()))?;
        for field in &self.fields.0 {
            map.serialize_entry(field.name(), &field.value(self.scan, self.ip, self.entry))?;
        }
        map.end()
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

    #[test]
    fn dport_is_the_probes_source_port_and_empty_for_silence() {
        use crate::{
            report::{ScanKind, examples},
            verdict::{PortState, Reason},
        };
        let scan = examples::scan(ScanKind::Syn);
        let ip = Ipv4Addr::new(198, 18, 128, 1);
        let reply = PortEntry {
            local_port: Some(40001),
            ..examples::entry(22, PortState::Open, Reason::SynAck, 64)
        };
        let silent = examples::entry(23, PortState::Filtered, Reason::NoResponse, 0);
        let dport = Fields::parse("dport").unwrap().0[0];
        assert_eq!(dport.value(&scan, ip, &reply), Value::Number(40001));
        assert_eq!(dport.value(&scan, ip, &silent), Value::Empty);
        assert_eq!(Field::Sport.value(&scan, ip, &reply), Value::Number(22));
    }
}
