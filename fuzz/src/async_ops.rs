//! The registry from async code, against a plain model.
//!
//! The input picks a reserve size and decodes into a list of operations:
//! async temp files (one at a time, named, or in bursts that start the
//! reserve), caller's files opened through the registry, a few sync guards
//! (so that a purge has blocking work as well as handles), writes, flushes,
//! `sync_data`, read-backs, `close().await`, drops on and off the runtime,
//! purges with and without deadlines, blocking purges, closing the
//! registry, and batches run concurrently on a multi-thread runtime.
//!
//! Everything but the batches runs on one current-thread runtime whose clock
//! is paused, so a deadline runs out only when the purge has to wait on
//! something (a zero deadline at once; others only while it waits on work
//! of the other runtime). Where the outcome still depends on timing (a
//! blocking worker racing the deadline, a write in flight on tokio's
//! blocking pool), the model takes it from the report, the entries the
//! registry lists, and `is_purged()`, then checks everything else against
//! it:
//!
//! - which paths exist, with which bytes (a write in flight may not have
//!   landed yet; a flush, a close or a purge lands it), and which must not;
//! - `len()` and `entries()`;
//! - that I/O on a purged guard fails with a closed error;
//! - after `purge_all()` without a deadline: the session directory holds
//!   exactly the lock file (and whatever is still tracked), with no reserve
//!   file, no file of a dropped guard, and nothing left by an earlier purge
//!   that ran out of time;
//! - at the end, with every guard dropped and the registry gone: the root is
//!   empty, and every caller's file holds every byte written to it.
//!
//! Two things the library does not do today (see `regressions/README.md`)
//! are checked only with [`Semantics::Strict`]: that `purge_all()` cleans
//! what an earlier purge left running when its deadline passed, and that a
//! guard closed or dropped during a blocking purge leaves nothing tracked.
//! By default ([`Semantics::Documented`]) the first must finish by itself
//! (within ten seconds, else it is a hang), and the second is an orphan:
//! tracked, with no guard, cleaned by the next purge.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use tempreg::{
    PurgeFailureKind, PurgeOptions, PurgeReport, ResourceRegistry, TempDir, TempFile, TrackedFile,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use crate::common::{self, check_bytes, exists, listing, read_file, wait_until};
use crate::registry_ops::{check_name_shape, expected_name, Part};

/// Most operations taken from one input.
pub const MAX_OPS: usize = 64;
/// Most bytes of one write.
const MAX_WRITE: usize = 256;
/// How many caller's files the aux directory has.
const AUX_FILES: u8 = 3;
/// How many async temp files a registry makes before it keeps a reserve.
const WARMUP: usize = 16;
/// The reserve's default size.
const DEFAULT_RESERVE: usize = 32;

/// One input: the registry's reserve size, then the operations.
#[derive(Arbitrary, Debug)]
pub struct Input {
    pub reserve: ReserveSize,
    pub ops: Vec<Op>,
}

/// `RegistryBuilder::async_reserve`.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ReserveSize {
    /// Not set: 32.
    Default,
    Off,
    One,
    Three,
    Eight,
}

impl ReserveSize {
    fn files(self) -> Option<usize> {
        match self {
            ReserveSize::Default => None,
            ReserveSize::Off => Some(0),
            ReserveSize::One => Some(1),
            ReserveSize::Three => Some(3),
            ReserveSize::Eight => Some(8),
        }
    }
}

/// One operation.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// `temp_file_async()`.
    CreateAsync,
    /// `temp().prefix(..).suffix(..).rand_bytes(..).file_async()`; a
    /// prefix starting with `0xfc` is `tmp` (the default naming, with 6
    /// random characters and no suffix, takes from the reserve).
    CreateAsyncNamed {
        prefix: Part,
        suffix: Part,
        rand: u8,
    },
    /// `open` a caller's file in the aux directory, read + create + append; or one
    /// in a directory that does not exist.
    Open {
        file: u8,
        missing_dir: bool,
    },
    /// A sync `temp_file()` or `temp_dir()`, held: blocking work for the
    /// async purge.
    CreateSync {
        dir: bool,
    },
    Write {
        idx: u8,
        bytes: Vec<u8>,
    },
    Flush {
        idx: u8,
    },
    SyncData {
        idx: u8,
    },
    /// Seek to the start and read everything back through the guard.
    ReadBack {
        idx: u8,
    },
    /// `close().await` (a sync guard's `close()`).
    Close {
        idx: u8,
    },
    /// Dropped in the runtime (the reaper cleans it) or outside any (the
    /// drop cleans it there and then).
    Drop {
        idx: u8,
        outside_runtime: bool,
    },
    Purge {
        deadline: Option<Deadline>,
        sync_data: bool,
    },
    PurgeBlocking {
        in_runtime: bool,
    },
    CloseRegistry,
    /// 17 to 20 `temp_file_async()` in a row (the reserve starts); the first
    /// `keep` are held, the rest dropped at once.
    Burst {
        n: u8,
        keep: u8,
    },
    /// On the multi-thread runtime (a real clock): tasks that each make an
    /// async temp file, write, and close or drop it, all at once; maybe a
    /// purge among them, maybe `close()` of the registry.
    Concurrent {
        tasks: u8,
        bytes: Vec<u8>,
        purge: Option<BatchPurge>,
        close: bool,
    },
    /// Waits until what runs in the background (the reaper, clean-ups
    /// after a deadline, writes in flight) is done.
    Settle,
}

/// The purge a concurrent batch runs alongside its tasks.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum BatchPurge {
    /// `purge_all_with`, with or without a deadline (on a real clock).
    Async(Option<Deadline>),
    /// `purge_all_blocking` on a blocking thread: a handle in use on another
    /// thread is reported busy and stays tracked.
    Blocking,
}

/// A purge's deadline, on the paused clock.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Deadline {
    Zero,
    Micro,
    Milli,
    Second,
    /// Too far to count from now: no deadline.
    Max,
}

impl Deadline {
    fn duration(self) -> Duration {
        match self {
            Deadline::Zero => Duration::ZERO,
            Deadline::Micro => Duration::from_micros(1),
            Deadline::Milli => Duration::from_millis(1),
            Deadline::Second => Duration::from_secs(1),
            Deadline::Max => Duration::MAX,
        }
    }
}

