//! A per-test working directory under the system's temporary directory, named with the
//! test's PID so parallel runs never share one, and removed on drop (also when the test fails).

use std::{fs, path::PathBuf};

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `scanner-<name>-<pid>`, emptied first: a directory left by a killed run never leaks in.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("scanner-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// `file` inside the directory, as the string a command line takes.
    pub fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
