//! The registry's state machine, through its sync guards, against a plain
//! model.
//!
//! The input decodes into a list of operations (create, write, read, drop,
//! close, persist, keep, split into parts, tamper with a name behind the
//! registry's back, purge, close the registry). Each is applied to a real
//! registry, rooted in a fresh directory on tmpfs, and to a model that says
//! which paths must exist, with what content, and which must not. After
//! every step the two must agree: the registry's count and entries, every
//! path the model knows, the exact listings of the session directory and of
//! the root, and files outside the root that nothing may touch.
//!
//! Only the sync API is used, so that one run takes microseconds, and every
//! outcome is deterministic: a purge's report is predicted exactly.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arbitrary::Arbitrary;
use tempreg::{
    AnonymousFile, PurgeFailureKind, PurgeOptions, ResourceRegistry, TempDir, TempFile, TempPath,
};

use crate::common::{self, check_bytes, exists, listing, read_file};

/// Most operations taken from one input; more add time, not states.
pub const MAX_OPS: usize = 64;
/// Most bytes of one write.
const MAX_WRITE: usize = 256;
/// The file a write to a temp dir goes to.
const DIR_DATA: &str = "data";
/// What a tampering leaves at a name.
const FOREIGN: &[u8] = b"not tempreg's";
/// The longest name the file systems we run on take.
const NAME_MAX: usize = 255;

/// Runs one input given as raw bytes, exactly as the fuzz target does.
pub fn run_bytes(bytes: &[u8]) {
    if let Some(ops) = common::decode::<Vec<Op>>(bytes) {
        run(ops);
    }
}

/// Runs one decoded input.
pub fn run(ops: Vec<Op>) {
    let base = common::fresh_base();
    let mut world = World::new(base.path());
    world.check();
    for op in ops.into_iter().take(MAX_OPS) {
        world.apply(op);
        world.check();
    }
    world.finish();
}

/// One operation on the registry or a guard it handed out.
#[derive(Arbitrary, Debug)]
pub enum Op {
    CreateFile,
    /// `temp_file()` then `into_temp_path()`.
    CreateTempPath,
    CreateDir,
    /// `temp().prefix(..).suffix(..).rand_bytes(..)` then `.file()` or
    /// `.dir()`: names that are refused, that clash, that are long.
    CreateNamed {
        dir: bool,
        prefix: Part,
        suffix: Part,
        rand: u8,
    },
    CreateAnonymous,
    /// To a held guard: through the fd (temp file, anonymous file), by path
    /// (temp path), or into `data` inside it (dir).
    Write {
        idx: u8,
        bytes: Vec<u8>,
    },
    /// Reads a temp or anonymous file back through its guard.
    Read {
        idx: u8,
    },
    /// A dir only: a subdirectory with a file, and a symlink to a directory
    /// outside the root that no removal may follow.
    Populate {
        idx: u8,
    },
    Drop {
        idx: u8,
    },
    Close {
        idx: u8,
    },
    /// A held `TempFile` only.
    Persist {
        idx: u8,
        to: Dest,
    },
    Keep {
        idx: u8,
    },
    /// A held `TempFile` only: `into_parts()`, the file kept loose.
    IntoParts {
        idx: u8,
    },
    /// Through a loose file from `IntoParts` (seek to the end, write).
    WriteLoose {
        idx: u8,
        bytes: Vec<u8>,
    },
    DropLoose {
        idx: u8,
    },
    /// Removes or replaces a live entry's name behind the registry's back.
    Tamper {
        idx: u8,
        how: Tamper,
    },
    PurgeBlocking {
        deadline: Option<Deadline>,
    },
    CloseRegistry,
}

/// Where `Persist` moves a file.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Dest {
    /// A new name in the root.
    New,
    /// A new name in the root, with `persist_noclobber`.
    NewNoclobber,
    /// Over a kept or persisted path (or a file outside the root if there
    /// is none), refusing to replace it.
    TakenNoclobber,
    /// Over a kept or persisted path, replacing it (fails on a directory).
    Taken,
    /// Into a directory that does not exist.
    MissingDir,
}

/// What `Tamper` leaves at the name.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    Remove,
    File,
    Dir,
    /// A symlink to a file outside the root.
    Symlink,
    Fifo,
}

/// A purge's deadline. Zero times every entry out (the blocking purge
/// checks it before each one); the others never run out.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Deadline {
    Zero,
    Hour,
    /// Too far to count from now: no deadline.
    Max,
}

impl Deadline {
    fn duration(self) -> Duration {
        match self {
            Deadline::Zero => Duration::ZERO,
            Deadline::Hour => Duration::from_secs(3600),
            Deadline::Max => Duration::MAX,
        }
    }
}

/// A part of a temp name, mapped onto a small alphabet; `0xff` is `/` and
/// `0xfe` NUL (both refused); a leading `0xfd` makes a 250-byte name.
#[derive(Arbitrary, Debug, Clone)]
pub struct Part(Vec<u8>);

