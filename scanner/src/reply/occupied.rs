//! An interface that already runs an XDP program is not ours to take: another scan, or a
//! program someone else attached. The scanner never replaces or detaches it; it says which
//! program it is and, when it can tell, which process holds it.

use std::fs;

use anyhow::{Result, bail};

use crate::route;

/// Fails with one line naming the program on `ifname` and its holder, if there is one.
pub fn check_free(ifindex: u32, ifname: &str) -> Result<()> {
    let Ok(Some(id)) = route::attached_xdp_program(ifindex) else {
        // Not knowing is no reason to stop: the attach itself will tell.
        return Ok(());
    };
    let name = program_name(id).map_or(String::new(), |name| format!(" {name:?}"));
    let holder = holder_of(id).map_or(String::new(), |(pid, comm)| {
        format!(", held by process {pid} ({comm})")
    });
    bail!(
        "interface {ifname} already runs XDP program {id}{name}{holder}: another scan or a \
         foreign program owns it, and this scanner never replaces or detaches one; wait for it \
         to end, stop it, or scan from another interface (-e)"
    )
}

/// The program's name, as the kernel keeps it.
fn program_name(id: u32) -> Option<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|info| info.id() == id)
        .and_then(|info| info.name_as_str().map(str::to_owned))
}

/// The first process with a file descriptor on the program (its bpf_link or the program
/// itself: their fdinfo says `prog_id:`), and its command name.
fn holder_of(id: u32) -> Option<(u32, String)> {
    let wanted = format!("prog_id:\t{id}");
    for process in fs::read_dir("/proc").ok()?.filter_map(Result::ok) {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(process.path().join("fdinfo")) else {
            continue;
        };
        for fd in fds.filter_map(Result::ok) {
            let holds = fs::read_to_string(fd.path())
                .is_ok_and(|info| info.lines().any(|line| line == wanted));
            if holds {
                let comm = fs::read_to_string(process.path().join("comm")).unwrap_or_default();
                return Some((pid, comm.trim().to_owned()));
            }
        }
    }
    None
}
