//! Replays the inputs under `regressions/<target>/` through the targets'
//! logic, on the stable toolchain: `cargo test` in `fuzz/`.
//!
//! Each file is the raw bytes libFuzzer was given, decoded the same way
//! (`tempreg_fuzz::decode`), and checked exactly as the fuzz target checks
//! it. A file that panics fails the test, named with its panic message; the
//! others still run. Every input sits directly in its target's directory:
//! one in a subdirectory would never run, so a subdirectory fails the test.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tempreg_fuzz::{RunBytes, TARGETS};

fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target)
}

/// The input files directly in `dir` (not the README).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();
    files
}

fn runner(target: &str) -> RunBytes {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"))
        .1
}

/// Runs one input; `Err(panic message)` if it failed.
fn replay(run: RunBytes, file: &Path) -> Result<(), String> {
    let bytes = fs::read(file).expect("read input");
    panic::catch_unwind(AssertUnwindSafe(|| run(&bytes))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn replay_all(target: &str) {
    let run = runner(target);
    let files = inputs(&dir(target));
    assert!(!files.is_empty(), "no inputs in {}", dir(target).display());
    let mut failed = Vec::new();
    for file in &files {
        if let Err(message) = replay(run, file) {
            failed.push(format!("{}: {message}", file.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} input(s) of {target} fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn registry_ops() {
    replay_all("registry_ops");
}

#[test]
fn async_ops() {
    replay_all("async_ops");
}

#[test]
fn every_target_has_a_file_and_regressions() {
    for (target, _) in TARGETS {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz_targets")
            .join(format!("{target}.rs"));
        assert!(bin.is_file(), "no fuzz target {}", bin.display());
        assert!(
            !inputs(&dir(target)).is_empty(),
            "no inputs in {}",
            dir(target).display()
        );
        let subdirs: Vec<PathBuf> = fs::read_dir(dir(target))
            .expect("read_dir")
            .map(|e| e.expect("read_dir entry").path())
            .filter(|p| p.is_dir())
            .collect();
        assert!(
            subdirs.is_empty(),
            "inputs in a subdirectory never run: {subdirs:?}"
        );
    }
    // And no directory of inputs for a target that does not exist.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    for entry in fs::read_dir(&root).expect("read_dir") {
        let path = entry.expect("read_dir entry").path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(target, _)| *target == name),
                "{} is no target's: its inputs never run",
                path.display()
            );
        }
    }
}
