//! Each tempreg operation beside the baseline it must keep up with.
//!
//! Run with `cargo bench --bench registry`. Every file lives on tmpfs
//! (`/dev/shm`), so the figures are about our code and system calls, not a
//! disk. Two kinds of output:
//!
//! 1. **Criterion groups**, one per pair below (ids `group/function[/n]`).
//! 2. **Interleaved ratios**, printed after criterion: candidate / baseline,
//!    measured in the same run by timing the routines in rotating order,
//!    round after round, and taking each one's median, so that drift in the
//!    machine's speed during the run cancels out. Each ratio is printed as
//!    `ratio <name> = <x> (target <= <t>); ...` (the form `benches/compare.sh`
//!    reads), followed by the extra figures below.
//!
//! # Pairs, sizes and targets
//!
//! - **`temp_file`** (criterion functions `tempreg`, `NamedTempFile`,
//!   `floor`; 31 rounds of 2,000 operations each, interleaved):
//!   `registry.temp_file()` + 4 KiB write + drop, against two baselines:
//!   - `tempfile::NamedTempFile::new_in` + 4 KiB write + drop:
//!     ratio `temp_file/NamedTempFile`, target `<= 1.05`;
//!   - the **floor**: by hand, with no registry, the system calls that
//!     tempreg's identity check needs, on a directory opened once:
//!     `openat(dirfd, name, O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
//!     0600)`, `statx(fd, "", AT_EMPTY_PATH, mask)`, the 4 KiB write,
//!     `statx(dirfd, name, AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT, mask)` and a
//!     comparison of device, inode, type and birth time, `unlinkat`, close
//!     (mask: `STATX_TYPE|MODE|UID|INO|SIZE|BTIME|MNT_ID`, as tempreg asks on
//!     Linux). Names are a prefix and a counter (cheaper than random names,
//!     which makes the floor strict). Ratio `temp_file/floor`, target
//!     `<= 1.05`: what the crate's own code costs above the system calls it
//!     cannot do without.
//!
//!   Two more routines are timed in the same rounds for the line
//!   `temp_file parts: ...`: the **unchecked floor** (the floor without its
//!   two `statx`: what `tempfile`'s system calls cost, on a directory fd)
//!   and the **called floor** (the floor's calls made through three
//!   functions that return to the caller, as a library's calls do: create
//!   and identify; write; check, unlink and close). The line gives, in
//!   percent: what the identity check costs (floor over unchecked floor);
//!   what those returns cost (called floor over floor: on some machines the
//!   first return after a system call to a caller from before it is slow,
//!   as the call clobbered the return predictor: about 300 ns after a
//!   `statx` on the machines this crate is built on); tempreg over the
//!   called floor (what our own code costs above the floor any library
//!   has); tempreg over the floor; and what `tempfile`'s own code costs
//!   above the unchecked floor.
//! - **`temp_file_async`** (15 rounds): `registry.temp_file_async()` + 4 KiB
//!   `write_all` + drop, against `async_tempfile::TempFile::new_in` the same
//!   way, in batches of 1,000 on a two-worker tokio runtime (the tempreg
//!   batch ends with `purge_all().await`, so that its background unlinks are
//!   counted). Ratio `temp_file_async/async_tempfile`, target `<= 0.50`.
//! - **`purge_all`** at 10,000, 100,000 and 1,000,000 entries (criterion
//!   ids `purge_all/tempreg/<n>` and `purge_all/remove_file_loop/<n>`; 15, 5
//!   and 3 rounds): `purge_all` of `n` tracked temp paths (empty files from
//!   `temp_file().into_temp_path()`), against a `std::fs::remove_file` loop
//!   over `n` plain files; creating the files is not timed. Ratios
//!   `purge_all/remove_file_loop/10000`, `purge_all/remove_file_loop` (at
//!   100,000: the name this ratio had when it was measured at that size
//!   only, kept so that older builds compare with it) and
//!   `purge_all/remove_file_loop/1000000`, target `<= 1.10` at each size.
//!   For each size a line `purge <n> entries: ...` gives the cost per entry
//!   (ns/entry) of tempreg and of the baseline, and a last line
//!   `purge per-entry flatness: max/min = <x>` compares tempreg's cost per
//!   entry over the three sizes, target `<= 1.20` (a purge should cost the
//!   same per entry at any size).
//!
//! # Resident memory (ratios section only, filter name `resident_memory`)
//!
//! In a fresh child process (the bench binary itself, re-run), so that heap
//! left over by the benchmarks before it does not hide growth: resident
//! memory (`/proc/self/statm`, second field × page size) before creating
//! 1,000,000 tracked temp paths (`registry.temp_file()?.into_temp_path()`,
//! held in a `Vec`), with them, and after `purge_all` and dropping the `Vec`.
//! Printed as `resident memory per live entry: <b> bytes (<n> entries)` (the
//! guards' own size counts: that is what a user holds) and `resident after
//! purge and drop: +<m> MiB over the start`.
//!
//! # Selecting and skipping
//!
//! A filter argument selects groups for criterion (a regex on the ids) and
//! for the ratios (a group whose name contains it): `cargo bench --bench
//! registry -- purge` runs only the purge pair. Without `--bench` (`cargo test
//! --benches`: criterion's smoke mode runs each routine once), with `--test`,
//! `--list` or `--profile-time`, the ratios and the memory figures are
//! skipped, and without `--bench` or with `--test` the 1,000,000-entry purge
//! is left out. `--ignored` makes criterion measure nothing, leaving only the
//! ratios (what `benches/compare.sh` uses).

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use tempreg::ResourceRegistry;
use tokio::io::AsyncWriteExt;

