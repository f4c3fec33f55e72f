//! A `keep` that cannot move its file out must not lose it.
//!
//! The move fails when the root refuses new names; an immutable root
//! (`chattr +i`, refused even to root) does that. Where `chattr` is not
//! available or the file system has no such flag, the test says it skipped.

mod support;

use std::io::Write;

use support::{registry_in, Immutable};

#[test]
fn a_failed_keep_leaves_the_file_tracked_and_on_disk() {
    // On the disk under the crate, where chattr works (tmpfs has no +i).
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("root");
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().expect("temp file");
    file.write_all(b"precious").expect("write");
    let path = file.path().to_path_buf();
    let Ok(guard) = Immutable::set(root.path()) else {
        println!("skipped: `chattr +i` is not available on this file system");
        return;
    };

    let err = file
        .keep()
        .expect_err("the move into an immutable root must fail");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    assert_eq!(std::fs::read(&path).expect("still there"), b"precious");
    assert_eq!(registry.len(), 1, "the file stays tracked");

    let path_guard = registry.temp_file().expect("second").into_temp_path();
    let second = path_guard.to_path_buf();
    let path_err = path_guard.keep().expect_err("the same move fails");
    assert!(
        second.exists(),
        "a failed TempPath::keep keeps the file too"
    );
    assert_eq!(path_err.path.path(), second, "and hands the guard back");
    assert_eq!(registry.len(), 2, "both stay tracked");

    drop(guard);
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 2, "{report}");
    assert!(!path.exists() && !second.exists());
    drop((err, path_err));
}
