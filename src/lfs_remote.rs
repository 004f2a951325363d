//! Where a remote keeps its LFS objects and how objects move to and from it. Today: a local
//! repository's store (git-lfs's "standalone file" layout, `<remote git dir>/lfs/objects`).
//! Uploads hard-link when possible (objects are immutable), else copy through a temp file with
//! the hash checked on the way; downloads are always re-hashed before they become visible.

use crate::error::{Context, Error, Result};
use crate::pointer::Pointer;
use crate::progress::Progress;
use crate::store::{hash_copy, Store};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How objects reach a local remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTransfer {
    /// Hard link when on the same filesystem, else copy (git-lfs's behaviour).
    Link,
    /// Always copy (for remotes that must not share inodes with the working repository).
    Copy,
}

pub enum LfsRemote {
    Local { store: Store, transfer: LocalTransfer },
}

impl LfsRemote {
    /// The LFS side of a local repository (bare or not) at `path`.
    pub fn local(path: &Path, transfer: LocalTransfer) -> Result<LfsRemote> {
        Ok(LfsRemote::Local { store: Store::for_git_dir(&git_dir_of(path)?), transfer })
    }

    pub fn has(&self, p: &Pointer) -> bool {
        match self {
            LfsRemote::Local { store, .. } => store.contains(p),
        }
    }

    /// Sends one object from the local store. The object appears at its final path complete
    /// or not at all.
    pub fn upload(&self, local: &Store, p: &Pointer, progress: &dyn Progress) -> Result<()> {
        match self {
            LfsRemote::Local { store, transfer } => {
                let src = local.object_path(&p.oid);
                let dest = store.object_path(&p.oid);
                let dir = dest.parent().expect("object paths have a parent");
                fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
                if *transfer == LocalTransfer::Link {
                    match fs::hard_link(&src, &dest) {
                        Ok(()) => {
                            progress.bytes(p.size);
                            return Ok(());
                        }
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && store.contains(p) => return Ok(()),
                        Err(_) => {} // another filesystem, or links not allowed: copy
                    }
                }
                let mut f = fs::File::open(&src).context(format!("opening {}", src.display()))?;
                let mut tmp = store.temp_file()?;
                let (oid, n) = hash_copy(&mut f, Some(tmp.as_file_mut()), progress).context(format!("copying object {}", p.oid))?;
                crate::store::check_digest(p, oid, n)
                    .map_err(|e| Error::with_hint(format!("local {e}"), "run `hfgit fsck` to find and repair it"))?;
                store.persist(tmp, &p.oid)
            }
        }
    }

    /// Brings one object into the local store, verified. With `also_to`, a second copy is
    /// written there at the same time (the work-tree copy of a clone), overlapping the hash
    /// with the copy; that copy is removed unless the object verified.
    pub fn download(&self, local: &Store, p: &Pointer, progress: &dyn Progress, also_to: Option<&Path>) -> Result<()> {
        match self {
            LfsRemote::Local { store, .. } => {
                let src = store.object_path(&p.oid);
                if !src.exists() {
                    return Err(Error::failed("the remote is missing this object"));
                }
                let Some(copy) = also_to else { return local.import_verified(&src, p, progress) };
                let (verified, copied) = std::thread::scope(|s| {
                    let c = s.spawn(|| fs::copy(&src, copy));
                    let v = local.import_verified(&src, p, progress);
                    (v, c.join().expect("copy thread does not panic"))
                });
                if verified.is_err() || copied.map(|n| n != p.size).unwrap_or(true) {
                    let _ = fs::remove_file(copy);
                }
                verified
            }
        }
    }
}

/// The git directory of a local repository: `<path>/.git` for a work tree, else `<path>`.
pub fn git_dir_of(path: &Path) -> Result<PathBuf> {
    let dotgit = path.join(".git");
    if dotgit.is_dir() {
        return Ok(dotgit);
    }
    if path.join("objects").is_dir() && path.join("HEAD").exists() {
        return Ok(path.to_path_buf());
    }
    Err(Error::failed(format!("{} is not a git repository", path.display())))
}

/// `hfgit.localTransfer` (`link` or `copy`).
pub fn local_transfer(repo: &git2::Repository) -> Result<LocalTransfer> {
    let cfg = repo.config().context("reading git config")?;
    match cfg.get_string("hfgit.localTransfer").ok().as_deref() {
        None | Some("link") => Ok(LocalTransfer::Link),
        Some("copy") => Ok(LocalTransfer::Copy),
        Some(other) => Err(Error::BadInput(format!("hfgit.localTransfer must be `link` or `copy`, not `{other}`"))),
    }
}
