//! The registry's state machine against a plain model.
//!
//! The input decodes into a list of operations (create, write, drop, close,
//! persist, keep, purge, close the registry). Each is applied to a real
//! registry, rooted in a fresh directory on tmpfs, and to a model that says
//! which paths must exist, with what content, and which must not. After every
//! step the two must agree: the registry's count, every path the model knows,
//! and the exact listings of the session directory and of the root.
//!
//! Only the sync API is used, so that one run takes microseconds.

#![no_main]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tempreg::{ResourceRegistry, TempDir, TempFile, TempPath};

/// Most operations taken from one input; more add time, not states.
const MAX_OPS: usize = 64;
/// Most bytes of one write.
const MAX_WRITE: usize = 256;
/// The file a write to a temp dir goes to.
const DIR_DATA: &str = "data";

#[derive(Arbitrary, Debug)]
enum Op {
    CreateFile,
    /// `temp_file()` then `into_temp_path()`.
    CreateTempPath,
    CreateDir,
    /// To a held guard: through the fd (file), by path (temp path), or into
    /// `data` inside it (dir).
    Write {
        idx: u8,
        bytes: Vec<u8>,
    },
    Drop {
        idx: u8,
    },
    Close {
        idx: u8,
    },
    /// A held `TempFile` only, to `<root>/persisted-<n>`.
    Persist {
        idx: u8,
    },
    Keep {
        idx: u8,
    },
    PurgeBlocking,
    CloseRegistry,
}

enum Guard {
    File(TempFile),
    Path(TempPath),
    Dir(TempDir),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Tracked: in the session directory and counted by `len()`.
    Live,
    /// Purged while its guard is still held: the path is gone.
    Purged,
    /// Dropped or closed: the path is gone.
    Gone,
    /// Persisted or kept: in the root, the caller's from now on.
    Out,
}

#[derive(Debug)]
struct Model {
    path: PathBuf,
    kind: Kind,
    /// A file's bytes, or a dir's `data` file's bytes (`None`: dir is empty).
    content: Option<Vec<u8>>,
    state: State,
}

struct World {
    registry: ResourceRegistry,
    root: PathBuf,
    session: PathBuf,
    /// One per creation, never removed, so that gone paths stay checked.
    models: Vec<Model>,
    /// The guard of `models[i]`, while the test holds it.
    guards: Vec<Option<Guard>>,
    closed: bool,
    persisted: usize,
}

impl World {
    fn new(root: &Path) -> World {
        let registry = ResourceRegistry::builder()
            .root(root)
            .prefix("fuzz")
            .build()
            .expect("build registry");
        let session = registry.session_dir().to_path_buf();
        assert_eq!(session.parent(), Some(root), "session dir is in the root");
        World {
            registry,
            root: root.to_path_buf(),
            session,
            models: Vec::new(),
            guards: Vec::new(),
            closed: false,
            persisted: 0,
        }
    }

    /// The index (into `models`) of the `idx`-th held guard that `fits`.
    fn pick(&self, idx: u8, fits: impl Fn(&Guard) -> bool) -> Option<usize> {
        let held: Vec<usize> = (0..self.guards.len())
            .filter(|&i| self.guards[i].as_ref().is_some_and(&fits))
            .collect();
        if held.is_empty() {
            None
        } else {
            Some(held[usize::from(idx) % held.len()])
        }
    }

