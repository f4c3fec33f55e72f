//! [`TrackedFile`]: an async file handle listed in the registry.

use std::fmt;
use std::io::{self, SeekFrom};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::entry::{Entry, EntryKind, Res, Slot, SlotState};
use crate::error::with_path;
use crate::options::{register, NameSpec};
use crate::registry::{Inner, Ticket};

/// An async file handle tracked by a registry: a caller's file from
/// [`ResourceRegistry::open`](crate::ResourceRegistry::open), or an async temp
/// file from [`temp_file_async`](crate::ResourceRegistry::temp_file_async).
///
/// It is `AsyncRead + AsyncWrite + AsyncSeek + Unpin`, over a
/// [`tokio::fs::File`]. A purge flushes its pending writes (and, when asked,
/// `fdatasync`s them), then closes it; after that its reads and writes fail
/// with an error that names the file. A kept file is never deleted; an async
/// temp file is unlinked after it is closed.
///
/// # Resource leaking
///
/// Dropping the guard closes the handle without waiting: a write still in
/// flight completes in the background and an error from it is lost. Use
/// [`close`](Self::close) to see it. Dropping an async temp file unlinks it on
/// tokio's blocking pool, not on the async thread.
pub struct TrackedFile {
    ticket: Ticket,
    slot: Arc<Slot>,
    path: PathBuf,
}

impl TrackedFile {
    pub(crate) async fn open(
        registry: &crate::ResourceRegistry,
        path: &Path,
        options: &tokio::fs::OpenOptions,
    ) -> io::Result<TrackedFile> {
        let inner = &registry.inner;
        inner.check_open()?;
        let file = options
            .open(path)
            .await
            .map_err(|e| with_path(e, "open", path))?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        TrackedFile::track(inner, EntryKind::OpenFile, file, path, None)
    }

    pub(crate) async fn create_temp(inner: &Arc<Inner>, name: NameSpec) -> io::Result<TrackedFile> {
        if name.is_default() {
            inner.check_open()?;
            if let Some(ready) = crate::reserve::Reserve::take(inner) {
                let file = tokio::fs::File::from_std(ready.file);
                return TrackedFile::track(
                    inner,
                    EntryKind::AsyncTempFile,
                    file,
                    ready.path,
                    Some(ready.named),
                );
            }
        }
        let creator = Arc::clone(inner);
        let (file, path, named) =
            tokio::task::spawn_blocking(move || name.create_raw_file(&creator))
                .await
                .map_err(io::Error::other)??;
        TrackedFile::track(
            inner,
            EntryKind::AsyncTempFile,
            tokio::fs::File::from_std(file),
            path,
            Some(named),
        )
    }

    pub(crate) async fn create_anonymous(inner: &Arc<Inner>) -> io::Result<TrackedFile> {
        let creator = Arc::clone(inner);
        let file = tokio::task::spawn_blocking(move || crate::anonymous::create(&creator))
            .await
            .map_err(io::Error::other)??;
        let path = crate::anonymous::display_path(inner);
        let file = tokio::fs::File::from_std(file);
        TrackedFile::track(inner, EntryKind::AnonymousFile, file, path, None)
    }

    fn track(
        inner: &Arc<Inner>,
        kind: EntryKind,
        file: tokio::fs::File,
        path: PathBuf,
        temp: Option<crate::entry::Named>,
    ) -> io::Result<TrackedFile> {
        let slot = Slot::new(file);
        let entry = Entry {
            kind,
            created: std::time::Instant::now(),
            res: Res::Handle {
                slot: Arc::clone(&slot),
                path: path.clone(),
                temp,
            },
        };
        let ticket = register(inner, entry)?;
        Ok(TrackedFile { ticket, slot, path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once a purge has closed this handle.
    pub fn is_purged(&self) -> bool {
        matches!(self.slot.lock().state, SlotState::Purged)
    }

    /// Flushes pending writes and `fdatasync`s the file.
    ///
    /// # Errors
    ///
    /// A write or sync error, naming the file; or the handle was purged.
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.flush().await?;
        // A dup of the fd, so the sync runs on the blocking pool while the
        // slot stays unlocked and a purge can still take the handle.
        let fd = {
            let inner = self.slot.lock();
            match &inner.state {
                SlotState::Open(file) => file.as_fd().try_clone_to_owned(),
                _ => {
                    drop(inner);
                    return Err(self.closed_error());
                }
            }
        };
        let fd = fd.map_err(|e| with_path(e, "dup", &self.path))?;
        tokio::task::spawn_blocking(move || rustix::fs::fdatasync(&fd))
            .await
            .map_err(io::Error::other)?
            .map_err(|e| with_path(e, "sync", &self.path))
    }

    /// Flushes pending writes, closes the handle and, for an async temp file,
    /// unlinks it (off the async thread). Returns what Drop would swallow.
    ///
    /// # Errors
    ///
    /// A flush error (the data written before it is kept), or a removal
    /// error; each names the file. A handle already purged closes with `Ok`.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the handle is closed without waiting and a
    /// temp file is still removed.
    pub async fn close(self) -> io::Result<()> {
        let entry = self.ticket.claim();
        let mut result = Ok(());
        if let Some(mut file) = self.slot.take(SlotState::Closed) {
            if let Err(e) = file.flush().await {
                result = Err(with_path(e, "flush", &self.path));
            }
        }
        if let Some(Entry {
            kind,
            res: Res::Handle {
                temp: Some(named), ..
            },
            ..
        }) = entry
        {
            let inner = Arc::clone(&self.ticket.inner);
            let path = self.path.clone();
            let removed = tokio::task::spawn_blocking(move || {
                crate::entry::remove_named(&inner.session, kind, &named)
            })
            .await
            .map_err(io::Error::other)
            .and_then(|r| r.map_err(|e| with_path(e, "remove", &path)));
            if let Ok(crate::fsops::Removal::Replaced) = removed {
                result = result.and(Err(crate::error::replaced("remove", &self.path)));
            } else if let Err(e) = removed {
                result = result.and(Err(e));
            }
        }
        result
    }

    fn closed_error(&self) -> io::Error {
        let purged = matches!(self.slot.lock().state, SlotState::Purged);
        let why = if purged {
            "the handle was closed by a tempreg purge"
        } else {
            "the handle is closed"
        };
        with_path(io::Error::other(why), "use", &self.path)
    }

    /// Runs one poll on the open file, or fails if it is closed. The slot
    /// lock is held for this one non-blocking poll only.
    fn poll_file<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut tokio::fs::File>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let mut inner = self.slot.lock();
        let SlotState::Open(file) = &mut inner.state else {
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
        let entry = self.ticket.claim();
        drop(self.slot.take(SlotState::Closed));
        if let Some(entry) = entry {
            crate::reaper::Reaper::submit(&self.ticket.inner, entry);
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
        let mut inner = self.slot.lock();
        match &mut inner.state {
            SlotState::Open(file) => Pin::new(file).start_seek(position),
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