impl Part {
    pub(crate) fn starts_with_marker(&self, marker: u8) -> bool {
        self.0.first() == Some(&marker)
    }

    pub(crate) fn to_os(&self, first: Option<u8>) -> OsString {
        const ALPHABET: &[u8] = b"abcxyz019.-_";
        if self.0.first() == Some(&0xfd) {
            return OsString::from("L".repeat(250));
        }
        let mut bytes: Vec<u8> = first.into_iter().collect();
        bytes.extend(self.0.iter().take(8).map(|&b| match b {
            0xff => b'/',
            0xfe => 0,
            b => ALPHABET[usize::from(b) % ALPHABET.len()],
        }));
        OsString::from_vec(bytes)
    }
}

/// What `temp().prefix(p).suffix(s).rand_bytes(r)` must do, by the rules
/// `TempOptions` documents: `Err(kind)` for a refused or taken name.
pub(crate) fn expected_name(
    prefix: &OsStr,
    suffix: &OsStr,
    rand: usize,
    taken: impl Fn(&OsStr) -> bool,
) -> Result<(), io::ErrorKind> {
    let bad = |p: &OsStr| p.as_bytes().iter().any(|&b| b == b'/' || b == 0);
    if bad(prefix) || bad(suffix) {
        return Err(io::ErrorKind::InvalidInput);
    }
    if prefix.len() + rand + suffix.len() > NAME_MAX {
        return Err(io::ErrorKind::InvalidInput);
    }
    if rand == 0 {
        let mut name = prefix.to_os_string();
        name.push(suffix);
        if name.is_empty() || name == "." || name == ".." {
            return Err(io::ErrorKind::InvalidInput);
        }
        if taken(&name) {
            return Err(io::ErrorKind::AlreadyExists);
        }
    }
    Ok(())
}

/// A name made from `prefix`, `rand` random characters and `suffix`.
pub(crate) fn check_name_shape(name: &OsStr, prefix: &OsStr, suffix: &OsStr, rand: usize) {
    let (n, p, s) = (name.as_bytes(), prefix.as_bytes(), suffix.as_bytes());
    assert_eq!(n.len(), p.len() + rand + s.len(), "name {name:?}");
    assert!(n.starts_with(p) && n.ends_with(s), "name {name:?}");
    let middle = &n[p.len()..n.len() - s.len()];
    assert!(
        middle.iter().all(u8::is_ascii_alphanumeric),
        "name {name:?}"
    );
}

enum Guard {
    File(TempFile),
    Path(TempPath),
    Dir(TempDir),
    Anon(AnonymousFile),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Anon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Tracked, its name in the session directory (an anonymous file has
    /// none).
    Live,
    /// Tracked, but its name was removed or replaced behind our back.
    Tampered(Tamper),
    /// A purge took it while its guard is held: its name is gone (or left
    /// to whoever replaced it), its fd revoked.
    Purged,
    /// No longer tracked though its guard is held: `keep` or `persist`
    /// found its name gone or replaced. Its fd still works.
    Untracked,
    /// Dropped or closed.
    Gone,
    /// Persisted or kept: in the root, the caller's from now on.
    Out,
    /// Out, then replaced by a later persist to the same path.
    Overwritten,
}

#[derive(Debug)]
struct Model {
    path: PathBuf,
    kind: Kind,
    /// A file's bytes (what its inode holds: writes through the fd count
    /// whatever happened to the name), or a dir's `data` file's bytes
    /// (`None`: no `data`).
    content: Option<Vec<u8>>,
    /// A dir holds `sub/f` and the symlink `link`.
    populated: bool,
    /// The entry holds the guard's fd (a `TempFile` not split or turned
    /// into a path; an anonymous file), so a purge closes it.
    has_fd: bool,
    state: State,
}

/// What someone else left at a name in the session directory.
#[derive(Debug)]
struct Foreign {
    path: PathBuf,
    what: Tamper,
}

/// A `File` from `into_parts`: no longer the registry's.
struct Loose {
    model: usize,
    file: File,
    /// It came from a purged guard: revoked, every write fails.
    dead: bool,
}

struct World {
    registry: ResourceRegistry,
    root: PathBuf,
    session: PathBuf,
    /// Files outside the root that no removal may reach.
    victim_file: PathBuf,
    victim_dir: PathBuf,
    /// One per creation, never removed, so that gone paths stay checked.
    models: Vec<Model>,
    /// The guard of `models[i]`, while the test holds it.
    guards: Vec<Option<Guard>>,
    loose: Vec<Option<Loose>>,
    foreign: Vec<Foreign>,
    closed: bool,
    persisted: usize,
}

const VICTIM: &[u8] = b"outside the root";
const VICTIM_DIR_FILE: &str = "keep-me";

impl World {
    fn new(base: &Path) -> World {
        let root = common::subdir(base, "root");
        let outside = common::subdir(base, "outside");
        let victim_file = outside.join("victim");
        fs::write(&victim_file, VICTIM).expect("victim file");
        let victim_dir = common::subdir(&outside, "victim-dir");
        fs::write(victim_dir.join(VICTIM_DIR_FILE), VICTIM).expect("victim dir file");
        let registry = ResourceRegistry::builder()
            .root(&root)
            .prefix("fuzz")
            .build()
            .expect("build registry");
        let session = registry.session_dir().to_path_buf();
        assert_eq!(
            session.parent(),
            Some(root.as_path()),
            "session dir is in the root"
        );
        World {
            registry,
            root,
            session,
            victim_file,
            victim_dir,
            models: Vec::new(),
            guards: Vec::new(),
            loose: Vec::new(),
            foreign: Vec::new(),
            closed: false,
            persisted: 0,
        }
    }