    fn created(&mut self, made: io::Result<Guard>) {
        let guard = match made {
            Ok(guard) => guard,
            Err(e) => {
                assert!(self.closed, "creation failed on an open registry: {e}");
                assert!(tempreg::is_closed_error(&e), "not the closed error: {e}");
                return;
            }
        };
        assert!(!self.closed, "creation succeeded on a closed registry");
        let (path, kind, content) = match &guard {
            Guard::File(f) => (f.path().to_path_buf(), Kind::File, Some(Vec::new())),
            Guard::Path(p) => (p.path().to_path_buf(), Kind::File, Some(Vec::new())),
            Guard::Dir(d) => (d.path().to_path_buf(), Kind::Dir, None),
        };
        assert_eq!(path.parent(), Some(self.session.as_path()));
        self.models.push(Model {
            path,
            kind,
            content,
            state: State::Live,
        });
        self.guards.push(Some(guard));
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
            Op::Write { idx, mut bytes } => {
                bytes.truncate(MAX_WRITE);
                let Some(i) = self.pick(idx, |_| true) else {
                    return;
                };
                let live = self.models[i].state == State::Live;
                let model = &mut self.models[i];
                match self.guards[i].as_mut().expect("picked a held guard") {
                    // A purge revokes the fd: writing through it then fails
                    // with a closed error, and touches no path.
                    Guard::File(f) if live => {
                        f.write_all(&bytes).expect("write to a temp file's fd")
                    }
                    Guard::File(f) => {
                        let err = f
                            .write_all(&bytes)
                            .expect_err("a purged temp file takes no writes");
                        assert!(tempreg::is_closed_error(&err), "{err}");
                        return;
                    }
                    // By path only while live: a purged path must stay gone.
                    Guard::Path(p) if live => {
                        let mut file = fs::OpenOptions::new()
                            .append(true)
                            .open(p.path())
                            .expect("open a live temp path");
                        file.write_all(&bytes).expect("write to a temp path");
                    }
                    Guard::Dir(d) if live => {
                        let mut file = fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(d.path().join(DIR_DATA))
                            .expect("open a file in a live temp dir");
                        file.write_all(&bytes).expect("write in a temp dir");
                    }
                    Guard::Path(_) | Guard::Dir(_) => return,
                }
                if live {
                    model.content.get_or_insert_with(Vec::new).extend(&bytes);
                }
            }
            Op::Drop { idx } => {
                let Some(i) = self.pick(idx, |_| true) else {
                    return;
                };
                drop(self.guards[i].take());
                self.gone(i);
            }
            Op::Close { idx } => {
                let Some(i) = self.pick(idx, |_| true) else {
                    return;
                };
                let closed = match self.guards[i].take().expect("picked a held guard") {
                    Guard::File(f) => f.close(),
                    Guard::Path(p) => p.close(),
                    Guard::Dir(d) => d.close(),
                };
                // A purged guard closes with Ok too: its path is gone already.
                closed.expect("close a guard");
                self.gone(i);
            }
            Op::Persist { idx } => {
                let Some(i) = self.pick(idx, |g| matches!(g, Guard::File(_))) else {
                    return;
                };
                let Some(Guard::File(file)) = self.guards[i].take() else {
                    unreachable!("picked a held TempFile");
                };
                self.persisted += 1;
                let dest = self.root.join(format!("persisted-{}", self.persisted));
                match (file.persist(&dest), self.models[i].state) {
                    (Ok(_file), State::Live) => {
                        self.models[i].path = dest;
                        self.models[i].state = State::Out;
                    }
                    (Err(e), State::Purged) => {
                        assert_eq!(e.error.kind(), io::ErrorKind::NotFound, "{e}");
                        assert!(tempreg::is_closed_error(&e.error), "{e}");
                        // Handed back unchanged: the test still holds it.
                        self.guards[i] = Some(Guard::File(e.into_file()));
                    }
                    (Ok(_), state) => panic!("persisted a {state:?} temp file"),
                    (Err(e), state) => panic!("persist of a {state:?} temp file failed: {e}"),
                }
            }
            Op::Keep { idx } => {
                let Some(i) = self.pick(idx, |_| true) else {
                    return;
                };
                let live = self.models[i].state == State::Live;
                let old = self.models[i].path.clone();
                // A failed keep hands the guard back: only a purged entry
                // fails here, with a closed error, and the test keeps it.
                let kept: Result<PathBuf, (io::Error, Guard)> =
                    match self.guards[i].take().expect("picked a guard") {
                        Guard::File(f) => f
                            .keep()
                            .map(|(_file, path)| path)
                            .map_err(|e| (e.error, Guard::File(e.file))),
                        Guard::Path(p) => p.keep().map_err(|e| (e.error, Guard::Path(e.path))),
                        Guard::Dir(d) => d.keep().map_err(|e| (e.error, Guard::Dir(e.dir))),
                    };
                let kept = match kept {
                    Ok(path) => Some(path),
                    Err((e, guard)) => {
                        assert!(!live, "keep of a live entry failed: {e}");
                        assert!(tempreg::is_closed_error(&e), "{e}");
                        self.guards[i] = Some(guard);
                        return;
                    }
                };
                match kept {
                    Some(path) => {
                        assert!(live, "kept a purged entry to {}", path.display());
                        // The same name in the root, or, if that is taken
                        // (only by a kept namesake), the name plus `-random`.
                        let name = old.file_name().unwrap().to_os_string();
                        assert_eq!(path.parent(), Some(self.root.as_path()));
                        if self.names(State::Out).contains(&name) {
                            let mut prefix = name;
                            prefix.push("-");
                            let got = path.file_name().unwrap().as_encoded_bytes();
                            assert!(got.starts_with(prefix.as_encoded_bytes()));
                        } else {
                            assert_eq!(path.file_name(), Some(name.as_os_str()));
                        }
                        self.models[i].path = path;
                        self.models[i].state = State::Out;
                    }
                    None => unreachable!("a failed keep returned above"),
                }
            }
            Op::PurgeBlocking => {
                let live = self.count(State::Live);
                // Each live temp file's fd is closed (revoked) as well.
                let open_files = self
                    .models
                    .iter()
                    .zip(&self.guards)
                    .filter(|(m, g)| m.state == State::Live && matches!(g, Some(Guard::File(_))))
                    .count();
                let report = self.registry.purge_all_blocking();
                assert!(report.is_clean(), "{report}");
                assert_eq!(report.removed(), live, "{report}");
                assert_eq!(report.closed(), open_files, "{report}");
                assert_eq!(report.already_gone(), 0, "{report}");
                for m in &mut self.models {
                    if m.state == State::Live {
                        m.state = State::Purged;
                    }
                }
            }
            Op::CloseRegistry => {
                assert_eq!(
                    self.registry.close(),
                    !self.closed,
                    "close() says what changed"
                );
                self.closed = true;
                assert!(self.registry.is_closed());
            }
        }
    }

    /// `models[i]`'s guard was dropped or consumed.
    fn gone(&mut self, i: usize) {
        let m = &mut self.models[i];
        if matches!(m.state, State::Live | State::Purged) {
            m.state = State::Gone;
        }
    }

    fn count(&self, state: State) -> usize {
        self.models.iter().filter(|m| m.state == state).count()
    }

    fn names(&self, state: State) -> BTreeSet<OsString> {
        self.models
            .iter()
            .filter(|m| m.state == state)
            .map(|m| m.path.file_name().unwrap().to_os_string())
            .collect()
    }

    /// The registry, the file system and the model agree.
    fn check(&self) {
        assert_eq!(self.registry.len(), self.count(State::Live), "len()");
        assert_eq!(self.registry.is_closed(), self.closed);

        let listed: BTreeSet<PathBuf> = self
            .registry
            .entries()
            .into_iter()
            .map(|e| e.path().to_path_buf())
            .collect();
        let live: BTreeSet<PathBuf> = self
            .models
            .iter()
            .filter(|m| m.state == State::Live)
            .map(|m| m.path.clone())
            .collect();
        assert_eq!(listed, live, "entries()");

        let mut in_session = self.names(State::Live);
        in_session.insert(OsString::from(tempreg::LOCK_NAME));
        assert_eq!(listing(&self.session), in_session, "session dir listing");

        let mut in_root = self.names(State::Out);
        in_root.insert(self.session.file_name().unwrap().to_os_string());
        assert_eq!(listing(&self.root), in_root, "root listing");

        let existing: BTreeSet<&Path> = self
            .models
            .iter()
            .filter(|m| matches!(m.state, State::Live | State::Out))
            .map(|m| m.path.as_path())
            .collect();
        for m in &self.models {
            match m.state {
                State::Live | State::Out => check_content(m),
                // A later entry could, very rarely, be given the same name.
                State::Purged | State::Gone if existing.contains(m.path.as_path()) => {}
                State::Purged | State::Gone => assert!(
                    fs::symlink_metadata(&m.path).is_err(),
                    "{:?} entry still exists: {}",
                    m.state,
                    m.path.display()
                ),
            }
        }
    }

    /// Drops every guard, then the registry: the root keeps only what was
    /// persisted or kept.
    fn finish(mut self) {
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
    }
}

