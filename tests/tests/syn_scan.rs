//! The SYN scan against the lab's ground truth, side by side with nmap, and its clean exits.

mod common;

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use common::{
    Found, lab_addresses, nmap, pairs, parse_json_lines, run, scanner, wait_bounded,
    wait_until_attached,
};
use scanner_tests::{Lab, LabConfig, lab_namespaces};

const CLOSED: u16 = 23;
const OPEN: u16 = 80;
const DROPPED: u16 = 8081;
const REJECTED: u16 = 8082;

#[test]
fn sweep_of_the_whole_range_is_exact_and_the_kernel_sends_no_rst() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    // The target retransmits SYN-ACKs for a minute; those arriving after the scan (and its
    // XDP program) ended are the kernel's to reset, as for any scanner. Without retransmits,
    // every SYN-ACK arrives while the program is attached.
    let status = lab
        .command_in_target("sysctl")
        .args(["-qw", "net.ipv4.tcp_synack_retries=0"])
        .status()
        .unwrap();
    assert!(status.success());
    let rsts_before = lab.snmp_counter(true, "Tcp", "OutRsts").unwrap();
    let output = run(scanner(&lab).args([
        "-p",
        &format!("{OPEN},{CLOSED}"),
        "198.18.128.0/17",
        "--rate",
        "50000",
        "--wait",
        "1",
        "-oJ",
        "-",
    ]));
    let rsts_after = lab.snmp_counter(true, "Tcp", "OutRsts").unwrap();
    let found = parse_json_lines(&output.stdout);

    let expected: BTreeSet<Found> = lab_addresses(0, 32768)
        .flat_map(|ip| {
            [
                Found {
                    ip,
                    port: OPEN,
                    state: "open".into(),
                    reason: "syn-ack".into(),
                },
                Found {
                    ip,
                    port: CLOSED,
                    state: "closed".into(),
                    reason: "reset".into(),
                },
            ]
        })
        .collect();
    common::assert_exactly(found, &expected);
    assert_eq!(
        rsts_before, rsts_after,
        "the scanner host's kernel answered a reply"
    );
    assert!(!lab.xdp_attached().unwrap(), "XDP program left attached");
}

#[test]
fn dropped_ports_stay_silent_and_admin_prohibited_ones_are_filtered() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let output = run(scanner(&lab).args([
        "-p",
        &format!("{DROPPED},{REJECTED}"),
        "198.18.128.0/24",
        "--rate",
        "20000",
        "--wait",
        "0.5",
        "-oJ",
        "-",
    ]));
    // Every host answered on the rejected port, so each is up and lists its dropped port as
    // silence decided it, once, after the replies.
    let states = common::parse_json_states_of(&output.stdout, "tcp");
    let silent: BTreeSet<_> = states
        .iter()
        .filter(|f| f.port == DROPPED)
        .inspect(|f| {
            assert_eq!(
                (&*f.state, &*f.reason),
                ("filtered", "no-response"),
                "{f:?}"
            )
        })
        .map(|f| (f.ip, f.port))
        .collect();
    let expected_silent: BTreeSet<_> = lab_addresses(0, 256).map(|ip| (ip, DROPPED)).collect();
    assert_eq!(silent, expected_silent);
    assert_eq!(states.len(), 512, "one line per port state");
    let found = parse_json_lines(&output.stdout);
    assert!(
        found.iter().all(|f| f.port == REJECTED),
        "a dropped port got a reply: {:?}",
        found.iter().find(|f| f.port == DROPPED)
    );
    assert_eq!(found.len(), 256);
    assert!(
        found
            .iter()
            .all(|f| f.state == "filtered" && f.reason == "admin-prohibited"),
        "{:?}",
        found.iter().find(|f| f.reason != "admin-prohibited")
    );
    let expected: BTreeSet<_> = lab_addresses(0, 256).map(|ip| (ip, REJECTED)).collect();
    assert_eq!(pairs(&found), expected);
    // The summary accounts for the silent port: 256 probes without any answer.
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("(256 no-response)"), "{summary}");
}

/// `PORT/STATE` pairs of nmap's grepable output for one host.
fn nmap_states(lab: &Lab, host: &str, ports: &str) -> BTreeSet<(u16, String)> {
    let states = nmap::states(&nmap::grepable(lab, &["-sS", "-p", ports, host]));
    assert!(!states.is_empty(), "no Ports: line in nmap's output");
    states
        .into_iter()
        .map(|((_, port), state)| (port, state))
        .collect()
}

