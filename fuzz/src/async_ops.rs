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
//!   file (not even those the reserve's trimmer was removing), no file of a
//!   dropped guard, and nothing of an earlier purge that ran out of time:
//!   the handle flushes it left running are done (their files gone, their
//!   guards purged), driven to their end by the purge that waits for them;
//! - a purge waiting for a flush an earlier one left running drives it
//!   itself (a flush's future is shared), so a batch's purge on the
//!   multi-thread runtime never waits on the current one, idle meanwhile
//!   (a hang is a failure); a flush holds no blocking thread while it
//!   waits, so many flushes with `sync_data` never starve the pool; and
//!   even with a zero deadline a flush may finish in time (the report says
//!   which);
//! - after a blocking purge: every live entry is cleaned but the handles it
//!   found busy, and what else it reports busy is a flush an earlier purge
//!   left running; after a purge with a deadline, what it reports timed
//!   out is its own or such a flush; a flush it does not report is done;
//!   what a purge counts beyond its own entries is at most what those
//!   flushes hold (the library counts none of them today);
//! - `close().await` of a guard whose entry a purge's flush has out flushes
//!   the handle itself or waits for that flush: when it returns, every byte
//!   written through the guard is in the file;
//! - a guard closed or dropped while a purge has its entry out is never
//!   left tracked (the purge, finding its handle busy, cleans it instead of
//!   putting it back, in a flush of its own that the next purge waits for);
//! - at the end, with every guard dropped and the registry gone: the root is
//!   empty, and every caller's file holds every byte written to it.
//!
//! One thing stays timing-dependent by design: a sync guard's entry that a
//! blocking worker of a purge was cleaning when the purge's deadline passed
//! is finished by that worker, whenever it gets there. Nothing else waits
//! for it (the library promises the next purge waits for handle flushes
//! only), so its name may still be there after a later `purge_all()`; the
//! model waits for it to go (and calls it a hang after ten seconds) only
//! on `Settle` and at the end.

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
const DEFAULT_RESERVE: usize = 8;

/// One input: the registry's reserve size, then the operations.
#[derive(Arbitrary, Debug)]
pub struct Input {
    pub reserve: ReserveSize,
    pub ops: Vec<Op>,
}

/// `RegistryBuilder::async_reserve`.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ReserveSize {
    /// Not set: 8.
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
    /// On the multi-thread runtime (a real clock), the current one idle
    /// meanwhile: tasks that each make an async temp file, write, and close
    /// or drop it, all at once; maybe a purge among them, maybe `close()` of
    /// the registry.
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

/// Runs one input given as raw bytes, exactly as the fuzz target does.
pub fn run_bytes(bytes: &[u8]) {
    if let Some(input) = common::decode::<Input>(bytes) {
        run(input);
    }
}

/// Runs one decoded input.
pub fn run(input: Input) {
    let base = common::fresh_base();
    let mut world = World::new(base.path(), input.reserve);
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

/// What a purge must report for the entries it cleaned: between how many
/// names it removed, between how many handles it closed, and between how
/// many entries it found with nothing left to do (`already_gone`). Ranges
/// where the report does not say which of several handles on one path it
/// timed out on, and for flushes of earlier purges that it may have taken
/// over before they started.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    removed_min: usize,
    removed_max: usize,
    closed_min: usize,
    closed_max: usize,
    gone_min: usize,
    gone_max: usize,
}

impl Counts {
    /// At least `lo`'s, at most `hi`'s, on top of these.
    fn add(&mut self, lo: Counts, hi: Counts) {
        self.removed_min += lo.removed_min;
        self.removed_max += hi.removed_max;
        self.closed_min += lo.closed_min;
        self.closed_max += hi.closed_max;
        self.gone_min += lo.gone_min;
        self.gone_max += hi.gone_max;
    }
}

