//! The results: one row per tool and rate, as a markdown table with how it was measured.

use std::{fmt::Write as _, time::Duration};

use scanner_tests::{Lab, ResponderCounts};

use super::{
    COOLDOWN, Context, Expected, Found, PORTS, Rate, State, measure::Measured, tools::Tool,
};

/// One tool at one rate, summed over its runs.
#[derive(Clone, Debug)]
pub struct Row {
    pub tool: Tool,
    pub rate: Rate,
    /// Probes the tool was asked to send.
    pub planned: u64,
    /// Probes the responder saw.
    pub probes: u64,
    /// Sum over runs of the time from the first probe to the last, at the responder.
    pub span: Duration,
    /// Answers the responder sent (open + closed) and vs0 received.
    pub answered: u64,
    pub delivered: u64,
    /// Correct (address, port, state) reports, and wrong ones (not in the truth, or another
    /// state).
    pub open_found: usize,
    pub closed_found: usize,
    pub wrong: usize,
    pub open_expected: usize,
    pub closed_expected: usize,
    pub cpu: Duration,
    pub wall: Duration,
    /// Runs that failed or had to be stopped.
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(tool: Tool, rate: Rate, context: &Context) -> Row {
        Row {
            tool,
            rate,
            planned: 0,
            probes: 0,
            span: Duration::ZERO,
            answered: 0,
            delivered: 0,
            open_found: 0,
            closed_found: 0,
            wrong: 0,
            open_expected: context.expected.open,
            closed_expected: context.expected.closed,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
            notes: Vec::new(),
        }
    }

    pub fn add_run(
        &mut self,
        planned: u64,
        measured: &Measured,
        counts: &ResponderCounts,
        delivered: u64,
    ) {
        self.planned += planned;
        self.probes += counts.probes;
        self.span += Duration::from_nanos(counts.probe_span_ns());
        self.answered += counts.open + counts.closed;
        self.delivered += delivered;
        self.cpu += measured.cpu;
        self.wall += measured.wall;
    }

    pub fn score(&mut self, found: &Found, expected: &Expected) {
        for (key, state) in found {
            match expected.states.get(key) {
                Some(truth) if truth == state => match state {
                    State::Open => self.open_found += 1,
                    State::Closed => self.closed_found += 1,
                },
                _ => self.wrong += 1,
            }
        }
    }

    /// Probes per second where they landed.
    pub fn achieved_pps(&self) -> f64 {
        let secs = self.span.as_secs_f64();
        if secs > 0.0 {
            self.probes as f64 / secs
        } else {
            0.0
        }
    }

    /// Open and closed ports found, over those there are.
    pub fn found_ratio(&self) -> f64 {
        (self.open_found + self.closed_found) as f64
            / (self.open_expected + self.closed_expected).max(1) as f64
    }

    pub fn cpu_per_million(&self) -> f64 {
        self.cpu.as_secs_f64() / (self.probes.max(1) as f64 / 1e6)
    }
}

fn pps(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else {
        format!("{:.0}k", value / 1e3)
    }
}

fn ratio(found: usize, expected: usize) -> String {
    format!(
        "{found}/{expected} ({:.1}%)",
        100.0 * found as f64 / expected.max(1) as f64
    )
}

/// Open found, closed found and wrong: "n/a" for the ceiling, which scans nothing.
fn scored(row: &Row) -> [String; 3] {
    if row.tool.is_ceiling() {
        return ["n/a".into(), "n/a".into(), "n/a".into()];
    }
    [
        ratio(row.open_found, row.open_expected),
        ratio(row.closed_found, row.closed_expected),
        row.wrong.to_string(),
    ]
}

/// One line per row while the bench runs.
pub fn line(row: &Row) -> String {
    let [open, closed, wrong] = scored(row);
    format!(
        "bench: {:<8} asked {:>5}: achieved {:>6} pps, {}/{} probes at the target, open {}, \
         closed {}, wrong {}, {:.2} CPU s/M probes, {:.1} s{}",
        row.tool.name(),
        row.rate.label(),
        pps(row.achieved_pps()),
        row.probes,
        row.planned,
        open,
        closed,
        wrong,
        row.cpu_per_million(),
        row.wall.as_secs_f64(),
        if row.notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", row.notes.join("; "))
        }
    )
}

/// What the report says besides the rows.
pub struct Header {
    pub load_before: String,
    pub load_after: String,
    pub link: String,
    pub napi: &'static str,
    pub check: String,
    pub versions: Vec<String>,
    pub elapsed: Duration,
}

