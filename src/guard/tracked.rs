//! [`TrackedFile`]: an async file handle listed in the registry.

use std::fmt;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use crate::error::{purged, with_path};
use crate::sys;
use crate::tracking::async_handle::{AsyncHandle, AsyncState};
use crate::tracking::cleaner::{clean_async, Outcome};
use crate::tracking::core::{Core, Ticket};
use crate::tracking::entry::{Entry, EntryKind, Handle, TrackedName};
use crate::tracking::naming::NameSpec;
use crate::tracking::reaper::Reaper;
use crate::tracking::reserve::Reserve;

/// An async file handle tracked by a registry: a caller's file from
/// [`ResourceRegistry::open`](crate::ResourceRegistry::open), or an async temp
/// file from [`temp_file_async`](crate::ResourceRegistry::temp_file_async).
///
/// It is `AsyncRead + AsyncWrite + AsyncSeek + Unpin`, over a
/// [`tokio::fs::File`]. A purge flushes its pending writes (and, when asked,
/// `fdatasync`s them), then closes it; after that its reads and writes fail
/// with an error that names the file and for which
/// [`is_closed_error`](crate::is_closed_error) is true. A kept file is never
/// deleted; an async temp file is unlinked when it is closed.
///
/// # Resource leaking
///
/// Dropping the guard closes the handle without waiting: a write still in
/// flight completes in the background and an error from it is lost. Use
/// [`close`](Self::close) to see it. Dropping an async temp file unlinks it on
/// tokio's blocking pool, not on the async thread.
pub struct TrackedFile {
    ticket: Ticket,
    handle: Arc<AsyncHandle>,
    path: PathBuf,
    /// Set by `close`, which cleans up itself: Drop then does nothing.
    closing: bool,
}

impl TrackedFile {
    pub(crate) async fn open(
        core: &Arc<Core>,
        path: &Path,
        options: &tokio::fs::OpenOptions,
    ) -> io::Result<TrackedFile> {
        core.check_open()?;
        let file = options
            .open(path)
            .await
            .map_err(|e| with_path(e, "open", path))?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        TrackedFile::track(core, EntryKind::OpenFile, file, path, None)
    }

    pub(crate) async fn create_temp(core: &Arc<Core>, spec: NameSpec) -> io::Result<TrackedFile> {
        core.check_open()?;
        let ready = if spec.is_default() {
            Reserve::take(core)
        } else {
            None
        };
        let (file, name) = match ready {
            Some(ready) => (ready.file, ready.name),
            None => {
                let maker = Arc::clone(core);
                tokio::task::spawn_blocking(move || spec.create_file(&maker.session))
                    .await
                    .map_err(io::Error::other)??
            }
        };
        let path = core.session.child(&name.name);
        let file = tokio::fs::File::from_std(file);
        TrackedFile::track(core, EntryKind::AsyncTempFile, file, path, Some(name))
    }

    pub(crate) async fn create_anonymous(core: &Arc<Core>) -> io::Result<TrackedFile> {
        core.check_open()?;
        let maker = Arc::clone(core);
        let file = tokio::task::spawn_blocking(move || super::anonymous::create(&maker.session))
            .await
            .map_err(io::Error::other)??;
        let path = super::anonymous::display_path(&core.session);
        let file = tokio::fs::File::from_std(file);
        TrackedFile::track(core, EntryKind::AnonymousFile, file, path, None)
    }