    /// The index (into `models`) of the `idx`-th held guard that `fits`.
    fn pick(&self, idx: u8, fits: impl Fn(&Guard, &Model) -> bool) -> Option<usize> {
        let held: Vec<usize> = (0..self.guards.len())
            .filter(|&i| {
                self.guards[i]
                    .as_ref()
                    .is_some_and(|g| fits(g, &self.models[i]))
            })
            .collect();
        if held.is_empty() {
            None
        } else {
            Some(held[usize::from(idx) % held.len()])
        }
    }

    fn created(&mut self, made: io::Result<Guard>) -> Option<usize> {
        let guard = match made {
            Ok(guard) => guard,
            Err(e) => {
                assert!(self.closed, "creation failed on an open registry: {e}");
                assert!(tempreg::is_closed_error(&e), "not the closed error: {e}");
                return None;
            }
        };
        assert!(!self.closed, "creation succeeded on a closed registry");
        let (path, kind, content, has_fd) = match &guard {
            Guard::File(f) => (f.path().to_path_buf(), Kind::File, Some(Vec::new()), true),
            Guard::Path(p) => (p.path().to_path_buf(), Kind::File, Some(Vec::new()), false),
            Guard::Dir(d) => (d.path().to_path_buf(), Kind::Dir, None, false),
            Guard::Anon(_) => (
                self.session.join("(anonymous)"),
                Kind::Anon,
                Some(Vec::new()),
                true,
            ),
        };
        assert_eq!(path.parent(), Some(self.session.as_path()));
        self.models.push(Model {
            path,
            kind,
            content,
            populated: false,
            has_fd,
            state: State::Live,
        });
        self.guards.push(Some(guard));
        Some(self.models.len() - 1)
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::CreateFile => {
                let made = self.registry.temp_file().map(Guard::File);
                self.created(made);
            }
            Op::CreateTempPath => {
                let made = self
                    .registry
                    .temp_file()
                    .map(|f| Guard::Path(f.into_temp_path()));
                self.created(made);
            }
            Op::CreateDir => {
                let made = self.registry.temp_dir().map(Guard::Dir);
                self.created(made);
            }
            Op::CreateNamed {
                dir,
                prefix,
                suffix,
                rand,
            } => self.create_named(dir, &prefix, &suffix, rand),
            Op::CreateAnonymous => {
                let made = self.registry.anonymous_file().map(Guard::Anon);
                self.created(made);
            }
            Op::Write { idx, mut bytes } => {
                bytes.truncate(MAX_WRITE);
                if let Some(i) = self.pick(idx, |_, _| true) {
                    self.write(i, &bytes);
                }
            }
            Op::Read { idx } => {
                let fits = |g: &Guard, _: &Model| matches!(g, Guard::File(_) | Guard::Anon(_));
                if let Some(i) = self.pick(idx, fits) {
                    self.read(i);
                }
            }
            Op::Populate { idx } => {
                let fits =
                    |g: &Guard, m: &Model| matches!(g, Guard::Dir(_)) && m.state == State::Live;
                if let Some(i) = self.pick(idx, fits) {
                    let dir = self.models[i].path.clone();
                    if !self.models[i].populated {
                        fs::create_dir(dir.join("sub")).expect("mkdir sub");
                        fs::write(dir.join("sub").join("f"), b"f").expect("write sub/f");
                        std::os::unix::fs::symlink(&self.victim_dir, dir.join("link"))
                            .expect("symlink in a temp dir");
                        self.models[i].populated = true;
                    }
                }
            }
            Op::Drop { idx } => {
                if let Some(i) = self.pick(idx, |_, _| true) {
                    drop(self.guards[i].take());
                    self.gone(i);
                }
            }
            Op::Close { idx } => {
                if let Some(i) = self.pick(idx, |_, _| true) {
                    self.close(i);
                }
            }
            Op::Persist { idx, to } => {
                let fits = |g: &Guard, _: &Model| matches!(g, Guard::File(_));
                if let Some(i) = self.pick(idx, fits) {
                    self.persist(i, to);
                }
            }
            Op::Keep { idx } => {
                let fits = |g: &Guard, _: &Model| !matches!(g, Guard::Anon(_));
                if let Some(i) = self.pick(idx, fits) {
                    self.keep(i);
                }
            }
            Op::IntoParts { idx } => {
                let fits = |g: &Guard, _: &Model| matches!(g, Guard::File(_));
                if let Some(i) = self.pick(idx, fits) {
                    let Some(Guard::File(file)) = self.guards[i].take() else {
                        unreachable!("picked a held TempFile");
                    };
                    let dead = self.models[i].state == State::Purged;
                    let (file, path) = file.into_parts();
                    self.guards[i] = Some(Guard::Path(path));
                    // The entry lets go of the fd: a purge no longer closes it.
                    self.models[i].has_fd = false;
                    self.loose.push(Some(Loose {
                        model: i,
                        file,
                        dead,
                    }));
                }
            }
            Op::WriteLoose { idx, mut bytes } => {
                bytes.truncate(MAX_WRITE);
                let held: Vec<usize> = (0..self.loose.len())
                    .filter(|&i| self.loose[i].is_some())
                    .collect();
                if held.is_empty() {
                    return;
                }
                let l = held[usize::from(idx) % held.len()];
                let loose = self.loose[l].as_mut().expect("held loose file");
                let wrote = loose
                    .file
                    .seek(SeekFrom::End(0))
                    .and_then(|_| loose.file.write_all(&bytes));
                if loose.dead {
                    if !bytes.is_empty() {
                        let e = wrote.expect_err("a revoked loose file takes no writes");
                        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
                    }
                } else {
                    // Not the registry's: a purge never revokes it.
                    wrote.expect("write to a loose file");
                    // The same inode, wherever its name went.
                    let m = &mut self.models[loose.model];
                    m.content.get_or_insert_with(Vec::new).extend(&bytes);
                }
            }
            Op::DropLoose { idx } => {
                let held: Vec<usize> = (0..self.loose.len())
                    .filter(|&i| self.loose[i].is_some())
                    .collect();
                if !held.is_empty() {
                    self.loose[held[usize::from(idx) % held.len()]] = None;
                }
            }
            Op::Tamper { idx, how } => {
                let fits =
                    |g: &Guard, m: &Model| !matches!(g, Guard::Anon(_)) && m.state == State::Live;
                if let Some(i) = self.pick(idx, fits) {
                    self.tamper(i, how);
                }
            }
            Op::PurgeBlocking { deadline } => self.purge(deadline),
            Op::CloseRegistry => common::close_registry(&self.registry, &mut self.closed),
        }
    }

