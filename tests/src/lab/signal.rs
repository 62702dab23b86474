//! Teardown on Ctrl-C, SIGTERM and SIGHUP: every lab still registered in this process is
//! deleted, then the process exits with 128 + the signal (130 for Ctrl-C).
//!
//! Also the process-global registry of live labs. Creating a lab's namespaces happens under
//! the registry's lock, and the signal thread keeps that lock until the process exits, so a lab
//! is either registered before its namespaces exist or never created at all.

use std::{
    sync::{
        Mutex, MutexGuard, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use anyhow::{Result, anyhow, bail};
use signal_hook::{
    consts::{SIGHUP, SIGINT, SIGTERM},
    iterator::Signals,
};

use super::netns;

/// The namespaces of every lab of this process that is not torn down yet.
static REGISTRY: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Set once a signal arrived: no new lab may start.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

fn lock() -> MutexGuard<'static, Vec<String>> {
    // A panic elsewhere must not stop teardown.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs the signal thread, once per process.
pub fn install() -> Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
                .map_err(|err| format!("installing the lab's signal handler: {err}"))?;
            thread::Builder::new()
                .name("scnlab-signals".into())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        teardown_all_and_exit(signal);
                    }
                })
                .map_err(|err| format!("spawning the lab's signal thread: {err}"))?;
            Ok(())
        })
        .clone()
        .map_err(|err| anyhow!(err))
}

/// Registers `names`, then runs `create` (which makes them exist) under the registry's lock.
pub fn register_and_create(names: &[&str], create: impl FnOnce() -> Result<()>) -> Result<()> {
    lock().extend(names.iter().map(|name| name.to_string()));
    let guard = lock();
    if SHUTTING_DOWN.load(Ordering::SeqCst) {
        bail!("shutting down on a signal: not starting a lab");
    }
    let result = create();
    drop(guard);
    result
}

/// Forgets `names` (after they were deleted).
pub fn unregister(names: &[&str]) {
    lock().retain(|name| !names.contains(&name.as_str()));
}

fn teardown_all_and_exit(signal: i32) -> ! {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    // Held until exit: no lab can be created meanwhile.
    let registry = lock();
    if !registry.is_empty() {
        eprintln!(
            "scanner-tests: signal {signal}: tearing down {} lab namespace(s)",
            registry.len()
        );
    }
    for name in registry.iter() {
        if let Err(err) = netns::del(name) {
            eprintln!("scanner-tests: {err:#}");
        }
    }
    std::process::exit(128 + signal);
}
