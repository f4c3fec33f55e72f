//! A writer on an r2d2 pool of SQLite connections that stops at a row
//! boundary on SIGTERM, checkpoints and closes the pool, then purges its
//! scratch files.
//!
//! ```text
//! cargo run --example sqlite_pool -- <db-dir>
//! kill -TERM <pid>        # the pid is on the `ready <pid>` line
//! ```
//!
//! The database, `<db-dir>/jobs.db` (WAL mode), is the caller's: it is never
//! in the registry and never deleted. A tracked task inserts one row per
//! transaction and prints `committed <n>` after each commit returns, `n`
//! counting the rows this process committed. On shutdown the task stops
//! between transactions, a blocking cleanup step runs
//! `PRAGMA wal_checkpoint(TRUNCATE)` and drops the pool (closing every
//! connection), and the registry's purge removes the scratch files (a spool
//! file the writer appends each row to, and an async temp file).
//!
//! The scratch root is `$TEMPREG_ROOT`, else the system temp directory.

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::rusqlite;
use r2d2_sqlite::SqliteConnectionManager;
use tempreg::{ResourceRegistry, Shutdown};
use tokio::io::AsyncWriteExt;

type Shared = Arc<Mutex<Option<Pool<SqliteConnectionManager>>>>;

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

    let manager = SqliteConnectionManager::file(db_dir.join("jobs.db")).with_init(|conn| {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
    });
    let pool = Pool::builder().max_size(4).build(manager)?;
    pool.get()?.execute_batch(
        "CREATE TABLE IF NOT EXISTS jobs (
             id INTEGER PRIMARY KEY,
             pid INTEGER NOT NULL,
             seq INTEGER NOT NULL,
             payload TEXT NOT NULL
         )",
    )?;
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

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(io::stderr)
        .try_init();
}