    fn create_named(&mut self, dir: bool, prefix: &Part, suffix: &Part, rand: u8) {
        let (prefix, suffix) = (prefix.to_os(None), suffix.to_os(None));
        let rand = usize::from(rand % 16);
        let in_session = listing(&self.session);
        let options = self
            .registry
            .temp()
            .prefix(&prefix)
            .suffix(&suffix)
            .rand_bytes(rand);
        let made = if dir {
            options.dir().map(Guard::Dir)
        } else {
            options.file().map(Guard::File)
        };
        if self.closed {
            // Refused before the name is even looked at.
            self.created(made);
            return;
        }
        match (
            made,
            expected_name(&prefix, &suffix, rand, |n| in_session.contains(n)),
        ) {
            (Ok(guard), Ok(())) => {
                let i = self.created(Ok(guard)).expect("created");
                let name = self.models[i].path.file_name().unwrap().to_os_string();
                check_name_shape(&name, &prefix, &suffix, rand);
            }
            (Err(e), Err(kind)) => assert_eq!(e.kind(), kind, "{e}"),
            (Ok(guard), Err(kind)) => {
                let path = match &guard {
                    Guard::File(f) => f.path().to_path_buf(),
                    Guard::Dir(d) => d.path().to_path_buf(),
                    _ => unreachable!(),
                };
                panic!("made {} where {kind:?} was due", path.display());
            }
            (Err(e), Ok(())) => panic!("named creation failed: {e}"),
        }
    }

