//! The public types can be shared and moved across threads and tasks: checked
//! at compile time, plus one run that moves guards between threads.

mod support;

use std::fmt::Debug;
use std::io::{Read, Seek, SeekFrom, Write};

use support::{assert_empty_dir, assert_session_holds_only_lock, registry_in};
use tempreg::{
    EntryInfo, EntryKind, PanicPolicy, PersistError, PurgeFailure, PurgeFailureKind, PurgeOptions,
    PurgeReport, RegistryBuilder, RegistryClosed, ResourceRegistry, TempDir, TempFile, TempOptions,
    TempPath, TrackedFile,
};
use tokio::io::AsyncWriteExt;

fn send_sync<T: Send + Sync>() {}
fn send_sync_debug<T: Send + Sync + Debug>() {}
fn send_future<F: std::future::Future + Send>(_: &F) {}

// Never called: it only has to compile.
#[allow(dead_code)]
fn futures_are_send(registry: &ResourceRegistry, file: TrackedFile, path: &std::path::Path) {
    send_future(&registry.purge_all());
    send_future(&registry.purge_all_with(PurgeOptions::new()));
    send_future(&registry.temp_file_async());
    send_future(&registry.temp().file_async());
    send_future(&registry.open(path, &tokio::fs::OpenOptions::new()));
    send_future(&file.close());
}

#[test]
fn public_types_are_send_and_sync() {
    send_sync_debug::<ResourceRegistry>();
    send_sync_debug::<TempFile>();
    send_sync_debug::<TempPath>();
    send_sync_debug::<TempDir>();
    send_sync_debug::<TrackedFile>();
    send_sync_debug::<PurgeReport>();
    send_sync_debug::<PurgeFailure>();
    send_sync_debug::<PersistError>();
    send_sync_debug::<EntryInfo>();
    send_sync_debug::<RegistryBuilder>();
    send_sync_debug::<PurgeOptions>();
    send_sync_debug::<TempOptions<'static>>();
    send_sync_debug::<EntryKind>();
    send_sync_debug::<PurgeFailureKind>();
    send_sync_debug::<PanicPolicy>();
    send_sync_debug::<RegistryClosed>();
    send_sync::<Result<TempFile, PersistError>>();
    send_sync_debug::<tempreg::SpooledTempFile>();
    send_sync_debug::<tempreg::SpooledData>();
    send_sync_debug::<tempreg::AnonymousFile>();
    send_sync_debug::<tempreg::compat::NamedTempFile>();
    send_sync_debug::<tempreg::compat::TempPath>();
    send_sync_debug::<tempreg::compat::TempDir>();
    send_sync_debug::<tempreg::compat::SpooledTempFile>();
    send_sync_debug::<tempreg::compat::Builder<'static, 'static>>();
    send_sync_debug::<tempreg::compat::PersistError>();
    send_sync_debug::<tempreg::compat::PathPersistError>();
    std_error::<tempreg::compat::PersistError>();
    std_error::<tempreg::compat::PathPersistError>();
    into_io::<tempreg::compat::PersistError>();
    into_io::<tempreg::compat::PathPersistError>();

    fn clone_debug<T: Clone + Debug>() {}
    clone_debug::<ResourceRegistry>();
    clone_debug::<RegistryBuilder>();
    clone_debug::<PurgeOptions>();
    fn unpin<T: Unpin>() {}
    unpin::<TrackedFile>();
    // PersistError converts for `?` in io::Result functions.
    fn into_io<T: Into<std::io::Error>>() {}
    into_io::<PersistError>();
    fn std_error<T: std::error::Error + Send + Sync + 'static>() {}
    std_error::<PersistError>();
    std_error::<RegistryClosed>();
}

fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

#[test]
fn guards_are_unwind_safe() {
    // As `tempfile`'s: a guard can be used inside `catch_unwind`.
    unwind_safe::<ResourceRegistry>();
    unwind_safe::<TempFile>();
    unwind_safe::<TempPath>();
    unwind_safe::<TempDir>();
    unwind_safe::<TrackedFile>();
    unwind_safe::<tempreg::AnonymousFile>();
    unwind_safe::<TempOptions<'static>>();
    unwind_safe::<tempreg::SpooledTempFile>();

    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let tmp = registry.temp_file().unwrap().into_temp_path();
    let seen = std::panic::catch_unwind(|| tmp.to_path_buf()).unwrap();
    assert_eq!(seen, tmp.to_path_buf());
    // A panic with a guard borrowed inside leaves the registry working.
    let caught = std::panic::catch_unwind(|| {
        let _ = tmp.path();
        panic!("inside catch_unwind");
    });
    assert!(caught.is_err());
    assert!(tmp.exists());
    assert_eq!(registry.len(), 1);
    drop(tmp);
    assert_session_holds_only_lock(&registry);
}

#[test]
fn registry_debug_names_the_session() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let shown = format!("{registry:?}");
    assert!(
        shown.contains(&format!("{:?}", registry.session_dir())),
        "{shown}"
    );
    drop(registry);
    assert_empty_dir(root.path());
}

#[test]
fn guards_move_across_threads() {
    let root = tempfile::tempdir().unwrap();
    let rt = support::multi_thread_runtime();
    let registry = registry_in(root.path());

    // Created here, written and dropped on another thread.
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"main ").unwrap();
    let dir = registry.temp_dir().unwrap();
    let tp = registry.temp_file().unwrap().into_temp_path();
    let (file_path, dir_path, tp_path) = (
        file.path().to_path_buf(),
        dir.path().to_path_buf(),
        tp.to_path_buf(),
    );
    let worker = std::thread::spawn(move || {
        file.write_all(b"worker").unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let mut back = String::new();
        file.read_to_string(&mut back).unwrap();
        std::fs::write(dir.path().join("from-worker"), b"w").unwrap();
        drop((dir, tp));
        (back, file)
    });
    let (back, file) = worker.join().unwrap();
    assert_eq!(back, "main worker");
    assert!(!dir_path.exists() && !tp_path.exists());
    assert!(file_path.exists());

    // A registry clone used from several threads at once.
    let made: Vec<TempPath> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let registry = registry.clone();
                s.spawn(move || registry.temp_file().unwrap().into_temp_path())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(registry.len(), 5);

    // A tracked handle moved into a task on another worker, and back.
    let tracked = rt.block_on(registry.temp_file_async()).unwrap();
    let tracked = rt
        .block_on(rt.spawn(async move {
            let mut tracked = tracked;
            tracked.write_all(b"from a task").await.unwrap();
            tracked.flush().await.unwrap();
            tracked
        }))
        .unwrap();
    assert_eq!(std::fs::read(tracked.path()).unwrap(), b"from a task");
    rt.block_on(tracked.close()).unwrap();

    // A purge report made on one thread, read on another.
    let purger = registry.clone();
    let report = std::thread::spawn(move || purger.purge_all_blocking())
        .join()
        .unwrap();
    assert_eq!(report.removed(), 5, "{report}");
    assert!(made.iter().all(|p| !p.exists()));
    support::assert_gone_while_held(&file_path, "a purged temp file still held");
    support::assert_session_holds_only_lock_or_held(&registry, &[&file_path]);

    drop((file, made));
    drop(registry);
    drop(rt);
    assert_empty_dir(root.path());
}