fn listing(dir: &Path) -> BTreeSet<OsString> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("read_dir entry").file_name())
        .collect()
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
            assert!(meta.is_file(), "not a file: {}", m.path.display());
            let bytes = fs::read(&m.path).expect("read file");
            assert_eq!(
                Some(&bytes),
                m.content.as_ref(),
                "content of {}",
                m.path.display()
            );
        }
        Kind::Dir => {
            assert!(meta.is_dir(), "not a dir: {}", m.path.display());
            let names = listing(&m.path);
            match &m.content {
                None => assert!(names.is_empty(), "dir {} not empty", m.path.display()),
                Some(content) => {
                    assert_eq!(names, BTreeSet::from([OsString::from(DIR_DATA)]));
                    let bytes = fs::read(m.path.join(DIR_DATA)).expect("read dir data");
                    assert_eq!(&bytes, content, "content in {}", m.path.display());
                }
            }
        }
    }
}

fn fresh_root() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("tempreg-fuzz-")
        .tempdir_in(parent)
        .expect("fresh root")
}

fuzz_target!(|ops: Vec<Op>| {
    let root = fresh_root();
    let mut world = World::new(root.path());
    world.check();
    for op in ops.into_iter().take(MAX_OPS) {
        world.apply(op);
        world.check();
    }
    world.finish();
});