    fn write(&mut self, i: usize, bytes: &[u8]) {
        let state = self.models[i].state;
        let purged = state == State::Purged;
        let model = &mut self.models[i];
        match self.guards[i].as_mut().expect("picked a held guard") {
            // A purge revokes the fd: writing through the guard then fails
            // with a closed error, through `as_file` with EBADF.
            Guard::File(f) if purged => {
                if !bytes.is_empty() {
                    let e = f
                        .write_all(bytes)
                        .expect_err("a purged temp file takes no writes");
                    assert!(tempreg::is_closed_error(&e), "{e}");
                    let mut raw: &File = f.as_file();
                    let e = raw.write(bytes).expect_err("revoked fd");
                    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
                }
                let e = f.flush().expect_err("a purged temp file cannot flush");
                assert!(tempreg::is_closed_error(&e), "{e}");
            }
            Guard::Anon(a) if purged => {
                if !bytes.is_empty() {
                    let e = a
                        .write_all(bytes)
                        .expect_err("a purged anonymous file takes no writes");
                    assert!(tempreg::is_closed_error(&e), "{e}");
                    let mut raw: &File = a.as_file();
                    let e = raw.write(bytes).expect_err("revoked fd");
                    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
                }
                let e = a
                    .set_len(0)
                    .expect_err("a purged anonymous file cannot be truncated");
                assert!(tempreg::is_closed_error(&e), "{e}");
            }
            // Otherwise the fd works, whatever became of the name.
            Guard::File(f) => {
                f.write_all(bytes).expect("write to a temp file's fd");
                model.content.get_or_insert_with(Vec::new).extend(bytes);
            }
            Guard::Anon(a) => {
                a.write_all(bytes).expect("write to an anonymous file");
                model.content.get_or_insert_with(Vec::new).extend(bytes);
            }
            // By path only while it is ours: a purged path must stay gone.
            Guard::Path(p) if state == State::Live => {
                let mut file = fs::OpenOptions::new()
                    .append(true)
                    .open(p.path())
                    .expect("open a live temp path");
                file.write_all(bytes).expect("write to a temp path");
                model.content.get_or_insert_with(Vec::new).extend(bytes);
            }
            Guard::Dir(d) if state == State::Live => {
                let mut file = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(d.path().join(DIR_DATA))
                    .expect("open a file in a live temp dir");
                file.write_all(bytes).expect("write in a temp dir");
                model.content.get_or_insert_with(Vec::new).extend(bytes);
            }
            Guard::Path(_) | Guard::Dir(_) => {}
        }
    }