#[test]
fn states_equal_nmaps_on_the_same_hosts() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let ports = "22,23,80,443,8081,8082";
    let hosts = ["198.18.128.1", "198.18.255.254"];
    let output = run(scanner(&lab)
        .args(["-p", ports, "--wait", "1", "-oJ", "-"])
        .args(hosts));
    let found = parse_json_lines(&output.stdout);
    for host in hosts {
        let theirs = nmap_states(&lab, host, ports);
        let ours: BTreeSet<(u16, String)> = ports
            .split(',')
            .map(|p| p.parse::<u16>().unwrap())
            .map(|port| {
                let state = found
                    .iter()
                    .find(|f| f.ip.to_string() == host && f.port == port)
                    // No answer after the retries: nmap's filtered (no-response).
                    .map_or("filtered".to_owned(), |f| f.state.clone());
                (port, state)
            })
            .collect();
        assert_eq!(ours, theirs, "{host}: ours vs nmap's");
        assert_eq!(theirs.len(), 6);
    }
}

#[test]
fn a_signal_mid_scan_keeps_results_exits_128_plus_it_and_detaches_xdp() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let xml = std::env::temp_dir().join(format!("scanner-signal-{}.xml", std::process::id()));
    for (signal, code) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
    ] {
        // Bounded: 1000 ports of the /17 at 20k pps would take half an hour; we stop it in a
        // second.
        let mut child = scanner(&lab)
            .args([
                "-p",
                "1-1000",
                "198.18.128.0/17",
                "--rate",
                "20000",
                "-oJ",
                "-",
                "-oX",
            ])
            .arg(&xml)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let waiter = thread::spawn(move || wait_bounded(&mut child, Duration::from_secs(30)));
        wait_until_attached(&lab);
        thread::sleep(Duration::from_millis(500));
        unsafe { libc::kill(pid, signal) };
        let output = waiter.join().unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "exit code after signal {signal}"
        );
        let found = parse_json_lines(&output.stdout);
        assert!(
            !found.is_empty(),
            "results found before signal {signal} were lost"
        );
        let summary = String::from_utf8_lossy(&output.stderr);
        assert!(
            summary.contains("interrupted") && summary.contains("probes not sent"),
            "{summary}"
        );
        let written = std::fs::read_to_string(&xml).unwrap();
        assert!(
            written.ends_with("</runstats>\n</nmaprun>\n") && written.contains(r#"exit="error""#),
            "the XML is closed after signal {signal}: {}",
            &written[written.len().saturating_sub(300)..]
        );
        assert!(
            !lab.xdp_attached().unwrap(),
            "XDP program left attached after signal {signal}"
        );
    }
    let _ = std::fs::remove_file(&xml);
}

#[test]
fn a_first_signal_waits_for_replies_in_flight_and_a_second_stops_at_once() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let xml = std::env::temp_dir().join(format!("scanner-second-{}.xml", std::process::id()));
    // 8081 drops: its probes never all answer, so only the second signal ends the 30 s wait.
    let mut child = scanner(&lab)
        .args(["-p", "22,8081", "198.18.128.0/17", "--rate", "5000"])
        .args(["--wait", "30", "-oJ", "-", "-oX"])
        .arg(&xml)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_until_attached(&lab);
    thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(pid, libc::SIGINT) };
    thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C gives the probes sent their --wait"
    );
    assert!(lab.xdp_attached().unwrap(), "still listening for replies");
    unsafe { libc::kill(pid, libc::SIGINT) };
    let stopped = Instant::now();
    let output = wait_bounded(&mut child, Duration::from_secs(10));
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "the second Ctrl-C stops at once, not after --wait: {:?}",
        stopped.elapsed()
    );
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("scanner: SIGINT: no more probes; waiting up to 30s for the replies")
            && stderr.contains("(again to stop at once)")
            && stderr.contains("scanner: SIGINT: stopping at once"),
        "{stderr}"
    );
    let found = parse_json_lines(&output.stdout);
    assert!(
        found.iter().any(|f| f.port == 22 && f.state == "open"),
        "results kept"
    );
    let written = std::fs::read_to_string(&xml).unwrap();
    assert!(
        written.ends_with("</runstats>\n</nmaprun>\n"),
        "the XML is closed: {}",
        &written[written.len().saturating_sub(300)..]
    );
    assert!(!lab.xdp_attached().unwrap(), "XDP program detached");
    let _ = std::fs::remove_file(&xml);
}

