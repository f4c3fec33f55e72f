//! [`NameSpec`]: how a temp entry is named (prefix, random part, suffix), and
//! the making of the name in the session directory.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;

use super::entry::TrackedName;
use crate::session::Session;
use crate::sys;

/// The most bytes a file name may have (`NAME_MAX` on Linux, macOS and the
/// BSDs).
pub(crate) const NAME_MAX: usize = 255;

/// The parts of a temp entry's name, owned, so that async creation can move
/// them.
#[derive(Debug, Clone)]
pub(crate) struct NameSpec {
    pub(crate) prefix: OsString,
    pub(crate) suffix: OsString,
    pub(crate) rand: usize,
}

impl Default for NameSpec {
    fn default() -> Self {
        NameSpec {
            prefix: OsString::from("tmp"),
            suffix: OsString::new(),
            rand: 6,
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Checks a user-supplied part of a name.
fn check_part(what: &str, part: &OsStr) -> io::Result<()> {
    if part.as_encoded_bytes().iter().any(|&b| b == b'/' || b == 0) {
        return Err(invalid(format!(
            "tempreg: {what} {part:?} must not contain `/` or a NUL byte"
        )));
    }
    Ok(())
}

impl NameSpec {
    /// True for the default naming, which reserve files use.
    pub(crate) fn is_default(&self) -> bool {
        self.prefix == "tmp" && self.suffix.is_empty() && self.rand == 6
    }

    /// Refuses what cannot make a name of one path component: `/` or NUL, a
    /// name longer than [`NAME_MAX`], an empty name, `.` or `..`.
    pub(crate) fn check(&self) -> io::Result<()> {
        check_part("prefix", &self.prefix)?;
        check_part("suffix", &self.suffix)?;
        if self.rand > NAME_MAX {
            return Err(invalid(format!(
                "tempreg: rand_bytes({}) is more than a file name can hold ({NAME_MAX} bytes)",
                self.rand
            )));
        }
        let len = self.prefix.len() + self.rand + self.suffix.len();
        if len > NAME_MAX {
            return Err(invalid(format!(
                "tempreg: a temp name of {len} bytes (prefix {}, {} random, suffix {}) is longer than the {NAME_MAX} a file name can hold",
                self.prefix.len(),
                self.rand,
                self.suffix.len()
            )));
        }
        if self.rand == 0 {
            let mut name = self.prefix.clone();
            name.push(&self.suffix);
            if name.is_empty() || name == "." || name == ".." {
                return Err(invalid(format!(
                    "tempreg: the temp name {name:?} (prefix + suffix, no random part) is not a usable file name"
                )));
            }
        }
        Ok(())
    }

    /// Makes a temp file (mode 0600, `O_EXCL`) in the session; blocking.
    pub(crate) fn create_file(&self, session: &Session) -> io::Result<(File, TrackedName)> {
        self.check()?;
        let ((file, id), name) =
            session.make_name(&self.prefix, &self.suffix, self.rand, sys::create_file)?;
        Ok((
            file,
            TrackedName {
                name: name.into(),
                id,
            },
        ))
    }

    /// Makes a temp dir (mode 0700) in the session; blocking.
    pub(crate) fn create_dir(&self, session: &Session) -> io::Result<TrackedName> {
        self.check()?;
        let (id, name) =
            session.make_name(&self.prefix, &self.suffix, self.rand, sys::create_dir)?;
        Ok(TrackedName {
            name: name.into(),
            id,
        })
    }
}
