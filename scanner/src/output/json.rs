//! `-oJ FILE`: JSON lines, complete. Each reply's port state is written the moment it is
//! decided; once the scan is over, each host that is up gets the states silence decided
//! (`"reason":"no-response"`) and its OS result. `--open` keeps the states that may be open.

use std::{
    io::{self, Write},
    net::Ipv4Addr,
    time::SystemTime,
};

use serde_json::{Map, Value};

use super::fields::Fields;
use crate::{
    osscan::report::OsReport,
    report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo},
};

pub struct JsonLines<W: Write> {
    out: W,
    /// `--output-fields`; `None`: ip, port, proto, state, reason, ttl and responder.
    fields: Option<Fields>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W, fields: Option<Fields>) -> Self {
        Self { out, fields }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        if !listed(scan, entry) {
            return Ok(());
        }
        let object = match &self.fields {
            Some(fields) => fields
                .names()
                .zip(fields.values(scan, ip, entry, SystemTime::now()))
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            None => default_object(ip, entry),
        };
        serde_json::to_writer(&mut self.out, &Value::Object(object))?;
        self.out.write_all(b"\n")
    }
}

/// What `--open` keeps: the states that may be open, as nmap's --open.
pub fn listed(scan: &ScanInfo, entry: &PortEntry) -> bool {
    !scan.open_only || entry.state.may_be_open()
}

fn default_object(ip: Ipv4Addr, entry: &PortEntry) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("ip".into(), ip.to_string().into());
    object.insert("port".into(), entry.port.into());
    object.insert("proto".into(), entry.proto.as_str().into());
    object.insert("state".into(), entry.state.as_str().into());
    object.insert("reason".into(), entry.reason.as_str().into());
    object.insert("ttl".into(), entry.ttl.into());
    if let Some(responder) = entry.responder {
        object.insert("responder".into(), responder.to_string().into());
    }
    object
}

impl<W: Write> ReportWriter for JsonLines<W> {
    fn begin(&mut self, _scan: &ScanInfo) -> io::Result<()> {
        Ok(())
    }

    fn decided(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        self.line(scan, ip, entry)
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        // The replies' lines are out already.
        for entry in host.ports.iter().filter(|entry| entry.is_silence()) {
            self.line(scan, host.ip, entry)?;
        }
        if let Some(os) = &host.os {
            #[derive(serde::Serialize)]
            struct HostOs<'a> {
                ip: Ipv4Addr,
                os: &'a OsReport,
            }
            serde_json::to_writer(&mut self.out, &HostOs { ip: host.ip, os })?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn end(&mut self, _scan: &ScanInfo, _stats: &RunStats) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::{
        report::{HostUp, ScanKind},
        verdict::{PortState, Proto, Reason},
    };

    fn scan(open_only: bool) -> ScanInfo {
        ScanInfo {
            kind: ScanKind::Syn,
            ports: vec![22, 23, 8082],
            args: "scanner".into(),
            start: SystemTime::UNIX_EPOCH,
            verbose: 0,
            debug: 0,
            open_only,
            reason: false,
            source_ip: Ipv4Addr::new(198, 18, 0, 1),
        }
    }

    fn entry(port: u16, state: PortState, reason: Reason, ttl: u8) -> PortEntry {
        PortEntry {
            port,
            proto: Proto::Tcp,
            state,
            reason,
            ttl,
            responder: None,
            service: None,
        }
    }

    fn run(scan: &ScanInfo, fields: Option<Fields>) -> String {
        let ip = Ipv4Addr::new(198, 18, 128, 9);
        let open = entry(22, PortState::Open, Reason::SynAck, 64);
        let mut prohibited = entry(23, PortState::Filtered, Reason::AdminProhibited, 63);
        prohibited.responder = Some(Ipv4Addr::new(198, 18, 0, 2));
        let silent = entry(8082, PortState::Filtered, Reason::NoResponse, 0);
        let mut json = JsonLines::new(Vec::new(), fields);
        json.begin(scan).unwrap();
        json.decided(scan, ip, &open).unwrap();
        json.decided(scan, ip, &prohibited).unwrap();
        let host = HostReport {
            ip,
            up: HostUp::Replied {
                reason: Reason::SynAck,
                ttl: 64,
            },
            ports: vec![open, prohibited, silent],
            os: None,
        };
        json.host(scan, &host).unwrap();
        String::from_utf8(json.into_inner()).unwrap()
    }

    #[test]
    fn replies_at_once_then_silence_once_each() {
        assert_eq!(
            run(&scan(false), None),
            concat!(
                r#"{"ip":"198.18.128.9","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64}"#,
                "\n",
                r#"{"ip":"198.18.128.9","port":23,"proto":"tcp","state":"filtered","reason":"admin-prohibited","ttl":63,"responder":"198.18.0.2"}"#,
                "\n",
                r#"{"ip":"198.18.128.9","port":8082,"proto":"tcp","state":"filtered","reason":"no-response","ttl":0}"#,
                "\n"
            )
        );
    }

    #[test]
    fn open_keeps_what_may_be_open_and_fields_choose_keys() {
        let text = run(
            &scan(true),
            Some(Fields::parse("saddr,sport,classification,success,daddr").unwrap()),
        );
        assert_eq!(
            text,
            concat!(
                r#"{"saddr":"198.18.128.9","sport":22,"classification":"syn-ack","success":1,"daddr":"198.18.0.1"}"#,
                "\n"
            )
        );
    }
}
