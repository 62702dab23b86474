//! `cargo xtask install | uninstall [--prefix DIR]`: the release binary on the PATH with the
//! capabilities a scan needs (so that a user can scan without root), its man page and its
//! bash, zsh and fish completions, all rendered from the binary's own CLI definition.

use std::{
    fs,
    io::Write as _,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    build, cmd,
    setup::{self, Scope},
};

/// What `setcap` grants: raw sockets, attaching XDP, loading BPF, the verifier's checks.
pub const CAPABILITIES: &str = "cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon+ep";

/// One installed file: where under the prefix, what `scanner generate` argument renders it
/// (`None`: the binary itself), and its mode.
struct Installed {
    path: &'static str,
    generate: Option<&'static str>,
    mode: u32,
}

const FILES: [Installed; 5] = [
    Installed {
        path: "bin/scanner",
        generate: None,
        mode: 0o755,
    },
    Installed {
        path: "share/man/man1/scanner.1",
        generate: Some("man"),
        mode: 0o644,
    },
    Installed {
        path: "share/bash-completion/completions/scanner",
        generate: Some("bash"),
        mode: 0o644,
    },
    Installed {
        path: "share/zsh/site-functions/_scanner",
        generate: Some("zsh"),
        mode: 0o644,
    },
    Installed {
        path: "share/fish/vendor_completions.d/scanner.fish",
        generate: Some("fish"),
        mode: 0o644,
    },
];

pub fn install(prefix: &Path) -> Result<()> {
    setup::setup(Scope::Demo)?;
    build::release()?;
    // SAFETY: plain syscall.
    let root = unsafe { libc::geteuid() } == 0;
    install_from(&cmd::release_binary("scanner"), prefix, root)?;
    if !root {
        println!(
            "install: not root, so no capabilities were set: `sudo setcap {CAPABILITIES} {}`",
            prefix.join("bin/scanner").display()
        );
    }
    Ok(())
}

/// Installs `binary` and what it renders under `prefix`; `capabilities`: setcap the binary.
pub fn install_from(binary: &Path, prefix: &Path, capabilities: bool) -> Result<()> {
    for file in &FILES {
        let target = prefix.join(file.path);
        let dir = target
            .parent()
            .context("an installed file has a directory")?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let content = match file.generate {
            None => fs::read(binary).with_context(|| format!("reading {}", binary.display()))?,
            Some(what) => render(binary, what)?,
        };
        // Written beside and renamed over: a scanner running from the old file is unharmed.
        let staged = dir.join(format!(".{}.new", file_name(&target)));
        let mut out =
            fs::File::create(&staged).with_context(|| format!("writing {}", staged.display()))?;
        out.write_all(&content)
            .and_then(|()| out.sync_all())
            .with_context(|| format!("writing {}", staged.display()))?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(file.mode))?;
        fs::rename(&staged, &target)
            .with_context(|| format!("moving {} to {}", staged.display(), target.display()))?;
        let mut note = String::new();
        if file.generate.is_none() && capabilities {
            cmd::output(Command::new("setcap").arg(CAPABILITIES).arg(&target))
                .context("setcap (from libcap2-bin)")?;
            note = format!(" with {CAPABILITIES}");
        }
        println!("install: {}{note}", target.display());
    }
    Ok(())
}

pub fn uninstall(prefix: &Path) -> Result<()> {
    let mut removed = 0;
    for file in &FILES {
        let target = prefix.join(file.path);
        match fs::remove_file(&target) {
            Ok(()) => {
                println!("uninstall: removed {}", target.display());
                removed += 1;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => bail!("removing {}: {err}", target.display()),
        }
    }
    if removed == 0 {
        println!("uninstall: nothing installed under {}", prefix.display());
    }
    Ok(())
}

/// `binary generate what`'s output.
fn render(binary: &Path, what: &str) -> Result<Vec<u8>> {
    let out = cmd::output_unchecked(Command::new(binary).args(["generate", what]))?;
    if !out.status.success() || out.stdout.is_empty() {
        bail!(
            "`{} generate {what}` failed ({}): {}",
            binary.display(),
            out.status,
            out.stderr.trim()
        );
    }
    Ok(out.stdout.into_bytes())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The installed scanner under `prefix`.
pub fn installed_binary(prefix: &Path) -> PathBuf {
    prefix.join(FILES[0].path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the scanner: `generate X` prints `rendered X`.
    fn fake_scanner(dir: &Path) -> PathBuf {
        let path = dir.join("fake-scanner");
        fs::write(
            &path,
            "#!/bin/sh\n[ \"$1\" = generate ] && echo \"rendered $2\"\n",
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn installs_every_file_where_its_tool_looks_and_uninstalls_them() {
        let dir = std::env::temp_dir().join(format!("xtask-install-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let binary = fake_scanner(&dir);
        let prefix = dir.join("prefix");
        install_from(&binary, &prefix, false).unwrap();
        // Twice: a second install replaces the files.
        install_from(&binary, &prefix, false).unwrap();
        let read = |path: &str| fs::read_to_string(prefix.join(path)).unwrap();
        assert_eq!(
            read("bin/scanner"),
            fs::read_to_string(&binary).unwrap(),
            "the binary itself"
        );
        assert_eq!(read("share/man/man1/scanner.1"), "rendered man\n");
        assert_eq!(
            read("share/bash-completion/completions/scanner"),
            "rendered bash\n"
        );
        assert_eq!(read("share/zsh/site-functions/_scanner"), "rendered zsh\n");
        assert_eq!(
            read("share/fish/vendor_completions.d/scanner.fish"),
            "rendered fish\n"
        );
        let mode = |path: &str| {
            fs::metadata(prefix.join(path))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("bin/scanner"), 0o755);
        assert_eq!(mode("share/man/man1/scanner.1"), 0o644);
        assert_eq!(installed_binary(&prefix), prefix.join("bin/scanner"));
        uninstall(&prefix).unwrap();
        for file in &FILES {
            assert!(!prefix.join(file.path).exists(), "{} left", file.path);
        }
        // No stray staging files either.
        let left: Vec<_> = walk(&prefix);
        assert!(left.is_empty(), "{left:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_binary_that_cannot_render_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("xtask-install-bad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("broken");
        fs::write(&binary, "#!/bin/sh\necho nope >&2\nexit 3\n").unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
        let err = install_from(&binary, &dir.join("prefix"), false).unwrap_err();
        assert!(format!("{err:#}").contains("generate man"), "{err:#}");
        let _ = fs::remove_dir_all(&dir);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }
}
