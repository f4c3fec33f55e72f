//! The session directory's on-disk format, written and read here only.
//!
//! ```text
//! <root>/
//!   <prefix>-<pid>-<random>/          a session (random: 8 ASCII letters and digits)
//!     .tempreg.lock                    regular file, 0600, owned like the directory;
//!                                      locked (`flock`, shared) by the owner and by
//!                                      the commands it started in the session
//!     <the registry's temp files and dirs>
//!   .<prefix>-init-<pid>-<random>/    a session being made: no final name until locked
//!     .tempreg.lock.new                the lock file before it is renamed into place
//! ```
//!
//! The lock file holds a note for people and tools: the owner's pid on the
//! first line, and `kept` on a line of its own once the owner gave the
//! directory up to be inspected (`keep_session_dir`). Liveness is never
//! read from the note: only the lock says whether the owner lives.

use std::ffi::OsStr;
use std::io;

use crate::sys;

/// The name of the lock file inside every session directory.
pub const LOCK_NAME: &str = ".tempreg.lock";

/// Where the lock file is made and locked before it is renamed to [`LOCK_NAME`].
pub(crate) const LOCK_NEW_NAME: &str = ".tempreg.lock.new";

/// The prefix used when none is given.
pub(crate) const DEFAULT_PREFIX: &str = "tempreg";

/// How many random characters end a session's name.
pub(crate) const RANDOM_LEN: usize = 8;

/// The longest prefix: the whole name (prefix, two dashes, a pid of up to 10
/// digits, the random part, and `.` plus `-init` while being made) must fit
/// the 255 bytes a file name may have.
pub(crate) const PREFIX_MAX: usize = 200;

/// The most bytes of a lock note that are read.
pub(crate) const NOTE_MAX: usize = 64;

/// Checks a session prefix: not empty, at most [`PREFIX_MAX`] bytes, no `/`,
/// NUL or `\` (on Windows no `:` either: see `sys::NOT_IN_A_NAME`), and not
/// starting with `.` (hidden names are for sessions being made).
pub(crate) fn check_prefix(prefix: &str) -> io::Result<()> {
    let why = if prefix.is_empty() {
        Some("must not be empty")
    } else if prefix.len() > PREFIX_MAX {
        Some("is longer than 200 bytes")
    } else if prefix.contains(['/', '\\', '\0']) {
        Some("must not contain `/`, `\\` or a NUL byte")
    } else if prefix.bytes().any(|b| sys::NOT_IN_A_NAME.0.contains(&b)) {
        Some("must not contain `:` on Windows (a drive, or a file's stream)")
    } else if prefix.starts_with('.') {
        Some("must not start with `.`")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("tempreg: session prefix {prefix:?} {why}"),
        )),
    }
}

/// What a session's final name starts with; the random part follows.
pub(crate) fn final_prefix(prefix: &str, pid: u32) -> String {
    format!("{prefix}-{pid}-")
}

/// What a session's name starts with while it is being made.
pub(crate) fn init_prefix(prefix: &str, pid: u32) -> String {
    format!(".{prefix}-init-{pid}-")
}

/// A session directory's name, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionName {
    /// The prefix it was made with.
    pub(crate) prefix: String,
    /// The pid of the process that made it (for people: pids are reused).
    pub(crate) pid: u32,
    /// True for a session still being made (a hidden `-init-` name).
    pub(crate) init: bool,
}

impl SessionName {
    /// Reads a directory name; `None` if it is not a session's.
    pub(crate) fn parse(name: &OsStr) -> Option<SessionName> {
        let name = name.to_str()?;
        let mut parts = name.rsplitn(3, '-');
        let (random, pid, rest) = (parts.next()?, parts.next()?, parts.next()?);
        if random.len() != RANDOM_LEN || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let pid = pid.parse().ok()?;
        let (prefix, init) = match rest.strip_prefix('.') {
            Some(hidden) => (hidden.strip_suffix("-init")?, true),
            None => (rest, false),
        };
        check_prefix(prefix).ok()?;
        Some(SessionName {
            prefix: prefix.to_string(),
            pid,
            init,
        })
    }
}

/// What the owner writes into its lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockNote {
    /// The owner's pid.
    pub(crate) pid: u32,
    /// The owner gave the directory up to be inspected: no sweep removes it.
    pub(crate) kept: bool,
}

impl LockNote {
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        let mut text = format!("{}\n", self.pid);
        if self.kept {
            text.push_str("kept\n");
        }
        text.into_bytes()
    }

    /// Reads a note back; `None` if it is not one (empty, or written by
    /// something else).
    pub(crate) fn parse(bytes: &[u8]) -> Option<LockNote> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let kept = lines.any(|line| line.trim() == "kept");
        Some(LockNote { pid, kept })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(prefix: &str, pid: u32, init: bool, random: &str) -> String {
        let start = if init {
            init_prefix(prefix, pid)
        } else {
            final_prefix(prefix, pid)
        };
        format!("{start}{random}")
    }

    #[test]
    fn every_name_made_reads_back() {
        let long = "p".repeat(PREFIX_MAX);
        for prefix in ["tempreg", "a", "my-job", "x-init", "ünï", long.as_str()] {
            for pid in [0, 1, 4_194_304, u32::MAX] {
                for init in [false, true] {
                    let name = made(prefix, pid, init, "aZ09bY18");
                    assert!(name.len() <= 255, "{name} is too long for a file name");
                    let parsed = SessionName::parse(OsStr::new(&name))
                        .unwrap_or_else(|| panic!("{name} did not parse"));
                    let want = SessionName {
                        prefix: prefix.to_string(),
                        pid,
                        init,
                    };
                    assert_eq!(parsed, want, "{name}");
                }
            }
        }
    }

    #[test]
    fn names_that_are_not_sessions() {
        for name in [
            "tempreg",
            "tempreg-12",
            "tempreg-12-abc",
            "tempreg-12-abcdefghi",
            "tempreg--abcdefgh",
            "-12-abcdefgh",
            "tempreg-1x-abcdefgh",
            "tempreg-12-abcd-fgh",
            "tempreg-99999999999-abcdefgh",
            ".tempreg-12-abcdefgh",
            ".tempreg-init-x-abcdefgh",
            "..-init-1-abcdefgh",
            ".tempreg.lock",
        ] {
            assert_eq!(SessionName::parse(OsStr::new(name)), None, "{name}");
        }
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for prefix in [
            "",
            ".hidden",
            "a/b",
            "a\\b",
            "a\0b",
            &"p".repeat(PREFIX_MAX + 1),
        ] {
            let err = check_prefix(prefix).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{prefix:?}");
        }
    }

    #[test]
    fn lock_notes_read_back() {
        for pid in [0, 7, u32::MAX] {
            for kept in [false, true] {
                let note = LockNote { pid, kept };
                let bytes = note.to_bytes();
                assert!(bytes.len() <= NOTE_MAX);
                assert_eq!(LockNote::parse(&bytes), Some(note));
            }
        }
        assert_eq!(LockNote::parse(b""), None);
        assert_eq!(LockNote::parse(b"not a pid\n"), None);
        assert_eq!(
            LockNote::parse(b"42"),
            Some(LockNote {
                pid: 42,
                kept: false
            }),
            "a note without its newline (an older writer) still reads"
        );
    }
}
