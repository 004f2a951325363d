//! Where a remote keeps its LFS objects and how objects move to and from it: a local
//! repository's store (git-lfs's "standalone file" layout, `<remote git dir>/lfs/objects`), or
//! an LFS server over HTTP (`lfs_http`). For a local store, uploads hard-link when possible
//! (objects are immutable), else copy through a temp file with the hash checked on the way;
//! downloads are always re-hashed before they become visible.

use crate::error::{Context, Error, Result};
use crate::lfs::pointer::Pointer;
use crate::lfs::store::Store;
use crate::progress::Progress;
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
    Http(Box<crate::lfs::http::HttpLfs>),
}

/// What an upload did.
#[derive(Debug, Default)]
pub struct UploadSummary {
    pub uploaded_objects: u64,
    pub uploaded_bytes: u64,
    pub skipped_objects: u64,
    pub skipped_bytes: u64,
    /// What went through Xet storage (Hub remotes that chose the xet transfer).
    pub xet: Option<crate::xet::upload::Report>,
}

/// A committed `.lfsconfig` is the repository author's word, not the user's: uploads go where
/// it points only when that is the git remote's own origin, or the user's git config says to
/// trust it (`hfgit.trustLfsconfig`), so a repository cannot divert the user's weights (and the
/// credentials that come with them) to a host of its choosing.
fn check_lfsconfig_upload(repo: &git2::Repository, endpoint: &str, git_url: &str) -> Result<()> {
    use crate::net::credentials::{origin_of, split_url_credentials};
    let ep_origin = origin_of(&split_url_credentials(endpoint).0);
    if ep_origin.is_some() && ep_origin == origin_of(&split_url_credentials(git_url).0) {
        return Ok(());
    }
    let cfg = repo.config().context("reading git config")?;
    if cfg.get_bool("hfgit.trustlfsconfig").unwrap_or(false) {
        return Ok(());
    }
    let place = match &ep_origin {
        Some((_, host)) => host.clone(),
        None => crate::net::remote::redact(endpoint),
    };
    Err(Error::with_hint(
        format!(
            "refusing to upload LFS objects to {place}: the repository's .lfsconfig sends them there, away from the git remote {}",
            crate::net::remote::redact(git_url)
        ),
        format!(
            "if you trust this repository's .lfsconfig, run `git config hfgit.trustLfsconfig true` (or set lfs.url yourself with `git config lfs.url {}`)",
            crate::net::remote::redact(endpoint)
        ),
    ))
}

impl LfsRemote {
    /// The LFS side of git remote `url` (named `name` in config, if it is), found as git-lfs
    /// finds it (`lfs_endpoint`).
    pub fn for_remote(
        repo: &git2::Repository,
        name: Option<&str>,
        url: &str,
        op: crate::lfs::endpoint::Operation,
        ref_name: Option<String>,
        interactive: bool,
    ) -> Result<LfsRemote> {
        let (ep, source) = crate::lfs::endpoint::endpoint(repo, name, url, op)?;
        if op == crate::lfs::endpoint::Operation::Upload && source == crate::lfs::endpoint::Source::LfsConfig {
            check_lfsconfig_upload(repo, &ep, url)?;
        }
        match crate::net::remote::location(&ep)? {
            crate::net::remote::Location::Local(p) => LfsRemote::local(&p, local_transfer(repo)?),
            crate::net::remote::Location::Http(u) => {
                Ok(LfsRemote::Http(Box::new(crate::lfs::http::HttpLfs::new(repo, &u, url, ref_name, interactive)?)))
            }
        }
    }

