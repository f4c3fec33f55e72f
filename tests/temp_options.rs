//! `TempOptions::append` and `permissions`: how a temp file or directory is
//! opened and with which mode bits (less the umask), inside the 0700
//! session directory.

mod support;

use std::io::{Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

#[cfg(unix)]
use support::mode_of;
use support::registry_in;

#[test]
fn append_writes_at_the_end() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let mut file = registry.temp().append(true).file().unwrap();
    file.write_all(b"a").unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(b"b").unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), b"ab");
}

// Mode bits and the umask are Unix's (Windows: tests/windows.rs).
#[cfg(unix)]
#[test]
fn permissions_are_the_callers_less_the_umask() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let default_file = registry.temp_file().unwrap();
    let default_dir = registry.temp_dir().unwrap();
    assert_eq!(mode_of(default_file.path()), 0o600);
    assert_eq!(mode_of(default_dir.path()), 0o700);
    let file = registry
        .temp()
        .permissions(std::fs::Permissions::from_mode(0o640))
        .file()
        .unwrap();
    let dir = registry
        .temp()
        .permissions(std::fs::Permissions::from_mode(0o750))
        .dir()
        .unwrap();
    // Whatever the umask takes away, never more than asked.
    assert_eq!(mode_of(file.path()) & !0o640, 0);
    assert_eq!(mode_of(file.path()) & 0o600, 0o600);
    assert_eq!(mode_of(dir.path()) & !0o750, 0);
    assert_eq!(mode_of(dir.path()) & 0o700, 0o700);
    assert_eq!(mode_of(registry.session_dir()), 0o700);
}

#[test]
fn async_files_refuse_the_options_they_cannot_honour() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    support::block_on(async {
        let err = registry
            .temp()
            .disable_cleanup(true)
            .file_async()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    });
}