    fn read(&mut self, i: usize) {
        let purged = self.models[i].state == State::Purged;
        let want = self.models[i].content.clone().unwrap_or_default();
        let file: &mut dyn ReadSeek = match self.guards[i].as_mut().expect("held") {
            Guard::File(f) => f,
            Guard::Anon(a) => a,
            _ => unreachable!("picked a file"),
        };
        let mut got = Vec::new();
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut got));
        if purged {
            let e = read.expect_err("a purged file cannot be read");
            assert!(tempreg::is_closed_error(&e), "{e}");
        } else {
            read.expect("read back through the guard");
            assert_eq!(got, want, "read back through the guard");
        }
    }

    fn close(&mut self, i: usize) {
        let state = self.models[i].state;
        let closed = match self.guards[i].take().expect("picked a held guard") {
            Guard::File(f) => f.close(),
            Guard::Path(p) => p.close(),
            Guard::Dir(d) => d.close(),
            Guard::Anon(a) => {
                drop(a);
                Ok(())
            }
        };
        match state {
            // A name someone else removed is NotFound, as tempfile says.
            State::Tampered(Tamper::Remove) => {
                let e = closed.expect_err("close of a name removed behind our back");
                assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
                assert!(!tempreg::is_closed_error(&e), "{e}");
                assert!(!tempreg::is_replaced_error(&e), "{e}");
            }
            // A name that holds another file is left alone, and said so.
            State::Tampered(_) => {
                let e = closed.expect_err("close of a replaced name");
                assert!(tempreg::is_replaced_error(&e), "{e}");
            }
            // A purged guard closes with Ok: its path is gone already, by
            // a purge of ours.
            _ => closed.expect("close a guard"),
        }
        self.gone(i);
    }

    fn persist(&mut self, i: usize, to: Dest) {
        let state = self.models[i].state;
        let Some(Guard::File(file)) = self.guards[i].take() else {
            unreachable!("picked a held TempFile");
        };
        // An existing path in the root to aim at (a file or a kept dir).
        let taken = self.models.iter().position(|m| m.state == State::Out);
        let (dest, noclobber) = match to {
            Dest::New | Dest::NewNoclobber => {
                self.persisted += 1;
                let dest = self.root.join(format!("persisted-{}", self.persisted));
                (dest, matches!(to, Dest::NewNoclobber))
            }
            Dest::TakenNoclobber => (
                taken.map_or(self.victim_file.clone(), |t| self.models[t].path.clone()),
                true,
            ),
            Dest::Taken => match taken {
                Some(t) => (self.models[t].path.clone(), false),
                None => {
                    self.guards[i] = Some(Guard::File(file));
                    return;
                }
            },
            Dest::MissingDir => (self.root.join("missing").join("file"), false),
        };
        let result = if noclobber {
            file.persist_noclobber(&dest)
        } else {
            file.persist(&dest)
        };
        let dest_is_dir = fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir());
        match (result, state) {
            (Ok(_file), State::Live) => {
                assert!(
                    matches!(to, Dest::New | Dest::NewNoclobber | Dest::Taken),
                    "persisted over {} with {to:?}",
                    dest.display()
                );
                assert!(!dest_is_dir, "persisted over a dir");
                if let Some(t) = taken.filter(|_| matches!(to, Dest::Taken)) {
                    self.models[t].state = State::Overwritten;
                }
                self.models[i].path = dest;
                self.models[i].state = State::Out;
            }
            (Ok(_), state) => panic!("persisted a {state:?} temp file to {}", dest.display()),
            (Err(e), State::Purged | State::Untracked) => {
                assert_eq!(e.error.kind(), io::ErrorKind::NotFound, "{e}");
                assert!(tempreg::is_closed_error(&e.error), "{e}");
                // Handed back unchanged: the test still holds it.
                self.guards[i] = Some(Guard::File(e.into_file()));
            }
            (Err(e), State::Tampered(how)) => {
                // The name is no longer ours: nothing moved, not tracked.
                if how == Tamper::Remove {
                    assert_eq!(e.error.kind(), io::ErrorKind::NotFound, "{e}");
                } else {
                    assert!(tempreg::is_replaced_error(&e.error), "{}", e.error);
                }
                assert!(!tempreg::is_closed_error(&e.error), "{}", e.error);
                self.guards[i] = Some(Guard::File(e.into_file()));
                self.models[i].state = State::Untracked;
            }
            (Err(e), State::Live) => {
                let want = match to {
                    Dest::TakenNoclobber => io::ErrorKind::AlreadyExists,
                    Dest::MissingDir => io::ErrorKind::NotFound,
                    Dest::Taken if dest_is_dir => io::ErrorKind::IsADirectory,
                    _ => panic!("persist to {} failed: {}", dest.display(), e.error),
                };
                assert_eq!(e.error.kind(), want, "{}", e.error);
                assert!(!tempreg::is_closed_error(&e.error), "{}", e.error);
                // Handed back, still tracked: nothing lost.
                self.guards[i] = Some(Guard::File(e.into_file()));
            }
            (Err(e), state) => panic!("persist of a {state:?} temp file: {e}"),
        }
    }

    fn keep(&mut self, i: usize) {
        let state = self.models[i].state;
        let old = self.models[i].path.clone();
        let name = old.file_name().unwrap().to_os_string();
        let in_root = listing(&self.root);
        // A failed keep hands the guard back.
        let kept: Result<PathBuf, (io::Error, Guard)> =
            match self.guards[i].take().expect("picked a guard") {
                Guard::File(f) => f
                    .keep()
                    .map(|(_file, path)| path)
                    .map_err(|e| (e.error, Guard::File(e.file))),
                Guard::Path(p) => p.keep().map_err(|e| (e.error, Guard::Path(e.path))),
                Guard::Dir(d) => d.keep().map_err(|e| (e.error, Guard::Dir(e.dir))),
                Guard::Anon(_) => unreachable!("picked a named guard"),
            };
        // The same name in the root, or, if that is taken, the name plus
        // `-` and six random characters: unless that is too long a name.
        let taken = in_root.contains(&name);
        match (kept, state) {
            (Ok(path), State::Live) => {
                assert_eq!(path.parent(), Some(self.root.as_path()));
                if taken {
                    let got = path.file_name().unwrap();
                    let mut prefix = name.clone();
                    prefix.push("-");
                    check_name_shape(got, &prefix, OsStr::new(""), 6);
                } else {
                    assert_eq!(path.file_name(), Some(name.as_os_str()));
                }
                self.models[i].path = path;
                self.models[i].state = State::Out;
            }
            (Ok(path), state) => panic!("kept a {state:?} entry to {}", path.display()),
            (Err((e, guard)), State::Live) => {
                assert!(
                    taken && name.len() + 7 > NAME_MAX,
                    "keep of a live entry failed: {e}"
                );
                assert!(!tempreg::is_closed_error(&e), "{e}");
                // Still tracked, still in the session directory.
                self.guards[i] = Some(guard);
            }
            (Err((e, guard)), State::Purged | State::Untracked) => {
                assert!(tempreg::is_closed_error(&e), "{e}");
                self.guards[i] = Some(guard);
            }
            (Err((e, guard)), State::Tampered(how)) => {
                if how == Tamper::Remove {
                    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
                } else {
                    assert!(tempreg::is_replaced_error(&e), "{e}");
                }
                assert!(!tempreg::is_closed_error(&e), "{e}");
                self.guards[i] = Some(guard);
                self.models[i].state = State::Untracked;
            }
            (Err((e, _)), state) => panic!("keep of a {state:?} entry: {e}"),
        }
    }

    fn tamper(&mut self, i: usize, how: Tamper) {
        let path = self.models[i].path.clone();
        match self.models[i].kind {
            Kind::Dir => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        }
        .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        match how {
            Tamper::Remove => {}
            Tamper::File => fs::write(&path, FOREIGN).expect("foreign file"),
            Tamper::Dir => {
                fs::create_dir(&path).expect("foreign dir");
                fs::write(path.join("f"), FOREIGN).expect("foreign dir's file");
            }
            Tamper::Symlink => {
                std::os::unix::fs::symlink(&self.victim_file, &path).expect("foreign symlink")
            }
            Tamper::Fifo => {
                let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
                assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
            }
        }
        if how != Tamper::Remove {
            self.foreign.push(Foreign { path, what: how });
        }
        self.models[i].state = State::Tampered(how);
    }

    fn purge(&mut self, deadline: Option<Deadline>) {
        let tracked: Vec<usize> = (0..self.models.len())
            .filter(|&i| self.is_tracked(i))
            .collect();
        let report = match deadline {
            None => self.registry.purge_all_blocking(),
            Some(d) => self
                .registry
                .purge_all_blocking_with(PurgeOptions::new().deadline(d.duration())),
        };
        if matches!(deadline, Some(Deadline::Zero)) {
            // Checked before each entry: every one is timed out, put back.
            assert_eq!(report.failures().len(), tracked.len(), "{report}");
            for f in report.failures() {
                assert_eq!(f.kind(), PurgeFailureKind::TimedOut, "{report}");
            }
            assert_eq!(
                (report.removed(), report.closed(), report.already_gone()),
                (0, 0, 0),
                "{report}"
            );
            return;
        }
        let (mut removed, mut closed, mut gone, mut replaced) = (0, 0, 0, 0);
        for &i in &tracked {
            let m = &mut self.models[i];
            let named = m.kind != Kind::Anon;
            match m.state {
                State::Live => {
                    removed += usize::from(named);
                    closed += usize::from(m.has_fd);
                }
                State::Tampered(Tamper::Remove) => {
                    gone += 1;
                    closed += usize::from(m.has_fd);
                }
                // Left alone, and no longer tracked (its fd revoked all the
                // same, though not counted as closed).
                State::Tampered(_) => replaced += 1,
                state => unreachable!("{state:?} is not tracked"),
            }
            m.state = State::Purged;
        }
        assert_eq!(report.removed(), removed, "removed: {report}");
        assert_eq!(report.closed(), closed, "closed: {report}");
        assert_eq!(report.already_gone(), gone, "already gone: {report}");
        assert_eq!(report.failures().len(), replaced, "failures: {report}");
        for f in report.failures() {
            assert_eq!(f.kind(), PurgeFailureKind::Replaced, "{report}");
        }
    }

    fn is_tracked(&self, i: usize) -> bool {
        matches!(self.models[i].state, State::Live | State::Tampered(_))
    }

    /// `models[i]`'s guard was dropped or consumed.
    fn gone(&mut self, i: usize) {
        let m = &mut self.models[i];
        if matches!(
            m.state,
            State::Live | State::Purged | State::Tampered(_) | State::Untracked
        ) {
            m.state = State::Gone;
        }
    }

    fn names(&self, keep: impl Fn(&Model) -> bool) -> BTreeSet<OsString> {
        self.models
            .iter()
            .filter(|m| keep(m) && m.kind != Kind::Anon)
            .map(|m| m.path.file_name().unwrap().to_os_string())
            .collect()
    }

    /// The registry, the file system and the model agree.
    fn check(&self) {
        let tracked = (0..self.models.len()).filter(|&i| self.is_tracked(i));
        assert_eq!(self.registry.len(), tracked.clone().count(), "len()");
        assert_eq!(self.registry.is_closed(), self.closed);

        let mut listed: Vec<(String, PathBuf)> = self
            .registry
            .entries()
            .into_iter()
            .map(|e| (format!("{:?}", e.kind()), e.path().to_path_buf()))
            .collect();
        listed.sort();
        let mut want: Vec<(String, PathBuf)> = tracked
            .map(|i| {
                let m = &self.models[i];
                let kind = match m.kind {
                    Kind::File => "TempFile",
                    Kind::Dir => "TempDir",
                    Kind::Anon => "AnonymousFile",
                };
                (kind.to_string(), m.path.clone())
            })
            .collect();
        want.sort();
        assert_eq!(listed, want, "entries()");

        // Guards' view of a purge.
        for (m, g) in self.models.iter().zip(&self.guards) {
            let purged = m.state == State::Purged;
            match g {
                Some(Guard::File(f)) => assert_eq!(f.is_purged(), purged, "{}", m.path.display()),
                Some(Guard::Anon(a)) => assert_eq!(a.is_purged(), purged, "anonymous file"),
                _ => {}
            }
        }

        let mut in_session = self.names(|m| m.state == State::Live);
        in_session.insert(OsString::from(tempreg::LOCK_NAME));
        in_session.extend(
            self.foreign
                .iter()
                .map(|f| f.path.file_name().unwrap().to_os_string()),
        );
        assert_eq!(listing(&self.session), in_session, "session dir listing");
        for f in &self.foreign {
            check_foreign(f, &self.victim_file);
        }

        let mut in_root = self.names(|m| m.state == State::Out);
        in_root.insert(self.session.file_name().unwrap().to_os_string());
        assert_eq!(listing(&self.root), in_root, "root listing");

        let existing: BTreeSet<&Path> = self
            .models
            .iter()
            .filter(|m| matches!(m.state, State::Live | State::Out))
            .map(|m| m.path.as_path())
            .chain(self.foreign.iter().map(|f| f.path.as_path()))
            .collect();
        for m in self.models.iter().filter(|m| m.kind != Kind::Anon) {
            match m.state {
                State::Live | State::Out => check_content(m),
                // Overwritten, or (rarely) a later entry has the same name.
                _ if existing.contains(m.path.as_path()) => {}
                State::Overwritten => {}
                state => assert!(
                    !exists(&m.path),
                    "{state:?} entry still exists: {}",
                    m.path.display()
                ),
            }
        }
        self.check_victims();
    }

    fn check_victims(&self) {
        assert_eq!(read_file(&self.victim_file), VICTIM, "victim file");
        assert_eq!(
            read_file(&self.victim_dir.join(VICTIM_DIR_FILE)),
            VICTIM,
            "victim dir"
        );
    }

    /// Drops every guard and loose file, then the registry: the root keeps
    /// only what was persisted or kept.
    fn finish(mut self) {
        self.loose.clear();
        for i in 0..self.guards.len() {
            if self.guards[i].take().is_some() {
                self.gone(i);
            }
        }
        self.check();
        assert!(self.registry.is_empty());
        let World {
            registry,
            root,
            models,
            victim_file,
            victim_dir,
            ..
        } = self;
        drop(registry);
        let out: BTreeSet<OsString> = models
            .iter()
            .filter(|m| m.state == State::Out)
            .map(|m| m.path.file_name().unwrap().to_os_string())
            .collect();
        assert_eq!(listing(&root), out, "root after the registry is gone");
        for m in models.iter().filter(|m| m.state == State::Out) {
            check_content(m);
        }
        assert_eq!(read_file(&victim_file), VICTIM, "victim file");
        assert_eq!(
            read_file(&victim_dir.join(VICTIM_DIR_FILE)),
            VICTIM,
            "victim dir"
        );
    }
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

