//! The three tools: how each is pointed at the lab (the veth, our address and the next hop's
//! MAC, always explicit, so nothing can leave elsewhere), and how its output is read.

use std::{fs, net::Ipv4Addr, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};
use scanner_tests::Lab;

use super::{COOLDOWN, Context, Found, Rate, State};
use crate::cmd;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    /// This scanner, one sender thread.
    Scanner,
    /// This scanner, two sender threads (one per core here).
    Scanner2,
    /// masscan (one transmit thread).
    Masscan,
    /// zmap, one sender thread (-T 1).
    Zmap,
    /// zmap, two sender threads (-T 2).
    Zmap2,
    /// The ceiling: one fixed, prebuilt frame through AF_XDP as fast as it goes, one thread
    /// (`scanner/examples/xdp_ceiling.rs`). Only at the rate "max"; it reports nothing.
    Ceiling,
    /// The ceiling on two queues, one thread each.
    Ceiling2,
}

fn mac(bytes: [u8; 6]) -> String {
    bytes.map(|byte| format!("{byte:02x}")).join(":")
}

fn port_list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Scanner => "scanner",
            Tool::Scanner2 => "scanner x2",
            Tool::Masscan => "masscan",
            Tool::Zmap => "zmap",
            Tool::Zmap2 => "zmap x2",
            Tool::Ceiling => "AF_XDP ceiling",
            Tool::Ceiling2 => "AF_XDP ceiling x2",
        }
    }

    /// Sender threads of the runs.
    pub fn threads(self) -> u32 {
        match self {
            Tool::Scanner | Tool::Masscan | Tool::Zmap | Tool::Ceiling => 1,
            Tool::Scanner2 | Tool::Zmap2 | Tool::Ceiling2 => 2,
        }
    }

    /// This scanner, with however many threads.
    pub fn is_ours(self) -> bool {
        matches!(self, Tool::Scanner | Tool::Scanner2)
    }

    /// The bare send loop, which scans nothing.
    pub fn is_ceiling(self) -> bool {
        matches!(self, Tool::Ceiling | Tool::Ceiling2)
    }

    /// The ports of each run: zmap 2.1.1 scans one port per run.
    pub fn runs(self, ports: &[u16]) -> Vec<Vec<u16>> {
        match self {
            Tool::Scanner | Tool::Scanner2 | Tool::Masscan | Tool::Ceiling | Tool::Ceiling2 => {
                vec![ports.to_vec()]
            }
            Tool::Zmap | Tool::Zmap2 => ports.iter().map(|&port| vec![port]).collect(),
        }
    }

    /// The command of one run, in the lab's scanner namespace, writing its results to `output`.
    pub fn command(
        self,
        lab: &Lab,
        context: &Context,
        rate: Rate,
        ports: &[u16],
        output: &Path,
    ) -> Command {
        let range = context.settings.cidr();
        let pps = rate.pps().to_string();
        let cooldown = COOLDOWN.as_secs().to_string();
        let (interface, source, gateway) = (
            Lab::SCANNER_IF,
            Lab::SCANNER_IP.to_string(),
            mac(Lab::TARGET_MAC),
        );
        match self {
            Tool::Scanner | Tool::Scanner2 => {
                let mut command = lab.command_in_scanner(&context.scanner);
                command.args(scanner_args(
                    &range,
                    &port_list(ports),
                    &pps,
                    &cooldown,
                    self.threads(),
                    output,
                ));
                command
            }
            Tool::Masscan => {
                let mut command = lab.command_in_scanner("masscan");
                command
                    .args(["-e", interface, "--adapter-ip", &source])
                    .args(["--router-mac", &gateway])
                    .args(["-p", &port_list(ports), &range])
                    .args(["--rate", &pps, "--wait", &cooldown])
                    // RSTs too, in the list output: `closed tcp PORT ADDRESS TIME`.
                    .args(["--show", "closed", "-oL"])
                    .arg(output);
                command
            }
            Tool::Zmap | Tool::Zmap2 => {
                let mut command = lab.command_in_scanner("zmap");
                command
                    .args(["-i", interface, "-S", &source, "-G", &gateway])
                    .args(["-p", &port_list(ports)])
                    // Its default blocklist holds 198.18.0.0/15: a harmless one, and the range
                    // as the allowlist.
                    .arg("-w")
                    .arg(context.work.join("zmap-allowlist"))
                    .arg("-b")
                    .arg(context.work.join("zmap-blocklist"))
                    .args(["-r", &pps, "-c", &cooldown])
                    .args(["-T", &self.threads().to_string()])
                    // Sends the veth refuses when its peer's ring is full are retried, not fatal.
                    .args(["--max-sendto-failures", "1000000000", "--disable-syslog"])
                    // RSTs too: an explicit output module lifts the success-only default.
                    .args(["-O", "csv", "-f", "saddr,classification"])
                    .args(["--output-filter", "repeat = 0", "-o"])
                    .arg(output);
                command
            }
            Tool::Ceiling | Tool::Ceiling2 => {
                let (target, port) = silent_pair(context, ports);
                let mut command = lab.command_in_scanner(ceiling_binary());
                command
                    .args(ceiling_args(
                        context.settings.addresses().count() * ports.len(),
                        self.threads(),
                        target,
                    ))
                    .args(["--port", &port.to_string()]);
                command
            }
        }
    }

    /// masscan 1.3.2 stays blocked in libpcap after its cooldown until some packet arrives:
    /// it needs a nudge (any packet to vs0) to exit.
    pub fn needs_nudges(self) -> bool {
        self == Tool::Masscan
    }

    /// Adds what one run's `output` reports to `found`. A last line without its newline (a run
    /// stopped while writing) is left out.
    pub fn parse(self, output: &Path, ports: &[u16], found: &mut Found) -> Result<()> {
        let text = fs::read_to_string(output)?;
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in complete.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (address, port, state) = match self {
                Tool::Scanner | Tool::Scanner2 => {
                    let value: serde_json::Value = serde_json::from_str(line)?;
                    // Silence is listed too; the peers report only replies, and so we score.
                    if value["reason"] == "no-response" {
                        continue;
                    }
                    let state = value["state"].as_str().unwrap_or_default().to_owned();
                    let port = value["port"].as_u64().context("no port")? as u16;
                    let address = value["ip"].as_str().context("no ip")?.to_owned();
                    (address, port, state)
                }
                Tool::Masscan => {
                    // open tcp 80 198.19.0.1 1700000000
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let [state, "tcp", port, address, ..] = fields[..] else {
                        bail!("unexpected masscan line {line:?}");
                    };
                    (address.to_owned(), port.parse()?, state.to_owned())
                }
                // It sends one frame over and over and reads no answer.
                Tool::Ceiling | Tool::Ceiling2 => continue,
                Tool::Zmap | Tool::Zmap2 => {
                    // saddr,classification (after a header line)
                    if line.starts_with("saddr") {
                        continue;
                    }
                    let (address, class) = line.split_once(',').context("no comma")?;
                    let state = match class {
                        "synack" => "open",
                        "rst" => "closed",
                        other => other,
                    };
                    (address.to_owned(), ports[0], state.to_owned())
                }
            };
            let state = match state.as_str() {
                "open" => State::Open,
                "closed" => State::Closed,
                other => bail!("state {other:?} in {line:?}"),
            };
            let address: Ipv4Addr = address.parse()?;
            found.insert((address, port), state);
        }
        Ok(())
    }

    /// One line about the tool and how it runs, for the report.
    pub fn version(self, context: &Context) -> String {
        let first_line = |command: &mut Command| {
            cmd::output_unchecked(command)
                .map(|out| {
                    let text = format!("{}{}", out.stdout, out.stderr);
                    text.lines()
                        .find(|line| !line.trim().is_empty())
                        .unwrap_or("?")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_else(|err| format!("? ({err})"))
        };
        match self {
            Tool::Scanner | Tool::Scanner2 => format!(
                "{} ({}): {}",
                self.name(),
                super::shown(&context.scanner),
                scanner_args(
                    "RANGE",
                    "PORTS",
                    "RATE",
                    &COOLDOWN.as_secs().to_string(),
                    self.threads(),
                    Path::new("OUT")
                )
                .join(" ")
            ),
            Tool::Masscan => format!(
                "{}: -e vs0 --adapter-ip 198.18.0.1 --router-mac 02:00:00:00:00:02 -p PORTS RANGE \
                 --rate RATE --wait {} --show closed -oL OUT",
                first_line(Command::new("masscan").arg("--version")),
                COOLDOWN.as_secs()
            ),
            Tool::Zmap | Tool::Zmap2 => format!(
                "{} {}: -i vs0 -S 198.18.0.1 -G 02:00:00:00:00:02 -p PORT -w RANGE -b (nothing of the \
                 lab) -r RATE -c {} -T {} -O csv -f saddr,classification \
                 --output-filter 'repeat = 0', once per port",
                self.name(),
                first_line(Command::new("zmap").arg("--version")),
                COOLDOWN.as_secs(),
                self.threads()
            ),
            Tool::Ceiling | Tool::Ceiling2 => format!(
                "{} ({}): {}",
                self.name(),
                super::shown(&ceiling_binary()),
                ceiling_args(0, self.threads(), Ipv4Addr::new(198, 19, 0, 0))
                    .join(" ")
                    .replace("--frames 0", "--frames PROBES")
                    .replace("198.19.0.0", "FIRST-ADDRESS-OF-RANGE")
            ),
        }
    }
}

/// The ceiling's binary, an example of the scanner crate (built by `cargo xtask bench`).
pub fn ceiling_binary() -> std::path::PathBuf {
    let scanner = cmd::release_binary("scanner");
    scanner.with_file_name("examples").join("xdp_ceiling")
}

/// An (address, port) of the range that the responder never answers: the ceiling's frames
/// then cost the target one lookup each and bring nothing back (an answer would go up vs0's
/// stack and be answered with a RST, on the sender's core).
fn silent_pair(context: &Context, ports: &[u16]) -> (Ipv4Addr, u16) {
    let config = context.settings.config().ok();
    context
        .settings
        .addresses()
        .flat_map(|ip| ports.iter().map(move |&port| (ip, port)))
        .find(|&(ip, port)| {
            config.as_ref().is_some_and(|config| {
                scanner_common::responder::truth(
                    config,
                    u32::from(ip),
                    port,
                    scanner_common::wire::ip_proto::TCP,
                ) == scanner_common::responder::Truth::Silent
            })
        })
        .unwrap_or((Lab::TARGET_IP, ports.first().copied().unwrap_or(80)))
}

/// The ceiling's command line: as many frames as a tool's probes, to one silent (address,
/// port) of the range.
fn ceiling_args(frames: usize, threads: u32, target: Ipv4Addr) -> Vec<String> {
    [
        Lab::SCANNER_IF,
        "--threads",
        &threads.to_string(),
        "--frames",
        &frames.to_string(),
        "--source",
        &Lab::SCANNER_IP.to_string(),
        "--source-mac",
        &mac(Lab::SCANNER_MAC),
        "--gateway-mac",
        &mac(Lab::TARGET_MAC),
        "--target",
        &target.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// This scanner's command line, in one place. One pass like the others (`--retries 0`), the
/// interface, source address and next hop given explicitly, the lab's range allowed past the
/// default blocklist, AF_XDP where it binds.
pub fn scanner_args(
    range: &str,
    ports: &str,
    pps: &str,
    cooldown: &str,
    threads: u32,
    output: &Path,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "-sS",
        "-p",
        ports,
        range,
        "--rate",
        pps,
        "--retries",
        "0",
        "--wait",
        cooldown,
        "-e",
        Lab::SCANNER_IF,
        "-S",
        &Lab::SCANNER_IP.to_string(),
        "--gateway-mac",
        &mac(Lab::TARGET_MAC),
        "--allowlist-file",
        scanner_tests::LAB_ALLOWLIST,
        "--send-path",
        "auto",
        "--sender-threads",
        &threads.to_string(),
        "-oJ",
    ]
    .map(str::to_owned)
    .to_vec();
    args.push(output.display().to_string());
    args
}

/// zmap's allowlist (the range) and blocklist (one address of TEST-NET-1, outside the lab and
/// never scanned: zmap wants a file, and its default one blocks 198.18.0.0/15).
pub fn write_zmap_lists(context: &Context) -> Result<()> {
    fs::write(
        context.work.join("zmap-allowlist"),
        format!("{}\n", context.settings.cidr()),
    )?;
    fs::write(
        context.work.join("zmap-blocklist"),
        "# nothing of the lab: the allowlist limits the scan\n192.0.2.0/32\n",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tool: Tool, text: &str, ports: &[u16]) -> Result<Found> {
        let file =
            std::env::temp_dir().join(format!("tools-{}-{}", tool.name(), std::process::id()));
        fs::write(&file, text).unwrap();
        let mut found = Found::new();
        let result = tool.parse(&file, ports, &mut found);
        let _ = fs::remove_file(&file);
        result.map(|()| found)
    }

    #[test]
    fn outputs_parse() {
        let a = Ipv4Addr::new(198, 19, 0, 1);
        let b = Ipv4Addr::new(198, 19, 3, 4);
        let ours = "{\"ip\":\"198.19.0.1\",\"port\":80,\"proto\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\",\"ttl\":64}\n\
                    {\"ip\":\"198.19.3.4\",\"port\":22,\"proto\":\"tcp\",\"state\":\"closed\",\"reason\":\"reset\",\"ttl\":64}\n";
        let masscan = "#masscan\nopen tcp 80 198.19.0.1 1795244952\nclosed tcp 22 198.19.3.4 1795244952\n# end\n";
        let expected = Found::from([((a, 80), State::Open), ((b, 22), State::Closed)]);
        assert_eq!(parse(Tool::Scanner, ours, &[22, 80]).unwrap(), expected);
        assert_eq!(parse(Tool::Masscan, masscan, &[22, 80]).unwrap(), expected);
        let zmap = "saddr,classification\n198.19.0.1,synack\n198.19.3.4,rst\n";
        assert_eq!(
            parse(Tool::Zmap, zmap, &[8080]).unwrap(),
            Found::from([((a, 8080), State::Open), ((b, 8080), State::Closed)])
        );
        assert!(parse(Tool::Masscan, "banner tcp 80 198.19.0.1 1 x\n", &[80]).is_err());
        assert!(parse(Tool::Zmap, "198.19.0.1,icmp-unreach\n", &[80]).is_err());
        // A line cut short by a stopped run is left out.
        let cut = "open tcp 80 198.19.0.1 1795244952\nclosed tcp 22 198.19";
        assert_eq!(
            parse(Tool::Masscan, cut, &[22, 80]).unwrap(),
            Found::from([((a, 80), State::Open)])
        );
    }

    #[test]
    fn zmap_runs_once_per_port() {
        assert_eq!(Tool::Zmap.runs(&[22, 80]), [vec![22], vec![80]]);
        assert_eq!(Tool::Masscan.runs(&[22, 80]), [vec![22, 80]]);
    }
}
