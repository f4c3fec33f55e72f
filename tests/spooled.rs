//! `SpooledTempFile`: in memory up to a size, then an unnamed temp file;
//! tracked in both forms, so a purge frees the memory or closes the file,
//! and later I/O fails with the closed error.

mod support;

use std::io::{Read, Seek, SeekFrom, Write};

use support::registry_in;
use tempreg::{is_closed_error, EntryKind, SpooledData};

#[test]
fn it_rolls_over_past_its_size_and_keeps_its_bytes_and_position() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut spool = registry.spooled_file(10).unwrap();
    assert_eq!(registry.entries()[0].kind(), EntryKind::SpooledMemory);
    spool.write_all(b"abcde").unwrap();
    assert!(!spool.is_rolled());
    spool.write_all(b"fghijk").unwrap();
    assert!(spool.is_rolled());
    assert_eq!(spool.stream_position().unwrap(), 11);
    assert_eq!(registry.entries()[0].kind(), EntryKind::AnonymousFile);
    assert_eq!(registry.len(), 1, "the memory entry went with the bytes");
    spool.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    spool.read_to_string(&mut back).unwrap();
    assert_eq!(back, "abcdefghijk");
    // Nothing named on disk: the file is unnamed (where the system has
    // unnamed files: not under Wine).
    if support::or_skip(support::names_go_at_once()).is_some() {
        assert_eq!(support::names_in(registry.session_dir()).len(), 1);
    }
    drop(spool);
    assert!(registry.is_empty());
}

#[test]
fn set_len_past_the_size_rolls_over_and_into_inner_untracks() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut spool = registry.spooled_file(4).unwrap();
    spool.write_all(b"ab").unwrap();
    spool.set_len(3).unwrap();
    assert!(!spool.is_rolled());
    match spool.into_inner().unwrap() {
        SpooledData::InMemory(cursor) => assert_eq!(cursor.into_inner(), b"ab\0"),
        SpooledData::OnDisk(_) => panic!("still in memory"),
    }
    assert!(registry.is_empty());

    let mut spool = registry.spooled_file(4).unwrap();
    spool.set_len(8).unwrap();
    assert!(spool.is_rolled());
    let mut file = spool.into_file().unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    assert_eq!(back, [0; 8]);
    assert!(registry.is_empty());
}

#[test]
fn a_purge_frees_the_bytes_in_memory_and_later_io_fails_closed() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut spool = registry.spooled_file(1 << 20).unwrap();
    spool.write_all(&[7; 4096]).unwrap();
    let report = registry.purge_all_blocking();
    assert_eq!(report.closed(), 1, "{report}");
    assert!(report.is_clean(), "{report}");
    assert!(spool.is_purged());
    assert!(registry.is_empty());
    let err = spool.write(b"x").unwrap_err();
    assert!(is_closed_error(&err), "{err}");
    let err = spool.seek(SeekFrom::Start(0)).unwrap_err();
    assert!(is_closed_error(&err), "{err}");
    let err = spool.roll().unwrap_err();
    assert!(is_closed_error(&err), "{err}");
    let err = spool.into_inner().unwrap_err();
    assert!(is_closed_error(&err), "{err}");
}

#[test]
fn a_purge_closes_the_rolled_over_file() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut spool = registry.spooled_file(2).unwrap();
    spool.write_all(b"on disk").unwrap();
    assert!(spool.is_rolled());
    let report = support::block_on(registry.purge_all());
    assert_eq!(report.closed(), 1, "{report}");
    assert!(spool.is_purged());
    let err = spool.write(b"x").unwrap_err();
    assert!(is_closed_error(&err), "{err}");
}

#[test]
fn a_closed_registry_makes_none() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    registry.close();
    let err = registry.spooled_file(8).unwrap_err();
    assert!(is_closed_error(&err), "{err}");
}