#[test]
fn a_killed_scanner_leaves_no_xdp_program_behind() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let mut child = scanner(&lab)
        .args(["-p", "1-1000", "198.18.128.0/17", "--rate", "20000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_attached(&lab);
    // SIGKILL: no destructor runs; the kernel detaches when the bpf_link's fd closes.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.xdp_attached().unwrap() {
        assert!(
            Instant::now() < deadline,
            "XDP program left attached after SIGKILL"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interface_source_and_gateway_overrides_give_the_same_results() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let scan = |extra: &[&str]| {
        let mut command = scanner(&lab);
        command
            .args(["-p", "22,23,8082", "198.18.200.0/29", "--wait", "0.5"])
            .args(["-oJ", "-"])
            .args(extra);
        // Frames to a MAC nobody has get no reply: exit code 3, with its warning.
        let output = match extra.contains(&"--retries") {
            true => common::run_unanswered(&mut command),
            false => run(&mut command),
        };
        parse_json_lines(&output.stdout)
            .into_iter()
            .collect::<BTreeSet<_>>()
    };
    let from_kernel_tables = scan(&[]);
    let mac = Lab::TARGET_MAC.map(|b| format!("{b:02x}")).join(":");
    let given = scan(&[
        "-e",
        lab.scanner_if(),
        "-S",
        &Lab::SCANNER_IP.to_string(),
        "--gateway-mac",
        &mac,
    ]);
    assert_eq!(from_kernel_tables.len(), 8 * 3);
    assert_eq!(given, from_kernel_tables);
    // The override is really used: frames to a MAC nobody has reach no one.
    let nobody = scan(&["--gateway-mac", "02:00:00:00:00:99", "--retries", "0"]);
    assert!(nobody.is_empty(), "{nobody:?}");
}

/// `-S` with an address the interface lacks is nmap's spoofing: allowed, but the replies go
/// to whoever the network routes that address to, so the scan says so instead of silently
/// reading every port filtered. Our own address gets no warning.
#[test]
fn a_source_address_that_is_not_ours_is_warned_about() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    let stderr = |source: &str| {
        let mut command = scanner(&lab);
        command.args([
            "-p",
            "22",
            "198.18.128.1",
            "--retries",
            "0",
            "--wait",
            "0.3",
            "-e",
            lab.scanner_if(),
            "-S",
            source,
        ]);
        // The replies to a foreign source never reach us: nothing answers (exit code 3).
        let output = match source == Lab::SCANNER_IP.to_string() {
            true => run(&mut command),
            false => common::run_unanswered(&mut command),
        };
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let foreign = stderr("198.18.0.99");
    assert!(
        foreign.contains(&format!(
            "scanner: warning: -S 198.18.0.99 is not an address of {} ({}): replies come back only if the network routes 198.18.0.99 to this host",
            lab.scanner_if(),
            Lab::SCANNER_IP
        )),
        "{foreign}"
    );
    let ours = stderr(&Lab::SCANNER_IP.to_string());
    assert!(!ours.contains("warning: -S"), "{ours}");
}

/// A second scan on an interface the first one's XDP program runs on fails at once with one
/// line naming the program and the process that holds it, and leaves the first scan's
/// program attached and its scan whole.
#[test]
fn a_second_scan_on_a_busy_interface_names_who_holds_it_and_touches_nothing() {
    let Some(lab) = common::lab(LabConfig::default()) else {
        return;
    };
    // Bounded: stopped by SIGINT once the second scan has failed, or by --max-runtime.
    let mut first = scanner(&lab)
        .args(["-p", "1-1000", "198.18.128.0/17", "--rate", "20000"])
        .args(["--max-runtime", "20", "-oJ", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first_pid = first.id();
    let waiter = thread::spawn(move || wait_bounded(&mut first, Duration::from_secs(40)));
    wait_until_attached(&lab);
    let second = scanner(&lab)
        .args(["-p", "22", "198.18.128.1", "--wait", "0.2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    let line = stderr.trim();
    assert!(!line.contains('\n'), "one line: {stderr}");
    assert!(
        line.starts_with(&format!(
            "scanner: error: interface {} already runs XDP program ",
            lab.scanner_if()
        )) && line.contains(&format!(
            "\"scanner\", held by process {first_pid} (scanner): another scan or a foreign program owns it"
        )),
        "{stderr}"
    );
    assert!(
        lab.xdp_attached().unwrap(),
        "the second scan detached the first one's program"
    );
    unsafe { libc::kill(first_pid as i32, libc::SIGINT) };
    let output = waiter.join().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(
        !parse_json_lines(&output.stdout).is_empty(),
        "the first scan found nothing"
    );
    assert!(!lab.xdp_attached().unwrap());
}

#[test]
fn sigint_to_a_lab_holder_removes_its_namespaces() {
    if common::lab(LabConfig::default()).is_none() {
        return;
    }
    let xtask = common::scanner_bin().with_file_name("xtask");
    assert!(xtask.exists(), "{} not built", xtask.display());
    let mut child = Command::new(&xtask)
        .args(["lab", "up", "--duration", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let theirs = format!("scnlab-{}-", child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab_namespaces()
        .iter()
        .filter(|ns| ns.starts_with(&theirs))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the lab never came up");
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_bounded(&mut child, Duration::from_secs(10)).status;
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = lab_namespaces()
        .into_iter()
        .filter(|ns| ns.starts_with(&theirs))
        .collect();
    assert!(left.is_empty(), "namespaces left after SIGINT: {left:?}");
}