    /// Sends every object of `needed` the remote lacks. Fails, naming each path and oid, when an
    /// object the remote needs is missing or damaged locally, or could not be sent.
    pub fn upload_all(&self, local: &Store, needed: Vec<(String, Pointer)>, progress: &dyn Progress) -> Result<UploadSummary> {
        let mut sum = UploadSummary::default();
        let failures: Vec<String> = match self {
            LfsRemote::Http(h) => {
                let r = h.upload(local, needed, progress)?;
                sum = UploadSummary {
                    uploaded_objects: r.transferred_objects,
                    uploaded_bytes: r.transferred_bytes,
                    skipped_objects: r.skipped_objects,
                    skipped_bytes: r.skipped_bytes,
                    xet: r.xet.as_ref().and_then(|x| x.upload.clone()),
                };
                r.failures.iter().map(|f| format!("{} (sha256:{}): {}", f.path, f.oid, f.error)).collect()
            }
            LfsRemote::Local { store, .. } => {
                // what killed pushes left in the remote's lfs/tmp (no lock guards a remote:
                // only files of dead hfgit processes, or very old ones, are taken)
                let cutoff = std::time::SystemTime::now().checked_sub(crate::cleanup::FOREIGN_TEMP_MAX_AGE);
                crate::cleanup::remove_stale(&store.root().join("tmp"), cutoff.unwrap_or(std::time::UNIX_EPOCH));
                let mut to_send = Vec::new();
                let mut problems = Vec::new();
                for (path, p) in &needed {
                    if self.has(p) {
                        sum.skipped_objects += 1;
                        sum.skipped_bytes += p.size;
                    } else if !local.contains(p) {
                        let kind = if local.object_path(&p.oid).exists() { "corrupt" } else { "missing" };
                        problems.push(format!("({kind}) {path} (sha256:{})", p.oid));
                    } else {
                        to_send.push(p.clone());
                    }
                }
                if !problems.is_empty() {
                    return Err(Error::with_hint(
                        format!("cannot push: LFS objects are not in the local store:\n  {}", problems.join("\n  ")),
                        "run `hfgit fsck` for details; restore the files and commit again, or `hfgit pull` if another clone has them",
                    ));
                }
                let total: u64 = to_send.iter().map(|p| p.size).sum();
                progress.begin("Uploading", total, to_send.len() as u64);
                sum.uploaded_objects = to_send.len() as u64;
                sum.uploaded_bytes = total;
                let results = crate::parallel::largest_first(
                    to_send,
                    |p| p.size,
                    crate::parallel::default_threads(),
                    |p| {
                        let r = self.upload(local, p, progress);
                        progress.item_done();
                        r
                    },
                );
                progress.end();
                results.into_iter().filter_map(|(p, r)| r.err().map(|e| format!("sha256:{}: {e}", p.oid))).collect()
            }
        };
        if !failures.is_empty() {
            return Err(Error::with_hint(
                format!("LFS upload failed; the remote branch was not moved:\n  {}", failures.join("\n  ")),
                "fix the cause and run the push again: objects already sent are not sent twice",
            ));
        }
        Ok(sum)
    }

    /// The LFS side of a local repository (bare or not) at `path`.
    pub fn local(path: &Path, transfer: LocalTransfer) -> Result<LfsRemote> {
        Ok(LfsRemote::Local { store: Store::for_git_dir(&git_dir_of(path)?), transfer })
    }

    fn has(&self, p: &Pointer) -> bool {
        match self {
            LfsRemote::Local { store, .. } => store.contains(p),
            LfsRemote::Http(_) => false,
        }
    }

    /// Which of `objects` the remote lacks (with why), without transferring any: a local store
    /// is looked into, an HTTP server asked through the batch API.
    pub fn lacking(&self, objects: &[Pointer]) -> Result<Vec<(Pointer, String)>> {
        match self {
            LfsRemote::Http(h) => h.missing(objects),
            LfsRemote::Local { store, .. } => Ok(objects
                .iter()
                .filter(|p| !store.contains(p))
                .map(|p| (p.clone(), format!("not in {}", store.object_path(&p.oid).display())))
                .collect()),
        }
    }

    /// Sends one object from the local store. The object appears at its final path complete
    /// or not at all.
    fn upload(&self, local: &Store, p: &Pointer, progress: &dyn Progress) -> Result<()> {
        match self {
            LfsRemote::Http(_) => unreachable!("HTTP uploads go through upload_all"),
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
                let staged = store.stage(&mut f, &format!("copying object {}", p.oid), progress)?;
                crate::lfs::store::check_digest(p, staged.oid, staged.size)
                    .map_err(|e| Error::with_hint(format!("local {e}"), "run `hfgit fsck` to find and repair it"))?;
                store.persist(staged.tmp, &p.oid)
            }
        }
    }

    /// Brings one object into the local store, verified. With `also_to`, a second copy is
    /// written there at the same time (the work-tree copy of a clone), overlapping the hash
    /// with the copy; that copy is removed unless the object verified. Returns whether that copy
    /// shares the object's extents (a copy-on-write filesystem: no second copy on disk).
    pub fn download(&self, local: &Store, p: &Pointer, progress: &dyn Progress, also_to: Option<&Path>) -> Result<bool> {
        match self {
            LfsRemote::Http(_) => unreachable!("HTTP downloads go through lfs::fetch::fetch_objects"),
            LfsRemote::Local { store, .. } => {
                let src = store.object_path(&p.oid);
                if !src.exists() {
                    return Err(Error::failed(crate::lfs::http::REMOTE_LACKS));
                }
                let Some(copy) = also_to else { return local.import_verified(&src, p, progress).map(|()| false) };
                let (verified, copied) = std::thread::scope(|s| {
                    let c = s.spawn(|| crate::lfs::store::copy_file(&src, copy));
                    let v = local.import_verified(&src, p, progress);
                    (v, c.join().expect("copy thread does not panic"))
                });
                let complete = fs::metadata(copy).is_ok_and(|m| m.len() == p.size);
                match (verified, copied) {
                    (Ok(()), Ok(shared)) if complete => Ok(shared),
                    (verified, _) => {
                        let _ = fs::remove_file(copy);
                        verified.map(|()| false)
                    }
                }
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
