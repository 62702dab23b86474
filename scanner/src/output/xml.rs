//! `-oX FILE`: nmap's XML (nmap.dtd, xmloutputversion 1.05), element for element as nmap's
//! output.cc writes it, so that ndiff, python-libnmap, Zenmap and nmap.xsl read it.
//!
//! `scanner="nmap"` is what the DTD allows (it enumerates nothing else); the comment under the
//! prologue names the program that wrote the file.

use std::{
    io::{self, Write},
    net::Ipv4Addr,
};

use crate::{
    osscan::report::OsReport,
    report::{HostReport, PortEntry, ReportWriter, RunStats, ScanInfo, fold, port_ranges, time},
    verdict::Proto,
};

/// Nmap's XML format version, which consumers check.
const XML_OUTPUT_VERSION: &str = "1.05";
/// Where Debian's nmap-common puts the stylesheet nmap links by default.
pub const DEFAULT_STYLESHEET: &str = "file:///usr/share/nmap/nmap.xsl";

pub struct XmlWriter<W: Write> {
    out: W,
    /// `--stylesheet`; `None` for `--no-stylesheet`.
    stylesheet: Option<String>,
}

impl<W: Write> XmlWriter<W> {
    pub fn new(out: W, stylesheet: Option<String>) -> Self {
        Self { out, stylesheet }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> ReportWriter for XmlWriter<W> {
    fn begin(&mut self, scan: &ScanInfo) -> io::Result<()> {
        let out = &mut self.out;
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(out, "<!DOCTYPE nmaprun>")?;
        if let Some(href) = &self.stylesheet {
            writeln!(
                out,
                r#"<?xml-stylesheet href="{}" type="text/xsl"?>"#,
                escape(href)
            )?;
        }
        let started = time::ctime(scan.start);
        writeln!(
            out,
            "<!-- scanner {} scan initiated {started} as: {} -->",
            env!("CARGO_PKG_VERSION"),
            escape(&scan.args)
        )?;
        writeln!(
            out,
            r#"<nmaprun scanner="nmap" args="{}" start="{}" startstr="{}" version="{}" xmloutputversion="{XML_OUTPUT_VERSION}">"#,
            escape(&scan.args),
            time::unix_seconds(scan.start),
            escape(&started),
            env!("CARGO_PKG_VERSION"),
        )?;
        writeln!(
            out,
            r#"<scaninfo type="{}" protocol="{}" numservices="{}" services="{}"/>"#,
            scan.kind.xml_name(),
            scan.kind.proto().as_str(),
            scan.ports.len(),
            port_ranges(&scan.ports)
        )?;
        writeln!(out, r#"<verbose level="{}"/>"#, scan.verbose)?;
        writeln!(out, r#"<debugging level="{}"/>"#, scan.debug)
    }

    fn host(&mut self, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
        let out = &mut self.out;
        writeln!(
            out,
            r#"<host><status state="up" reason="{}" reason_ttl="{}"/>"#,
            host.up.reason(),
            host.up.ttl()
        )?;
        writeln!(out, r#"<address addr="{}" addrtype="ipv4"/>"#, host.ip)?;
        writeln!(out, "<hostnames>\n</hostnames>")?;
        if !host.ports.is_empty() {
            write_ports(out, scan, host)?;
        }
        if let Some(os) = &host.os {
            write_os(out, os)?;
            writeln!(
                out,
                r#"<osfingerprint fingerprint="{}"/>"#,
                escape(&os.fingerprint)
            )?;
            writeln!(out, "</os>")?;
            if let Some(hops) = os.distance {
                writeln!(out, r#"<distance value="{hops}"/>"#)?;
            }
        }
        writeln!(out, "</host>")
    }

    /// A host element of one port, as masscan's -oX: nmap's consumers merge them by address.
    fn streamed(&mut self, scan: &ScanInfo, ip: Ipv4Addr, entry: &PortEntry) -> io::Result<()> {
        if scan.open_only && !entry.state.may_be_open() {
            return Ok(());
        }
        let out = &mut self.out;
        writeln!(
            out,
            r#"<host><status state="up" reason="{}" reason_ttl="{}"/>"#,
            entry.reason.as_str(),
            entry.ttl
        )?;
        writeln!(out, r#"<address addr="{ip}" addrtype="ipv4"/>"#)?;
        writeln!(out, "<hostnames>\n</hostnames>")?;
        write!(out, "<ports>")?;
        write_port(out, entry)?;
        writeln!(out, "</ports>\n</host>")
    }

    fn end(&mut self, _scan: &ScanInfo, stats: &RunStats) -> io::Result<()> {
        let out = &mut self.out;
        let ended = time::ctime(stats.end);
        let (exit, error) = match stats.ended.error() {
            None => ("success", String::new()),
            Some(message) => ("error", format!(r#" errormsg="{}""#, escape(message))),
        };
        writeln!(
            out,
            r#"<runstats><finished time="{}" timestr="{}" summary="Nmap done at {}; {}" elapsed="{:.2}" exit="{exit}"{error}/><hosts up="{}" down="{}" total="{}"/>"#,
            time::unix_seconds(stats.end),
            escape(&ended),
            escape(&ended),
            stats.summary(),
            stats.elapsed_secs,
            stats.hosts_up,
            stats.addresses.saturating_sub(stats.hosts_up),
            stats.addresses
        )?;
        writeln!(out, "</runstats>\n</nmaprun>")?;
        out.flush()
    }
}

/// nmap's printosscanoutput, its XML half: the ports used, then each listed match with its
/// classes (write_xml_osmatch, write_xml_osclass).
fn write_os(out: &mut impl Write, os: &OsReport) -> io::Result<()> {
    writeln!(out, "<os>")?;
    let used = os.ports_used;
    if let Some(port) = used.open_tcp {
        writeln!(
            out,
            r#"<portused state="open" proto="tcp" portid="{port}"/>"#
        )?;
    }
    writeln!(
        out,
        r#"<portused state="closed" proto="tcp" portid="{}"/>"#,
        used.closed_tcp
    )?;
    writeln!(
        out,
        r#"<portused state="closed" proto="udp" portid="{}"/>"#,
        used.closed_udp
    )?;
    for found in &os.matches {
        write!(
            out,
            r#"<osmatch name="{}" accuracy="{}" line="{}""#,
            escape(&found.name),
            found.accuracy,
            found.line
        )?;
        if found.classes.is_empty() {
            writeln!(out, "/>")?;
            continue;
        }
        writeln!(out, ">")?;
        for class in &found.classes {
            write!(
                out,
                r#"<osclass type="{}" vendor="{}" osfamily="{}""#,
                escape(&class.device_type),
                escape(&class.vendor),
                escape(&class.family)
            )?;
            if let Some(generation) = &class.generation {
                write!(out, r#" osgen="{}""#, escape(generation))?;
            }
            write!(out, r#" accuracy="{}""#, found.accuracy)?;
            if class.cpe.is_empty() {
                writeln!(out, "/>")?;
                continue;
            }
            write!(out, ">")?;
            for cpe in &class.cpe {
                write!(out, "<cpe>{}</cpe>", escape(cpe))?;
            }
            writeln!(out, "</osclass>")?;
        }
        writeln!(out, "</osmatch>")?;
    }
    Ok(())
}

/// nmap's printportoutput, its XML half: `extraports` for the folded states, then each
/// listed port.
fn write_ports(out: &mut impl Write, scan: &ScanInfo, host: &HostReport) -> io::Result<()> {
    let folded = fold::fold(&host.ports, scan);
    write!(out, "<ports>")?;
    for ignored in &folded.ignored {
        writeln!(
            out,
            r#"<extraports state="{}" count="{}">"#,
            ignored.state.as_str(),
            ignored.count
        )?;
        for reasons in &ignored.reasons {
            writeln!(
                out,
                r#"<extrareasons reason="{}" count="{}" proto="{}" ports="{}"/>"#,
                reasons.reason.as_str(),
                reasons.ports.len(),
                reasons.proto.as_str(),
                port_ranges(&reasons.ports)
            )?;
        }
        writeln!(out, "</extraports>")?;
    }
    for entry in &folded.shown {
        write_port(out, entry)?;
    }
    writeln!(out, "</ports>")
}

/// One `port` element, on its line.
pub(crate) fn write_port(out: &mut impl Write, entry: &PortEntry) -> io::Result<()> {
    write!(
        out,
        r#"<port protocol="{}" portid="{}"><state state="{}" reason="{}" reason_ttl="{}""#,
        entry.proto.as_str(),
        entry.port,
        entry.state.as_str(),
        entry.reason.as_str(),
        entry.ttl
    )?;
    if let Some(responder) = entry.responder {
        write!(out, r#" reason_ip="{responder}""#)?;
    }
    write!(out, "/>")?;
    if let Some(name) = entry.service {
        // Names from nmap's tables: conf 8 for protocols, 3 for ports (print_xml_service).
        let conf = match entry.proto {
            Proto::Ip => 8,
            _ => 3,
        };
        write!(
            out,
            r#"<service name="{}" method="table" conf="{conf}"/>"#,
            escape(name)
        )?;
    }
    writeln!(out, "</port>")
}

/// nmap's xml.cc escape: the five markup characters, `--` (for comments), control characters
/// (so that parsers do not normalise them away in attributes) and everything beyond ASCII as
/// character references.
pub fn escape(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    let mut previous = None;
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '-' if previous == Some('-') => out.push_str("&#45;"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{
        report::{PortEntry, ScanKind, examples},
        verdict::{PortState, Reason},
    };

    fn scan() -> ScanInfo {
        ScanInfo {
            ports: (1..=30).chain([80, 443]).collect(),
            args: "scanner -sS -p 1-30,80,443 198.18.128.1".to_owned(),
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000),
            ..examples::scan(ScanKind::Syn)
        }
    }

    fn host() -> HostReport {
        let entry = |port, state, reason, service| PortEntry {
            service,
            ..examples::entry(port, state, reason, 64)
        };
        let mut ports: Vec<_> = (1..=30)
            .map(|port| entry(port, PortState::Closed, Reason::Reset, None))
            .collect();
        ports.push(entry(80, PortState::Open, Reason::SynAck, Some("http")));
        ports.push(PortEntry {
            ttl: 0,
            ..entry(443, PortState::Filtered, Reason::NoResponse, Some("https"))
        });
        examples::host(ports)
    }

    fn document() -> String {
        let scan = scan();
        let mut xml = XmlWriter::new(Vec::new(), Some(DEFAULT_STYLESHEET.to_owned()));
        xml.begin(&scan).unwrap();
        xml.host(&scan, &host()).unwrap();
        // Past --max-host-tables: hosts of one reply each, as masscan writes them.
        xml.streamed(&scan, STREAMED, &streamed_reply()).unwrap();
        xml.end(
            &scan,
            &RunStats {
                end: scan.start + Duration::from_secs(2),
                elapsed_secs: 2.0,
                addresses: 256,
                hosts_up: 1,
                ended: crate::report::RunEnd::Completed,
            },
        )
        .unwrap();
        String::from_utf8(xml.into_inner()).unwrap()
    }

    #[test]
    fn ports_are_folded_and_listed_as_nmap_writes_them() {
        let text = document();
        assert!(text.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n\
             <?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n"
        ));
        assert!(text.contains(
            r#"<scaninfo type="syn" protocol="tcp" numservices="32" services="1-30,80,443"/>"#
        ));
        assert!(text.contains(
            "<ports><extraports state=\"closed\" count=\"30\">\n\
             <extrareasons reason=\"reset\" count=\"30\" proto=\"tcp\" ports=\"1-30\"/>\n\
             </extraports>\n"
        ));
        assert!(text.contains(
            r#"<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>"#
        ));
        assert!(text.contains(
            r#"<port protocol="tcp" portid="443"><state state="filtered" reason="no-response" reason_ttl="0"/>"#
        ));
        assert!(text.contains(r#"<hosts up="1" down="255" total="256"/>"#));
        assert!(
            text.contains(
                "(1 host up) scanned in 2.00 seconds\" elapsed=\"2.00\" exit=\"success\"/>"
            )
        );
        assert!(text.ends_with("</runstats>\n</nmaprun>\n"));
    }

    const STREAMED: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 7);

    fn streamed_reply() -> PortEntry {
        PortEntry {
            service: Some("ssh"),
            ..examples::entry(22, PortState::Open, Reason::SynAck, 63)
        }
    }

    #[test]
    fn a_streamed_reply_is_a_host_of_one_port() {
        let text = document();
        assert!(
            text.contains(
                "<host><status state=\"up\" reason=\"syn-ack\" reason_ttl=\"63\"/>\n\
             <address addr=\"198.18.200.7\" addrtype=\"ipv4\"/>\n<hostnames>\n</hostnames>\n\
             <ports><port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" \
             reason_ttl=\"63\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>\n\
             </ports>\n</host>\n"
            ),
            "{text}"
        );
        let open_only = ScanInfo {
            open_only: true,
            ..scan()
        };
        let mut xml = XmlWriter::new(Vec::new(), None);
        let closed = examples::entry(23, PortState::Closed, Reason::Reset, 63);
        xml.streamed(&open_only, STREAMED, &closed).unwrap();
        assert!(xml.into_inner().is_empty(), "--open drops a closed port");
    }

    #[test]
    fn escaping_follows_nmap() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("--x---"), "-&#45;x-&#45;&#45;");
        assert_eq!(escape("tab\there\n"), "tab&#x9;here&#xa;");
        assert_eq!(escape("é"), "&#xe9;");
    }

    /// Against Debian's nmap.dtd with xmllint (libxml2-utils, nmap-common: `cargo xtask
    /// setup` installs both); without them it is skipped, except under CI.
    #[test]
    fn valid_against_nmaps_dtd() {
        let dtd = std::path::Path::new("/usr/share/nmap/nmap.dtd");
        let xmllint = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("xmllint"))
                .find(|candidate| candidate.is_file())
        });
        let Some(xmllint) = xmllint.filter(|_| dtd.is_file()) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "xmllint or {} is missing",
                dtd.display()
            );
            eprintln!("skipped: no xmllint or {}", dtd.display());
            return;
        };
        let file = std::env::temp_dir().join(format!("scanner-xml-{}.xml", std::process::id()));
        std::fs::write(&file, document()).unwrap();
        let checked = std::process::Command::new(xmllint)
            .args(["--noout", "--dtdvalid"])
            .arg(dtd)
            .arg(&file)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&file);
        assert!(
            checked.status.success(),
            "{}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}
