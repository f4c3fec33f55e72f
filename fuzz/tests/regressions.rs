//! Replays the inputs under `regressions/<target>/` through the targets'
//! logic, on the stable toolchain: `cargo test` in `fuzz/`.
//!
//! Each file is the raw bytes libFuzzer was given, decoded the same way
//! (`tempreg_fuzz::decode`), run with the semantics the fuzz targets check
//! by default. A file that panics fails the test, named with its panic
//! message; the others still run.
//!
//! `regressions/<target>/known-bugs/` holds inputs that show a bug the
//! library still has against the stricter semantics
//! (`Semantics::Strict`): each must still fail that way (when one stops
//! failing, the bug is fixed: move the file up a directory, so that it
//! guards the fix), and must pass with the default semantics.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tempreg_fuzz::{RunBytes, Semantics, TARGETS};

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
fn replay(run: RunBytes, file: &Path, semantics: Semantics) -> Result<(), String> {
    let bytes = fs::read(file).expect("read input");
    panic::catch_unwind(AssertUnwindSafe(|| run(&bytes, semantics))).map_err(|panic| {
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
        if let Err(message) = replay(run, file, Semantics::Documented) {
            failed.push(format!("{}: {message}", file.display()));
        }
    }
    for file in inputs(&dir(target).join("known-bugs")) {
        if let Err(message) = replay(run, &file, Semantics::Documented) {
            failed.push(format!("{}: {message}", file.display()));
        }
        if replay(run, &file, Semantics::Strict).is_ok() {
            failed.push(format!(
                "{}: passes with the strict semantics now: the bug is fixed, move the file up to {}",
                file.display(),
                dir(target).display()
            ));
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
    }
}
