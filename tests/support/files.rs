//! A registry in a given root, and what is left on disk: the helpers every
//! suite uses.
//!
//! `tests/support/mod.rs` declares this module; `tests/common/mod.rs` and
//! `tests/crash_support/mod.rs` include the same file by path.

use std::ffi::OsString;
use std::path::Path;

use tempreg::ResourceRegistry;

/// A registry whose session directory lives in `root`.
pub fn registry_in(root: &Path) -> ResourceRegistry {
    ResourceRegistry::builder()
        .root(root)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a registry in {}: {e}", root.display()))
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("read_dir entry").file_name())
        .collect();
    names.sort();
    names
}

/// Asserts that `dir` exists and holds nothing.
pub fn assert_empty_dir(dir: &Path) {
    let names = names_in(dir);
    assert!(
        names.is_empty(),
        "{} should be empty but holds {names:?}",
        dir.display()
    );
}