pub fn markdown(rows: &[Row], context: &Context, header: &Header) -> String {
    let mut out = String::new();
    let settings = &context.settings;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "# `cargo xtask bench`: scanner, masscan, zmap against the XDP responder\n"
    );
    let _ = writeln!(
        out,
        "Kernel {}, {cpus} CPUs, load average {} before and {} after ({:.0} s in all; the \
         machine is shared, so other work may have run meanwhile).\n",
        kernel.trim(),
        header.load_before,
        header.load_after,
        header.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "**Scan.** {} ({} addresses) x ports {} = {} probes per tool and rate, each sent once; \
         every tool waits {} s for late answers. Target: `scanner responder` in XDP on the \
         target's `{}`, seed {}, {:.1}% open (SYN-ACK), {:.1}% closed (RST-ACK), the rest silent: \
         {} open and {} closed (address, port) pairs, computed with `truth()`.\n",
        settings.cidr(),
        settings.addresses().count(),
        PORTS.map(|p| p.to_string()).join(","),
        settings.addresses().count() * PORTS.len(),
        COOLDOWN.as_secs(),
        Lab::TARGET_IF,
        settings.seed,
        settings.open.fraction() * 100.0,
        settings.closed.fraction() * 100.0,
        context.expected.open,
        context.expected.closed,
    );
    let _ = writeln!(
        out,
        "**Link.** The same for every tool: {}; {}. {}. The qdisc holds packets back when the \
         target's 256-frame veth ring is full (without it, masscan and zmap lost up to half \
         their probes on the link at 100k; this scanner bypasses qdiscs and retries the \
         kernel's refusals itself). The target's `{}` runs its NAPI in a kernel thread \
         (threaded NAPI), so the responder gets a core of its own instead of running in the \
         sender's softirq (which held every tool near 250k probes/s).\n",
        header.link,
        header.napi,
        header.check,
        Lab::TARGET_IF
    );
    let _ = writeln!(
        out,
        "**Measured.** *achieved*: probes the responder counted / (its last probe's time - its \
         first's), `bpf_ktime_get_ns` in the responder, the same clock for every tool (zmap: sums \
         over its 8 one-port runs). *probes at target*: counted by the responder / asked. \
         *found*: what the tool reported that matches the ground truth; *wrong*: reports not in \
         it. *answers at vs0*: answers the responder sent / packets `vs0` received. *CPU*: user + \
         system seconds of the tool's process (`wait4` rusage) per million probes counted; softirq \
         work done on other tasks' time is not in it. *wall*: start to exit, cooldown included.\n"
    );
    let _ = writeln!(
        out,
        "| tool | rate asked | achieved | probes at target | open found | closed found | wrong | \
         answers at vs0 | CPU s / M probes | wall s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let [open, closed, wrong] = scored(row);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} | {} | {} | {} | {}/{} | {:.2} | {:.1} |",
            row.tool.name(),
            row.rate.label(),
            pps(row.achieved_pps()),
            row.probes,
            row.planned,
            open,
            closed,
            wrong,
            row.delivered,
            row.answered,
            row.cpu_per_million(),
            row.wall.as_secs_f64(),
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|row| row.notes.iter().cloned())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nRuns that failed or had to be stopped:\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    if rows.iter().any(|row| row.tool.is_ceiling()) {
        let _ = writeln!(
            out,
            "\n*AF_XDP ceiling*: what the machine can send at all on this link, the bound of every \
             row above. `scanner/examples/xdp_ceiling.rs` hands one fixed SYN, built once, to the \
             scanner's own AF_XDP sender over and over, one thread per queue, as many frames as a \
             tool's probes, all to one (address, port) of the range that the responder never \
             answers: no permutation, pacing, cookies, \
             per-probe patching or reply path. It reads no answer, so it finds nothing."
        );
    }
    let _ = writeln!(
        out,
        "\nmasscan 1.3.2 stays blocked in libpcap after its cooldown until some packet arrives, \
         so during its runs the bench sends one UDP datagram from the target to vs0 every 250 ms \
         (they count in *answers at vs0*)."
    );
    let _ = writeln!(
        out,
        "\n**Command lines** (inside the lab's scanner namespace):\n"
    );
    for version in &header.versions {
        let _ = writeln!(out, "- {version}");
    }
    let _ = writeln!(out, "\n![found ratio and achieved rate](results.png)");
    out
}
