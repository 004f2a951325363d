//! `hfgit diff` and `log --stat`: what changed between two revisions (or a revision and the
//! work tree), understood per file: `config.json` key by key, weights files tensor by tensor,
//! other files by name only. LFS content is read from the local store, never downloaded.

use crate::error::{Context, Error, Result};
use crate::lfs::store::Store;
use crate::ops::config_json::{self, ConfigDiff};
use crate::ops::status::tree_files;
use crate::progress::Progress;
use crate::repo::git;
use crate::repo::worktree::{self, ScanMode};
use crate::weights::diff::WeightsDiff;
use crate::weights::{self, Weights};
use git2::Repository;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

/// One side of a comparison.
pub enum Side<'a> {
    /// A revision's tree (`None`: no files, as on an unborn branch or before a root commit) and
    /// the name that revision goes by in hints.
    Tree(Option<git2::Tree<'a>>, String),
    WorkTree,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Deleted,
    Modified,
}

#[derive(Debug, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub status: FileStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<WeightsDiff>,
    /// Why the content could not be compared (not in the local store, unreadable…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a file's content is.
#[derive(Clone)]
enum Content {
    /// A file on disk (work tree file or LFS object).
    Path(PathBuf),
    /// A plain blob in the object database.
    Blob(git2::Oid),
    /// An LFS object that is not in the local store: why, and the command that gets it.
    Missing(String, String),
}

struct Entry {
    /// Blob id as committed (pointer blob for LFS files): equal ids mean equal content.
    id: git2::Oid,
    content: Content,
}

fn side_entries(repo: &Repository, side: &Side<'_>, store: &Store, progress: &dyn Progress) -> Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    match side {
        Side::Tree(tree, rev) => {
            let head = git::head_commit(repo)?.map(|c| c.id());
            let is_head = head.is_some() && head == repo.revparse_single(rev).ok().and_then(|o| o.peel_to_commit().ok()).map(|c| c.id());
            for (path, (id, mode)) in tree_files(tree.as_ref())? {
                if mode == 0o160000 {
                    continue;
                }
                let content = match git::blob_pointer(repo, id) {
                    Some(p) if store.contains(&p) => Content::Path(store.object_path(&p.oid)),
                    Some(p) => Content::Missing(
                        format!("its LFS object {} is not in the local store", &p.oid.to_string()[..12]),
                        fetch_hint(&path, (!is_head).then_some(rev)),
                    ),
                    None => Content::Blob(id),
                };
                out.insert(path, Entry { id, content });
            }
        }
        Side::WorkTree => {
            let workdir = git::workdir(repo)?;
            let index = repo.index().context("reading the index")?;
            let scan = worktree::scan(repo, &index, ScanMode::Status, progress)?;
            for f in &scan.files {
                let content = match (&f.lfs, f.materialized) {
                    (Some(p), false) if store.contains(p) => Content::Path(store.object_path(&p.oid)),
                    (Some(p), false) => Content::Missing(
                        format!("its LFS object {} is not downloaded", &p.oid.to_string()[..12]),
                        fetch_hint(&f.path, None),
                    ),
                    _ => Content::Path(workdir.join(&f.path)),
                };
                out.insert(f.path.clone(), Entry { id: f.blob, content });
            }
        }
    }
    Ok(out)
}

/// Opens content as a file: blobs go through an anonymous temp file.
fn open(repo: &Repository, c: &Content) -> Result<File> {
    match c {
        Content::Path(p) => File::open(p).context(format!("opening {}", p.display())),
        Content::Blob(id) => {
            let blob = repo.find_blob(*id).context("reading a blob")?;
            let mut f = tempfile::tempfile().context("creating a temp file")?;
            f.write_all(blob.content()).context("writing a temp file")?;
            f.seek(SeekFrom::Start(0)).context("reading a temp file")?;
            Ok(f)
        }
        Content::Missing(why, hint) => Err(Error::with_hint(why.clone(), hint.clone())),
    }
}

/// The command that downloads `path`'s object: `hfgit fetch` takes HEAD and the upstream tip
/// by default, another revision when named.
/// The fetch that brings the object of `path` (at `rev`, when it is not HEAD) into the store,
/// without touching the work tree.
fn fetch_hint(path: &str, rev: Option<&str>) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    match rev {
        None => format!("download it with `hfgit fetch --include {}`", quote(path)),
        Some(rev) => format!("download it with `hfgit fetch origin {} --include {}`", quote(rev), quote(path)),
    }
}

