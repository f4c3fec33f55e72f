//! The adapters that plug a purge into coordinators users already run:
//! `purge_on_cancel` (a `CancellationToken`) and, with the
//! `tokio-graceful-shutdown` feature, `PurgeSubsystem`.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::registry_in;
use tempreg::{purge_on_cancel, purge_on_cancel_with, PurgeFailureKind, PurgeOptions};
use tempreg::{EntryKind, ResourceRegistry, TempPath, TrackedFile};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const BOUND: Duration = Duration::from_secs(10);

fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Lets spawned tasks run without moving time.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// A temp path whose name now holds a symlink to `victim`: the purge must
/// leave it (and the victim) alone and report it.
fn replaced_by_symlink(registry: &ResourceRegistry, victim: &Path) -> TempPath {
    let path = registry.temp_file().unwrap().into_temp_path();
    std::fs::remove_file(path.path()).unwrap();
    support::symlink(victim, path.path()).unwrap();
    path
}

/// Opens (creating) a caller's file through `registry` and writes `data`.
async fn open_kept(registry: &ResourceRegistry, path: &Path, data: &[u8]) -> TrackedFile {
    let mut kept = registry
        .open(path, tokio::fs::OpenOptions::new().create(true).write(true))
        .await
        .unwrap();
    kept.write_all(data).await.unwrap();
    kept
}

#[tokio::test]
async fn purge_on_cancel_waits_for_the_token_then_cleans_everything() {
    let root = tempfile::tempdir().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());

    let mut scratch = registry.temp_file().unwrap();
    scratch.write_all(b"partial").unwrap();
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("inside"), b"x").unwrap();
    let mut spool = registry.temp_file_async().await.unwrap();
    spool.write_all(b"queued").await.unwrap();
    let kept_path = aux.path().join("kept.log");
    let mut kept = open_kept(&registry, &kept_path, b"must survive the purge").await;

    let token = CancellationToken::new();
    let purge = purge_on_cancel(&registry, token.clone());
    settle().await;
    assert!(!purge.is_finished(), "nothing happens before the token");
    let temp_paths: Vec<PathBuf> = vec![
        scratch.path().to_path_buf(),
        dir.path().to_path_buf(),
        spool.path().to_path_buf(),
    ];
    assert!(temp_paths.iter().all(|p| present(p)));
    assert_eq!(registry.len(), 4);

    token.cancel();
    let report = tokio::time::timeout(BOUND, purge)
        .await
        .expect("the purge should end")
        .expect("purge task");

    assert!(report.is_clean(), "{report}");
    // Temp file, temp dir and async temp file removed; the temp file's fd
    // and both async handles closed.
    assert_eq!(report.removed(), 3, "{report}");
    assert_eq!(report.closed(), 3, "{report}");
    assert!(scratch.is_purged());
    // The sync temp file's guard still holds its file (Windows cannot
    // revoke a handle): see `assert_gone_while_held`.
    support::assert_gone_while_held(&temp_paths[0], "a purged temp file still held");
    for path in &temp_paths[1..] {
        assert!(!present(path), "{} should be gone", path.display());
    }
    assert!(spool.is_purged() && kept.is_purged());
    assert_eq!(
        std::fs::read(&kept_path).unwrap(),
        b"must survive the purge",
        "a kept file is flushed, closed and never deleted"
    );
    assert!(kept.write_all(b"more").await.is_err());
    assert!(registry.is_empty());
    // A purge does not close the registry.
    assert!(!registry.is_closed());
    drop(registry.temp_file().expect("the registry stays usable"));
}

#[tokio::test]
async fn purge_on_cancel_runs_at_once_for_a_token_already_cancelled() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let scratch = registry.temp_file().unwrap();
    let token = CancellationToken::new();
    token.cancel();
    let report = tokio::time::timeout(BOUND, purge_on_cancel(&registry, token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.removed(), 1);
    support::assert_gone_while_held(scratch.path(), "a purged temp file still held");
}

#[tokio::test]
async fn purge_on_cancel_with_passes_its_options() {
    let root = tempfile::tempdir().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let kept_path = aux.path().join("synced.log");
    let _kept = open_kept(&registry, &kept_path, b"synced").await;
    let token = CancellationToken::new();
    let options = PurgeOptions::new()
        .deadline(Duration::from_secs(5))
        .sync_data(true);
    let purge = purge_on_cancel_with(&registry, token.clone(), options);
    token.cancel();
    let report = tokio::time::timeout(BOUND, purge).await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.closed(), 1);
    assert_eq!(std::fs::read(&kept_path).unwrap(), b"synced");
}

