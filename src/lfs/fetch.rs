//! Downloading the LFS objects a set of files needs into the local store (verified, several at
//! once, largest first), optionally staging a work-tree copy of each as it arrives.

use crate::error::Result;
use crate::lfs::pointer::Pointer;
use crate::lfs::remote::LfsRemote;
use crate::lfs::store::Store;
use crate::progress::Progress;
use git2::Repository;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;

#[derive(Debug, Clone, Serialize)]
pub struct LfsFailure {
    pub path: String,
    pub oid: String,
    pub error: String,
    /// The remote said it does not have the object (fetching again helps only once it does).
    pub missing_on_remote: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct FetchReport {
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    /// Bytes of staged work-tree copies that share the store object's extents.
    pub shared_bytes: u64,
    pub failures: Vec<LfsFailure>,
}

/// Downloads the objects of `files` the local store lacks, several at once, largest first.
/// With `staging`, each downloaded object is also copied, as it is verified, to
/// `staging[oid]` (see `LfsRemote::download`), ready for `checkout_fresh` to rename into place.
pub fn fetch_objects(
    repo: &Repository,
    remote: &LfsRemote,
    files: &BTreeMap<String, Pointer>,
    progress: &dyn Progress,
    staging: Option<&StagedCopies>,
) -> FetchReport {
    let store = Store::for_git_dir(repo.path());
    let mut todo: BTreeMap<crate::lfs::oid::Oid, (String, Pointer)> = BTreeMap::new();
    for (path, p) in files {
        if !store.contains(p) {
            todo.entry(p.oid).or_insert((path.clone(), p.clone()));
        }
    }
    let list: Vec<(String, Pointer)> = todo.into_values().collect();
    if let LfsRemote::Http(h) = remote {
        let mut rep = FetchReport::default();
        match h.download(&store, list, progress, staging) {
            Ok(r) => {
                rep.downloaded_objects = r.transferred_objects;
                rep.downloaded_bytes = r.transferred_bytes;
                rep.failures = r
                    .failures
                    .into_iter()
                    .map(|f| LfsFailure { path: f.path, oid: f.oid.to_hex(), error: f.error, missing_on_remote: f.missing_on_remote })
                    .collect();
            }
            Err(e) => {
                rep.failures = files
                    .iter()
                    .filter(|(_, p)| !store.contains(p))
                    .map(|(path, p)| LfsFailure { path: path.clone(), oid: p.oid.to_hex(), error: e.to_string(), missing_on_remote: false })
                    .collect();
            }
        }
        return spread_failures(rep, files);
    }
    let total = list.iter().map(|(_, p)| p.size).sum();
    progress.begin("Downloading", total, list.len() as u64);
    let results = crate::parallel::largest_first(
        list,
        |(_, p)| p.size,
        crate::parallel::default_threads(),
        |(path, p)| {
            let also = staging.map(|st| st.path_for(&p.oid));
            let r = remote.download(&store, p, &crate::progress::FileProgress::new(progress, path, p.size), also.as_deref());
            progress.item_done();
            r
        },
    );
    progress.end();
    let mut rep = FetchReport::default();
    for ((path, p), r) in results {
        match r {
            Ok(shared) => {
                rep.downloaded_objects += 1;
                rep.downloaded_bytes += p.size;
                rep.shared_bytes += if shared { p.size } else { 0 };
            }
            Err(e) => {
                let error = e.to_string();
                let missing_on_remote = error.starts_with(crate::lfs::http::REMOTE_LACKS);
                rep.failures.push(LfsFailure { path, oid: p.oid.to_hex(), error, missing_on_remote })
            }
        }
    }
    spread_failures(rep, files)
}

/// Reports a failed object under every path that uses it.
fn spread_failures(mut rep: FetchReport, files: &BTreeMap<String, Pointer>) -> FetchReport {
    let failed: std::collections::HashSet<String> = rep.failures.iter().map(|f| f.oid.clone()).collect();
    let errors: BTreeMap<String, (String, bool)> =
        rep.failures.iter().map(|f| (f.oid.clone(), (f.error.clone(), f.missing_on_remote))).collect();
    rep.failures = files
        .iter()
        .filter(|(_, p)| failed.contains(&p.oid.to_hex()))
        .map(|(path, p)| {
            let (error, missing_on_remote) = errors[&p.oid.to_hex()].clone();
            LfsFailure { path: path.clone(), oid: p.oid.to_hex(), error, missing_on_remote }
        })
        .collect();
    rep
}

/// Work-tree copies of downloaded objects, staged in `lfs/tmp` for a fresh checkout.
pub struct StagedCopies {
    dir: std::path::PathBuf,
}

impl StagedCopies {
    pub fn new(repo: &Repository) -> Result<StagedCopies> {
        Ok(StagedCopies { dir: Store::for_git_dir(repo.path()).temp_dir()? })
    }

    /// Named for this process, so SIGINT removes it (`cleanup`).
    pub(crate) fn path_for(&self, oid: &crate::lfs::oid::Oid) -> std::path::PathBuf {
        self.dir.join(format!("{}{oid}-checkout", crate::cleanup::temp_prefix()))
    }

    /// Takes the staged copy of `p` if there is a complete one (each copy is used once).
    pub fn take(&self, p: &Pointer) -> Option<std::path::PathBuf> {
        let path = self.path_for(&p.oid);
        let taken = path.with_extension("taken");
        fs::metadata(&path).ok().filter(|m| m.len() == p.size)?;
        fs::rename(&path, &taken).ok()?;
        Some(taken)
    }
}
