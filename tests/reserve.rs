//! The async reserve: files made ahead of demand never outlive a purge or the
//! registry, and a registry used lightly (or with the reserve off) has none.

mod support;

use support::{names_in, registry_in};
use tokio::io::AsyncWriteExt;

async fn make_and_drop(registry: &tempreg::ResourceRegistry, n: usize) {
    for _ in 0..n {
        let mut f = registry.temp_file_async().await.unwrap();
        f.write_all(b"x").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_removes_the_reserve_and_nothing_appears_after_it() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    for round in 0..20 {
        make_and_drop(&registry, 40).await;
        let report = registry.purge_all().await;
        assert!(report.is_clean(), "{report}");
        // Reserve files are not entries: the report counts none of them.
        assert_eq!(report.removed(), 0, "round {round}: {report}");
        assert_eq!(
            names_in(registry.session_dir()),
            [tempreg::LOCK_NAME],
            "round {round}"
        );
    }
    let session = registry.session_dir().to_path_buf();
    make_and_drop(&registry, 40).await;
    drop(registry);
    // The end of the registry takes the reserve too (once the reaper lets go).
    for _ in 0..1000 {
        if !session.exists() {
            break;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(!session.exists(), "left: {:?}", names_in(&session));
    assert!(names_in(root.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_user_and_a_disabled_reserve_see_only_their_own_files() {
    let root = tempfile::tempdir().unwrap();
    let light = registry_in(root.path());
    let held: Vec<_> = futures_lite(&light, 10).await;
    assert_eq!(
        names_in(light.session_dir()).len(),
        10 + 1,
        "no reserve before the warm-up"
    );
    drop(held);

    let off = tempreg::ResourceRegistry::builder()
        .root(root.path())
        .async_reserve(0)
        .build()
        .unwrap();
    let held: Vec<_> = futures_lite(&off, 100).await;
    assert_eq!(
        names_in(off.session_dir()).len(),
        100 + 1,
        "reserve off: only live files"
    );
    drop(held);
    let report = off.purge_all().await;
    assert!(report.is_clean());
    assert_eq!(names_in(off.session_dir()), [tempreg::LOCK_NAME]);
}

async fn futures_lite(registry: &tempreg::ResourceRegistry, n: usize) -> Vec<tempreg::TrackedFile> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(registry.temp_file_async().await.unwrap());
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserve_files_are_private_and_handed_out_as_live_entries() {
    let root = tempfile::tempdir().unwrap();
    let registry = registry_in(root.path());
    let held = futures_lite(&registry, 64).await;
    assert_eq!(registry.len(), 64);
    // Modes are Unix's.
    #[cfg(unix)]
    for f in &held {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.path().display());
    }
    let mut paths: Vec<_> = held.iter().map(|f| f.path().to_path_buf()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 64, "every file handed out once");
    let report = registry.purge_all().await;
    assert_eq!(report.closed(), 64, "{report}");
    assert_eq!(report.removed(), 64, "{report}");
    assert_eq!(names_in(registry.session_dir()), [tempreg::LOCK_NAME]);
}

/// What a busy registry holds beyond its live files: at most 8 files made
/// ahead of demand (each holds an fd until handed out), and none once demand
/// stops. (Counted as names in the session directory: this process's fd
/// count is shared with the tests running beside this one.)
#[test]
fn the_reserve_stays_small_and_is_given_back_when_demand_stops() {
    let root = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let registry = registry_in(root.path());
        let held = futures_lite(&registry, 20).await;
        // Let the refill that the last takes started finish.
        support::wait_until(support::RUN_TIMEOUT, "a refill", || {
            names_in(registry.session_dir()).len() > 20 + 1
        });
        let extra = names_in(registry.session_dir()).len() - (20 + 1);
        assert!((1..=8).contains(&extra), "{extra} reserve files");
        // Nobody asks for more: the reserve goes back (paused time: the
        // trimmer's wait passes at once; its removals run for real).
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        support::wait_until(support::RUN_TIMEOUT, "the reserve to go", || {
            names_in(registry.session_dir()).len() == 20 + 1
        });
        drop(held);
        let report = registry.purge_all().await;
        assert!(report.is_clean(), "{report}");
    });
    drop(rt);
    assert!(names_in(root.path()).is_empty());
}
