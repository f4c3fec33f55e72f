//! A tracked file's handles: `TempFile::reopen` opens the file again by its
//! name, checked to be ours; `TempFile::from_parts` joins a handle and a
//! path back into a guard whose handle a purge closes.

mod support;

use std::io::{Read, Seek, SeekFrom, Write};

use support::registry_in;
use tempreg::{is_closed_error, is_replaced_error, TempFile};

#[test]
fn reopen_gives_an_independent_handle_on_the_same_file() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let mut first = file.reopen().unwrap();
    let mut second = file.reopen().unwrap();
    first.write_all(b"abcde").unwrap();
    let mut back = String::new();
    second.read_to_string(&mut back).unwrap();
    assert_eq!(back, "abcde");
    // The handles outlive the guard, as with tempfile.
    drop(file);
    first.seek(SeekFrom::Start(0)).unwrap();
    back.clear();
    first.read_to_string(&mut back).unwrap();
    assert_eq!(back, "abcde");
}

#[test]
fn reopen_refuses_a_name_that_holds_another_file_or_a_symlink() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let path = file.path().to_path_buf();
    std::fs::rename(&path, root.path().join("moved")).unwrap();
    if support::or_skip(support::can_symlink()).is_some() {
        support::symlink(root.path().join("moved"), &path).unwrap();
        let err = file.reopen().unwrap_err();
        assert!(is_replaced_error(&err), "{err}");
        support::remove_symlink(&path).unwrap();
    }
    std::fs::write(&path, b"theirs").unwrap();
    let err = file.reopen().unwrap_err();
    assert!(is_replaced_error(&err), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = file.reopen().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[test]
fn from_parts_makes_the_handle_the_guards_again() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let (file, path) = registry.temp_file().unwrap().into_parts();
    let mut joined = TempFile::from_parts(file, path);
    joined.write_all(b"x").unwrap();
    let report = registry.purge_all_blocking();
    assert_eq!((report.removed(), report.closed()), (1, 1), "{report}");
    let err = joined.write_all(b"y").unwrap_err();
    assert!(is_closed_error(&err), "{err}");
}