/// What `purge_all()` without deadline promises about the clean-ups that
/// an earlier purge, out of time, left running in the background.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semantics {
    /// As the crate documents them ("timed out; still tracked or finishing
    /// in the background"): they finish by themselves, soon (the model
    /// waits for them, and calls a hang a bug), but a later purge need not
    /// wait for them.
    Documented,
    /// A later purge without deadline cleans them: when it returns, their
    /// files are gone. The crate does not do this today (see
    /// `regressions/README.md`); `TEMPREG_FUZZ_STRICT=1` fuzzes with it.
    Strict,
}

impl Semantics {
    /// `Strict` if `TEMPREG_FUZZ_STRICT=1`, else `Documented`.
    pub fn from_env() -> Semantics {
        static FROM_ENV: OnceLock<Semantics> = OnceLock::new();
        *FROM_ENV.get_or_init(|| match std::env::var("TEMPREG_FUZZ_STRICT").as_deref() {
            Ok("1") => Semantics::Strict,
            _ => Semantics::Documented,
        })
    }
}

/// Runs one input given as raw bytes, exactly as the fuzz target does.
pub fn run_bytes(bytes: &[u8]) {
    run_bytes_with(bytes, Semantics::from_env());
}

/// [`run_bytes`] with the given semantics.
pub fn run_bytes_with(bytes: &[u8], semantics: Semantics) {
    if let Some(input) = common::decode::<Input>(bytes) {
        run_with(input, semantics);
    }
}

/// Runs one decoded input.
pub fn run(input: Input) {
    run_with(input, Semantics::from_env());
}

/// [`run`] with the given semantics.
pub fn run_with(input: Input, semantics: Semantics) {
    let base = common::fresh_base();
    let mut world = World::new(base.path(), input.reserve, semantics);
    world.check();
    for op in input.ops.into_iter().take(MAX_OPS) {
        world.apply(op);
        world.check();
    }
    world.finish();
}

/// Each runtime's blocking pool: a few threads, kept. Threads that come
/// and go (tokio's default: up to 512, idle ones end after 10 s) cost a
/// sanitizer build memory it never gives back.
const BLOCKING_THREADS: usize = 16;
const KEEP_ALIVE: Duration = Duration::from_secs(3600);

/// The current-thread runtime, its clock paused; one per process.
fn current() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_keep_alive(KEEP_ALIVE)
            .build()
            .expect("current-thread runtime")
    })
}

/// The multi-thread runtime of the concurrent batches; one per process.
fn multi() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_keep_alive(KEEP_ALIVE)
            .build()
            .expect("multi-thread runtime")
    })
}

/// Lets the current-thread runtime run what is queued on it.
fn drive() {
    current().block_on(tokio::task::yield_now());
}

/// The paths of the entries a purge failed on, counted: all for `kind`
/// (`TimedOut` after a deadline, `Busy` in a blocking purge).
fn failures(report: &PurgeReport, kind: PurgeFailureKind) -> BTreeMap<PathBuf, usize> {
    let mut paths: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for f in report.failures() {
        assert_eq!(f.kind(), kind, "{report}");
        *paths.entry(f.path().to_path_buf()).or_default() += 1;
    }
    paths
}

/// What a purge must report for the entries it cleaned: how many names it
/// removed, and between how many handles it closed (an orphan's handle may
/// have been closed by its guard already).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    removed: usize,
    closed_min: usize,
    closed_max: usize,
}

/// The report's removed and closed are `want`; or, not `exact`, at least
/// that, plus async temp files of a batch (each removed, some closed: a
/// guard dropped or closed first had closed its handle).
fn check_counts(report: &PurgeReport, want: Counts, exact: bool) {
    let (removed, closed) = (report.removed(), report.closed());
    let ok = if exact {
        removed == want.removed && (want.closed_min..=want.closed_max).contains(&closed)
    } else {
        removed >= want.removed
            && closed >= want.closed_min
            && removed - want.removed >= closed.saturating_sub(want.closed_max)
    };
    assert!(
        ok,
        "removed {removed}, closed {closed}; want {want:?}{}: {report}",
        if exact { "" } else { " or more" }
    );
    assert_eq!(report.already_gone(), 0, "{report}");
}

