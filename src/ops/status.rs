//! What changed in the work tree against HEAD: added, modified and deleted paths, each marked
//! with whether it is (or will be) stored through LFS.

use crate::error::{Context, Result};
use crate::lfs::pointer::Pointer;
use crate::progress::Progress;
use crate::repo::git;
use crate::repo::worktree::{self, FileState, ScanMode};
use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub path: String,
    pub status: ChangeKind,
    /// Stored through LFS (for deletions: was stored through LFS).
    pub lfs: bool,
    /// Content size in bytes (the LFS object's size for LFS files); absent for deletions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// A new `.gitattributes` rule will be added for this large file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adds_rule: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    /// The current branch (`HEAD` when HEAD is detached).
    pub branch: String,
    pub detached: bool,
    pub head: Option<String>,
    /// A merge is in progress (`.git/MERGE_HEAD` exists).
    pub merging: bool,
    /// Index paths with conflict stages.
    pub unmerged: Vec<String>,
    pub changes: Vec<Change>,
}

/// Path → (blob id, mode) for every blob or link in `tree`.
pub fn tree_files(tree: Option<&git2::Tree<'_>>) -> Result<BTreeMap<String, (git2::Oid, i32)>> {
    let mut out = BTreeMap::new();
    if let Some(tree) = tree {
        tree.walk(TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() == Some(ObjectType::Blob) || e.kind() == Some(ObjectType::Commit) {
                if let Some(name) = e.name() {
                    out.insert(format!("{dir}{name}"), (e.id(), e.filemode()));
                }
            }
            TreeWalkResult::Ok
        })
        .context("walking tree")?;
    }
    Ok(out)
}

/// Compares scanned files with a tree.
/// What moving the work tree from `old` to `new` rewrites (paths whose entry differs), and
/// which of those the work tree has changed against `old`. A file already as `new` has it is
/// not a change: an interrupted pull or checkout wrote it. The work tree is scanned only when
/// something is rewritten.
pub fn paths_to_move(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
    progress: &dyn Progress,
) -> Result<(std::collections::BTreeSet<String>, Vec<String>)> {
    let old_files = tree_files(old)?;
    let new_files = tree_files(Some(new))?;
    let touched: std::collections::BTreeSet<String> =
        old_files.keys().chain(new_files.keys()).filter(|p| old_files.get(*p) != new_files.get(*p)).cloned().collect();
    if touched.is_empty() {
        return Ok((touched, Vec::new()));
    }
    let index = repo.index().context("reading the index")?;
    let scan = worktree::scan(repo, &index, ScanMode::Status, progress)?;
    let now: std::collections::HashMap<&str, git2::Oid> = scan.files.iter().map(|f| (f.path.as_str(), f.blob)).collect();
    let local = changes(repo, &old_files, &scan.files)
        .into_iter()
        .map(|c| c.path)
        .filter(|p| touched.contains(p))
        .filter(|p| now.get(p.as_str()) != new_files.get(p).map(|(id, _)| id))
        .collect();
    Ok((touched, local))
}

pub fn changes(repo: &Repository, head: &BTreeMap<String, (git2::Oid, i32)>, files: &[FileState]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        seen.insert(f.path.as_str());
        let kind = match head.get(&f.path) {
            None => ChangeKind::Added,
            Some((id, mode)) if *id != f.blob || *mode as u32 != f.mode => ChangeKind::Modified,
            Some(_) => continue,
        };
        out.push(Change {
            path: f.path.clone(),
            status: kind,
            lfs: f.lfs.is_some(),
            size: Some(f.lfs.as_ref().map(|p| p.size).unwrap_or(f.meta.len())),
            oid: f.lfs.as_ref().map(|p| p.oid.to_hex()),
            adds_rule: f.needs_rule,
        });
    }
    for (path, (id, mode)) in head {
        if *mode == 0o160000 || seen.contains(path.as_str()) {
            continue;
        }
        let was_lfs: Option<Pointer> = git::blob_pointer(repo, *id);
        out.push(Change {
            path: path.clone(),
            status: ChangeKind::Deleted,
            lfs: was_lfs.is_some(),
            size: None,
            oid: None,
            adds_rule: false,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `hfgit status`: changes of the work tree against HEAD. Reads only files whose stat data
/// changed since the last commit.
pub fn status(repo: &Repository, progress: &dyn Progress) -> Result<Status> {
    let branch = git::head_branch(repo)?;
    let head = git::head_commit(repo)?;
    let tree = match &head {
        Some(c) => Some(c.tree().context("reading HEAD tree")?),
        None => None,
    };
    let index = repo.index().context("reading the index")?;
    let scan = worktree::scan(repo, &index, ScanMode::Status, progress)?;
    let head_files = tree_files(tree.as_ref())?;
    let unmerged = git::unmerged_paths(&index);
    // an unmerged path has no stage-0 entry, so the scan would call it new or deleted
    let changes = changes(repo, &head_files, &scan.files).into_iter().filter(|c| !unmerged.contains(&c.path)).collect();
    Ok(Status {
        detached: branch.is_none(),
        branch: branch.unwrap_or_else(|| "HEAD".into()),
        head: head.map(|c| c.id().to_string()),
        merging: !git::merge_heads(repo)?.is_empty(),
        unmerged,
        changes,
    })
}
