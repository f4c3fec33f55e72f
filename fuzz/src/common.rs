//! What both targets share: decoding an input as libFuzzer does, a fresh
//! directory on tmpfs, listings, and the checks of a file's bytes.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};

/// Decodes `bytes` exactly as `fuzz_target!(|input: T| ...)` does: too short
/// for `T` at all, or undecodable, is no input (`None`).
pub fn decode<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

/// A fresh directory for one run, on tmpfs where there is one; removed with
/// everything in it when dropped.
pub(crate) fn fresh_base() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("tempreg-fuzz-")
        .tempdir_in(parent)
        .expect("fresh base directory")
}

/// Makes `base/name` and returns it.
pub(crate) fn subdir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

pub(crate) fn listing(dir: &Path) -> BTreeSet<OsString> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("read_dir entry").file_name())
        .collect()
}

pub(crate) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// The bytes of the regular file at `path` (panics if it is not one).
pub(crate) fn read_file(path: &Path) -> Vec<u8> {
    let meta = fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("missing file {}: {e}", path.display()));
    assert!(meta.is_file(), "not a regular file: {}", path.display());
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The bytes on disk are `want`, except that the last `unflushed` of them
/// may not have landed yet (a write in flight on tokio's blocking pool): any
/// prefix of `want` at least `want.len() - unflushed` long.
pub(crate) fn check_bytes(path: &Path, got: &[u8], want: &[u8], unflushed: usize) {
    let min = want.len().saturating_sub(unflushed);
    let ok = got.len() >= min && got.len() <= want.len() && want.starts_with(got);
    assert!(
        ok,
        "content of {}: got {} byte(s) {:?}, want {} byte(s) (at least {} landed) {:?}",
        path.display(),
        got.len(),
        Short(got),
        want.len(),
        min,
        Short(want),
    );
}

/// Long byte strings shown by their ends.
struct Short<'a>(&'a [u8]);

impl std::fmt::Debug for Short<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() <= 48 {
            write!(f, "{:?}", self.0)
        } else {
            let n = self.0.len();
            write!(f, "{:?}..{:?}", &self.0[..16], &self.0[n - 16..])
        }
    }
}

/// How long to wait for something the library does in the background (a
/// write in flight, a clean-up after a deadline) before calling it a hang.
pub(crate) const BACKGROUND_LIMIT: Duration = Duration::from_secs(10);

/// Polls `done` until it is true; panics with `what` after
/// [`BACKGROUND_LIMIT`]. `tick` runs between polls (to drive a runtime).
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool, mut tick: impl FnMut()) {
    let start = Instant::now();
    let mut spins = 0u32;
    while !done() {
        assert!(
            start.elapsed() < BACKGROUND_LIMIT,
            "still not done after {BACKGROUND_LIMIT:?}: {what}"
        );
        tick();
        spins += 1;
        if spins > 100 {
            std::thread::sleep(Duration::from_micros(200));
        } else {
            std::thread::yield_now();
        }
    }
}

/// `close()` on the registry: it says whether it changed anything (it did
/// unless `closed` already), and the registry is closed from then on.
pub(crate) fn close_registry(registry: &tempreg::ResourceRegistry, closed: &mut bool) {
    assert_eq!(registry.close(), !*closed, "close() says what changed");
    *closed = true;
    assert!(registry.is_closed());
}