const PAYLOAD: [u8; 4096] = [0x5a; 4096];

/// Async operations per timed batch (see [`async_batch_tempreg`]).
const ASYNC_BATCH: usize = 1_000;

/// Temp paths per purge, and the interleaved rounds at each size.
const PURGE_SIZES: [(usize, usize); 3] = [(10_000, 15), (100_000, 5), (1_000_000, 3)];

/// The purge size whose ratio keeps its old name, without the size.
const PURGE_REFERENCE: usize = 100_000;

/// Tracked temp paths held for the resident memory figure.
const MEMORY_N: usize = 1_000_000;

/// Set in the environment of the child process that measures memory.
const MEMORY_CHILD_ENV: &str = "TEMPREG_BENCH_MEMORY_CHILD";

fn shm_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tempreg-bench-")
        .tempdir_in("/dev/shm")
        .expect("a writable /dev/shm (tmpfs) is needed for these benchmarks")
}

fn registry_in(root: &Path) -> ResourceRegistry {
    ResourceRegistry::builder()
        .root(root)
        .build()
        .expect("registry")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `10000` as `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// a. sync temp file

fn temp_file_tempreg(registry: &ResourceRegistry) {
    let mut file = registry.temp_file().expect("temp_file");
    file.write_all(&PAYLOAD).expect("write");
    drop(black_box(file));
}

fn temp_file_baseline(root: &Path) {
    let mut file = tempfile::NamedTempFile::new_in(root).expect("NamedTempFile");
    file.write_all(&PAYLOAD).expect("write");
    drop(black_box(file));
}

/// The floor: the system calls of a temp file whose identity is checked
/// before its removal, by hand, with nothing else.
#[cfg(target_os = "linux")]
mod floor {
    use std::ffi::CStr;
    use std::hint::black_box;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::DirBuilderExt;
    use std::path::Path;

    use rustix::fs::{AtFlags, Mode, OFlags, Statx, StatxFlags};

    use super::PAYLOAD;

    const OPEN: OFlags = OFlags::RDWR
        .union(OFlags::CREATE)
        .union(OFlags::EXCL)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    /// What tempreg asks `statx` for on Linux.
    const MASK: StatxFlags = StatxFlags::TYPE
        .union(StatxFlags::MODE)
        .union(StatxFlags::UID)
        .union(StatxFlags::INO)
        .union(StatxFlags::SIZE)
        .union(StatxFlags::BTIME)
        .union(StatxFlags::MNT_ID);

    const PREFIX: &[u8; 4] = b".tmp";
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// A session-like directory (mode 0700), open once, and a name counter.
    pub struct Floor {
        dir: OwnedFd,
        next: u64,
    }

    impl Floor {
        pub fn new(root: &Path) -> Floor {
            let path = root.join("floor");
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .expect("mkdir floor");
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let dir = rustix::fs::openat(rustix::fs::CWD, &path, flags, Mode::empty())
                .expect("open floor");
            Floor { dir, next: 0 }
        }

        /// `.tmp` and six base-62 digits of a counter, NUL-terminated: the
        /// shape of a `tempfile` name, without its random number generator.
        fn name(&mut self) -> [u8; 11] {
            let mut buf = [0u8; 11];
            buf[..4].copy_from_slice(PREFIX);
            let mut n = self.next;
            self.next += 1;
            for slot in buf[4..10].iter_mut().rev() {
                *slot = DIGITS[(n % 62) as usize];
                n /= 62;
            }
            buf
        }

        /// The floor as a library's calls make it: the system calls of each
        /// call a user makes (create, write, drop) in one function of their
        /// own, which returns to the caller afterwards. Only those returns
        /// differ from the floor.
        pub fn temp_file_called(&mut self) {
            let buf = self.name();
            let name = CStr::from_bytes_with_nul(&buf).expect("name");
            let (fd, made) = called::create(&self.dir, name);
            called::write(&fd);
            called::remove(&self.dir, name, &made, fd);
        }

        /// Create, write 4 KiB, unlink, close: the floor without the two
        /// `statx` of the identity check (what a temp file costs the system
        /// when nothing checks what it removes, as `tempfile`'s does).
        pub fn temp_file_unchecked(&mut self) {
            let buf = self.name();
            let name = CStr::from_bytes_with_nul(&buf).expect("name");
            let fd = open(&self.dir, name);
            write(&fd);
            unlink(&self.dir, name);
            drop(black_box(fd));
        }

        /// Create, identify, write 4 KiB, check the name, unlink, close.
        pub fn temp_file(&mut self) {
            let buf = self.name();
            let name = CStr::from_bytes_with_nul(&buf).expect("name");
            let (fd, made) = create(&self.dir, name);
            write(&fd);
            remove(&self.dir, name, &made, fd);
        }
    }

    // The floor's steps, inlined into whatever calls them, so that the
    // floors above make their system calls in one body.

    #[inline(always)]
    fn open(dir: &OwnedFd, name: &CStr) -> OwnedFd {
        rustix::fs::openat(dir, name, OPEN, Mode::from_raw_mode(0o600)).expect("openat")
    }

    /// `temp_file()`: create and identify.
    #[inline(always)]
    fn create(dir: &OwnedFd, name: &CStr) -> (OwnedFd, Statx) {
        let fd = open(dir, name);
        let made = rustix::fs::statx(&fd, c"", AtFlags::EMPTY_PATH, MASK).expect("statx fd");
        (fd, made)
    }

    /// `write_all` of the payload.
    #[inline(always)]
    fn write(fd: &OwnedFd) {
        let mut rest: &[u8] = &PAYLOAD;
        while !rest.is_empty() {
            let n = rustix::io::write(fd, rest).expect("write");
            rest = &rest[n..];
        }
    }

    #[inline(always)]
    fn unlink(dir: &OwnedFd, name: &CStr) {
        rustix::fs::unlinkat(dir, name, AtFlags::empty()).expect("unlinkat");
    }

    /// The drop: check the name, unlink, close.
    #[inline(always)]
    fn remove(dir: &OwnedFd, name: &CStr, made: &Statx, fd: OwnedFd) {
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
        let found = rustix::fs::statx(dir, name, flags, MASK).expect("statx name");
        assert!(same_file(made, &found), "the name holds another file");
        unlink(dir, name);
        drop(black_box(fd));
    }

    /// The floor's steps, grouped as a library's calls make them, each in a
    /// function of its own, never inlined.
    mod called {
        use std::ffi::CStr;
        use std::os::fd::OwnedFd;

        use rustix::fs::Statx;

        #[inline(never)]
        pub fn create(dir: &OwnedFd, name: &CStr) -> (OwnedFd, Statx) {
            super::create(dir, name)
        }

        #[inline(never)]
        pub fn write(fd: &OwnedFd) {
            super::write(fd)
        }

        #[inline(never)]
        pub fn remove(dir: &OwnedFd, name: &CStr, made: &Statx, fd: OwnedFd) {
            super::remove(dir, name, made, fd)
        }
    }

    /// Device, inode, type and birth time, as tempreg's identity compares.
    fn same_file(a: &Statx, b: &Statx) -> bool {
        const S_IFMT: u16 = 0o170_000;
        a.stx_dev_major == b.stx_dev_major
            && a.stx_dev_minor == b.stx_dev_minor
            && a.stx_ino == b.stx_ino
            && a.stx_mode & S_IFMT == b.stx_mode & S_IFMT
            && a.stx_btime.tv_sec == b.stx_btime.tv_sec
            && a.stx_btime.tv_nsec == b.stx_btime.tv_nsec
    }
}

/// `statx` is Linux's; so is `/dev/shm`.
#[cfg(not(target_os = "linux"))]
mod floor {
    pub struct Floor;

    impl Floor {
        pub fn new(_root: &std::path::Path) -> Floor {
            panic!("the floor baseline needs Linux (statx)")
        }

        pub fn temp_file(&mut self) {}

        pub fn temp_file_unchecked(&mut self) {}

        pub fn temp_file_called(&mut self) {}
    }
}

use floor::Floor;

// ---------------------------------------------------------------------------
// b. async temp file
//
// Our async temp file unlinks itself on tokio's blocking pool after its guard
// is dropped, so timing single iterations would leave that work out. Each
// timed unit is therefore a batch of ASYNC_BATCH create + write + drop, then
// `purge_all().await`, which first waits for every background clean-up of a
// dropped guard to finish: the batch's time includes all its unlinks. The
// baseline unlinks synchronously in its Drop, so its batch needs no wait.
// Both batches run as a task spawned on the runtime, as a server's would.

async fn async_batch_tempreg(registry: ResourceRegistry) {
    for _ in 0..ASYNC_BATCH {
        let mut file = registry.temp_file_async().await.expect("temp_file_async");
        file.write_all(&PAYLOAD).await.expect("write_all");
        drop(black_box(file));
    }
    let report = registry.purge_all().await;
    assert!(report.is_clean(), "{report}");
}

async fn async_batch_baseline(root: PathBuf) {
    for _ in 0..ASYNC_BATCH {
        let mut file = async_tempfile::TempFile::new_in(root.as_path())
            .await
            .expect("async_tempfile");
        file.write_all(&PAYLOAD).await.expect("write_all");
        drop(black_box(file));
    }
}

fn time_async_batch<F>(rt: &tokio::runtime::Runtime, batch: F) -> Duration
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        let start = Instant::now();
        tokio::spawn(batch).await.expect("batch task");
        start.elapsed()
    })
}

// ---------------------------------------------------------------------------
// c. purge of many temp paths (setup untimed)
//
// `purge_all` spreads the unlinks over up to four blocking threads (two on a
// two-core machine); the baseline is one thread, as a hand-written loop is.

/// `n` tracked temp paths, and the time to purge them.
fn purge_tempreg(registry: &ResourceRegistry, rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    let paths: Vec<tempreg::TempPath> = (0..n)
        .map(|_| registry.temp_file().expect("temp_file").into_temp_path())
        .collect();
    let start = Instant::now();
    let report = rt.block_on(registry.purge_all());
    let elapsed = start.elapsed();
    assert_eq!(report.removed(), n, "{report}");
    // The guards find their entries purged: dropping them does no I/O.
    drop(paths);
    elapsed
}

/// `n` plain files in one directory, and the time to remove them.
fn purge_baseline(root: &Path, n: usize) -> Duration {
    let dir = root.join("plain");
    std::fs::create_dir(&dir).expect("mkdir");
    let paths: Vec<PathBuf> = (0..n)
        .map(|i| {
            let path = dir.join(format!("tmp{i:07}"));
            File::create(&path).expect("create");
            path
        })
        .collect();
    let start = Instant::now();
    for path in &paths {
        std::fs::remove_file(path).expect("remove_file");
    }
    let elapsed = start.elapsed();
    std::fs::remove_dir(&dir).expect("rmdir");
    elapsed
}

// ---------------------------------------------------------------------------
// criterion groups

fn bench_temp_file(c: &mut Criterion) {
    let root = shm_root();
    let registry = registry_in(root.path());
    let mut group = c.benchmark_group("temp_file");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tempreg", |b| b.iter(|| temp_file_tempreg(&registry)));
    group.bench_function("NamedTempFile", |b| {
        b.iter(|| temp_file_baseline(root.path()))
    });
    let mut floor = Floor::new(root.path());
    group.bench_function("floor", |b| b.iter(|| floor.temp_file()));
    group.finish();
}

fn bench_temp_file_async(c: &mut Criterion) {
    let root = shm_root();
    let rt = runtime();
    let registry = registry_in(root.path());
    let mut group = c.benchmark_group("temp_file_async");
    group.throughput(Throughput::Elements(ASYNC_BATCH as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("tempreg", ASYNC_BATCH), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| time_async_batch(&rt, async_batch_tempreg(registry.clone())))
                .sum()
        })
    });
    group.bench_function(BenchmarkId::new("async_tempfile", ASYNC_BATCH), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| time_async_batch(&rt, async_batch_baseline(root.path().to_path_buf())))
                .sum()
        })
    });
    group.finish();
}

/// The purge pair at each size; `largest` leaves out sizes above it (the
/// smoke test of `cargo test --benches` stops at 100,000).
fn bench_purge(c: &mut Criterion, largest: usize) {
    let root = shm_root();
    let rt = runtime();
    let registry = registry_in(root.path());
    let mut group = c.benchmark_group("purge_all");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    for (n, _) in PURGE_SIZES.into_iter().filter(|&(n, _)| n <= largest) {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("tempreg", n), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| purge_tempreg(&registry, &rt, n)).sum())
        });
        group.bench_function(BenchmarkId::new("remove_file_loop", n), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| purge_baseline(root.path(), n)).sum())
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// explicit interleaved ratios

/// Times `rounds` rounds of every routine, rotating which goes first from one
/// round to the next, and returns each routine's median. Each routine returns
/// the time of one unit of work.
fn interleave<const K: usize>(
    rounds: usize,
    routines: [&mut dyn FnMut() -> Duration; K],
) -> [Duration; K] {
    let mut times: [Vec<Duration>; K] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for round in 0..rounds {
        for turn in 0..K {
            let i = (round + turn) % K;
            times[i].push(routines[i]());
        }
    }
    times.map(median)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, per: &str, base: Duration, cand: Duration, target: &str) {
    let ratio = cand.as_secs_f64() / base.as_secs_f64();
    println!(
        "ratio {name} = {ratio:.2} (target {target}); median {per}: candidate {cand:.2?}, baseline {base:.2?}"
    );
}

/// The mean time of one call of `f` over `ops` calls.
fn time_ops(ops: usize, f: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..ops {
        f();
    }
    start.elapsed() / ops as u32
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

fn ratios(wanted: &dyn Fn(&str) -> bool) {
    println!("\nInterleaved ratios (candidate / baseline, medians of rotating rounds):");
    if wanted("temp_file") {
        const OPS: usize = 2_000;
        let root = shm_root();
        let registry = registry_in(root.path());
        let mut floor = Floor::new(root.path());
        let floor = std::cell::RefCell::new(&mut floor);
        let mut tempreg = || time_ops(OPS, &mut || temp_file_tempreg(&registry));
        let mut named = || time_ops(OPS, &mut || temp_file_baseline(root.path()));
        let mut checked = || time_ops(OPS, &mut || floor.borrow_mut().temp_file());
        let mut unchecked = || time_ops(OPS, &mut || floor.borrow_mut().temp_file_unchecked());
        let mut called = || time_ops(OPS, &mut || floor.borrow_mut().temp_file_called());
        // Warm every path (page cache of the binary, dentry caches).
        tempreg();
        named();
        checked();
        unchecked();
        called();
        let [tempreg, named, floor, unchecked, called] = interleave(
            31,
            [
                &mut tempreg,
                &mut named,
                &mut checked,
                &mut unchecked,
                &mut called,
            ],
        );
        report(
            "temp_file/NamedTempFile",
            "per op",
            named,
            tempreg,
            "<= 1.05",
        );
        report("temp_file/floor", "per op", floor, tempreg, "<= 1.05");
        // What the figures above are made of: the identity check's two
        // `statx`, and each library's own cost above the system calls it
        // makes.
        let above = |cand: Duration, base: Duration| {
            100.0 * (cand.as_secs_f64() / base.as_secs_f64() - 1.0)
        };
        println!(
            "temp_file parts: the identity check's two statx {:+.1}% over the unchecked floor \
             ({unchecked:.2?}); the floor made through three calls that return (create, write, \
             drop), as a library's are, {:+.1}% over the floor; tempreg {:+.1}% over that; \
             tempreg's own code {:+.1}% over the floor, tempfile's {:+.1}% over its own (the \
             unchecked floor)",
            above(floor, unchecked),
            above(called, floor),
            above(tempreg, called),
            above(tempreg, floor),
            above(named, unchecked),
        );
    }
    if wanted("temp_file_async") {
        let root = shm_root();
        let rt = runtime();
        let registry = registry_in(root.path());
        let path = root.path().to_path_buf();
        let mut tempreg = || time_async_batch(&rt, async_batch_tempreg(registry.clone()));
        let mut baseline = || time_async_batch(&rt, async_batch_baseline(path.clone()));
        tempreg();
        baseline();
        let [base, cand] = interleave(15, [&mut baseline, &mut tempreg]);
        report(
            "temp_file_async/async_tempfile",
            "per batch of 1,000 + purge",
            base,
            cand,
            "<= 0.50",
        );
    }
    if wanted("purge_all") {
        let root = shm_root();
        let rt = runtime();
        let registry = registry_in(root.path());
        let mut per_entry = Vec::new();
        for (n, rounds) in PURGE_SIZES {
            let [base, cand] = interleave(
                rounds,
                [&mut || purge_baseline(root.path(), n), &mut || {
                    purge_tempreg(&registry, &rt, n)
                }],
            );
            let name = if n == PURGE_REFERENCE {
                "purge_all/remove_file_loop".to_owned()
            } else {
                format!("purge_all/remove_file_loop/{n}")
            };
            report(
                &name,
                &format!("per {}", thousands(n)),
                base,
                cand,
                "<= 1.10",
            );
            let (cand, base) = (ns_per(cand, n), ns_per(base, n));
            println!(
                "purge {} entries: tempreg {cand:.1} ns/entry, remove_file_loop {base:.1} ns/entry",
                thousands(n)
            );
            per_entry.push(cand);
        }
        let max = per_entry.iter().copied().fold(f64::MIN, f64::max);
        let min = per_entry.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "purge per-entry flatness: max/min = {:.2} (target <= 1.20)",
            max / min
        );
    }
    if wanted("resident_memory") {
        if cfg!(target_os = "linux") {
            resident_memory_in_child();
        } else {
            println!("resident memory: skipped, it reads /proc/self/statm (Linux only)");
        }
    }
}

// ---------------------------------------------------------------------------
// resident memory per live entry

/// Resident memory of this process: `/proc/self/statm`'s second field (in
/// pages) × the page size.
#[cfg(target_os = "linux")]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm's resident field");
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).expect("page size")
}

/// `/proc` is Linux's: the memory figure is measured there only.
#[cfg(not(target_os = "linux"))]
fn resident_bytes() -> u64 {
    unreachable!("the memory figure is measured on Linux only")
}

/// Runs [`resident_memory`] in a child process (this binary, re-run with
/// [`MEMORY_CHILD_ENV`] set), whose heap nothing before has touched, and
/// passes its output on.
fn resident_memory_in_child() {
    let exe = std::env::current_exe().expect("current_exe");
    let status = std::process::Command::new(exe)
        .env(MEMORY_CHILD_ENV, "1")
        .status()
        .expect("the memory child");
    assert!(status.success(), "the memory child failed: {status}");
}

/// Resident memory before, with and after [`MEMORY_N`] tracked temp paths.
fn resident_memory() {
    const MIB: f64 = 1024.0 * 1024.0;
    let root = shm_root();
    let rt = runtime();
    let registry = registry_in(root.path());
    let start = resident_bytes();
    let mut paths: Vec<tempreg::TempPath> = Vec::with_capacity(MEMORY_N);
    for _ in 0..MEMORY_N {
        paths.push(registry.temp_file().expect("temp_file").into_temp_path());
    }
    let live = resident_bytes();
    let report = rt.block_on(registry.purge_all());
    assert_eq!(report.removed(), MEMORY_N, "{report}");
    drop(paths);
    let end = resident_bytes();
    let per_entry = live.saturating_sub(start) / MEMORY_N as u64;
    println!(
        "resident memory per live entry: {per_entry} bytes ({} entries)",
        thousands(MEMORY_N)
    );
    println!(
        "resident after purge and drop: {:+.1} MiB over the start",
        (end as f64 - start as f64) / MIB
    );
    println!(
        "  (a TempPath guard is {} bytes; resident at the start {:.1} MiB, with the entries {:.1} MiB, after {:.1} MiB)",
        std::mem::size_of::<tempreg::TempPath>(),
        start as f64 / MIB,
        live as f64 / MIB,
        end as f64 / MIB
    );
}

/// The filter arguments: what criterion's command line holds besides its
/// options and their values.
fn positional(args: &[String]) -> Vec<&str> {
    const TAKES_VALUE: &[&str] = &[
        "-c",
        "--color",
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--format",
        "--logfile",
    ];
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with('-') {
            skip_value = TAKES_VALUE.contains(&arg.as_str());
        } else {
            filters.push(arg.as_str());
        }
    }
    filters
}

fn main() {
    if std::env::var_os(MEMORY_CHILD_ENV).is_some() {
        resident_memory();
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then criterion runs each routine once as a smoke test (as it does with
    // `--test`): we skip the ratios and the largest purge, and skip the
    // ratios for `--list` and `--profile-time` as well.
    let bench = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let benching = bench
        && !args
            .iter()
            .any(|a| a == "--list" || a.starts_with("--profile-time"));
    let filters = positional(&args);
    let wanted = |group: &str| filters.is_empty() || filters.iter().any(|f| group.contains(f));

    let mut c = Criterion::default().configure_from_args();
    bench_temp_file(&mut c);
    bench_temp_file_async(&mut c);
    bench_purge(&mut c, if bench { usize::MAX } else { PURGE_REFERENCE });
    c.final_summary();

    if benching {
        ratios(&wanted);
    }
}
