//! The session directory and what is created in it are private to the user,
//! named so a sweeper can find their owner, locked while alive, and removed
//! once the registry and every guard of it are gone.

mod support;

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;

#[cfg(unix)]
use support::mode_of;
use support::{assert_empty_dir, names_in, registry_in};
use tempreg::{ResourceRegistry, LOCK_NAME};

#[test]
fn session_dir_is_0700_named_prefix_pid_random_and_holds_the_lock_file() {
    let root = tempfile::tempdir().unwrap();
    let registry = ResourceRegistry::builder()
        .root(root.path())
        .prefix("perm")
        .build()
        .unwrap();

    let session = registry.session_dir().to_path_buf();
    assert_eq!(session.parent(), Some(root.path()));
    assert_eq!(registry.root(), root.path());
    #[cfg(unix)]
    assert_eq!(mode_of(&session), 0o700);

    let name = session.file_name().unwrap().to_str().unwrap().to_owned();
    let expected_start = format!("perm-{}-", std::process::id());
    assert!(
        name.starts_with(&expected_start),
        "session name {name} should start with {expected_start}"
    );
    let random = &name[expected_start.len()..];
    assert!(
        !random.is_empty() && random.chars().all(|c| c.is_ascii_alphanumeric()),
        "session name {name} should end with random characters"
    );

    assert_eq!(names_in(&session), vec![OsString::from(LOCK_NAME)]);
    let lock = session.join(LOCK_NAME);
    assert!(std::fs::symlink_metadata(&lock).unwrap().is_file());
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap().trim(),
        std::process::id().to_string(),
        "the lock file records the owner's pid"
    );
    assert_eq!(names_in(root.path()), vec![OsString::from(&name)]);

    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn default_prefix_is_tempreg() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let name = registry.session_dir().file_name().unwrap().to_owned();
    let expected_start = format!("tempreg-{}-", std::process::id());
    assert!(
        name.to_str().unwrap().starts_with(&expected_start),
        "session name {name:?} should start with {expected_start}"
    );
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn lock_file_is_held_while_the_registry_lives() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let lock = File::open(registry.session_dir().join(LOCK_NAME)).unwrap();
    let err = support::try_flock_exclusive(&lock)
        .expect_err("a second flock on the live session's lock must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    drop(lock);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn temp_files_are_0600_and_temp_dirs_0700() {
    let root = tempfile::tempdir().unwrap();
    support::block_on(async {
        let registry = registry_in(root.path());

        let file = registry.temp_file().unwrap();
        let named = registry.temp().prefix("p-").suffix(".s").file().unwrap();
        let path_only = registry.temp_file().unwrap().into_temp_path();
        let async_file = registry.temp_file_async().await.unwrap();
        let dir = registry.temp_dir().unwrap();
        let named_dir = registry.temp().prefix("d-").dir().unwrap();

        // Windows has no mode bits (its temp directory is the user's own):
        // only the kinds are checked there.
        for path in [file.path(), named.path(), &*path_only, async_file.path()] {
            #[cfg(unix)]
            assert_eq!(mode_of(path), 0o600, "{}", path.display());
            assert!(std::fs::symlink_metadata(path).unwrap().is_file());
        }
        for path in [dir.path(), named_dir.path()] {
            #[cfg(unix)]
            assert_eq!(mode_of(path), 0o700, "{}", path.display());
            assert!(std::fs::symlink_metadata(path).unwrap().is_dir());
        }
        #[cfg(unix)]
        assert_eq!(mode_of(&registry.session_dir().join(LOCK_NAME)), 0o600);

        drop((file, named, path_only, async_file, dir, named_dir));
        let report = registry.purge_all().await;
        assert!(report.is_clean(), "{report}");
        drop(registry);
    });
    assert_empty_dir(root.path());
}

#[test]
fn session_dir_outlives_the_registry_handle_while_a_guard_lives() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let clone = registry.clone();
    let session = registry.session_dir().to_path_buf();
    let mut file = registry.temp_file().unwrap();
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("inner.txt"), b"inner").unwrap();

    drop(registry);
    drop(clone);
    assert!(session.is_dir(), "a live guard keeps the session directory");
    assert!(session.join(LOCK_NAME).is_file());
    assert!(file.path().is_file());
    file.write_all(b"still usable").unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), b"still usable");

    drop(dir);
    assert!(session.is_dir(), "the temp file's guard still lives");
    assert_eq!(
        names_in(&session),
        vec![
            OsString::from(LOCK_NAME),
            file.path().file_name().unwrap().to_owned()
        ]
    );

    drop(file);
    assert!(!session.exists(), "the last guard removes the session");
    assert_empty_dir(root.path());
}

#[test]
fn dropping_one_clone_keeps_the_session() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let clone = registry.clone();
    let session = registry.session_dir().to_path_buf();
    drop(registry);
    assert!(session.is_dir());
    let file = clone.temp_file().unwrap();
    assert!(file.path().starts_with(&session));
    drop(file);
    drop(clone);
    assert!(!session.exists());
    assert_empty_dir(root.path());
}

#[test]
fn session_removal_takes_files_others_left_inside_it() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let session = registry.session_dir().to_path_buf();
    std::fs::create_dir_all(session.join("stray/deeper")).unwrap();
    std::fs::write(session.join("stray/deeper/file"), b"x").unwrap();
    std::fs::write(session.join("stray.txt"), b"x").unwrap();
    drop(registry);
    assert_empty_dir(root.path());
}
