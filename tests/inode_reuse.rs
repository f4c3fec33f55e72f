//! Identity that survives inode reuse: a temp dir (or temp path) is not held
//! open, so once it is removed by hand, ext4 hands its inode number to the
//! next directory (file) made, and a directory recreated at the same name by
//! someone else gets the same device and inode. The birth time recorded at
//! creation tells them apart: dropping the guard, closing it or purging the
//! registry leaves the new directory and its contents alone, and says it was
//! replaced.
//!
//! Runs on the file system of `CARGO_TARGET_TMPDIR` (under `target/`), and
//! says `skipped:` where the file system does not reuse the inode within a
//! few tries (tmpfs, btrfs) or records no birth time.

// Unix only: it needs inode numbers (`MetadataExt::ino`) and a file system
// that hands a freed one out again (ext4); Windows' identity is its own.
#![cfg(unix)]

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use support::registry_in;
use tempreg::{is_replaced_error, PurgeFailureKind, ResourceRegistry};

/// A scratch root on the file system under test (not `/tmp`'s, which may be
/// tmpfs).
fn root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("inode-reuse-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("scratch root under CARGO_TARGET_TMPDIR")
}

/// How long to wait between the removal and the recreation: more than one
/// tick of the kernel's clock (4 ms at 250 Hz, 10 ms at 100 Hz), which is
/// the grain of a birth time. A recreation within the same tick gets the
/// same birth time and passes for ours (`FileId`'s docs say so). The wait is
/// not synchronisation: it is the scenario, another process recreating the
/// name a moment later.
const AFTER_A_TICK: Duration = Duration::from_millis(20);

/// One scenario at a time: the tests of this file running in parallel take
/// each other's freed inodes, and a test that never sees its own reused
/// proves nothing (it says `skipped:`).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many times to remove and recreate before concluding that the file
/// system does not reuse inode numbers at once.
const TRIES: usize = 20;

/// What the scenario leaves: the guard's path, with a directory that is not
/// ours at it (same device and inode number as ours was), holding a file.
struct Recreated {
    path: PathBuf,
    victim: PathBuf,
}

/// Removes the directory at `path` by hand and makes a new one at the same
/// name until it gets the same inode number; `None` if it never does.
fn recreate_with_same_inode(path: &Path) -> Option<Recreated> {
    let ours = std::fs::metadata(path).expect("our temp dir").ino();
    for _ in 0..TRIES {
        std::fs::remove_dir_all(path).expect("remove by hand");
        std::thread::sleep(AFTER_A_TICK);
        std::fs::create_dir(path).expect("recreate");
        if std::fs::metadata(path).expect("recreated").ino() == ours {
            let victim = path.join("theirs.txt");
            std::fs::write(&victim, b"not tempreg's").expect("their file");
            return Some(Recreated {
                path: path.to_path_buf(),
                victim,
            });
        }
    }
    None
}

impl Recreated {
    fn assert_left_alone(&self) {
        assert!(self.path.is_dir(), "{} was removed", self.path.display());
        assert_eq!(
            std::fs::read(&self.victim).expect("their file is still there"),
            b"not tempreg's"
        );
    }
}

/// Whether this file system records a birth time (statx `STATX_BTIME`).
fn records_birth_time(path: &Path) -> bool {
    std::fs::metadata(path).and_then(|m| m.created()).is_ok()
}

/// A temp dir of `registry` with a file of ours inside, removed and
/// recreated by hand with the same inode; `None` (after saying `skipped:`)
/// where the file system does not reuse it.
fn reused_temp_dir(registry: &ResourceRegistry) -> Option<(tempreg::TempDir, Recreated)> {
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("ours.txt"), b"ours").unwrap();
    if !records_birth_time(dir.path()) {
        eprintln!("skipped: this file system records no birth time");
        return None;
    }
    match recreate_with_same_inode(dir.path()) {
        Some(recreated) => Some((dir, recreated)),
        None => {
            eprintln!("skipped: this file system did not reuse the inode number in {TRIES} tries");
            None
        }
    }
}

#[test]
fn dropping_a_temp_dir_leaves_a_directory_recreated_with_its_inode_alone() {
    let _serial = one_at_a_time();
    let root = root();
    let registry = registry_in(root.path());
    let Some((dir, recreated)) = reused_temp_dir(&registry) else {
        return;
    };
    drop(dir);
    recreated.assert_left_alone();
    std::fs::remove_dir_all(&recreated.path).unwrap();
}

#[test]
fn closing_a_temp_dir_says_a_directory_recreated_with_its_inode_replaced_it() {
    let _serial = one_at_a_time();
    let root = root();
    let registry = registry_in(root.path());
    let Some((dir, recreated)) = reused_temp_dir(&registry) else {
        return;
    };
    let err = dir.close().expect_err("the name holds another directory");
    assert!(is_replaced_error(&err), "{err}");
    assert!(err.to_string().contains("replaced"), "{err}");
    recreated.assert_left_alone();
    std::fs::remove_dir_all(&recreated.path).unwrap();
}

#[test]
fn a_purge_reports_a_directory_recreated_with_its_inode_as_replaced() {
    let _serial = one_at_a_time();
    let root = root();
    let registry = registry_in(root.path());
    let Some((dir, recreated)) = reused_temp_dir(&registry) else {
        return;
    };
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 0, "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    assert_eq!(report.failures()[0].kind(), PurgeFailureKind::Replaced);
    assert_eq!(report.failures()[0].path(), recreated.path);
    assert!(report.to_string().contains("replaced"), "{report}");
    recreated.assert_left_alone();
    drop(dir);
    recreated.assert_left_alone();
    std::fs::remove_dir_all(&recreated.path).unwrap();
}

#[test]
fn a_temp_path_leaves_a_file_recreated_with_its_inode_alone() {
    let _serial = one_at_a_time();
    let root = root();
    let registry = registry_in(root.path());
    let temp = registry.temp_file().unwrap().into_temp_path();
    let path = temp.to_path_buf();
    if !records_birth_time(&path) {
        eprintln!("skipped: this file system records no birth time");
        return;
    }
    let ours = std::fs::metadata(&path).unwrap().ino();
    let mut reused = false;
    for _ in 0..TRIES {
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(AFTER_A_TICK);
        std::fs::write(&path, b"not tempreg's").unwrap();
        if std::fs::metadata(&path).unwrap().ino() == ours {
            reused = true;
            break;
        }
    }
    if !reused {
        eprintln!("skipped: this file system did not reuse the inode number in {TRIES} tries");
        return;
    }
    let err = temp.close().expect_err("the name holds another file");
    assert!(is_replaced_error(&err), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not tempreg's");
    std::fs::remove_file(&path).unwrap();
    assert!(registry.is_empty());
}
