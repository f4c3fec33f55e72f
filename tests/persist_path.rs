//! `TempPath::persist` and `persist_noclobber`: a temp path moved to a
//! destination, identity-checked, with the guard handed back (still
//! tracked) when the move fails.

mod support;

use std::io;

use support::{assert_session_holds_only_lock, registry_in};
use tempreg::is_replaced_error;

#[test]
fn a_temp_path_persists_over_or_beside_a_destination() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let dest = root.path().join("out.txt");
    std::fs::write(&dest, b"old").unwrap();

    let mut file = registry.temp_file().unwrap();
    std::io::Write::write_all(&mut file, b"new").unwrap();
    let path = file.into_temp_path();
    let err = path.persist_noclobber(&dest).unwrap_err();
    assert_eq!(err.error.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    let path = err.path;
    assert!(path.exists() && registry.len() == 1, "handed back, tracked");

    path.persist(&dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    assert!(registry.is_empty());
    assert_session_holds_only_lock(&registry);
}

#[test]
fn a_failed_persist_hands_the_path_back_and_a_replaced_name_moves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let path = registry.temp_file().unwrap().into_temp_path();
    let err = path
        .persist(root.path().join("missing-dir").join("out"))
        .unwrap_err();
    assert_eq!(err.error.kind(), io::ErrorKind::NotFound, "{err}");
    let path = err.path;
    assert!(path.exists());

    if support::or_skip(support::identity_survives_reuse()).is_none() {
        return;
    }
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    let dest = root.path().join("out");
    let err = path.persist(&dest).unwrap_err();
    assert!(is_replaced_error(&err.error), "{err}");
    assert!(!dest.exists());
    assert_eq!(std::fs::read(err.path.path()).unwrap(), b"someone else's");
    std::fs::remove_file(err.path.path()).unwrap();
}
