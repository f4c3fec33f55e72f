//! `disable_cleanup`: a guard that turned its clean-up off leaves its file
//! where it is when dropped, no purge takes it, and the session directory
//! around it is kept when the registry ends (unless the file is gone by
//! then); turned back on, everything is as before.

mod support;

use std::io::Write;

use support::{assert_empty_dir, registry_in};
use tempreg::{list_sessions, SessionState};

#[test]
fn a_dropped_guard_with_clean_up_off_leaves_its_file_and_no_purge_takes_it() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"left").unwrap();
    file.disable_cleanup(true);
    let mut dir = registry.temp_dir().unwrap();
    dir.disable_cleanup(true);
    let path = registry.temp_file().unwrap().into_temp_path();
    let mut path = path;
    path.disable_cleanup(true);

    let report = registry.purge_all_blocking();
    assert_eq!(report.removed(), 0, "{report}");
    let (file_path, dir_path, path_path) = (
        file.path().to_path_buf(),
        dir.path().to_path_buf(),
        path.to_path_buf(),
    );
    drop((file, dir, path));
    assert_eq!(std::fs::read(&file_path).unwrap(), b"left");
    assert!(dir_path.is_dir() && path_path.is_file());
    assert!(registry.is_empty(), "they are the caller's now");

    // The registry's end keeps the session directory around them.
    let session = registry.session_dir().to_path_buf();
    drop(registry);
    assert!(file_path.exists(), "not removed with the session");
    let sessions = support::judged_once_settled(
        || list_sessions(root.path()).unwrap(),
        |listed| listed.iter().all(|s| !s.is_live()),
    );
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].path(), session);
    assert_eq!(sessions[0].state(), SessionState::Kept);
    std::fs::remove_dir_all(&session).unwrap();
}

#[test]
fn clean_up_turned_back_on_or_the_files_gone_leave_nothing() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    // Off at creation, back on: removed as usual.
    let mut file = registry.temp().disable_cleanup(true).file().unwrap();
    file.disable_cleanup(false);
    let file_path = file.path().to_path_buf();
    drop(file);
    assert!(!file_path.exists());
    // Off, dropped, then removed by the caller: the session goes as usual.
    let mut dir = registry.temp().disable_cleanup(true).dir().unwrap();
    let dir_path = dir.path().to_path_buf();
    dir.disable_cleanup(true);
    drop(dir);
    std::fs::remove_dir(&dir_path).unwrap();
    // `close` removes even with clean-up off, as tempfile's does.
    let mut closed = registry.temp_dir().unwrap();
    closed.disable_cleanup(true);
    let closed_path = closed.path().to_path_buf();
    closed.close().unwrap();
    assert!(!closed_path.exists());
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn a_live_guard_with_clean_up_off_keeps_the_session_at_exit() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut kept = registry.temp_file().unwrap();
    kept.disable_cleanup(true);
    let purged = registry.temp_file().unwrap();
    // What the exit hook does.
    let report = registry.purge_and_remove_session();
    assert_eq!(report.removed(), 1, "{report}");
    support::assert_gone_while_held(purged.path(), "a purged temp file still held");
    assert!(
        kept.path().exists(),
        "left to the caller, with its directory"
    );
    let session = registry.session_dir().to_path_buf();
    let kept_path = kept.path().to_path_buf();
    drop((kept, purged, registry));
    assert!(kept_path.exists());
    assert_eq!(
        list_sessions(root.path()).unwrap()[0].state(),
        SessionState::Kept,
        "no sweep removes it"
    );
    std::fs::remove_dir_all(session).unwrap();
}