fn config_of(repo: &Repository, c: Option<&Content>) -> Result<serde_json::Map<String, serde_json::Value>> {
    let Some(c) = c else { return Ok(Default::default()) };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut open(repo, c)?, &mut text).context("reading config.json")?;
    config_json::parse_object(&text, "config.json")
}

fn weights_of(repo: &Repository, c: Option<&Content>) -> Result<Option<Weights>> {
    let Some(c) = c else { return Ok(None) };
    let f = open(repo, c)?;
    Weights::from_file(f).map(Some).map_err(|e| Error::failed(format!("cannot read tensors: {e}")))
}

fn empty() -> Weights {
    Weights { file: tempfile::tempfile().expect("temp file"), format: weights::Format::SafeTensors, tensors: Vec::new(), state_dict: true }
}

/// True when `path` is one of `only` or under one of them (a directory); every path is when
/// `only` is empty. `only` holds repository-relative paths, `""` for the whole tree.
pub fn path_chosen(path: &str, only: &[String]) -> bool {
    only.is_empty()
        || only.iter().any(|o| {
            let o = o.trim_end_matches('/');
            o.is_empty() || path == o || path.strip_prefix(o).is_some_and(|rest| rest.starts_with('/'))
        })
}

/// Options: `weights_only` limits the result to weights files and config.json (for log --stat);
/// a non-empty `only` to those paths (files, or everything under a directory).
pub fn diff(
    repo: &Repository,
    old: &Side<'_>,
    new: &Side<'_>,
    weights_only: bool,
    only: &[String],
    progress: &dyn Progress,
) -> Result<Vec<FileDiff>> {
    let store = Store::for_git_dir(repo.path());
    let a = side_entries(repo, old, &store, progress)?;
    let b = side_entries(repo, new, &store, progress)?;
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).filter(|p| path_chosen(p, only)).collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for path in paths {
        let (ea, eb) = (a.get(path), b.get(path));
        let status = match (ea, eb) {
            (Some(x), Some(y)) if x.id == y.id => continue,
            (Some(_), Some(_)) => FileStatus::Modified,
            (None, Some(_)) => FileStatus::Added,
            (Some(_), None) => FileStatus::Deleted,
            (None, None) => unreachable!(),
        };
        let is_config = path == "config.json";
        let is_weights = weights::is_weights_path(path);
        if weights_only && !is_config && !is_weights {
            continue;
        }
        let mut d = FileDiff { path: path.clone(), status, config: None, tensors: None, note: None };
        let (ca, cb) = (ea.map(|e| &e.content), eb.map(|e| &e.content));
        if is_config {
            match config_of(repo, ca).and_then(|x| Ok((x, config_of(repo, cb)?))) {
                Ok((x, y)) => d.config = Some(config_json::diff(&x, &y)),
                Err(e) => d.note = Some(note(&e)),
            }
        } else if is_weights {
            match weights_of(repo, ca).and_then(|x| Ok((x, weights_of(repo, cb)?))) {
                Ok((x, y)) => {
                    let (x, y) = (x.unwrap_or_else(empty), y.unwrap_or_else(empty));
                    let size = |w: &Weights| w.tensors.iter().map(|t| t.byte_len()).sum::<u64>();
                    progress.begin(&format!("Comparing {path}"), size(&x).min(size(&y)), 0);
                    let result = weights::diff::diff(&x, &y, progress);
                    progress.end();
                    match result {
                        Ok(w) => d.tensors = Some(w),
                        Err(e) => d.note = Some(format!("cannot compare tensors: {e}")),
                    }
                }
                Err(e) => d.note = Some(note(&e)),
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// An error as a one-line note, with what to do about it.
fn note(e: &Error) -> String {
    match e.hint() {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    }
}

/// Resolves a revision (branch, tag, commit id, `HEAD~N`, …) to its commit's tree.
pub fn tree<'r>(repo: &'r Repository, spec: &str) -> Result<Option<git2::Tree<'r>>> {
    let id = crate::ops::checkout::commit_of(repo, spec)?;
    Ok(Some(repo.find_commit(id).context("reading the commit")?.tree().context("reading tree")?))
}

/// HEAD's tree; none on an unborn branch.
pub fn head_tree(repo: &Repository) -> Result<Option<git2::Tree<'_>>> {
    match git::head_commit(repo)? {
        Some(c) => Ok(Some(c.tree().context("reading HEAD tree")?)),
        None => Ok(None),
    }
}
