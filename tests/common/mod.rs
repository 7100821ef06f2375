//! Helpers shared by the end-to-end tests of the `relaysim` binary.

#![allow(dead_code)] // each test file uses some of them

use std::process::{Command, Output};

/// `relaysim ARGS…` from the project root.
pub fn relaysim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relaysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