/// A task's output; its panic, passed on.
async fn join<T>(handle: tokio::task::JoinHandle<T>) -> T {
    handle
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

enum Guard {
    Tracked(TrackedFile),
    File(TempFile),
    Dir(TempDir),
}

impl Guard {
    fn is_purged(&self) -> Option<bool> {
        match self {
            Guard::Tracked(t) => Some(t.is_purged()),
            Guard::File(f) => Some(f.is_purged()),
            Guard::Dir(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// From `temp_file_async`.
    AsyncTemp,
    /// A caller's file: `aux[n]`.
    Open(usize),
    SyncFile,
    SyncDir,
}

impl Kind {
    /// A temp name in the session directory.
    fn named(self) -> bool {
        !matches!(self, Kind::Open(_))
    }

    /// A handle a purge closes.
    fn handle(self) -> bool {
        !matches!(self, Kind::SyncDir)
    }

    fn tracked(self) -> bool {
        matches!(self, Kind::AsyncTemp | Kind::Open(_))
    }

    fn entry_kind(self) -> &'static str {
        match self {
            Kind::AsyncTemp => "AsyncTempFile",
            Kind::Open(_) => "OpenFile",
            Kind::SyncFile => "TempFile",
            Kind::SyncDir => "TempDir",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Tracked.
    Live,
    /// A purge that finished with it took it: name gone, handle closed.
    Purged,
    /// A purge that ran out of time left it to be finished in the
    /// background (a handle's flush, a blocking worker's removal): not
    /// tracked, its name may still be there for a while.
    Finishing,
    /// An async guard dropped on the runtime: not tracked; the reaper
    /// removes its name.
    Reaping,
    /// Closed, or dropped and cleaned there and then.
    Gone,
    /// Tracked, with no guard: its guard was closed or dropped while a
    /// blocking purge held its entry, which then found the handle busy and
    /// put it back. Its file is there until the next purge (see
    /// `regressions/README.md`).
    Orphan,
}

#[derive(Debug)]
struct Model {
    path: PathBuf,
    kind: Kind,
    state: State,
    /// A temp file's bytes (a caller's file's are in its `Aux`).
    content: Vec<u8>,
    /// How many of the last bytes may still be in flight.
    unflushed: usize,
    /// A purge ran out of time on it.
    timed_out: bool,
}

/// A caller's file in the aux directory.
#[derive(Debug)]
struct Aux {
    path: PathBuf,
    exists: bool,
    content: Vec<u8>,
    unflushed: usize,
    /// The model whose write may be in flight.
    writer: Option<usize>,
}

struct World {
    registry: ResourceRegistry,
    root: PathBuf,
    session: PathBuf,
    aux_dir: PathBuf,
    aux: Vec<Aux>,
    models: Vec<Model>,
    guards: Vec<Option<Guard>>,
    closed: bool,
    reserve: usize,
    /// Default-named async temp files asked for while open (the reserve
    /// counts them up to its warm-up).
    takes: usize,
    /// Reserve files may be in the session directory.
    reserve_may_exist: bool,
    /// A purge ran out of time at least once (its background work may
    /// hold the registry a little longer).
    timed_out_ever: bool,
    semantics: Semantics,
}

impl World {
    fn new(base: &Path, reserve: ReserveSize, semantics: Semantics) -> World {
        let root = common::subdir(base, "root");
        let aux_dir = common::subdir(base, "aux");
        let mut builder = ResourceRegistry::builder().root(&root).prefix("fuzz");
        if let Some(n) = reserve.files() {
            builder = builder.async_reserve(n);
        }
        let registry = builder.build().expect("build registry");
        let session = registry.session_dir().to_path_buf();
        assert_eq!(session.parent(), Some(root.as_path()));
        let aux = (0..AUX_FILES)
            .map(|k| Aux {
                path: aux_dir.join(format!("aux-{k}")),
                exists: false,
                content: Vec::new(),
                unflushed: 0,
                writer: None,
            })
            .collect();
        World {
            registry,
            root,
            session,
            aux_dir,
            aux,
            models: Vec::new(),
            guards: Vec::new(),
            closed: false,
            reserve: reserve.files().unwrap_or(DEFAULT_RESERVE),
            takes: 0,
            reserve_may_exist: false,
            timed_out_ever: false,
            semantics,
        }
    }

    fn pick(&self, idx: u8, fits: impl Fn(&Guard) -> bool) -> Option<usize> {
        let held: Vec<usize> = (0..self.guards.len())
            .filter(|&i| self.guards[i].as_ref().is_some_and(&fits))
            .collect();
        if held.is_empty() {
            None
        } else {
            Some(held[usize::from(idx) % held.len()])
        }
    }

    /// A default-named async temp file was asked of an open registry.
    fn took(&mut self) {
        self.takes += 1;
        if self.reserve > 0 && self.takes > WARMUP {
            self.reserve_may_exist = true;
        }
    }

    fn push(&mut self, path: PathBuf, kind: Kind, state: State, guard: Option<Guard>) -> usize {
        if kind.named() {
            assert_eq!(
                path.parent(),
                Some(self.session.as_path()),
                "{}",
                path.display()
            );
        }
        self.models.push(Model {
            path,
            kind,
            state,
            content: Vec::new(),
            unflushed: 0,
            timed_out: false,
        });
        self.guards.push(guard);
        self.models.len() - 1
    }

    /// A creation on a closed registry fails with the closed error.
    fn refused<T>(&self, made: io::Result<T>) -> Option<T> {
        match made {
            Ok(made) => {
                assert!(!self.closed, "creation succeeded on a closed registry");
                Some(made)
            }
            Err(e) => {
                assert!(self.closed, "creation failed on an open registry: {e}");
                assert!(tempreg::is_closed_error(&e), "not the closed error: {e}");
                None
            }
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::CreateAsync => {
                let registry = &self.registry;
                let made = current().block_on(registry.temp_file_async());
                if let Some(file) = self.refused(made) {
                    self.took();
                    let name = file.path().file_name().unwrap().to_os_string();
                    check_name_shape(&name, OsStr::new("tmp"), OsStr::new(""), 6);
                    let path = file.path().to_path_buf();
                    self.push(
                        path,
                        Kind::AsyncTemp,
                        State::Live,
                        Some(Guard::Tracked(file)),
                    );
                }
            }
            Op::CreateAsyncNamed {
                prefix,
                suffix,
                rand,
            } => self.create_named(&prefix, &suffix, rand),
            Op::Open { file, missing_dir } => self.open(file, missing_dir),
            Op::CreateSync { dir } => {
                let made = if dir {
                    self.registry.temp_dir().map(Guard::Dir)
                } else {
                    self.registry.temp_file().map(Guard::File)
                };
                if let Some(guard) = self.refused(made) {
                    let (path, kind) = match &guard {
                        Guard::File(f) => (f.path().to_path_buf(), Kind::SyncFile),
                        Guard::Dir(d) => (d.path().to_path_buf(), Kind::SyncDir),
                        Guard::Tracked(_) => unreachable!(),
                    };
                    self.push(path, kind, State::Live, Some(guard));
                }
            }
            Op::Write { idx, mut bytes } => {
                bytes.truncate(MAX_WRITE);
                let fits = |g: &Guard| !matches!(g, Guard::Dir(_));
                if let Some(i) = self.pick(idx, fits) {
                    self.write(i, &bytes);
                }
            }
            Op::Flush { idx } => {
                if let Some(i) = self.pick(idx, |g| !matches!(g, Guard::Dir(_))) {
                    self.flush(i, false);
                }
            }
            Op::SyncData { idx } => {
                if let Some(i) = self.pick(idx, |g| matches!(g, Guard::Tracked(_))) {
                    self.flush(i, true);
                }
            }
            Op::ReadBack { idx } => {
                if let Some(i) = self.pick(idx, |g| !matches!(g, Guard::Dir(_))) {
                    self.read_back(i);
                }
            }
            Op::Close { idx } => {
                if let Some(i) = self.pick(idx, |_| true) {
                    self.close(i);
                }
            }
            Op::Drop {
                idx,
                outside_runtime,
            } => {
                if let Some(i) = self.pick(idx, |_| true) {
                    self.drop_guard(i, outside_runtime);
                }
            }
            Op::Purge {
                deadline,
                sync_data,
            } => self.purge(deadline, sync_data),
            Op::PurgeBlocking { in_runtime } => self.purge_blocking(in_runtime),
            Op::CloseRegistry => {
                assert_eq!(
                    self.registry.close(),
                    !self.closed,
                    "close() says what changed"
                );
                self.closed = true;
                assert!(self.registry.is_closed());
            }
            Op::Burst { n, keep } => self.burst(n, keep),
            Op::Concurrent {
                tasks,
                mut bytes,
                purge,
                close,
            } => {
                bytes.truncate(MAX_WRITE);
                self.concurrent(tasks, bytes, purge, close);
            }
            Op::Settle => self.settle(),
        }
    }

    fn create_named(&mut self, prefix: &Part, suffix: &Part, rand: u8) {
        let prefix = if prefix.starts_with_marker(0xfc) {
            OsString::from("tmp")
        } else {
            // Never the reserve's `tmp`: a name clash with a reserve file
            // would depend on its random part.
            prefix.to_os(Some(b'n'))
        };
        let suffix = suffix.to_os(None);
        let rand = usize::from(rand % 16);
        let default = prefix == "tmp" && suffix.is_empty() && rand == 6;
        let in_session = listing(&self.session);
        let registry = &self.registry;
        let made = current().block_on(async {
            registry
                .temp()
                .prefix(&prefix)
                .suffix(&suffix)
                .rand_bytes(rand)
                .file_async()
                .await
        });
        let expected = expected_name(&prefix, &suffix, rand, |n| in_session.contains(n));
        // The name is checked before the registry is.
        let made = match (made, expected) {
            (Err(e), Err(kind)) if kind == io::ErrorKind::InvalidInput => {
                assert_eq!(e.kind(), kind, "{e}");
                return;
            }
            (made, _) if self.closed => {
                assert!(self.refused(made).is_none());
                return;
            }
            (Err(e), Err(kind)) => {
                assert_eq!(e.kind(), kind, "{e}");
                return;
            }
            (Ok(file), Ok(())) => file,
            (Ok(file), Err(kind)) => {
                panic!("made {} where {kind:?} was due", file.path().display())
            }
            (Err(e), Ok(())) => panic!("named async creation failed: {e}"),
        };
        if default {
            self.took();
        }
        let name = made.path().file_name().unwrap().to_os_string();
        check_name_shape(&name, &prefix, &suffix, rand);
        let path = made.path().to_path_buf();
        self.push(
            path,
            Kind::AsyncTemp,
            State::Live,
            Some(Guard::Tracked(made)),
        );
    }

    fn open(&mut self, file: u8, missing_dir: bool) {
        let a = usize::from(file % AUX_FILES);
        let path = if missing_dir {
            self.aux_dir.join("missing").join("file")
        } else {
            self.aux[a].path.clone()
        };
        let mut options = tokio::fs::OpenOptions::new();
        options.read(true).create(true).append(true);
        let registry = &self.registry;
        let opened = current().block_on(registry.open(&path, &options));
        match opened {
            Err(e) if self.closed => assert!(tempreg::is_closed_error(&e), "{e}"),
            Err(e) if missing_dir => {
                assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
                assert!(!tempreg::is_closed_error(&e), "{e}");
            }
            Err(e) => panic!("open {}: {e}", path.display()),
            Ok(f) => {
                assert!(!self.closed && !missing_dir, "opened {}", path.display());
                assert_eq!(f.path(), path);
                self.aux[a].exists = true;
                self.push(path, Kind::Open(a), State::Live, Some(Guard::Tracked(f)));
            }
        }
    }

    /// Before `i` writes to or reads its caller's file: another handle's
    /// write still in flight lands first (flushed if its guard can, else
    /// awaited), so that the order of bytes is known.
    fn land_others(&mut self, i: usize) {
        let Kind::Open(a) = self.models[i].kind else {
            return;
        };
        let aux = &self.aux[a];
        let Some(g) = aux.writer.filter(|&g| g != i && aux.unflushed > 0) else {
            return;
        };
        if self.models[g].state == State::Live {
            if let Some(Guard::Tracked(t)) = self.guards[g].as_mut() {
                current().block_on(t.flush()).expect("flush a live handle");
                self.aux[a].unflushed = 0;
                return;
            }
        }
        self.land_aux(a);
    }

    /// Waits until every byte written to `aux[a]` is there.
    fn land_aux(&mut self, a: usize) {
        let aux = &self.aux[a];
        if aux.unflushed == 0 {
            return;
        }
        let what = format!(
            "{} byte(s) written to {}",
            aux.content.len(),
            aux.path.display()
        );
        wait_until(
            &what,
            || fs::read(&aux.path).is_ok_and(|b| b == aux.content),
            drive,
        );
        self.aux[a].unflushed = 0;
    }

    /// A write of `n` bytes by `i` went into its file (it may be in flight).
    fn wrote(&mut self, i: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.models[i].kind {
            Kind::Open(a) => {
                let aux = &mut self.aux[a];
                aux.content.extend(bytes);
                aux.unflushed = bytes.len();
                aux.writer = Some(i);
            }
            Kind::AsyncTemp => {
                let m = &mut self.models[i];
                m.content.extend(bytes);
                m.unflushed = bytes.len();
            }
            Kind::SyncFile => self.models[i].content.extend(bytes),
            Kind::SyncDir => unreachable!(),
        }
    }

    /// `i`'s own write in flight has landed.
    fn landed(&mut self, i: usize) {
        match self.models[i].kind {
            Kind::Open(a) => {
                if self.aux[a].writer == Some(i) {
                    self.aux[a].unflushed = 0;
                }
            }
            _ => self.models[i].unflushed = 0,
        }
    }

    /// The result of I/O through guard `i`: `Some(true)` if it must have
    /// worked, `Some(false)` if it must have failed with a closed error,
    /// `None` if either may (a clean-up finishing in the background).
    fn io_must_work(&self, i: usize, purged_before: bool) -> Option<bool> {
        match self.models[i].state {
            State::Live => Some(true),
            State::Purged => Some(false),
            State::Finishing if purged_before => Some(false),
            State::Finishing => None,
            state => unreachable!("a held guard is never {state:?}"),
        }
    }

    fn check_io<T>(&self, i: usize, what: &str, purged_before: bool, result: &io::Result<T>) {
        match (self.io_must_work(i, purged_before), result) {
            (Some(true) | None, Ok(_)) => {}
            (Some(false) | None, Err(e)) => {
                assert!(tempreg::is_closed_error(e), "{what} of a purged guard: {e}")
            }
            (Some(false), Ok(_)) => panic!(
                "{what} worked on a purged guard {}",
                self.models[i].path.display()
            ),
            (Some(true), Err(e)) => panic!("{what} {}: {e}", self.models[i].path.display()),
        }
    }

    fn write(&mut self, i: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.land_others(i);
        let guard = self.guards[i].as_mut().expect("held");
        let purged_before = guard.is_purged() == Some(true);
        let result = match guard {
            Guard::Tracked(t) => current().block_on(t.write_all(bytes)),
            Guard::File(f) => io::Write::write_all(f, bytes),
            Guard::Dir(_) => unreachable!(),
        };
        self.check_io(i, "write", purged_before, &result);
        if result.is_ok() {
            self.wrote(i, bytes);
        }
    }

    fn flush(&mut self, i: usize, sync: bool) {
        let guard = self.guards[i].as_mut().expect("held");
        let purged_before = guard.is_purged() == Some(true);
        let result = match guard {
            Guard::Tracked(t) if sync => current().block_on(t.sync_data()),
            Guard::Tracked(t) => current().block_on(t.flush()),
            Guard::File(f) => io::Write::flush(f),
            Guard::Dir(_) => unreachable!(),
        };
        self.check_io(i, "flush", purged_before, &result);
        if result.is_ok() {
            self.landed(i);
        }
    }

    fn read_back(&mut self, i: usize) {
        self.land_others(i);
        let guard = self.guards[i].as_mut().expect("held");
        let purged_before = guard.is_purged() == Some(true);
        let result = match guard {
            Guard::Tracked(t) => current().block_on(async {
                t.seek(SeekFrom::Start(0)).await?;
                let mut got = Vec::new();
                t.read_to_end(&mut got).await?;
                Ok(got)
            }),
            Guard::File(f) => {
                use std::io::{Read, Seek};
                f.seek(SeekFrom::Start(0)).and_then(|_| {
                    let mut got = Vec::new();
                    f.read_to_end(&mut got).map(|_| got)
                })
            }
            Guard::Dir(_) => unreachable!(),
        };
        self.check_io(i, "read", purged_before, &result);
        let Ok(got) = result else {
            return;
        };
        let m = &self.models[i];
        let want = match m.kind {
            Kind::Open(a) => &self.aux[a].content,
            _ => &m.content,
        };
        if m.state == State::Live {
            // Seeking waits for the guard's own write in flight.
            assert_eq!(got, *want, "read back {}", m.path.display());
            self.landed(i);
        } else {
            check_bytes(&m.path, &got, want, want.len());
        }
    }

    fn close(&mut self, i: usize) {
        let state = self.models[i].state;
        let result = match self.guards[i].take().expect("held") {
            Guard::Tracked(t) => current().block_on(t.close()),
            Guard::File(f) => f.close(),
            Guard::Dir(d) => d.close(),
        };
        // Purged, or in a purge's hands: closes with Ok too.
        result
            .unwrap_or_else(|e| panic!("close {:?} {}: {e}", state, self.models[i].path.display()));
        match state {
            State::Live => {
                // Flushed, closed, removed, before `close` returns.
                self.landed(i);
                self.models[i].state = State::Gone;
            }
            State::Purged => self.models[i].state = State::Gone,
            State::Finishing => {}
            state => unreachable!("a held guard is never {state:?}"),
        }
    }

    fn drop_guard(&mut self, i: usize, outside_runtime: bool) {
        let guard = self.guards[i].take().expect("held");
        let tracked = matches!(guard, Guard::Tracked(_));
        if outside_runtime {
            drop(guard);
        } else {
            current().block_on(async move { drop(guard) });
        }
        let m = &mut self.models[i];
        m.state = match m.state {
            // On a runtime, an async guard's clean-up goes to the reaper.
            State::Live if tracked && !outside_runtime => State::Reaping,
            State::Live | State::Purged => State::Gone,
            State::Finishing => State::Finishing,
            state => unreachable!("a held guard is never {state:?}"),
        };
    }

    /// What a purge that cleaned `done` must report.
    fn counts(&self, done: impl IntoIterator<Item = usize>) -> Counts {
        let mut counts = Counts::default();
        for i in done {
            let m = &self.models[i];
            counts.removed += usize::from(m.kind.named());
            counts.closed_max += usize::from(m.kind.handle());
            counts.closed_min += usize::from(m.kind.handle() && m.state != State::Orphan);
        }
        counts
    }

    /// The tracked models: live, and orphans.
    fn live(&self) -> Vec<usize> {
        (0..self.models.len())
            .filter(|&i| matches!(self.models[i].state, State::Live | State::Orphan))
            .collect()
    }

    /// A purge cleaned `i`.
    fn cleaned(&mut self, i: usize) {
        self.models[i].state = if self.guards[i].is_some() {
            State::Purged
        } else {
            State::Gone
        };
        // Flushed before it was closed.
        self.landed(i);
    }

    fn purge(&mut self, deadline: Option<Deadline>, sync_data: bool) {
        let live = self.live();
        let mut options = PurgeOptions::new().sync_data(sync_data);
        if let Some(d) = deadline {
            options = options.deadline(d.duration());
        }
        let registry = &self.registry;
        let report = current().block_on(registry.purge_all_with(options));
        if matches!(deadline, None | Some(Deadline::Max)) {
            assert!(report.is_clean(), "{report}");
            self.purged_all(&live, &report);
            return;
        }
        let timed = failures(&report, PurgeFailureKind::TimedOut);
        self.resolve(&live, timed, &report, true);
    }

    /// After a purge with a deadline: each entry of `live` that `timed`
    /// (paths of timed-out entries, counted) does not name was cleaned; a
    /// timed-out blocking entry was put back (the registry lists it) or is
    /// being cleaned by a worker; a timed-out handle is being flushed and
    /// closed in the background. With `exact`, the report counts those
    /// entries only; else it may count more async temp files.
    fn resolve(
        &mut self,
        live: &[usize],
        mut timed: BTreeMap<PathBuf, usize>,
        report: &PurgeReport,
        exact: bool,
    ) {
        if !timed.is_empty() {
            self.timed_out_ever = true;
        }
        let listed = self.listed();
        let mut groups: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        for &i in live {
            groups
                .entry(self.models[i].path.clone())
                .or_default()
                .push(i);
        }
        let mut want = Counts::default();
        for (path, group) in groups {
            let t = timed.remove(&path).unwrap_or(0);
            assert!(
                t <= group.len(),
                "{t} timed out at {}: {report}",
                path.display()
            );
            let kind = self.models[group[0]].kind;
            // Several handles on one file (a caller's, all with guards):
            // which of them timed out is not said, but how many. Any other
            // path is one entry's.
            let done = self.counts(std::iter::repeat_n(group[0], group.len() - t));
            want.removed += done.removed;
            want.closed_min += done.closed_min;
            want.closed_max += done.closed_max;
            for &i in &group {
                let restored = listed.contains(&(kind.entry_kind(), path.clone()));
                match (t, kind.tracked()) {
                    (0, _) => self.cleaned(i),
                    // A handle's clean-up goes on in the background.
                    (_, true) => self.models[i].state = State::Finishing,
                    // A blocking entry no worker started is put back.
                    (_, false) if restored => {}
                    (_, false) => self.models[i].state = State::Finishing,
                }
                self.models[i].timed_out |= self.models[i].state == State::Finishing;
            }
        }
        assert!(
            timed.is_empty(),
            "timed out, but not live: {timed:?}: {report}"
        );
        check_counts(report, want, exact);
    }

    /// A purge without deadline cleaned every entry `live` had: each is
    /// purged, the reaper is done, the reserve is gone, and so is whatever
    /// an earlier purge left to finish in the background.
    fn purged_all(&mut self, live: &[usize], report: &PurgeReport) {
        check_counts(report, self.counts(live.iter().copied()), true);
        let before: Vec<usize> = (0..self.models.len()).collect();
        for &i in live {
            self.cleaned(i);
        }
        self.after_unlimited_purge(&before);
        self.reserve_may_exist = false;
        self.check_strict("after purge_all()");
    }

    /// A purge without deadline waited for the reaper: the models in
    /// `before` it had are gone. Clean-ups an earlier purge left in the
    /// background are gone too, if the semantics say so.
    fn after_unlimited_purge(&mut self, before: &[usize]) {
        for &i in before {
            let held = self.guards[i].is_some();
            let m = &mut self.models[i];
            m.state = match m.state {
                State::Reaping => State::Gone,
                State::Finishing if self.semantics == Semantics::Strict => {
                    if held {
                        State::Purged
                    } else {
                        State::Gone
                    }
                }
                state => state,
            };
        }
    }

    fn purge_blocking(&mut self, in_runtime: bool) {
        let live = self.live();
        let registry = &self.registry;
        let report = if in_runtime {
            current().block_on(async { registry.purge_all_blocking() })
        } else {
            registry.purge_all_blocking()
        };
        let busy = failures(&report, PurgeFailureKind::Busy);
        self.resolve_blocking(&live, busy, &report, true);
    }

    /// After a blocking purge: each entry of `live` was cleaned, except
    /// handles it found busy (a write in flight, or in use on another
    /// thread), which stay tracked and open: `is_purged()` tells them apart.
    /// `busy`: the paths reported busy, counted. With `exact`, the report
    /// counts those entries only.
    fn resolve_blocking(
        &mut self,
        live: &[usize],
        mut busy: BTreeMap<PathBuf, usize>,
        report: &PurgeReport,
        exact: bool,
    ) {
        let mut done = Vec::new();
        for &i in live {
            let purged = match &self.guards[i] {
                Some(guard) => guard.is_purged().unwrap_or(true),
                // An orphan: the report says whether it was busy again.
                None => !busy.contains_key(&self.models[i].path),
            };
            if purged {
                done.push(i);
            } else {
                assert!(self.models[i].kind.tracked(), "{report}");
                let path = &self.models[i].path;
                let n = busy
                    .get_mut(path)
                    .unwrap_or_else(|| panic!("{} not purged, not busy: {report}", path.display()));
                *n -= 1;
                if *n == 0 {
                    busy.remove(path);
                }
            }
        }
        assert!(busy.is_empty(), "busy, but purged: {busy:?}: {report}");
        check_counts(report, self.counts(done.iter().copied()), exact);
        for i in done {
            self.cleaned(i);
        }
    }

    fn burst(&mut self, n: u8, keep: u8) {
        let count = WARMUP + 1 + usize::from(n % 4);
        let keep = usize::from(keep) % (count + 1);
        let registry = &self.registry;
        let made = current().block_on(async {
            let mut made = Vec::new();
            for j in 0..count {
                let file = registry.temp_file_async().await;
                made.push(file.map(|f| {
                    let path = f.path().to_path_buf();
                    // Dropped on the runtime: the reaper's.
                    (path, (j < keep).then_some(f))
                }));
            }
            made
        });
        for file in made {
            if let Some((path, guard)) = self.refused(file) {
                self.took();
                match guard {
                    Some(f) => {
                        self.push(path, Kind::AsyncTemp, State::Live, Some(Guard::Tracked(f)))
                    }
                    None => self.push(path, Kind::AsyncTemp, State::Reaping, None),
                };
            }
        }
    }

    fn concurrent(&mut self, tasks: u8, bytes: Vec<u8>, purge: Option<BatchPurge>, close: bool) {
        let n = 1 + usize::from(tasks % 12);
        let live = self.live();
        let registry = self.registry.clone();
        let was_closed = self.closed;
        let (made, report) = multi().block_on(async move {
            // Set once `close()` has returned: a creation that starts after
            // that must fail.
            let closed_now = Arc::new(AtomicBool::new(was_closed));
            let mut handles = Vec::new();
            for t in 0..n {
                let registry = registry.clone();
                let bytes = bytes.clone();
                let closed_now = Arc::clone(&closed_now);
                handles.push(tokio::spawn(async move {
                    let closed_before = closed_now.load(Ordering::SeqCst);
                    let mut file = match registry.temp_file_async().await {
                        Ok(file) => file,
                        Err(e) => return Err(e),
                    };
                    assert!(
                        !closed_before,
                        "created {} after close()",
                        file.path().display()
                    );
                    let path = file.path().to_path_buf();
                    if let Err(e) = file.write_all(&bytes).await {
                        // Only a purge running alongside closes it.
                        assert!(purge.is_some() && tempreg::is_closed_error(&e), "{e}");
                    }
                    let closed = t % 2 == 0;
                    if closed {
                        file.close().await.expect("close in a batch");
                    } else {
                        drop(file);
                    }
                    Ok((path, closed))
                }));
            }
            if close {
                let registry = registry.clone();
                let closed_now = Arc::clone(&closed_now);
                handles.push(tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    registry.close();
                    closed_now.store(true, Ordering::SeqCst);
                    Err(io::Error::other("not a file"))
                }));
            }
            let report = match purge {
                Some(BatchPurge::Async(deadline)) => {
                    let mut options = PurgeOptions::new();
                    if let Some(d) = deadline {
                        options = options.deadline(d.duration());
                    }
                    Some(registry.purge_all_with(options).await)
                }
                Some(BatchPurge::Blocking) => {
                    let registry = registry.clone();
                    let purge = tokio::task::spawn_blocking(move || registry.purge_all_blocking());
                    Some(join(purge).await)
                }
                None => None,
            };
            let mut made = Vec::new();
            for handle in handles {
                made.push(join(handle).await);
            }
            if close {
                made.pop();
            }
            (made, report)
        });
        let closing = close || was_closed;
        let mut refused = 0;
        let made: Vec<(PathBuf, bool)> = made
            .into_iter()
            .filter_map(|file| match file {
                Ok(file) => Some(file),
                Err(e) => {
                    assert!(closing, "creation failed on an open registry: {e}");
                    assert!(tempreg::is_closed_error(&e), "not the closed error: {e}");
                    refused += 1;
                    None
                }
            })
            .collect();
        if close {
            // A creation refused by a `close()` it raced may have taken its
            // turn at the reserve all the same.
            for _ in 0..refused {
                self.took();
            }
        }
        assert!(
            !was_closed || made.is_empty(),
            "created on a closed registry"
        );
        if close {
            assert!(!self.registry.close(), "the batch closed it");
            self.closed = true;
        }
        let mut batch_timed = BTreeSet::new();
        if let Some(report) = report {
            // It took every entry live before the batch, and may have taken
            // some of the batch's: the counts may be more than those of the
            // entries before.
            let batch: BTreeSet<&Path> = made.iter().map(|(p, _)| p.as_path()).collect();
            let kind = match purge {
                Some(BatchPurge::Blocking) => PurgeFailureKind::Busy,
                _ => PurgeFailureKind::TimedOut,
            };
            let mut failed = failures(&report, kind);
            failed.retain(|path, _| {
                let ours = batch.contains(path.as_path());
                if ours {
                    batch_timed.insert(path.clone());
                }
                !ours
            });
            match purge {
                Some(BatchPurge::Blocking) => {
                    // A busy batch file stays tracked until its task closed
                    // or dropped it: nothing left in the background.
                    batch_timed.clear();
                    self.resolve_blocking(&live, failed, &report, false);
                }
                Some(BatchPurge::Async(None | Some(Deadline::Max))) => {
                    assert!(report.is_clean(), "{report}");
                    check_counts(&report, self.counts(live.iter().copied()), false);
                    for &i in &live {
                        self.cleaned(i);
                    }
                    let before: Vec<usize> = (0..self.models.len()).collect();
                    self.after_unlimited_purge(&before);
                }
                Some(BatchPurge::Async(_)) => self.resolve(&live, failed, &report, false),
                None => unreachable!(),
            }
        }
        let listed = self.listed();
        for (path, closed) in made {
            self.took();
            let tracked = listed.contains(&("AsyncTempFile", path.clone()));
            if tracked {
                // Its guard closed or dropped it while the blocking purge
                // held its entry; the purge found it busy and put it back.
                assert!(
                    matches!(purge, Some(BatchPurge::Blocking)),
                    "{} tracked after its guard was {}",
                    path.display(),
                    if closed { "closed" } else { "dropped" }
                );
                assert!(
                    self.semantics == Semantics::Documented,
                    "{}: its guard's {} while a blocking purge held the entry; the purge \
                     found the handle busy and put the entry back: tracked with no guard, \
                     the file still there",
                    path.display(),
                    if closed {
                        "close() returned Ok"
                    } else {
                        "drop cleaned nothing"
                    }
                );
            }
            // Whatever the purge took and ran out of time on finishes in
            // the background; what the guard closed is gone; what it
            // dropped, the reaper's (unless the purge had it).
            let state = if tracked {
                State::Orphan
            } else if batch_timed.contains(&path) {
                State::Finishing
            } else if closed {
                State::Gone
            } else {
                State::Reaping
            };
            self.push(path, Kind::AsyncTemp, state, None);
        }
    }

    /// Waits for what runs in the background: the reaper, clean-ups left
    /// by a purge out of time, writes in flight of guards no longer held.
    fn settle(&mut self) {
        for i in 0..self.models.len() {
            let m = &self.models[i];
            if !matches!(m.state, State::Finishing | State::Reaping) {
                continue;
            }
            let guard = self.guards[i].as_ref();
            let what = format!("{:?} {:?} {}", m.state, m.kind, m.path.display());
            let named = m.kind.named();
            let path = m.path.clone();
            let finishing = m.state == State::Finishing;
            wait_until(
                &what,
                || {
                    (!named || !exists(&path))
                        && (!finishing || guard.and_then(Guard::is_purged).unwrap_or(true))
                },
                drive,
            );
            self.models[i].state = if self.guards[i].is_some() {
                State::Purged
            } else {
                State::Gone
            };
        }
        for a in 0..self.aux.len() {
            let writer_live = self.aux[a]
                .writer
                .is_some_and(|g| self.models[g].state == State::Live);
            if !writer_live {
                self.land_aux(a);
            }
        }
    }

    /// (kind, path) of every entry the registry lists.
    fn listed(&self) -> Vec<(&'static str, PathBuf)> {
        let mut listed: Vec<(&'static str, PathBuf)> = self
            .registry
            .entries()
            .into_iter()
            .map(|e| {
                let kind = match format!("{:?}", e.kind()).as_str() {
                    "AsyncTempFile" => "AsyncTempFile",
                    "OpenFile" => "OpenFile",
                    "TempFile" => "TempFile",
                    "TempDir" => "TempDir",
                    other => panic!("unexpected entry kind {other}"),
                };
                (kind, e.path().to_path_buf())
            })
            .collect();
        listed.sort();
        listed
    }

    fn names_in(&self, states: &[State]) -> BTreeSet<OsString> {
        self.models
            .iter()
            .filter(|m| m.kind.named() && states.contains(&m.state))
            .map(|m| m.path.file_name().unwrap().to_os_string())
            .collect()
    }

    /// The registry, the file system and the model agree, allowing what
    /// runs in the background.
    fn check(&self) {
        let live = self.live();
        assert_eq!(
            self.registry.len(),
            live.len(),
            "len(); entries {:?}",
            self.listed()
        );
        assert_eq!(self.registry.is_closed(), self.closed);
        let mut want: Vec<(&'static str, PathBuf)> = live
            .iter()
            .map(|&i| {
                (
                    self.models[i].kind.entry_kind(),
                    self.models[i].path.clone(),
                )
            })
            .collect();
        want.sort();
        assert_eq!(self.listed(), want, "entries()");

        for (m, g) in self.models.iter().zip(&self.guards) {
            let Some(purged) = g.as_ref().and_then(Guard::is_purged) else {
                continue;
            };
            match m.state {
                State::Live => assert!(!purged, "live but purged: {}", m.path.display()),
                State::Purged => assert!(purged, "not purged: {}", m.path.display()),
                _ => {}
            }
        }

        // The session directory: the lock, live names, names still being
        // cleaned in the background, and reserve files.
        let session = listing(&self.session);
        let lock = OsString::from(tempreg::LOCK_NAME);
        assert!(session.contains(&lock), "lock file missing");
        let live_names = self.names_in(&[State::Live, State::Orphan]);
        for name in &live_names {
            assert!(
                session.contains(name),
                "live {name:?} missing from the session"
            );
        }
        let background = self.names_in(&[State::Finishing, State::Reaping]);
        let known: BTreeSet<OsString> = self.names_in(&[State::Purged, State::Gone]);
        let mut reserve_files = 0;
        for name in &session {
            if *name == lock || live_names.contains(name) || background.contains(name) {
                continue;
            }
            assert!(
                !known.contains(name),
                "{name:?} purged or gone, still in the session directory"
            );
            assert!(
                self.reserve_may_exist && self.is_reserve_file(name),
                "unexpected {name:?} in the session directory"
            );
            reserve_files += 1;
        }
        assert!(
            reserve_files <= self.reserve,
            "{reserve_files} reserve files, reserve size {}",
            self.reserve
        );
        for m in &self.models {
            match (m.state, m.kind) {
                (State::Live, Kind::AsyncTemp) => {
                    check_bytes(&m.path, &read_file(&m.path), &m.content, m.unflushed)
                }
                (State::Live, Kind::SyncFile) => {
                    check_bytes(&m.path, &read_file(&m.path), &m.content, 0)
                }
                (State::Live, Kind::SyncDir) => {
                    assert!(m.path.is_dir(), "live dir missing: {}", m.path.display())
                }
                _ => {}
            }
        }

        let mut aux_names = BTreeSet::new();
        for aux in &self.aux {
            assert_eq!(exists(&aux.path), aux.exists, "{}", aux.path.display());
            if aux.exists {
                aux_names.insert(aux.path.file_name().unwrap().to_os_string());
                check_bytes(
                    &aux.path,
                    &read_file(&aux.path),
                    &aux.content,
                    aux.unflushed,
                );
            }
        }
        assert_eq!(listing(&self.aux_dir), aux_names, "aux dir listing");
        let session_name = self.session.file_name().unwrap().to_os_string();
        assert_eq!(
            listing(&self.root),
            BTreeSet::from([session_name]),
            "root listing"
        );
    }

    /// After a purge without deadline: nothing but the lock and what is
    /// tracked in the session directory (and, with the documented
    /// semantics, what an earlier purge left to finish in the background).
    fn check_strict(&self, when: &str) {
        let mut want = self.names_in(&[State::Live, State::Orphan]);
        want.insert(OsString::from(tempreg::LOCK_NAME));
        let finishing = self.names_in(&[State::Finishing]);
        let got = listing(&self.session);
        let extra: BTreeSet<&OsString> = got.difference(&want).collect();
        assert!(
            want.is_subset(&got) && extra.iter().all(|n| finishing.contains(*n)),
            "session dir {when}: {got:?}, want {want:?}"
        );
        for m in &self.models {
            assert!(
                m.state != State::Reaping,
                "dropped, not reaped {when}: {}",
                m.path.display()
            );
        }
        for m in &self.models {
            if m.state == State::Purged && m.kind.named() {
                assert!(
                    !exists(&m.path),
                    "{} {when}, still there; {}",
                    m.path.display(),
                    if m.timed_out {
                        "a purge ran out of time on it, and purge_all() did not clean it"
                    } else {
                        "purged"
                    }
                );
            }
        }
    }

    /// A reserve file: `tmp` and six random characters, empty.
    fn is_reserve_file(&self, name: &OsStr) -> bool {
        let bytes = name.as_bytes();
        bytes.len() == 9
            && bytes.starts_with(b"tmp")
            && bytes[3..].iter().all(u8::is_ascii_alphanumeric)
            && fs::symlink_metadata(self.session.join(name))
                .is_ok_and(|m| m.is_file() && m.len() == 0)
    }

    /// Drops every guard on the runtime, purges, and ends the registry: the
    /// root is empty, every caller's file holds every byte written to it.
    fn finish(mut self) {
        let guards: Vec<(usize, Guard)> = self
            .guards
            .iter_mut()
            .enumerate()
            .filter_map(|(i, g)| g.take().map(|g| (i, g)))
            .collect();
        for (i, guard) in &guards {
            let m = &mut self.models[*i];
            m.state = match (m.state, guard) {
                (State::Live, Guard::Tracked(_)) => State::Reaping,
                (State::Live | State::Purged, _) => State::Gone,
                (state, _) => state,
            };
        }
        current().block_on(async move { drop(guards) });
        if self.semantics == Semantics::Documented {
            // What a purge out of time left running finishes by itself.
            self.settle();
        }
        let live = self.live();
        let registry = &self.registry;
        let report = current().block_on(registry.purge_all());
        assert!(report.is_clean(), "{report}");
        // With every guard dropped, only orphans are tracked.
        for &i in &live {
            assert_eq!(
                self.models[i].state,
                State::Orphan,
                "{}",
                self.models[i].path.display()
            );
        }
        self.purged_all(&live, &report);
        for a in 0..self.aux.len() {
            self.land_aux(a);
        }
        self.check();
        let World {
            registry,
            root,
            aux,
            timed_out_ever,
            ..
        } = self;
        drop(registry);
        if timed_out_ever {
            // A clean-up left by a deadline may hold the registry a moment
            // after its last visible step.
            wait_until(
                "the session directory removed",
                || listing(&root).is_empty(),
                drive,
            );
        }
        assert!(listing(&root).is_empty(), "root after the registry is gone");
        for a in &aux {
            if a.exists {
                assert_eq!(read_file(&a.path), a.content, "{}", a.path.display());
            }
        }
    }
}
