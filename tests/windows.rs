//! What tempreg does on Windows alone (CI runs it under Wine, see
//! `.ci/wine.sh`): a name replaced by a file that another handle holds
//! without delete sharing, the anonymous files of a killed process freed by
//! the system (`FILE_FLAG_DELETE_ON_CLOSE`), read-only files in a temp dir,
//! and `tempreg run` ending the command's whole tree (a job object).
//!
//! Deletion by handle against a replaced name is also what every case of
//! `tests/identity.rs` checks here; the lock's verdict after a child is
//! killed (`TerminateProcess`) is `tests/sweep.rs`'s. Console control
//! events are not tested: under Wine, a process started without a console
//! (as the test harness starts them) gets none, so nothing delivers one.

#![cfg(windows)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{registry_in, scratch_root, start_hold, wait_until};
use tempreg::{sweep_orphans, PurgeFailureKind, LOCK_NAME};

/// Regular files under `dir`, its lock file left out.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    support::tree(dir)
        .into_iter()
        .filter(|p| dir.join(p).is_file() && p.as_os_str() != LOCK_NAME)
        .collect()
}

#[test]
fn a_name_replaced_by_a_file_held_without_delete_sharing_is_left_alone() {
    let root = scratch_root();
    let elsewhere = scratch_root();
    let registry = registry_in(root.path());
    let file = registry.temp_file().expect("temp file");
    let path = file.path().to_path_buf();
    let moved = elsewhere.path().join("moved");
    std::fs::rename(&path, &moved).expect("move the temp file away");
    std::fs::write(&path, b"someone else's").expect("a file of someone else's");
    let held = support::open_unshared(&path);

    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 0, "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    assert_eq!(report.failures()[0].kind(), PurgeFailureKind::Replaced);
    assert_eq!(report.failures()[0].path(), path);
    drop(held);
    assert_eq!(
        std::fs::read(&path).expect("still there"),
        b"someone else's"
    );
    assert!(moved.is_file(), "the moved file is not ours to remove");
    drop(file);
    std::fs::remove_file(&path).expect("remove someone else's file");
}

#[test]
fn a_killed_processs_anonymous_files_are_freed_by_the_system() {
    let root = scratch_root();
    let (mut child, held) = start_hold(root.path());
    // Where a file deleted while open keeps its name (Wine), the anonymous
    // files are still listed; on Windows 10 and later they have none.
    let before = files_under(&child.session).len() as u64;
    assert!(before >= held.files, "{before} files, {held:?}");

    child.process.kill_hard();
    // TerminateProcess closes the handles; FILE_FLAG_DELETE_ON_CLOSE does
    // the rest, with nothing of tempreg's running.
    wait_until(Duration::from_secs(20), "the anonymous files to go", || {
        files_under(&child.session).len() as u64 == held.files
    });
    let report = sweep_orphans(root.path()).expect("sweep");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.removed()[0].files(), held.files, "{report}");
    support::assert_empty_dir(root.path());
}

#[test]
fn a_temp_dir_holding_read_only_files_is_removed() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    for close in [true, false] {
        let dir = registry.temp_dir().expect("temp dir");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("sub");
        for file in [dir.path().join("ro"), sub.join("ro")] {
            std::fs::write(&file, b"read-only").expect("write");
            let mut permissions = std::fs::metadata(&file).expect("stat").permissions();
            permissions.set_readonly(true);
            std::fs::set_permissions(&file, permissions).expect("make it read-only");
        }
        let path = dir.path().to_path_buf();
        if close {
            dir.close()
                .expect("close a temp dir holding read-only files");
        } else {
            let report = registry.purge_all_blocking();
            assert!(report.is_clean(), "{report}");
            assert_eq!(report.removed(), 1, "{report}");
            drop(dir);
        }
        assert!(!path.exists(), "{} is still there", path.display());
    }
    support::assert_session_holds_only_lock(&registry);
}

/// `tempreg run`: the command (`crash_child spawn-hold`) starts a process
/// that holds a session of its own, waits until it holds its files, and
/// ends; tempreg ends what it left in its job, then removes the run's
/// session. The held session is then an orphan, which the sweep removes.
#[cfg(feature = "cli")]
#[test]
fn tempreg_run_ends_what_the_command_left_running() {
    let runs = scratch_root();
    let holds = scratch_root();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tempreg"));
    cmd.arg("run").arg("--root").arg(runs.path()).arg("--");
    cmd.arg(support::example("crash_child"))
        .arg("spawn-hold")
        .arg(holds.path());
    let output = support::Running::start(cmd, "tempreg run -- crash_child spawn-hold")
        .output(Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("started "),
        "tempreg run failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // (A lock is let go as its process ends, which may take a moment.)
    let mut removed = 0;
    wait_until(
        Duration::from_secs(20),
        "the held session to be an orphan",
        || {
            let report = sweep_orphans(holds.path()).expect("sweep");
            removed += report.removed().len();
            report.live().is_empty()
        },
    );
    assert_eq!(removed, 1, "the held session, swept");
    support::assert_empty_dir(holds.path());
    support::assert_empty_dir(runs.path());
}
