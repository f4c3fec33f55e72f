//! Bad names, bad roots and bad paths fail with the right error kind, a
//! message that names what was wrong, and nothing created on disk.

mod support;

use std::ffi::OsStr;
use std::io;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
#[cfg(unix)]
use std::path::Path;
#[cfg(unix)]
use std::process::Command;

use support::{assert_empty_dir, assert_names_path, assert_session_holds_only_lock, registry_in};
#[cfg(unix)]
use support::{Running, RUN_TIMEOUT};
use tempreg::ResourceRegistry;

#[cfg(unix)]
const CHILD_TEST: &str = "child_process_entry";

fn bad_parts() -> Vec<&'static OsStr> {
    let mut parts = vec![
        OsStr::new("a/b"),
        OsStr::new("/"),
        OsStr::new("../escape"),
        OsStr::new("nul\0byte"),
    ];
    // Windows separates with `\` too, and `C:` names another directory
    // (the working one of drive C) or, after a name, a stream of that file.
    if cfg!(windows) {
        parts.extend([
            OsStr::new("a\\b"),
            OsStr::new("..\\escape"),
            OsStr::new("C:"),
            OsStr::new("file:stream"),
        ]);
    }
    parts
}

fn assert_invalid_input(result: io::Result<()>, what: &str) {
    let err = result.expect_err("a bad name part must be refused");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains(what), "`{err}` should say {what}");
}

#[tokio::test]
async fn prefix_or_suffix_with_slash_or_nul_is_invalid_input() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    for bad in bad_parts() {
        assert_invalid_input(registry.temp().prefix(bad).file().map(drop), "prefix");
        assert_invalid_input(registry.temp().suffix(bad).file().map(drop), "suffix");
        assert_invalid_input(registry.temp().prefix(bad).dir().map(drop), "prefix");
        assert_invalid_input(registry.temp().suffix(bad).dir().map(drop), "suffix");
        assert_invalid_input(
            registry.temp().prefix(bad).file_async().await.map(drop),
            "prefix",
        );
        assert_invalid_input(
            registry.temp().suffix(bad).file_async().await.map(drop),
            "suffix",
        );
    }
    assert_eq!(registry.len(), 0);
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn a_name_with_no_prefix_suffix_or_random_part_is_invalid_input() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let err = registry.temp().prefix("").rand_bytes(0).file().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let err = registry.temp().prefix("").rand_bytes(0).dir().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn builder_prefix_with_slash_or_nul_or_empty_is_invalid_input() {
    let root = tempfile::tempdir().unwrap();
    let mut bad_prefixes = vec!["a/b", "/", "../up", "nul\0byte", ""];
    // A drive, or a file's stream, on Windows.
    if cfg!(windows) {
        bad_prefixes.extend(["C:", "a:b"]);
    }
    for bad in bad_prefixes {
        let err = ResourceRegistry::builder()
            .root(root.path())
            .prefix(bad)
            .build()
            .expect_err("a bad session prefix must be refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
        assert!(err.to_string().contains("prefix"), "{err}");
    }
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn names_that_are_not_one_file_name_are_invalid_input_and_never_panic() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    // Random parts too long for a file name (255 bytes), up to the largest a
    // caller can pass: refused before any allocation of that size.
    for n in [256, 1 << 20, 1 << 40, usize::MAX] {
        let what = format!("rand_bytes({n})");
        assert_invalid_input(registry.temp().rand_bytes(n).file().map(drop), &what);
        assert_invalid_input(registry.temp().rand_bytes(n).dir().map(drop), &what);
        assert_invalid_input(
            registry.temp().rand_bytes(n).file_async().await.map(drop),
            &what,
        );
    }
    let long = "p".repeat(200);
    assert_invalid_input(
        registry.temp().prefix(&long).suffix(&long).file().map(drop),
        "255",
    );
    // With no random part, `.` and `..` would name the session or its root.
    for (prefix, suffix) in [(".", ""), ("..", ""), ("", "."), (".", ".")] {
        let name = format!("{prefix}{suffix}");
        let made = registry.temp().prefix(prefix).suffix(suffix).rand_bytes(0);
        assert_invalid_input(made.file().map(drop), &format!("{name:?}"));
        assert_invalid_input(made.dir().map(drop), &format!("{name:?}"));
    }
    assert_eq!(registry.len(), 0);
    assert_session_holds_only_lock(&registry);
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn builder_values_out_of_range_are_invalid_input_naming_the_value() {
    let root = tempfile::tempdir().unwrap();
    for files in [1025, usize::MAX] {
        let err = ResourceRegistry::builder()
            .root(root.path())
            .async_reserve(files)
            .build()
            .expect_err("a reserve that large must be refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string().contains(&format!("async_reserve({files})")),
            "{err}"
        );
    }
    for bad in [
        ".hidden".to_string(),
        "p".repeat(201),
        "back\\slash".to_string(),
    ] {
        let err = ResourceRegistry::builder()
            .root(root.path())
            .prefix(&bad)
            .build()
            .expect_err("a bad session prefix must be refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
    }
    assert_empty_dir(root.path());
}

#[tokio::test]
async fn a_deadline_or_grace_period_of_duration_max_means_no_limit() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let forever = tempreg::PurgeOptions::new().deadline(std::time::Duration::MAX);
    let file = registry.temp_file().unwrap();
    let report = registry.purge_all_with(forever.clone()).await;
    assert!(report.is_clean() && report.removed() == 1, "{report}");
    let path = registry.temp_file().unwrap().into_temp_path();
    let report = registry.purge_all_blocking_with(forever);
    assert!(report.is_clean() && report.removed() == 1, "{report}");

    let shutdown = tempreg::Shutdown::builder()
        .grace_period(std::time::Duration::MAX)
        .cleanup_reserve(std::time::Duration::MAX)
        .step_timeout(std::time::Duration::MAX)
        .build();
    shutdown.add_registry(&registry);
    let token = shutdown.token();
    shutdown.spawn("worker", async move { token.cancelled().await });
    let report = shutdown.shutdown().await;
    assert!(report.is_clean(), "{report}");
    // The coordinator and its report hold the registry too.
    drop((file, path, registry, report, shutdown));
    assert_empty_dir(root.path());
}

#[test]
fn missing_root_is_not_found_and_names_the_root() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("does").join("not").join("exist");
    let err = ResourceRegistry::builder().root(&root).build().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert_names_path(&err, &root);
    assert!(!root.exists(), "the root is not created");
    assert_empty_dir(parent.path());
}

#[test]
fn root_that_is_a_file_is_not_a_directory_and_names_the_root() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("plain-file");
    std::fs::write(&root, b"not a dir").unwrap();
    let err = ResourceRegistry::builder().root(&root).build().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
    assert_names_path(&err, &root);
    assert_eq!(std::fs::read(&root).unwrap(), b"not a dir");
}

