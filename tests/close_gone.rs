//! `close()` of a temp file or directory that someone else already removed
//! returns `NotFound`, as `tempfile`'s does; one a purge of ours took
//! closes with `Ok` (the registry did what the guard would have).

mod support;

use std::io;

use support::registry_in;

#[test]
fn close_of_a_name_removed_by_someone_else_is_not_found() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    // Removed while its guard holds it open: where the name outlives that
    // (Wine), the guard finds it and removes it (`Ok`).
    if support::or_skip(support::names_go_at_once()).is_some() {
        let file = registry.temp_file().unwrap();
        std::fs::remove_file(file.path()).unwrap();
        let err = file.close().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        support::assert_names_path(&err, registry.session_dir());
    }

    let path = registry.temp_file().unwrap().into_temp_path();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(path.close().unwrap_err().kind(), io::ErrorKind::NotFound);

    let dir = registry.temp_dir().unwrap();
    std::fs::remove_dir(dir.path()).unwrap();
    assert_eq!(dir.close().unwrap_err().kind(), io::ErrorKind::NotFound);
    assert!(registry.is_empty(), "nothing is left tracked");
}

#[test]
fn close_after_a_purge_is_ok() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let file = registry.temp_file().unwrap();
    let dir = registry.temp_dir().unwrap();
    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 2, "{report}");
    file.close().unwrap();
    dir.close().unwrap();
}

#[test]
fn an_async_temp_file_whose_name_is_gone_closes_not_found() {
    // Removed while its guard holds it open (see above).
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    support::block_on(async {
        let file = registry.temp_file_async().await.unwrap();
        std::fs::remove_file(file.path()).unwrap();
        let err = file.close().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    });
}
