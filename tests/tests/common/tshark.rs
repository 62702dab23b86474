//! tshark, the independent decoder: live captures on the scanner's interface, and the fields
//! of every packet of a capture with checksum validation on.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use scanner_tests::Lab;

/// tshark's options that verify every checksum it can: IPv4, TCP, UDP, and SCTP's CRC32c (its
/// default leaves SCTP unchecked).
pub const VALIDATE_CHECKSUMS: [&str; 8] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
    "-o",
    "sctp.checksum:crc-32c",
];

/// A capture on the scanner's interface by tshark, stopped with SIGINT (by its PID) when
/// finished; the file is removed when the capture is dropped.
pub struct LiveCapture {
    child: Child,
    file: PathBuf,
}

impl LiveCapture {
    /// Starts tshark with capture filter `filter`; returns once it captures.
    pub fn start(lab: &Lab, name: &str, filter: &str) -> LiveCapture {
        let file = std::env::temp_dir().join(format!("{name}-{}.pcapng", std::process::id()));
        let mut child = lab
            .command_in_scanner("tshark")
            .args(["-i", lab.scanner_if(), "-f", filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running tshark (apt-get install tshark; cargo xtask setup does)");
        // tshark says "Capturing on 'vs0'" once its capture runs.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut line = String::new();
        while !line.contains("Capturing on") {
            line.clear();
            let read = stderr.read_line(&mut line).expect("tshark's stderr");
            assert!(
                read > 0 && Instant::now() < deadline,
                "tshark did not start"
            );
        }
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        LiveCapture { child, file }
    }

    /// Stops the capture and returns its file.
    pub fn finish(&mut self) -> &Path {
        // Let the last answers land, then stop our own tshark by its PID.
        std::thread::sleep(Duration::from_millis(500));
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let status = self.child.wait().expect("waiting for tshark");
        assert!(status.success(), "tshark: {status}");
        &self.file
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// tshark's `fields` of every packet in `pcap`, with checksum validation on (so
/// `*.checksum.status` fields mean something). Where a field occurs more than once (an ICMP
/// error quotes our probe) the outer header's value is kept.
pub fn fields(pcap: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command
        .args(["-n", "-r"])
        .arg(pcap)
        .args(VALIDATE_CHECKSUMS)
        .args(["-T", "fields", "-E", "separator=;"]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().expect("running tshark");
    assert!(
        output.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            line.split(';')
                .map(|field| field.split(',').next().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}
