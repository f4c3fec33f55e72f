//! FIFOs for the tests of writes that block: make one (with the `mkfifo`
//! tool, a one-shot `.status()`), open it through a registry without
//! blocking, read it to its end on a thread, and drain it if the test
//! panics so the runtime can still shut down.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempreg::{ResourceRegistry, TrackedFile};

/// Makes a FIFO at `path` with the `mkfifo` tool.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {} failed", path.display());
}

/// Drains a FIFO from a detached thread if the test panics, so that a write
/// blocked on it in tokio's blocking pool finishes and the runtime can shut
/// down instead of hanging the test binary.
pub struct DrainFifoOnPanic(pub PathBuf);

impl Drop for DrainFifoOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let path = self.0.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            // Read and write: opening never blocks, reading never ends.
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path);
            if let Ok(mut fifo) = opened {
                let mut buf = vec![0u8; 1 << 16];
                while matches!(fifo.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
    }
}

/// Opens the FIFO at `fifo` through `registry` for reading and writing, so
/// that opening never blocks (and nobody reads what is written).
pub async fn open_fifo(registry: &ResourceRegistry, fifo: &Path) -> TrackedFile {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).write(true);
    registry.open(fifo, &options).await.unwrap()
}

/// Reads a FIFO to its end on a new thread; the bytes arrive on the channel.
pub fn read_fifo_to_end(path: &Path) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut fifo = std::fs::File::open(&path).expect("open the FIFO for reading");
        let mut got = Vec::new();
        fifo.read_to_end(&mut got).expect("read the FIFO");
        let _ = tx.send(got);
    });
    rx
}

/// Waits (on the blocking pool, so the runtime keeps running) for what a
/// [`read_fifo_to_end`] thread read; fails after a generous wall-clock bound.
pub async fn fifo_contents(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(60)))
        .await
        .expect("join the FIFO waiter")
        .expect("the FIFO reached its end: every writer closed it")
}
