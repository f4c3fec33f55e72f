//! The whole life of a registry: scratch files and handles from several
//! tasks, a purge, and its report.
//!
//! ```text
//! cargo run --example demo
//! ```

use std::io::Write;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    let registry = tempreg::ResourceRegistry::builder()
        .root(root.path())
        .prefix("demo")
        .build()?;
    println!("session directory: {}", registry.session_dir().display());

    // A results file the job keeps: the purge flushes and closes it, never deletes it.
    let results_path = root.path().join("results.log");
    let mut results = registry
        .open(
            &results_path,
            tokio::fs::OpenOptions::new().create(true).append(true),
        )
        .await?;

    // Four workers make scratch files of every kind and leave them live.
    let mut workers = Vec::new();
    for worker in 0..4 {
        let registry = registry.clone();
        workers.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut file = registry
                .temp()
                .prefix(format!("w{worker}-"))
                .suffix(".tmp")
                .file()?;
            file.write_all(b"sync scratch")?;
            kept.push(Box::new(file) as Box<dyn std::any::Any + Send>);

            let dir = registry.temp_dir()?;
            std::fs::write(dir.path().join("part-0"), b"chunk")?;
            kept.push(Box::new(dir));

            let mut spill = registry.temp_file_async().await?;
            spill.write_all(b"async scratch").await?;
            kept.push(Box::new(spill));

            // 250 scratch files held by path only: no file descriptors.
            for _ in 0..250 {
                kept.push(Box::new(registry.temp_file()?.into_temp_path()));
            }
            std::io::Result::Ok(kept)
        }));
    }
    let mut alive = Vec::new();
    for worker in workers {
        alive.push(worker.await.expect("worker task")?);
    }
    results.write_all(b"4 workers done\n").await?;

    let entries = registry.entries();
    println!("live entries before the purge: {}", entries.len());
    for info in entries.iter().take(5) {
        println!(
            "  {:<16} {}",
            info.kind().to_string(),
            info.path().display()
        );
    }
    if entries.len() > 5 {
        println!("  … and {} more", entries.len() - 5);
    }

    // What a shutdown, a panic hook or a test harness does between cases.
    let report = registry
        .purge_all_with(
            tempreg::PurgeOptions::new()
                .deadline(Duration::from_secs(5))
                .sync_data(true),
        )
        .await;
    println!("purge: {report}");
    println!("live entries after the purge: {}", registry.len());

    // Only the session's lock file is left; it goes with the directory.
    let left: Vec<_> = std::fs::read_dir(registry.session_dir())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    println!("left in the session directory: {}", left.join(", "));
    println!(
        "the kept file still says: {:?}",
        std::fs::read_to_string(&results_path)?
    );

    // Guards dropped after a purge find nothing to do.
    drop(alive);
    drop(results);
    let session = registry.session_dir().to_path_buf();
    drop(registry);
    println!("session directory removed: {}", !session.exists());
    Ok(())
}