/// The report's removed, closed and already gone are within `want`; or,
/// not `exact`, removed and closed at least that, plus async temp files of
/// a batch (each removed, some closed: a guard dropped or closed first had
/// closed its handle).
fn check_counts(report: &PurgeReport, want: Counts, exact: bool) {
    let (removed, closed, gone) = (report.removed(), report.closed(), report.already_gone());
    let ok = if exact {
        (want.removed_min..=want.removed_max).contains(&removed)
            && (want.closed_min..=want.closed_max).contains(&closed)
    } else {
        removed >= want.removed_min
            && closed >= want.closed_min
            && removed - want.removed_min >= closed.saturating_sub(want.closed_max)
    };
    assert!(
        ok && (want.gone_min..=want.gone_max).contains(&gone),
        "removed {removed}, closed {closed}, already gone {gone}; want {want:?}{}: {report}",
        if exact {
            ""
        } else {
            " (removed, closed: or more)"
        }
    );
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
    /// An async handle flushed and closed in a task of its own, a flush the
    /// registry counts among its running ones (`may_flush`): left running
    /// by a purge out of time, or cleaning an entry whose guard ended while
    /// a blocking purge had it out. Not tracked; its name may still be
    /// there, and its guard purged or not, until the flush is done. The
    /// next `purge_all()` waits for it, or takes it over if it has not
    /// started.
    Flushing,
    /// A sync guard's entry that a blocking worker was cleaning when its
    /// purge's deadline passed: not tracked, the worker finishes it
    /// whenever it gets there; nothing waits for it.
    Finishing,
    /// An async guard dropped on the runtime: not tracked; the reaper
    /// removes its name.
    Reaping,
    /// Closed, or dropped and cleaned there and then.
    Gone,
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
    /// The registry may still count a flush of it as running (it was, or
    /// may have been, `Flushing`): a blocking purge may report it busy, a
    /// purge with a deadline timed out. Cleared by a purge that does not
    /// (the flush was done when it looked), and by `purge_all()` without a
    /// deadline (it waits for every one).
    may_flush: bool,
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
    /// Something was left to finish in the background at least once (a
    /// purge out of time, a guard ended during a blocking purge): it may
    /// hold the registry a little longer than its last visible step.
    background_ever: bool,
}