#[tokio::test]
async fn open_of_a_missing_path_without_create_is_not_found_and_names_it() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let missing = outside.path().join("missing.txt");
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).write(true);
    let err = registry.open(&missing, &options).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert_names_path(&err, &missing);
    assert!(!missing.exists());
    assert_eq!(registry.len(), 0);

    // A directory cannot be opened for writing; the message still names it.
    // (Windows refuses the open itself: access denied.)
    let err = registry.open(outside.path(), &options).await.unwrap_err();
    let expected = if cfg!(windows) {
        io::ErrorKind::PermissionDenied
    } else {
        io::ErrorKind::IsADirectory
    };
    assert_eq!(err.kind(), expected, "{err}");
    assert_names_path(&err, outside.path());
    assert_eq!(registry.len(), 0);

    drop(registry);
    assert_empty_dir(root.path());
    assert_empty_dir(outside.path());
}

/// As uid 65534, a root-owned 0755 directory is not writable and a
/// root-owned 0600 file is not readable. (Unix only: `setpriv` and modes.)
#[cfg(unix)]
#[test]
fn unwritable_root_and_unreadable_file_are_permission_denied() {
    let Ok(setpriv) = which("setpriv") else {
        println!("skipped: setpriv is not installed");
        return;
    };
    // Everything the unprivileged child touches lives under a 0755 dir.
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = base.path().join("child-test-binary");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = base.path().join("root-owned");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let aux = base.path().join("aux");
    std::fs::create_dir(&aux).unwrap();
    std::fs::set_permissions(&aux, std::fs::Permissions::from_mode(0o777)).unwrap();
    let secret = base.path().join("secret.txt");
    std::fs::write(&secret, b"root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut cmd = Command::new(setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .current_dir(base.path());
    support::child_args(&mut cmd, CHILD_TEST, "permission-denied", &root, &aux);
    let output = Running::start(cmd, "the unprivileged child").output(RUN_TIMEOUT);
    let shown = support::describe(&output);
    if !output.status.success() && String::from_utf8_lossy(&output.stderr).contains("setpriv:") {
        println!("skipped: setpriv refused: {shown}");
        return;
    }
    assert!(output.status.success(), "{shown}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("child: permission checks passed"),
        "{shown}"
    );
    assert_empty_dir(&root);
    assert_empty_dir(&aux);
    assert_eq!(std::fs::read(&secret).unwrap(), b"root only");
}

#[cfg(unix)]
fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or(())
}

/// Runs a scenario in a re-executed test binary; returns at once otherwise.
#[cfg(unix)]
#[test]
fn child_process_entry() {
    let Some((scenario, root)) = support::child_scenario() else {
        return;
    };
    match scenario.as_str() {
        #[cfg(unix)]
        "permission-denied" => child_permission_denied(&root, &support::child_aux()),
        other => panic!("unknown scenario {other}"),
    }
}

#[cfg(unix)]
fn child_permission_denied(root: &Path, aux: &Path) {
    let err = ResourceRegistry::builder().root(root).build().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    assert_names_path(&err, root);

    // A registry where we may write, and a caller file we may not read.
    let registry = registry_in(aux);
    let secret = aux.parent().unwrap().join("secret.txt");
    let rt = support::current_thread_runtime();
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true);
    let err = rt.block_on(registry.open(&secret, &options)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    assert_names_path(&err, &secret);
    assert_eq!(registry.len(), 0);
    drop(registry);
    println!("child: permission checks passed");
}
