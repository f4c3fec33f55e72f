//! Tokio runtimes for the tests that build their own (rather than use
//! `#[tokio::test]`), and `block_on` helpers that shut the runtime down
//! before they return.

/// A current-thread tokio runtime with every driver enabled.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

/// A multi-thread tokio runtime with two workers and every driver enabled.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a multi-thread tokio runtime")
}

/// Runs `fut` on a fresh current-thread runtime, then shuts the runtime
/// down. Clean-ups that guards started on the blocking pool (an async temp
/// file's unlink) have all finished when this returns, and so has the last
/// reference they held to the registry.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let rt = current_thread_runtime();
    let out = rt.block_on(fut);
    drop(rt);
    out
}

/// [`block_on`] with tokio's clock paused from the start.
pub fn block_on_paused<F: std::future::Future>(fut: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("build a paused tokio runtime");
    let out = rt.block_on(fut);
    drop(rt);
    out
}