impl World {
    fn new(base: &Path, reserve: ReserveSize) -> World {
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
            background_ever: false,
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
            may_flush: false,
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
            Op::CloseRegistry => common::close_registry(&self.registry, &mut self.closed),
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
            State::Flushing | State::Finishing if purged_before => Some(false),
            State::Flushing | State::Finishing => None,
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
            // A flush has its entry out: `close()` flushed the handle itself
            // (the flush had not taken it yet) or waited for that flush.
            // Either way every byte written through the guard is in the
            // file now; the flush removes the name (if any) when it runs.
            State::Flushing => self.landed(i),
            // A blocking worker is cleaning it: `Ok`, the worker finishes it.
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
            state @ (State::Flushing | State::Finishing) => state,
            state => unreachable!("a held guard is never {state:?}"),
        };
    }

    /// What a purge that cleaned `done` must report.
    fn counts(&self, done: impl IntoIterator<Item = usize>) -> Counts {
        let mut counts = Counts::default();
        for i in done {
            let m = &self.models[i];
            counts.removed_min += usize::from(m.kind.named());
            counts.closed_min += usize::from(m.kind.handle());
        }
        counts.removed_max = counts.removed_min;
        counts.closed_max = counts.closed_min;
        counts
    }

    /// The most a purge may count for the flushes earlier purges left
    /// running, were it to clean them itself (the library drives them to
    /// their end without counting them today; the bound allows both; each a
    /// `may_flush` model): a name removed; a handle closed if its guard
    /// still has it open, else, for a caller's file (no name), nothing left
    /// to do. A flush that took its guard's handle (purged) has started.
    fn adoptable(&self) -> Counts {
        let mut counts = Counts::default();
        for (m, guard) in self.models.iter().zip(&self.guards) {
            if !m.may_flush {
                continue;
            }
            let open = match guard {
                Some(guard) if guard.is_purged() == Some(true) => continue,
                Some(_) => true,
                None => false,
            };
            counts.removed_max += usize::from(m.kind.named());
            counts.closed_max += usize::from(open);
            counts.gone_max += usize::from(!m.kind.named() && !open);
        }
        counts
    }

    /// The tracked models.
    fn live(&self) -> Vec<usize> {
        (0..self.models.len())
            .filter(|&i| self.models[i].state == State::Live)
            .collect()
    }

    /// `i` is left to a flush of its own (a task).
    fn flushing(&mut self, i: usize) {
        let m = &mut self.models[i];
        m.state = State::Flushing;
        m.may_flush = true;
        self.background_ever = true;
    }

    /// A purge looked at the running flushes (a blocking purge reports them
    /// busy; one with a deadline that ran out waiting for them, timed out)
    /// and `reported` names none at these paths: their flushes are done
    /// (or the purge took them over, not started, and did them itself),
    /// files removed, guards purged. What it may name stays as it was.
    fn flushes_looked_at(&mut self, reported: &BTreeSet<PathBuf>) {
        for i in 0..self.models.len() {
            let m = &self.models[i];
            if !m.may_flush || reported.contains(&m.path) {
                continue;
            }
            self.models[i].may_flush = false;
            if self.models[i].state == State::Flushing {
                self.flush_done(i);
            }
        }
    }

    /// The flush of `i` (state `Flushing`) is done.
    fn flush_done(&mut self, i: usize) {
        if self.guards[i].is_some() {
            // Its guard's write in flight, the flush awaited.
            self.cleaned(i);
        } else {
            // Its guard ended first: closed, it flushed its writes (see
            // `close`); dropped, it let go of its file with a write maybe
            // still in flight, which nothing awaits (`Settle` and the end
            // wait for it to land).
            self.models[i].state = State::Gone;
        }
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
        let adoptable = self.adoptable();
        let mut options = PurgeOptions::new().sync_data(sync_data);
        if let Some(d) = deadline {
            options = options.deadline(d.duration());
        }
        let registry = &self.registry;
        let report = current().block_on(registry.purge_all_with(options));
        if matches!(deadline, None | Some(Deadline::Max)) {
            assert!(report.is_clean(), "{report}");
            self.purged_all(&live, adoptable, &report);
            return;
        }
        let timed = failures(&report, PurgeFailureKind::TimedOut);
        self.resolve(&live, adoptable, timed, &report, true);
    }

    /// For each path: how many models there the registry may still count a
    /// running flush of.
    fn flushes_by_path(&self) -> BTreeMap<PathBuf, usize> {
        let mut flushes: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for m in self.models.iter().filter(|m| m.may_flush) {
            *flushes.entry(m.path.clone()).or_default() += 1;
        }
        flushes
    }

    /// After a purge with a deadline: `timed` (paths of timed-out entries,
    /// counted) names entries of `live` and flushes an earlier purge left
    /// running, which this one waited for until its deadline (then it
    /// reports each still running). Each entry of `live` it does not name
    /// was cleaned (a handle's flush may have finished in time even with a
    /// zero deadline); a timed-out blocking entry was put back (the
    /// registry lists it) or is being cleaned by a worker; a timed-out
    /// handle is being flushed and closed in a task of its own. A flush left running that
    /// it does not name is done. With `exact`, the report counts those
    /// entries, and up to `adoptable` for flushes it took over, only; else
    /// it may count more async temp files.
    fn resolve(
        &mut self,
        live: &[usize],
        adoptable: Counts,
        timed: BTreeMap<PathBuf, usize>,
        report: &PurgeReport,
        exact: bool,
    ) {
        let flushes = self.flushes_by_path();
        for (path, &t) in &timed {
            let l = live
                .iter()
                .filter(|&&i| self.models[i].path == *path)
                .count();
            let f = flushes.get(path).copied().unwrap_or(0);
            assert!(
                t <= l + f,
                "{t} timed out at {}, {l} live entries and {f} flushes left running there: \
                 {report}",
                path.display()
            );
        }
        if !timed.is_empty() {
            // Its workers and tasks, even with nothing left to do, may hold
            // the registry a moment longer.
            self.background_ever = true;
        }
        let reported: BTreeSet<PathBuf> = timed.keys().cloned().collect();
        self.flushes_looked_at(&reported);
        let listed = self.listed();
        let mut groups: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        for &i in live {
            groups
                .entry(self.models[i].path.clone())
                .or_default()
                .push(i);
        }
        let mut want = Counts::default();
        want.add(Counts::default(), adoptable);
        for (path, group) in groups {
            let t = timed.get(&path).copied().unwrap_or(0);
            let f = flushes.get(&path).copied().unwrap_or(0);
            // Several handles on one file (a caller's, all with guards), or
            // an earlier flush of that file left running: which of them
            // timed out is not said, but how many. Any other path is one
            // entry's.
            let (timed_min, timed_max) = (t.saturating_sub(f), t.min(group.len()));
            let lo = self.counts(std::iter::repeat_n(group[0], group.len() - timed_max));
            let hi = self.counts(std::iter::repeat_n(group[0], group.len() - timed_min));
            want.add(lo, hi);
            let kind = self.models[group[0]].kind;
            let restored = listed.contains(&(kind.entry_kind(), path.clone()));
            for &i in &group {
                match (timed_max, kind.tracked()) {
                    (0, _) => self.cleaned(i),
                    // A handle's clean-up goes on, in a task of its own.
                    (_, true) => self.flushing(i),
                    // A blocking entry no worker started is put back.
                    (_, false) if restored => {}
                    // One a worker started, the worker finishes.
                    (_, false) => {
                        self.models[i].state = State::Finishing;
                        self.background_ever = true;
                    }
                }
                let m = &mut self.models[i];
                m.timed_out |= matches!(m.state, State::Flushing | State::Finishing);
            }
        }
        check_counts(report, want, exact);
    }

    /// A purge without deadline cleaned every entry `live` had (and those
    /// of flushes not started yet it took over): each is purged, the reaper
    /// is done, every flush an earlier purge left running is done, and the
    /// reserve is gone, with the files its trimmer was removing (no waiting:
    /// the purge waited for them).
    fn purged_all(&mut self, live: &[usize], adoptable: Counts, report: &PurgeReport) {
        let mut want = self.counts(live.iter().copied());
        want.add(Counts::default(), adoptable);
        check_counts(report, want, true);
        let before: Vec<usize> = (0..self.models.len()).collect();
        for &i in live {
            self.cleaned(i);
        }
        self.after_unlimited_purge(&before);
        self.reserve_may_exist = false;
        self.check_strict("after purge_all()");
    }

    /// A purge without deadline waited for the reaper and for every flush
    /// left running: the models in `before` they had are done.
    fn after_unlimited_purge(&mut self, before: &[usize]) {
        for &i in before {
            match self.models[i].state {
                State::Reaping => self.models[i].state = State::Gone,
                State::Flushing => self.flush_done(i),
                _ => {}
            }
            self.models[i].may_flush = false;
        }
    }

    fn purge_blocking(&mut self, in_runtime: bool) {
        let live = self.live();
        let adoptable = self.adoptable();
        let registry = &self.registry;
        let report = if in_runtime {
            current().block_on(async { registry.purge_all_blocking() })
        } else {
            registry.purge_all_blocking()
        };
        let busy = failures(&report, PurgeFailureKind::Busy);
        self.resolve_blocking(&live, adoptable, busy, &report, true);
    }

    /// After a blocking purge: each entry of `live` was cleaned, except
    /// handles it found busy (a write in flight, or in use on another
    /// thread), which stay tracked and open: `is_purged()` tells them apart.
    /// A flush an earlier purge left running it reports busy (it must not
    /// wait on the runtime). (The model also accepts a purge that took such
    /// a flush over and, finding the handle busy, put the entry back,
    /// tracked again: the library did that for a while, and does not
    /// today.) One it does not report is done.
    /// `busy`: the paths reported busy, counted. With `exact`, the report
    /// counts those entries, and up to `adoptable` for flushes it took
    /// over, only.
    fn resolve_blocking(
        &mut self,
        live: &[usize],
        adoptable: Counts,
        mut busy: BTreeMap<PathBuf, usize>,
        report: &PurgeReport,
        exact: bool,
    ) {
        let reported: BTreeSet<PathBuf> = busy.keys().cloned().collect();
        let mut done = Vec::new();
        let mut kept = Vec::new();
        for &i in live {
            let guard = self.guards[i].as_ref().expect("a live entry's guard");
            if guard.is_purged().unwrap_or(true) {
                done.push(i);
            } else {
                assert!(self.models[i].kind.tracked(), "{report}");
                kept.push(i);
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
        let flushes = self.flushes_by_path();
        for (path, n) in &busy {
            let f = flushes.get(path).copied().unwrap_or(0);
            assert!(
                *n <= f,
                "{n} more busy at {} than live entries not purged, and {f} flushes left \
                 running there: {report}",
                path.display()
            );
        }
        let mut want = self.counts(done.iter().copied());
        want.add(Counts::default(), adoptable);
        check_counts(report, want, exact);
        for i in done {
            self.cleaned(i);
        }
        self.taken_over_and_put_back(&kept, &reported, report);
        self.flushes_looked_at(&reported);
    }

    /// After a blocking purge, which put back `kept` (entries of `live` it
    /// found busy): an entry the registry lists beyond those is a flush not
    /// started yet that the purge took over and found busy. Only a handle
    /// its guard still holds, open, with a write in flight, can be busy,
    /// and on a caller's file only one handle has a write in flight: that
    /// model is the one, tracked again.
    fn taken_over_and_put_back(
        &mut self,
        kept: &[usize],
        reported: &BTreeSet<PathBuf>,
        report: &PurgeReport,
    ) {
        let mut extra: BTreeMap<PathBuf, usize> = BTreeMap::new();
        // (A batch's own files, tracked after their guards ended, are for
        // `concurrent` to call out.)
        for (_, path) in self.listed() {
            if self.models.iter().any(|m| m.path == path) {
                *extra.entry(path).or_default() += 1;
            }
        }
        for &i in kept {
            let path = &self.models[i].path;
            let n = extra
                .get_mut(path)
                .unwrap_or_else(|| panic!("{} busy, not tracked: {report}", path.display()));
            *n -= 1;
        }
        for (path, n) in extra.into_iter().filter(|&(_, n)| n > 0) {
            let candidates: Vec<usize> = (0..self.models.len())
                .filter(|&i| {
                    let m = &self.models[i];
                    m.path == path
                        && m.state == State::Flushing
                        && m.may_flush
                        && self.guards[i].as_ref().and_then(Guard::is_purged) == Some(false)
                        && self.write_in_flight(i)
                })
                .collect();
            assert!(
                n == 1 && candidates.len() == 1 && reported.contains(&path),
                "{n} tracked at {} beyond the live entries; a flush not started taken over \
                 and found busy could be {candidates:?}: {report}",
                path.display()
            );
            let m = &mut self.models[candidates[0]];
            m.state = State::Live;
            m.may_flush = false;
        }
    }

    /// A write through `i`'s guard may still be in flight.
    fn write_in_flight(&self, i: usize) -> bool {
        match self.models[i].kind {
            Kind::Open(a) => self.aux[a].writer == Some(i) && self.aux[a].unflushed > 0,
            _ => self.models[i].unflushed > 0,
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
        let adoptable = self.adoptable();
        let registry = self.registry.clone();
        let was_closed = self.closed;
        // On the multi-thread runtime, while the current one (where earlier
        // purges left their flushes) is not driven: the batch's purge drives
        // those flushes itself, so it never waits on the idle runtime (a
        // hang past `-timeout` would be a bug).
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
        // Batch files the purge reported: timed out (its flush goes on, in
        // a task of its own), or busy (a blocking purge found a write in
        // flight and put the entry back; if its guard had ended meanwhile,
        // it cleans it in a flush of its own instead).
        let mut batch_failed = BTreeSet::new();
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
                    batch_failed.insert(path.clone());
                }
                !ours
            });
            match purge {
                Some(BatchPurge::Blocking) => {
                    self.resolve_blocking(&live, adoptable, failed, &report, false)
                }
                Some(BatchPurge::Async(None | Some(Deadline::Max))) => {
                    assert!(report.is_clean(), "{report}");
                    let mut want = self.counts(live.iter().copied());
                    want.add(Counts::default(), adoptable);
                    check_counts(&report, want, false);
                    for &i in &live {
                        self.cleaned(i);
                    }
                    let before: Vec<usize> = (0..self.models.len()).collect();
                    self.after_unlimited_purge(&before);
                }
                Some(BatchPurge::Async(_)) => {
                    self.resolve(&live, adoptable, failed, &report, false)
                }
                None => unreachable!(),
            }
        }
        let listed = self.listed();
        for (path, closed) in made {
            self.took();
            // Every guard of the batch is closed or dropped: whatever a
            // purge had out meanwhile, it must not have put back.
            assert!(
                !listed.contains(&("AsyncTempFile", path.clone())),
                "{}: tracked after its guard {}{}",
                path.display(),
                if closed {
                    "was closed (close() returned Ok)"
                } else {
                    "was dropped"
                },
                if batch_failed.contains(&path) {
                    match purge {
                        Some(BatchPurge::Blocking) => {
                            "; the blocking purge found it busy and put it back"
                        }
                        _ => "; the purge ran out of time on it",
                    }
                } else {
                    ""
                }
            );
            // What the purge reported is cleaned in the background: by the
            // flush it left running, or by the guard (closed: there and
            // then; dropped: the reaper) if it came back before the guard
            // ended, or by a flush of its own if after. What the guard
            // closed is gone; what it dropped, the reaper's (unless the
            // purge had it).
            let failed = batch_failed.contains(&path);
            let i = self.push(path, Kind::AsyncTemp, State::Gone, None);
            match (failed, closed) {
                (true, true) => self.flushing(i),
                (true, false) => {
                    self.flushing(i);
                    self.models[i].state = State::Reaping;
                }
                (false, true) => {}
                (false, false) => self.models[i].state = State::Reaping,
            }
        }
    }

    /// Waits for what runs in the background: the reaper, flushes and
    /// workers left running by a purge out of time, writes in flight of
    /// guards no longer held. (A flush whose file is gone and guard purged
    /// may still be counted as running a moment longer: `may_flush` stays.)
    fn settle(&mut self) {
        for i in 0..self.models.len() {
            let m = &self.models[i];
            if !matches!(m.state, State::Flushing | State::Finishing | State::Reaping) {
                continue;
            }
            let guard = self.guards[i].as_ref();
            let what = format!("{:?} {:?} {}", m.state, m.kind, m.path.display());
            let named = m.kind.named();
            let path = m.path.clone();
            let finishing = m.state != State::Reaping;
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
        let live_names = self.names_in(&[State::Live]);
        for name in &live_names {
            assert!(
                session.contains(name),
                "live {name:?} missing from the session"
            );
        }
        let background = self.names_in(&[State::Flushing, State::Finishing, State::Reaping]);
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
    /// tracked in the session directory (and the names of sync guards a
    /// worker of a purge out of time is still cleaning: see the module
    /// docs).
    fn check_strict(&self, when: &str) {
        let mut want = self.names_in(&[State::Live]);
        want.insert(OsString::from(tempreg::LOCK_NAME));
        let finishing = self.names_in(&[State::Finishing]);
        let got = listing(&self.session);
        let extra: BTreeSet<&OsString> = got.difference(&want).collect();
        assert!(
            want.is_subset(&got) && extra.iter().all(|n| finishing.contains(*n)),
            "session dir {when}: {got:?}, want {want:?}; extra: {}",
            self.describe(extra.iter().copied())
        );
        for m in &self.models {
            assert!(
                !matches!(m.state, State::Reaping | State::Flushing) && !m.may_flush,
                "{:?} {when}: {}",
                m.state,
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
                        "a purge ran out of time on it, and purge_all() did not wait for \
                         the flush it left running"
                    } else {
                        "purged"
                    }
                );
            }
        }
    }

    /// What the model knows of these names in the session directory.
    fn describe<'a>(&self, names: impl IntoIterator<Item = &'a OsString>) -> String {
        let mut out = Vec::new();
        for name in names {
            let path = self.session.join(name);
            let known: Vec<String> = self
                .models
                .iter()
                .filter(|m| m.path == path)
                .map(|m| {
                    format!(
                        "{:?} {:?}{}{}",
                        m.kind,
                        m.state,
                        if m.timed_out { " timed out" } else { "" },
                        if m.may_flush { " may flush" } else { "" }
                    )
                })
                .collect();
            let size = fs::symlink_metadata(&path).map(|m| m.len()).ok();
            out.push(format!(
                "{name:?} ({size:?} bytes): {}",
                if known.is_empty() {
                    "no model".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        out.join("; ")
    }

    /// A reserve file's name: `tmp` and six random characters.
    fn is_reserve_name(&self, name: &OsStr) -> bool {
        let bytes = name.as_bytes();
        bytes.len() == 9
            && bytes.starts_with(b"tmp")
            && bytes[3..].iter().all(u8::is_ascii_alphanumeric)
    }

    /// A reserve file: `tmp` and six random characters, empty.
    fn is_reserve_file(&self, name: &OsStr) -> bool {
        self.is_reserve_name(name)
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
        // With every guard gone, nothing is tracked.
        let live = self.live();
        assert!(live.is_empty());
        assert_eq!(
            self.registry.len(),
            0,
            "tracked with every guard gone: {:?}",
            self.listed()
        );
        let adoptable = self.adoptable();
        let registry = &self.registry;
        let report = current().block_on(registry.purge_all());
        assert!(report.is_clean(), "{report}");
        self.purged_all(&live, adoptable, &report);
        for a in 0..self.aux.len() {
            self.land_aux(a);
        }
        self.check();
        let World {
            registry,
            root,
            aux,
            background_ever,
            ..
        } = self;
        drop(registry);
        if background_ever {
            // A clean-up left in the background may hold the registry a
            // moment after its last visible step (and a worker past its
            // purge's deadline may still be cleaning).
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
