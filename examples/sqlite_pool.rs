//! A writer on an r2d2 pool of SQLite connections that stops at a row
//! boundary on SIGTERM or SIGINT, checkpoints and closes the pool, then
//! purges its scratch files.
//!
//! ```text
//! cargo run --example sqlite_pool -- <db-dir>
//! kill -TERM <pid>        # the pid is on the `ready <pid>` line
//! ```
//!
//! The database, `<db-dir>/jobs.db` (WAL mode), is the caller's: it is never
//! in the registry and never deleted. A tracked task inserts one row per
//! transaction and prints `committed <n>` after each commit returns, `n`
//! counting the rows this process committed, and appends each row to two
//! scratch files from the registry (a spool file and an async temp file).
//!
//! On shutdown the task stops between transactions and its scratch files
//! go with it; a blocking cleanup step runs `PRAGMA wal_checkpoint(TRUNCATE)`
//! and drops the pool (closing every connection), printing `pool closed`;
//! and the registry's purge removes whatever scratch files are left (those
//! of a writer that had to be aborted). The report goes to stderr, and the
//! process ends killed by the signal.
//!
//! The database is set up (WAL mode, the table) on one connection before
//! the pool opens its own; see `main` for why.
//!
//! The scratch root is `$TEMPREG_ROOT`, else the system temp directory.

use std::error::Error;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::rusqlite;
use r2d2_sqlite::SqliteConnectionManager;
use tempreg::{ResourceRegistry, Shutdown};
use tokio::io::AsyncWriteExt;

type Shared = Arc<Mutex<Option<Pool<SqliteConnectionManager>>>>;

/// How long a connection waits for another's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    init_tracing();
    let db_dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: sqlite_pool <db-dir>")?;
    let registry = ResourceRegistry::builder().root(scratch_root()).build()?;
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(15))
        .cleanup_reserve(Duration::from_secs(5))
        .build();
    shutdown.listen_for_signals()?;
    shutdown.add_registry(&registry);

    // The database is set up once, on one connection, before the pool opens
    // any: switching a fresh file to WAL takes an exclusive lock, and
    // connections that do it at once can fail with "database is locked"
    // however long their busy timeout (SQLite does not wait when waiting
    // could deadlock). WAL mode is stored in the file, so every connection
    // opened later is in WAL mode already.
    let db = db_dir.join("jobs.db");
    let setup = rusqlite::Connection::open(&db)?;
    setup.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        setup.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if mode != "wal" {
        return Err(format!("{}: journal_mode is {mode}, not wal", db.display()).into());
    }
    setup.execute_batch(
        "CREATE TABLE IF NOT EXISTS jobs (
             id INTEGER PRIMARY KEY,
             pid INTEGER NOT NULL,
             seq INTEGER NOT NULL,
             payload TEXT NOT NULL
         )",
    )?;
    drop(setup);

    // What each connection needs for itself: to wait for a lock rather than
    // fail at once, and to sync the log at each commit.
    let manager = SqliteConnectionManager::file(&db).with_init(|conn| {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")
    });
    let pool = Pool::builder().max_size(4).build(manager)?;
    let shared: Shared = Arc::new(Mutex::new(Some(pool)));

    // Registered after the registry, so it runs before the purge.
    let closing = Arc::clone(&shared);
    shutdown.on_cleanup_blocking("close the sqlite pool", move || close_pool(&closing));

    let mut spool = registry.temp().prefix("spool-").file()?;
    let mut audit = registry.temp_file_async().await?;
    let token = shutdown.token();
    let writer = Arc::clone(&shared);
    shutdown.spawn_fallible("sqlite writer", async move {
        let mut committed = 0i64;
        while !token.is_cancelled() {
            let pool = writer.lock().map_err(|_| "pool lock poisoned")?.clone();
            let Some(pool) = pool else { break };
            let seq = committed + 1;
            tokio::task::spawn_blocking(move || insert_row(&pool, seq)).await??;
            committed = seq;
            say(&format!("committed {committed}"));
            writeln!(spool, "row {committed}")?;
            audit
                .write_all(format!("row {committed}\n").as_bytes())
                .await?;
            // A breath between transactions, as a real job would take.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        audit.flush().await?;
        Ok::<(), Box<dyn Error + Send + Sync>>(())
    });

    say(&format!("ready {}", std::process::id()));
    let report = shutdown.run().await;
    eprintln!("{report}");
    report.exit()
}

/// One row in its own transaction; returns once the commit has.
fn insert_row(
    pool: &Pool<SqliteConnectionManager>,
    seq: i64,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut conn = pool.get()?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO jobs (pid, seq, payload) VALUES (?1, ?2, ?3)",
        rusqlite::params![std::process::id(), seq, format!("job {seq}")],
    )?;
    tx.commit()?;
    Ok(())
}

/// Folds the WAL into the database and truncates it, then drops the pool,
/// which closes every connection.
fn close_pool(shared: &Shared) -> Result<(), Box<dyn Error + Send + Sync>> {
    let Some(pool) = shared.lock().map_err(|_| "pool lock poisoned")?.take() else {
        return Ok(());
    };
    let conn = pool.get()?;
    let (busy, log, checkpointed): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    drop(conn);
    drop(pool);
    if busy != 0 {
        return Err(format!("checkpoint was blocked ({checkpointed} of {log} frames)").into());
    }
    say("pool closed");
    Ok(())
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn scratch_root() -> PathBuf {
    std::env::var_os("TEMPREG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Logs to stderr at the levels `RUST_LOG` asks for (errors only without
/// it), in colour only on a terminal and when `NO_COLOR` is unset.
fn init_tracing() {
    let colour =
        io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(io::stderr)
        .with_ansi(colour)
        .init();
}
