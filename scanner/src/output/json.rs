//! `-oJ FILE`: JSON lines, complete (see [`super::stream`]): a line per port state, silence
//! included (`"reason":"no-response"`), and one per OS result (`{"ip":...,"os":{...}}`).

use std::{
    io::{self, Write},
    net::Ipv4Addr,
};

use serde::Serialize;

use super::{fields::Fields, stream::LineFormat};
use crate::{
    osscan::report::OsReport,
    report::{PortEntry, ScanInfo},
    verdict::{PortState, Proto, Reason},
};

pub struct JsonLines<W: Write> {
    out: W,
    /// `--output-fields`; `None`: [`DefaultLine`]'s keys.
    fields: Option<Fields>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W, fields: Option<Fields>) -> Self {
        Self { out, fields }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The keys without --output-fields, in nmap's words.
#[derive(Serialize)]
struct DefaultLine {
    ip: Ipv4Addr,
    port: u16,
    proto: Proto,
    state: PortState,
    reason: Reason,
    ttl: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    responder: Option<Ipv4Addr>,
}

impl<W: Write> LineFormat for JsonLines<W> {
    fn line(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        match &self.fields {
            Some(fields) => serde_json::to_writer(&mut self.out, &fields.object(scan, ip, entry))?,
            None => serde_json::to_writer(
                &mut self.out,
                &DefaultLine {
                    ip,
                    port: entry.port,
                    proto: entry.proto,
                    state: entry.state,
                    reason: entry.reason,
                    ttl: entry.ttl,
                    responder: entry.responder,
                },
            )?,
        }
        self.out.write_all(b"\n")
    }

    fn os(&mut self, ip: Ipv4Addr, os: &OsReport) -> io::Result<()> {
        #[derive(Serialize)]
        struct HostOs<'a> {
            ip: Ipv4Addr,
            os: &'a OsReport,
        }
        serde_json::to_writer(&mut self.out, &HostOs { ip, os })?;
        self.out.write_all(b"\n")
    }

    fn foot(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        output::stream::Streaming,
        report::{
            ReportWriter, ScanKind,
            examples::{self, entry},
        },
    };

    fn run(open_only: bool, fields: Option<Fields>) -> String {
        let scan = ScanInfo {
            open_only,
            ..examples::scan(ScanKind::Syn)
        };
        let ip = Ipv4Addr::new(198, 18, 128, 9);
        let open = entry(22, PortState::Open, Reason::SynAck, 64);
        let prohibited = PortEntry {
            responder: Some(Ipv4Addr::new(198, 18, 0, 2)),
            ..entry(23, PortState::Filtered, Reason::AdminProhibited, 63)
        };
        let silent = entry(8082, PortState::Filtered, Reason::NoResponse, 0);
        let mut json = Streaming(JsonLines::new(Vec::new(), fields));
        json.begin(&scan).unwrap();
        json.decided(&scan, ip, &open).unwrap();
        json.decided(&scan, ip, &prohibited).unwrap();
        let host = crate::report::HostReport {
            ip,
            ..examples::host(vec![open, prohibited, silent])
        };
        json.host(&scan, &host).unwrap();
        json.end(&scan, &examples::stats()).unwrap();
        String::from_utf8(json.0.into_inner()).unwrap()
    }

    #[test]
    fn replies_at_once_then_silence_once_each() {
        assert_eq!(
            run(false, None),
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
            true,
            Some(Fields::parse("saddr,sport,classification,success,daddr,responder").unwrap()),
        );
        assert_eq!(
            text,
            concat!(
                r#"{"saddr":"198.18.128.9","sport":22,"classification":"syn-ack","success":1,"daddr":"198.18.0.1","responder":null}"#,
                "\n"
            )
        );
    }
}
