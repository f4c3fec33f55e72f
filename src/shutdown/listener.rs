//! The async signal listener behind
//! [`Shutdown::listen_for_signals`](crate::Shutdown::listen_for_signals).
//!
//! # Invariants
//!
//! - Handlers are installed only on request: once a handler exists, tokio
//!   never restores the default action by itself.
//! - The first signal only begins an orderly stop. A second one forces the
//!   end: a blocking purge (which never waits on a lock) of every added
//!   registry, then death by that signal.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::task::Poll;

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::{Shared, ShutdownReason};
use crate::process::signals::{die_by, purge_for_exit, signal_name};

/// Installs tokio handlers for `signals` and spawns the listener task.
pub(crate) fn listen(shared: &Arc<Shared>, signals: &[i32]) -> io::Result<()> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        io::Error::other("tempreg: listen_for_signals must be called within a tokio runtime")
    })?;
    let mut streams: Vec<(i32, Signal)> = Vec::with_capacity(signals.len());
    {
        let _enter = runtime.enter();
        for &sig in signals {
            let stream = signal(SignalKind::from_raw(sig)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("tempreg: cannot listen for {}: {e}", signal_name(sig)),
                )
            })?;
            streams.push((sig, stream));
        }
    }
    let shared = Arc::clone(shared);
    runtime.spawn(async move {
        let first = next_signal(&mut streams).await;
        tracing::info!(signal = %signal_name(first), "tempreg shutdown begun by signal");
        shared.begin(ShutdownReason::Signal(first));
        let second = next_signal(&mut streams).await;
        tracing::warn!(
            signal = %signal_name(second),
            "second signal during shutdown: forcing the end"
        );
        purge_for_exit(&shared.registries());
        die_by(second);
    });
    Ok(())
}

async fn next_signal(streams: &mut [(i32, Signal)]) -> i32 {
    poll_fn(|cx| {
        for (sig, stream) in streams.iter_mut() {
            if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                return Poll::Ready(*sig);
            }
        }
        Poll::Pending
    })
    .await
}
