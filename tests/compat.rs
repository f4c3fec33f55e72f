//! `tempreg::compat`: `tempfile`'s API over the process-wide registries.
//! tempfile's own test suite runs against it in CI
//! (`.ci/tempfile-tests.sh`); these tests check what the switch gains and
//! each documented difference.

mod support;

use std::io::{self, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use tempreg::compat as tempfile;
use tempreg::is_replaced_error;

/// The compat registry of `dir` (the one `*_in(dir)` uses).
fn session_of(path: &std::path::Path) -> std::path::PathBuf {
    path.parent().unwrap().to_path_buf()
}

#[test]
fn named_files_and_dirs_live_one_level_down_in_a_session_directory() {
    let root = ::tempfile::tempdir().unwrap();
    let file = tempfile::NamedTempFile::new_in(root.path()).unwrap();
    let dir = tempfile::tempdir_in(root.path()).unwrap();
    let session = session_of(file.path());
    assert_eq!(session.parent(), Some(root.path()));
    assert_eq!(
        session_of(dir.path()),
        session,
        "one registry per directory"
    );
    let name = session.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("tempreg-"), "{name}");
    #[cfg(unix)]
    assert_eq!(support::mode_of(&session), 0o700);
    #[cfg(unix)]
    assert_eq!(support::mode_of(dir.path()), 0o700);
    drop((file, dir));
    // The registry of a directory other than the default lives while its
    // guards do: its session goes with the last of them.
    support::assert_empty_dir(root.path());
}

#[test]
fn the_unnamed_tempfile_is_a_plain_file_made_in_the_directory_itself() {
    let root = ::tempfile::tempdir().unwrap();
    let mut file: std::fs::File = tempfile::tempfile_in(root.path()).unwrap();
    file.write_all(b"abc").unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut back = String::new();
    file.read_to_string(&mut back).unwrap();
    assert_eq!(back, "abc");
    // On Windows (`FILE_FLAG_DELETE_ON_CLOSE`, as `tempfile` does there) the
    // file has a name until its handle closes.
    #[cfg(windows)]
    drop(file);
    support::assert_empty_dir(root.path());
}

#[test]
fn keep_moves_out_of_the_session_directory_into_the_directory_asked_for() {
    let root = ::tempfile::tempdir().unwrap();
    let file = tempfile::Builder::new()
        .prefix("kept-")
        .tempfile_in(root.path())
        .unwrap();
    let name = file.path().file_name().unwrap().to_owned();
    let (_, kept) = file.keep().unwrap();
    assert_eq!(kept, root.path().join(&name));
    let dir = tempfile::TempDir::with_prefix_in("kept-dir-", root.path()).unwrap();
    let dir_name = dir.path().file_name().unwrap().to_owned();
    let kept_dir = dir.keep();
    assert_eq!(kept_dir, root.path().join(&dir_name));
    assert!(kept.is_file() && kept_dir.is_dir());
}

#[test]
fn a_replaced_name_is_never_deleted() {
    // Removed while its guard holds it open, then made again at the name.
    if support::or_skip(support::names_go_at_once()).is_none()
        || support::or_skip(support::identity_survives_reuse()).is_none()
    {
        return;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_path_buf();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    let err = file.close().unwrap_err();
    assert!(is_replaced_error(&err), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn close_of_a_file_already_gone_is_not_found_as_in_tempfile() {
    // Removed while its guard holds it open: where the name outlives that
    // (Wine), the guard finds it and removes it (`Ok`).
    if support::or_skip(support::names_go_at_once()).is_some() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::remove_file(file.path()).unwrap();
        let err = file.close().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::remove_dir(dir.path()).unwrap();
    assert_eq!(dir.close().unwrap_err().kind(), io::ErrorKind::NotFound);
}

#[test]
#[allow(deprecated)]
fn a_path_adopted_where_no_file_was_is_never_deleted() {
    let root = ::tempfile::tempdir().unwrap();
    let path = root.path().join("later.txt");
    let adopted = tempfile::TempPath::from_path(&path);
    assert_eq!(&*adopted, path);
    std::fs::write(&path, b"made after adoption").unwrap();
    drop(adopted);
    assert!(path.exists(), "a file made after adoption is not ours");
    let adopted = tempfile::TempPath::try_from_path(&path).unwrap();
    drop(adopted);
    assert!(!path.exists(), "adopted once it exists");
    let nothing = tempfile::TempPath::try_from_path(&path).unwrap();
    assert_eq!(nothing.close().unwrap_err().kind(), io::ErrorKind::NotFound);
}

#[test]
fn a_slash_in_a_prefix_is_refused() {
    let err = tempfile::Builder::new()
        .prefix("a/b")
        .tempfile()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn builder_options_reach_the_file() {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::fs::Permissions::from_mode(0o640));
    let file = builder.suffix(".log").rand_bytes(3).tempfile().unwrap();
    let name = file.path().file_name().unwrap().to_str().unwrap();
    assert_eq!(name.len(), ".tmp".len() + 3 + ".log".len(), "{name}");
    #[cfg(unix)]
    {
        let mode = support::mode_of(file.path());
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
        assert_eq!(mode & 0o007, 0, "{mode:o}");
    }
    let mut appended = tempfile::Builder::new().append(true).tempfile().unwrap();
    appended.write_all(b"a").unwrap();
    appended.seek(SeekFrom::Start(0)).unwrap();
    appended.write_all(b"b").unwrap();
    assert_eq!(std::fs::read(appended.path()).unwrap(), b"ab");
}

#[test]
fn make_needs_something_made_at_the_path() {
    let err = tempfile::Builder::new().make(|_| Ok(())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}

#[test]
fn compat_files_are_tracked_by_the_default_registry() {
    // (Not purged here: the other tests of this binary share it.)
    let file = tempfile::NamedTempFile::new().unwrap();
    let registry = tempfile::registry().unwrap();
    assert_eq!(session_of(file.path()), registry.session_dir());
    assert!(registry.entries().iter().any(|e| e.path() == file.path()));
    let same = tempreg::global().unwrap();
    assert_eq!(same.session_dir(), registry.session_dir());
}

#[test]
fn a_spooled_file_is_tempfiles_and_a_purge_frees_it() {
    let mut spool = tempfile::spooled_tempfile(4);
    spool.write_all(b"ab").unwrap();
    assert!(!spool.is_rolled());
    spool.write_all(b"cdef").unwrap();
    assert!(spool.is_rolled());
    match spool.into_inner() {
        tempfile::SpooledData::OnDisk(mut file) => {
            let mut back = String::new();
            file.seek(SeekFrom::Start(0)).unwrap();
            file.read_to_string(&mut back).unwrap();
            assert_eq!(back, "abcdef");
        }
        tempfile::SpooledData::InMemory(_) => panic!("rolled over"),
    }
    let mut err = tempfile::spooled_tempfile_in(1, "/does-not-exist");
    assert!(err.roll().is_err());
}

#[test]
fn the_guards_are_unwind_safe_and_send() {
    fn check<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe + Send + Sync>() {}
    check::<tempfile::NamedTempFile>();
    check::<tempfile::TempPath>();
    check::<tempfile::TempDir>();
    check::<tempfile::SpooledTempFile>();
    let dir = tempfile::tempdir().unwrap();
    let seen = std::panic::catch_unwind(|| dir.path().to_path_buf()).unwrap();
    assert_eq!(seen, dir.path());
}
