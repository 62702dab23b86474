//! A one-node Slurm cluster for the tests: `munged`, `slurmctld` and `slurmd` (Debian's `munge`
//! and `slurm-wlm`) started in a directory of their own, with a fresh munge key and a minimal
//! `slurm.conf` that listens on 127.0.0.1 only. Nothing of the machine's own Slurm or munge
//! (`/etc/slurm`, `/etc/munge`, their sockets) is read or touched. Dropping the cluster cancels
//! its jobs and stops exactly the three daemons it started, by their PIDs.

use std::{
    fs,
    io::Write,
    net::TcpListener,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::lab::cmd;

/// How long the daemons may take until the node is idle.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit on SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running one-node cluster; see the module's documentation.
pub struct Slurm {
    dir: PathBuf,
    conf: PathBuf,
    /// Started first, stopped last: munged, slurmctld, slurmd.
    daemons: Vec<Daemon>,
}

struct Daemon {
    name: &'static str,
    child: Child,
}

impl Slurm {
    /// The node's name in `slurm.conf`.
    pub const NODE: &'static str = "scan-node";
    /// Its partition, the default one.
    pub const PARTITION: &'static str = "scan";

    /// Starts a cluster in `dir` (created, and left for the caller to remove) whose node
    /// offers `cpus` CPUs, and returns once the node is idle.
    pub fn start(dir: &Path, cpus: u32) -> Result<Slurm> {
        for sub in ["munge", "state", "spool"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        // munged insists that its key be private to the user it runs as.
        fs::set_permissions(dir.join("munge"), fs::Permissions::from_mode(0o700))?;
        let key = dir.join("munge/munge.key");
        fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&key)
            .and_then(|mut file| file.write_all(&random_key()?))
            .with_context(|| format!("writing the munge key {}", key.display()))?;
        let socket = dir.join("munge/munge.socket");
        let conf = dir.join("slurm.conf");
        fs::write(&conf, slurm_conf(dir, &socket, cpus)?)?;

        let mut slurm = Slurm {
            dir: dir.to_owned(),
            conf,
            daemons: Vec::new(),
        };
        let mut munged = Command::new("munged");
        munged.args(["--foreground", "--force"]);
        for (flag, file) in [
            ("--key-file", "munge/munge.key"),
            ("--socket", "munge/munge.socket"),
            ("--pid-file", "munge/munged.pid"),
            ("--log-file", "munge/munged.log"),
            ("--seed-file", "munge/munged.seed"),
        ] {
            munged.arg(format!("{flag}={}", dir.join(file).display()));
        }
        slurm.spawn("munged", munged, "munged.log")?;
        slurm.wait_for("munged's socket", |_| Ok(socket.exists()))?;

        let conf = slurm.conf.display().to_string();
        let mut slurmctld = Command::new("slurmctld");
        slurmctld.args(["-D", "-f", &conf]);
        slurm.spawn("slurmctld", slurmctld, "slurmctld.out")?;
        let mut slurmd = Command::new("slurmd");
        slurmd.args(["-D", "-N", Self::NODE, "-f", &conf]);
        slurm.spawn("slurmd", slurmd, "slurmd.out")?;

        slurm.wait_for("the node to be idle", |slurm| {
            let output = cmd::run_unchecked(
                slurm.command("sinfo").args(["-h", "-N", "-o", "%T"]),
                None,
                cmd::TIMEOUT,
            )?;
            Ok(output.status.success() && output.stdout.trim() == "idle")
        })?;
        Ok(slurm)
    }

    /// `program` (`sbatch`, `squeue`, `sinfo`...) talking to this cluster (`SLURM_CONF`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn spawn(&mut self, name: &'static str, mut command: Command, log: &str) -> Result<()> {
        let log = fs::File::create(self.dir.join(log))?;
        command
            .env("SLURM_CONF", &self.conf)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        cmd::die_with_parent(&mut command);
        let child = command.spawn().with_context(|| {
            format!(
                "cannot start `{}` (apt-get install slurm-wlm munge)",
                cmd::display(&command)
            )
        })?;
        self.daemons.push(Daemon { name, child });
        Ok(())
    }

    /// Polls `ready` until it holds, failing with the daemons' logs if one exits or
    /// [`READY_TIMEOUT`] passes.
    fn wait_for(
        &mut self,
        what: &str,
        mut ready: impl FnMut(&Slurm) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ready(self)? {
                return Ok(());
            }
            let mut exited = None;
            for daemon in &mut self.daemons {
                if let Some(status) = daemon.child.try_wait()? {
                    exited = Some((daemon.name, status));
                }
            }
            if let Some((name, status)) = exited {
                bail!(
                    "{name} exited ({status}) while waiting for {what}: {}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                bail!("no {what} within {READY_TIMEOUT:?}: {}", self.logs());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of every daemon's log, for an error message.
    pub fn logs(&self) -> String {
        [
            "munged.log",
            "slurmctld.out",
            "slurmctld.log",
            "slurmd.out",
            "slurmd.log",
        ]
        .iter()
        .filter_map(|log| {
            let text = fs::read_to_string(self.dir.join(log)).ok()?;
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(8)..].join(" | ");
            Some(format!("[{log}] {tail}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        // Jobs first, so that no job step outlives slurmd.
        if let Ok(output) = cmd::run_unchecked(
            self.command("scancel").args(["--full", "--user", "root"]),
            None,
            cmd::TIMEOUT,
        ) && !output.status.success()
        {
            eprintln!("scanner-tests: scancel: {}", output.stderr.trim());
        }
        for daemon in self.daemons.iter_mut().rev() {
            daemon.stop();
        }
    }
}

impl Daemon {
    /// SIGTERM to our own child by its PID, SIGKILL after [`STOP_TIMEOUT`]; reaps it.
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: kill(2) on the PID of a child we have not reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A fresh munge key: 1024 random bytes (as `mungekey` makes).
fn random_key() -> std::io::Result<Vec<u8>> {
    let mut key = vec![0; 1024];
    let mut filled = 0;
    while filled < key.len() {
        // SAFETY: writes at most the rest of `key`.
        let n =
            unsafe { libc::getrandom(key[filled..].as_mut_ptr().cast(), key.len() - filled, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        filled += n as usize;
    }
    Ok(key)
}

/// A port on 127.0.0.1 that nothing listens on now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The short host name, which slurmctld compares with `SlurmctldHost`.
fn short_hostname() -> Result<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname")?;
    let name = name.trim();
    Ok(name.split('.').next().unwrap_or(name).to_owned())
}

/// One controller and one node on 127.0.0.1, as root, without cgroups or accounting: what a
/// job array needs and nothing more.
fn slurm_conf(dir: &Path, munge_socket: &Path, cpus: u32) -> Result<String> {
    let host = short_hostname()?;
    let (ctld_port, slurmd_port) = (free_port()?, free_port()?);
    let path = |file: &str| dir.join(file).display().to_string();
    Ok(format!(
        "ClusterName=scnlab
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge}
CredType=cred/munge
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={slurmd_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={slurmd_log}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=10 State=UP
",
        munge = munge_socket.display(),
        state = path("state"),
        spool = path("spool"),
        ctld_pid = path("slurmctld.pid"),
        slurmd_pid = path("slurmd.pid"),
        ctld_log = path("slurmctld.log"),
        slurmd_log = path("slurmd.log"),
        node = Slurm::NODE,
        partition = Slurm::PARTITION,
    ))
}