#[tokio::test]
async fn purge_on_cancel_leaves_a_replaced_name_alone_and_reports_it() {
    if support::or_skip(support::can_symlink()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let victim = aux.path().join("victim");
    std::fs::write(&victim, b"not ours").unwrap();
    let registry = registry_in(root.path());
    let swapped = replaced_by_symlink(&registry, &victim);
    let fine = registry.temp_file().unwrap();

    let token = CancellationToken::new();
    let purge = purge_on_cancel(&registry, token.clone());
    token.cancel();
    let report = tokio::time::timeout(BOUND, purge).await.unwrap().unwrap();

    assert!(!report.is_clean());
    assert_eq!(report.removed(), 1, "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), PurgeFailureKind::Replaced);
    assert_eq!(failure.path(), swapped.path());
    assert_eq!(failure.entry_kind(), Some(EntryKind::TempFile));
    support::assert_gone_while_held(fine.path(), "a purged temp file still held");
    assert!(
        std::fs::symlink_metadata(swapped.path())
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink is left alone"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"not ours");
}

#[cfg(feature = "tokio-graceful-shutdown")]
mod subsystem {
    use std::convert::Infallible;

    use tempreg::{PurgeError, PurgeSubsystem};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio_graceful_shutdown::errors::{GracefulShutdownError, SubsystemError};
    use tokio_graceful_shutdown::{IntoSubsystem, SubsystemBuilder, SubsystemHandle, Toplevel};

    use super::*;

    type Outcome = Result<(), GracefulShutdownError>;

    /// Runs a `Toplevel` with the purge subsystem and a subsystem that calls
    /// `request_shutdown()` when the returned sender fires.
    fn run_toplevel(registry: &ResourceRegistry) -> (oneshot::Sender<()>, JoinHandle<Outcome>) {
        let purge = PurgeSubsystem::new(registry);
        let (go, requested) = oneshot::channel::<()>();
        let toplevel = Toplevel::new(async move |s: &mut SubsystemHandle| {
            s.start(SubsystemBuilder::new("tempreg", purge.into_subsystem()));
            s.start(SubsystemBuilder::new(
                "trigger",
                async move |s: &mut SubsystemHandle| {
                    let _ = requested.await;
                    s.request_shutdown();
                    Ok::<(), Infallible>(())
                },
            ));
        });
        let running = tokio::spawn(toplevel.handle_shutdown_requests(Duration::from_secs(5)));
        (go, running)
    }

    #[tokio::test]
    async fn purge_subsystem_purges_on_request_shutdown() {
        let root = tempfile::tempdir().unwrap();
        let registry = registry_in(root.path());
        let scratch = registry.temp_file().unwrap();
        let dir = registry.temp_dir().unwrap();

        let (go, running) = run_toplevel(&registry);
        settle().await;
        assert!(!running.is_finished());
        assert!(scratch.path().exists() && dir.path().exists());

        go.send(()).unwrap();
        let outcome = tokio::time::timeout(BOUND, running)
            .await
            .expect("the toplevel should end")
            .expect("toplevel task");
        assert!(outcome.is_ok(), "{outcome:?}");
        support::assert_gone_while_held(scratch.path(), "a purged temp file still held");
        assert!(!dir.path().exists());
        assert!(registry.is_closed(), "the subsystem closes the registry");
    }

    #[tokio::test]
    async fn an_unclean_purge_is_a_subsystem_error() {
        if support::or_skip(support::can_symlink()).is_none() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let aux = tempfile::tempdir().unwrap();
        let victim = aux.path().join("victim");
        std::fs::write(&victim, b"not ours").unwrap();
        let registry = registry_in(root.path());
        let swapped = replaced_by_symlink(&registry, &victim);
        let fine = registry.temp_file().unwrap();

        let (go, running) = run_toplevel(&registry);
        go.send(()).unwrap();
        let outcome = tokio::time::timeout(BOUND, running)
            .await
            .expect("the toplevel should end")
            .expect("toplevel task");

        let err = outcome.expect_err("a purge that is not clean fails the subsystem");
        assert!(
            matches!(err, GracefulShutdownError::SubsystemsFailed(_)),
            "{err:?}"
        );
        let errors = err.get_subsystem_errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let SubsystemError::Failed(name, failure) = &errors[0] else {
            panic!("expected a failure, got {:?}", errors[0]);
        };
        assert_eq!(&**name, "/tempreg");
        let purge = failure
            .get_error()
            .downcast_ref::<PurgeError>()
            .expect("the subsystem's error is a PurgeError");
        let failures = purge.report().failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].kind(), PurgeFailureKind::Replaced);
        assert_eq!(failures[0].path(), swapped.path());
        assert!(purge.to_string().contains("not clean"), "{purge}");

        support::assert_gone_while_held(fine.path(), "the rest is still purged");
        assert_eq!(std::fs::read(&victim).unwrap(), b"not ours");
    }
}
