//! Adopting an existing file (`ResourceRegistry::adopt`,
//! `TempPath::try_from_path`): its identity is recorded at adoption, it is
//! removed with its guard or by a purge, relative to its own directory, and
//! a file that replaced it is never removed.

mod support;

use std::io;

use support::registry_in;
use tempreg::{is_replaced_error, TempPath};

#[test]
fn an_adopted_file_goes_with_its_guard_or_a_purge() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let first = outside.path().join("first.txt");
    let second = outside.path().join("second.txt");
    std::fs::write(&first, b"1").unwrap();
    std::fs::write(&second, b"2").unwrap();

    let adopted = registry.adopt(&first).unwrap();
    assert_eq!(adopted.path(), first);
    drop(adopted);
    assert!(!first.exists());

    let _adopted = registry.adopt(&second).unwrap();
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 1, "{report}");
    assert!(!second.exists());
    assert!(outside.path().is_dir(), "its directory stays");
}

#[test]
fn a_file_that_replaced_an_adopted_one_is_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let path = outside.path().join("data.txt");
    std::fs::write(&path, b"adopted").unwrap();
    let adopted = registry.adopt(&path).unwrap();
    // Replaced while the adopted file still exists elsewhere: another inode.
    std::fs::rename(&path, outside.path().join("moved.txt")).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    let err = adopted.close().unwrap_err();
    assert!(is_replaced_error(&err), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");

    // A purge too.
    let other = outside.path().join("other.txt");
    std::fs::write(&other, b"adopted").unwrap();
    let _adopted = registry.adopt(&other).unwrap();
    std::fs::rename(&other, outside.path().join("moved-too.txt")).unwrap();
    std::fs::write(&other, b"theirs").unwrap();
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 0, "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    assert_eq!(std::fs::read(&other).unwrap(), b"theirs");
}

#[test]
fn an_adopted_file_whose_directory_is_gone_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dir = outside.path().join("sub");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("data.txt");
    std::fs::write(&path, b"adopted").unwrap();
    let adopted = registry.adopt(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = adopted.close().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(registry.is_empty());
}

#[test]
fn what_cannot_be_adopted_is_refused_with_a_reason() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let missing = root.path().join("missing.txt");
    let err = registry.adopt(&missing).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("missing.txt"), "{err}");
    let err = registry.adopt(root.path()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::IsADirectory, "{err}");
    let err = registry.adopt("").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let err = registry.adopt("/").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(registry.is_empty());
}

#[test]
fn an_adopted_path_persists_and_keeps_where_it_is() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let path = outside.path().join("report.csv");
    std::fs::write(&path, b"a,b").unwrap();
    let dest = outside.path().join("final.csv");
    registry.adopt(&path).unwrap().persist(&dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"a,b");
    assert!(!path.exists());
    let kept = registry.adopt(&dest).unwrap().keep().unwrap();
    assert_eq!(kept, dest);
    assert!(dest.exists());
    assert!(registry.is_empty());
}

#[test]
fn try_from_path_adopts_into_the_process_wide_registry() {
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("adopted.txt");
    std::fs::write(&path, b"x").unwrap();
    let adopted = TempPath::try_from_path(&path).unwrap();
    assert!(tempreg::global()
        .unwrap()
        .entries()
        .iter()
        .any(|e| e.path() == path));
    drop(adopted);
    assert!(!path.exists());
    let err = TempPath::try_from_path(outside.path().join("missing")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}