    fn track(
        core: &Arc<Core>,
        kind: EntryKind,
        file: tokio::fs::File,
        path: PathBuf,
        name: Option<TrackedName>,
    ) -> io::Result<TrackedFile> {
        let handle = AsyncHandle::new(file);
        let shown = Handle::Async {
            handle: Arc::clone(&handle),
            path: path.clone().into_boxed_path(),
        };
        let ticket = core.track(Entry::new(kind, name, shown))?;
        Ok(TrackedFile {
            ticket,
            handle,
            path,
            closing: false,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once a purge has closed this handle.
    pub fn is_purged(&self) -> bool {
        self.handle.is_purged()
    }

    /// Flushes pending writes and `fdatasync`s the file.
    ///
    /// # Errors
    ///
    /// A write or sync error, naming the file; or the handle was purged.
    pub async fn sync_data(&mut self) -> io::Result<()> {
        tokio::io::AsyncWriteExt::flush(self).await?;
        // A copy of the fd, so the sync runs on the blocking pool while the
        // handle stays unlocked and a purge can still take it.
        let fd = {
            let inner = self.handle.lock();
            match &inner.state {
                AsyncState::Open(file) => sys::duplicate(file),
                _ => {
                    drop(inner);
                    return Err(self.closed_error());
                }
            }
        };
        let file = fd.map_err(|e| with_path(e, "dup", &self.path))?;
        tokio::task::spawn_blocking(move || sys::sync_data(&file))
            .await
            .map_err(io::Error::other)?
            .map_err(|e| with_path(e, "sync", &self.path))
    }

    /// Flushes pending writes, closes the handle and, for an async temp file,
    /// unlinks it (off the async thread). Returns what Drop would swallow.
    ///
    /// # Errors
    ///
    /// A flush error: the handle stays open and tracked (the next purge
    /// retries it), and what was written before it is kept. A removal error
    /// (the name stays tracked), or a name that now holds another file
    /// ([`is_replaced_error`](crate::is_replaced_error)). Each names the
    /// file. A handle already purged closes with `Ok`.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the handle is closed without waiting and a
    /// temp file is still removed (in the background).
    pub async fn close(mut self) -> io::Result<()> {
        self.closing = true;
        let Some((id, entry)) = self.ticket.take() else {
            // A purge has the entry out (and, marked abandoned, cleans it
            // when done). The handle may still be ours, with a write in
            // flight: flush it before saying `Ok`, as the purge would. If
            // the purge's flush has it, wait for that.
            if let Some(mut file) = self.handle.take(AsyncState::Closed) {
                use tokio::io::AsyncWriteExt;
                file.flush()
                    .await
                    .map_err(|e| with_path(e, "flush", &self.path))?;
            } else {
                let core = self.ticket.core();
                core.flushes.wait_for(self.ticket.id()).await;
            }
            return Ok(());
        };
        let core = Arc::clone(self.ticket.core());
        let outcome: Outcome = clean_async(core, id, entry, false).await;
        outcome.into_result("close", &self.path)
    }

    fn closed_error(&self) -> io::Error {
        if self.handle.is_purged() {
            purged(io::ErrorKind::Other, "use", &self.path)
        } else {
            with_path(io::Error::other("the handle is closed"), "use", &self.path)
        }
    }

    /// Runs one poll on the open file, or fails if it is closed. The handle's
    /// lock is held for this one non-blocking poll only.
    fn poll_file<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut tokio::fs::File>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let mut inner = self.handle.lock();
        let AsyncState::Open(file) = &mut inner.state else {
            drop(inner);
            return Poll::Ready(Err(self.closed_error()));
        };
        let poll = f(Pin::new(file), cx);
        if poll.is_pending() {
            inner.waiter = Some(cx.waker().clone());
        }
        poll
    }
}

impl Drop for TrackedFile {
    fn drop(&mut self) {
        if self.closing {
            return;
        }
        let entry = self.ticket.take();
        drop(self.handle.take(AsyncState::Closed));
        if let Some((id, entry)) = entry {
            Reaper::submit(self.ticket.core(), id, entry);
        }
    }
}

impl fmt::Debug for TrackedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedFile")
            .field("path", &self.path)
            .field("purged", &self.is_purged())
            .finish()
    }
}

impl AsyncRead for TrackedFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_file(cx, |f, cx| f.poll_read(cx, buf))
    }
}

impl AsyncWrite for TrackedFile {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_file(cx, |f, cx| f.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_file(cx, |f, cx| f.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_file(cx, |f, cx| f.poll_shutdown(cx))
    }
}

impl AsyncSeek for TrackedFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let mut inner = self.handle.lock();
        match &mut inner.state {
            AsyncState::Open(file) => Pin::new(file).start_seek(position),
            _ => {
                drop(inner);
                Err(self.closed_error())
            }
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        self.poll_file(cx, |f, cx| f.poll_complete(cx))
    }
}
