//! Each tempreg operation beside the baseline it must keep up with.
//!
//! Three pairs, each in one criterion group, and each also reported as a
//! ratio (candidate / baseline) measured in the same run by interleaving the
//! two in alternating rounds and taking medians, so that drift in the
//! machine's speed during the run cancels out:
//!
//! - `temp_file`: `registry.temp_file()` + 4 KiB write + drop, against
//!   `tempfile::NamedTempFile::new_in` + 4 KiB write + drop.
//! - `temp_file_async`: `registry.temp_file_async()` + 4 KiB `write_all` +
//!   drop, against `async_tempfile::TempFile::new_in` the same way, on a
//!   two-worker tokio runtime.
//! - `purge_all`: `purge_all` of 100,000 tracked temp paths, against a
//!   `std::fs::remove_file` loop over 100,000 plain files.
//!
//! Every file lives on tmpfs (`/dev/shm`), so the figures are about our code
//! and syscalls, not a disk. Run with `cargo bench --bench registry`; a filter
//! argument (`-- purge`) selects groups for criterion and for the ratios.

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

/// Temp paths per purge.
const PURGE_N: usize = 100_000;

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

/// 100,000 tracked temp paths, and the time to purge them.
fn purge_tempreg(registry: &ResourceRegistry, rt: &tokio::runtime::Runtime) -> Duration {
    let paths: Vec<tempreg::TempPath> = (0..PURGE_N)
        .map(|_| registry.temp_file().expect("temp_file").into_temp_path())
        .collect();
    let start = Instant::now();
    let report = rt.block_on(registry.purge_all());
    let elapsed = start.elapsed();
    assert_eq!(report.removed(), PURGE_N, "{report}");
    // The guards find their entries purged: dropping them does no I/O.
    drop(paths);
    elapsed
}

/// 100,000 plain files in one directory, and the time to remove them.
fn purge_baseline(root: &Path) -> Duration {
    let dir = root.join("plain");
    std::fs::create_dir(&dir).expect("mkdir");
    let paths: Vec<PathBuf> = (0..PURGE_N)
        .map(|i| {
            let path = dir.join(format!("tmp{i:06}"));
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

fn bench_purge(c: &mut Criterion) {
    let root = shm_root();
    let rt = runtime();
    let registry = registry_in(root.path());
    let mut group = c.benchmark_group("purge_all");
    group.throughput(Throughput::Elements(PURGE_N as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function(BenchmarkId::new("tempreg", PURGE_N), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| purge_tempreg(&registry, &rt)).sum())
    });
    group.bench_function(BenchmarkId::new("remove_file_loop", PURGE_N), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| purge_baseline(root.path())).sum())
    });
    group.finish();
}

// ---------------------------------------------------------------------------
// explicit interleaved ratios

/// Times `rounds` rounds of baseline and candidate, alternating which goes
/// first, and returns (median baseline, median candidate). Each closure
/// returns the time of one unit of work.
fn interleave(
    rounds: usize,
    mut baseline: impl FnMut() -> Duration,
    mut candidate: impl FnMut() -> Duration,
) -> (Duration, Duration) {
    let mut base = Vec::with_capacity(rounds);
    let mut cand = Vec::with_capacity(rounds);
    for round in 0..rounds {
        if round % 2 == 0 {
            base.push(baseline());
            cand.push(candidate());
        } else {
            cand.push(candidate());
            base.push(baseline());
        }
    }
    (median(base), median(cand))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, per: &str, (base, cand): (Duration, Duration), target: &str) {
    let ratio = cand.as_secs_f64() / base.as_secs_f64();
    println!(
        "ratio {name} = {ratio:.2} (target {target}); median {per}: candidate {cand:.2?}, baseline {base:.2?}"
    );
}

fn ratios(wanted: &dyn Fn(&str) -> bool) {
    println!("\nInterleaved ratios (candidate / baseline, medians of alternating rounds):");
    if wanted("temp_file") {
        const OPS: usize = 2_000;
        let root = shm_root();
        let registry = registry_in(root.path());
        let time_ops = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..OPS {
                f();
            }
            start.elapsed() / OPS as u32
        };
        // Warm both paths (page cache of the binary, dentry caches).
        time_ops(&mut || temp_file_tempreg(&registry));
        time_ops(&mut || temp_file_baseline(root.path()));
        let medians = interleave(
            31,
            || time_ops(&mut || temp_file_baseline(root.path())),
            || time_ops(&mut || temp_file_tempreg(&registry)),
        );
        report("temp_file/NamedTempFile", "per op", medians, "<= 1.05");
    }
    if wanted("temp_file_async") {
        let root = shm_root();
        let rt = runtime();
        let registry = registry_in(root.path());
        let path = root.path().to_path_buf();
        time_async_batch(&rt, async_batch_tempreg(registry.clone()));
        time_async_batch(&rt, async_batch_baseline(path.clone()));
        let medians = interleave(
            15,
            || time_async_batch(&rt, async_batch_baseline(path.clone())),
            || time_async_batch(&rt, async_batch_tempreg(registry.clone())),
        );
        report(
            "temp_file_async/async_tempfile",
            "per batch of 1,000 + purge",
            medians,
            "<= 0.50",
        );
    }
    if wanted("purge_all") {
        let root = shm_root();
        let rt = runtime();
        let registry = registry_in(root.path());
        let medians = interleave(
            5,
            || purge_baseline(root.path()),
            || purge_tempreg(&registry, &rt),
        );
        report(
            "purge_all/remove_file_loop",
            "per 100,000",
            medians,
            "<= 1.10",
        );
    }
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then criterion runs each routine once as a smoke test and we skip the
    // ratios, as we do for `--list` and `--profile-time`.
    let benching = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--list" || a.starts_with("--profile-time"));
    let filters = positional(&args);
    let wanted = |group: &str| filters.is_empty() || filters.iter().any(|f| group.contains(f));

    let mut c = Criterion::default().configure_from_args();
    bench_temp_file(&mut c);
    bench_temp_file_async(&mut c);
    bench_purge(&mut c);
    c.final_summary();

    if benching {
        ratios(&wanted);
    }
}