fn check_foreign(f: &Foreign, victim: &Path) {
    let meta = fs::symlink_metadata(&f.path)
        .unwrap_or_else(|e| panic!("foreign {:?} removed: {}: {e}", f.what, f.path.display()));
    let kind = meta.file_type();
    match f.what {
        Tamper::File => {
            assert!(kind.is_file(), "{}", f.path.display());
            assert_eq!(read_file(&f.path), FOREIGN);
        }
        Tamper::Dir => {
            assert!(kind.is_dir(), "{}", f.path.display());
            assert_eq!(read_file(&f.path.join("f")), FOREIGN);
        }
        Tamper::Symlink => {
            assert!(kind.is_symlink(), "{}", f.path.display());
            assert_eq!(fs::read_link(&f.path).expect("read_link"), victim);
        }
        Tamper::Fifo => {
            use std::os::unix::fs::FileTypeExt;
            assert!(kind.is_fifo(), "{}", f.path.display());
        }
        Tamper::Remove => unreachable!("nothing to check"),
    }
}

fn check_content(m: &Model) {
    let meta = fs::symlink_metadata(&m.path).unwrap_or_else(|e| {
        panic!(
            "{:?} {:?} missing: {}: {e}",
            m.state,
            m.kind,
            m.path.display()
        )
    });
    match m.kind {
        Kind::File => {
            let want = m.content.as_deref().unwrap_or_default();
            check_bytes(&m.path, &read_file(&m.path), want, 0);
        }
        Kind::Dir => {
            assert!(meta.is_dir(), "not a dir: {}", m.path.display());
            let mut want = BTreeSet::new();
            if m.content.is_some() {
                want.insert(OsString::from(DIR_DATA));
            }
            if m.populated {
                want.insert(OsString::from("sub"));
                want.insert(OsString::from("link"));
                assert_eq!(read_file(&m.path.join("sub").join("f")), b"f");
                let link = m.path.join("link");
                assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
            }
            assert_eq!(listing(&m.path), want, "dir {}", m.path.display());
            if let Some(content) = &m.content {
                let data = m.path.join(DIR_DATA);
                check_bytes(&data, &read_file(&data), content, 0);
            }
        }
        Kind::Anon => unreachable!("no path"),
    }
}
