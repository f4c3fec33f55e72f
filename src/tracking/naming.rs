//! [`NameSpec`]: how a temp entry is named (prefix, random part, suffix), and
//! the making of the name in the session directory.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{File, Permissions};
use std::io;
use std::path::Path;

use super::entry::TrackedName;
use crate::session::Session;
use crate::sys;

pub(crate) use crate::sys::NAME_MAX;

/// The parts of a temp entry's name, owned, so that async creation can move
/// them (the default prefix is borrowed: no allocation on the common path).
#[derive(Debug, Clone)]
pub(crate) struct NameSpec {
    pub(crate) prefix: Cow<'static, OsStr>,
    pub(crate) suffix: Cow<'static, OsStr>,
    pub(crate) rand: usize,
    /// Permissions before the umask (default 0600 for files, 0700 for
    /// directories).
    pub(crate) permissions: Option<Permissions>,
    /// A file opened in append mode.
    pub(crate) append: bool,
    /// Made with its clean-up disabled (see `Ticket::set_cleanup`).
    pub(crate) disable_cleanup: bool,
}

impl Default for NameSpec {
    fn default() -> Self {
        NameSpec {
            prefix: Cow::Borrowed(OsStr::new("tmp")),
            suffix: Cow::Borrowed(OsStr::new("")),
            rand: 6,
            permissions: None,
            append: false,
            disable_cleanup: false,
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Checks a user-supplied part of a name: nothing that would make it more
/// than one name in the session directory ([`sys::NOT_IN_A_NAME`]).
fn check_part(what: &str, part: &OsStr) -> io::Result<()> {
    let (forbidden, shown) = sys::NOT_IN_A_NAME;
    if part
        .as_encoded_bytes()
        .iter()
        .any(|b| forbidden.contains(b))
    {
        return Err(invalid(format!(
            "tempreg: {what} {part:?} must not contain {shown}"
        )));
    }
    Ok(())
}

impl NameSpec {
    /// True for the default naming, which reserve files use.
    pub(crate) fn is_default(&self) -> bool {
        self.prefix == OsStr::new("tmp")
            && self.suffix.is_empty()
            && self.rand == 6
            && self.permissions.is_none()
            && !self.append
            && !self.disable_cleanup
    }

    /// Refuses what cannot make a name of one path component: `/` or NUL
    /// (on Windows `\\` and `:` too), a
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
            let mut name = self.prefix.to_os_string();
            name.push(&*self.suffix);
            if name.is_empty() || name == "." || name == ".." {
                return Err(invalid(format!(
                    "tempreg: the temp name {name:?} (prefix + suffix, no random part) is not a usable file name"
                )));
            }
        }
        Ok(())
    }

    /// Makes a temp file (mode 0600 unless chosen, `O_EXCL`) in the
    /// session; blocking.
    pub(crate) fn create_file(&self, session: &Session) -> io::Result<(File, TrackedName)> {
        self.check()?;
        let ((file, id), name) =
            session.make_name(&self.prefix, &self.suffix, self.rand, |dir, name| {
                match (&self.permissions, self.append) {
                    (None, false) => sys::create_file(dir, name),
                    (permissions, append) => {
                        sys::create_file_with(dir, name, permissions.as_ref(), append)
                    }
                }
            })?;
        Ok((file, TrackedName::in_session(name, id)))
    }

    /// Makes a temp dir (mode 0700 unless chosen) in the session; blocking.
    pub(crate) fn create_dir(&self, session: &Session) -> io::Result<TrackedName> {
        self.check()?;
        let (id, name) = session.make_name(
            &self.prefix,
            &self.suffix,
            self.rand,
            |dir, name| match &self.permissions {
                None => sys::create_dir(dir, name),
                Some(permissions) => sys::create_dir_with(dir, name, Some(permissions)),
            },
        )?;
        Ok(TrackedName::in_session(name, id))
    }

    /// Makes a name in the session through `make`, given its full path (a
    /// socket, a FIFO, anything), and records what the name holds right
    /// after `make` returns; blocking. `make` must fail with
    /// `AlreadyExists` (or `AddrInUse`) when the name is taken.
    pub(crate) fn create_with<R>(
        &self,
        session: &Session,
        mut make: impl FnMut(&Path) -> io::Result<R>,
    ) -> io::Result<(R, TrackedName)> {
        self.check()?;
        let ((made, id), name) =
            session.make_name(&self.prefix, &self.suffix, self.rand, |dir, name| {
                let made = make(&session.child(name))?;
                match sys::identify(dir, name)? {
                    Some(id) => Ok((made, id)),
                    None => Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "the closure made nothing at the path it was given",
                    )),
                }
            })?;
        Ok((made, TrackedName::in_session(name, id)))
    }
}
