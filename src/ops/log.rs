//! `hfgit log`: commits with the LFS files each one added or changed, from any revision, and
//! optionally only the commits that changed given paths (as `git log -- <PATH>` lists them).

use crate::error::{Context, Result};
use crate::repo::git;
use git2::{Delta, DiffOptions, Repository};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct LfsFileChange {
    pub path: String,
    pub size: u64,
    pub oid: String,
}

#[derive(Debug, Serialize)]
pub struct LogEntry {
    pub commit: String,
    pub author: String,
    pub email: String,
    /// Seconds since the epoch, and the author's offset in minutes.
    pub time: i64,
    pub offset_minutes: i32,
    pub message: String,
    pub lfs: Vec<LfsFileChange>,
    /// With `--stat`: what changed in config.json and in each weights file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat: Option<Vec<crate::ops::diff::FileDiff>>,
}

/// The entry (blob or subtree id) at each of `paths` in `tree`, `None` where there is none.
fn entries_at(tree: Option<&git2::Tree<'_>>, paths: &[String]) -> Vec<Option<git2::Oid>> {
    paths
        .iter()
        .map(|p| match p.trim_end_matches('/') {
            "" => tree.map(|t| t.id()),
            p => tree.and_then(|t| t.get_path(std::path::Path::new(p)).ok()).map(|e| e.id()),
        })
        .collect()
}

/// Whether `commit` changed `paths` (git's rule: a commit is shown unless it is the same there
/// as one of its parents; a root commit when it has any of them).
fn touches(commit: &git2::Commit<'_>, tree: &git2::Tree<'_>, paths: &[String]) -> Result<bool> {
    let mine = entries_at(Some(tree), paths);
    if commit.parent_count() == 0 {
        return Ok(mine.iter().any(Option::is_some));
    }
    for parent in commit.parents() {
        if entries_at(Some(&parent.tree().context("reading parent tree")?), paths) == mine {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `hfgit log [<REV>] [-- <PATH>...]`: the commits reachable from `rev` (default HEAD; nothing
/// on an unborn branch), newest first; with `paths` (repository-relative; a directory stands
/// for everything under it) only those that changed them, and `--stat` only for them.
pub fn log(repo: &Repository, rev: Option<&str>, paths: &[String], limit: Option<usize>, stat: bool) -> Result<Vec<LogEntry>> {
    let tip = match rev {
        Some(r) => crate::ops::checkout::commit_of(repo, r)?,
        None => match git::head_commit(repo)? {
            Some(h) => h.id(),
            None => return Ok(Vec::new()),
        },
    };
    let mut walk = repo.revwalk().context("walking history")?;
    walk.push(tip).context("walking history")?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME).context("walking history")?;
    let mut out = Vec::new();
    for id in walk {
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        let commit = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        let tree = commit.tree().context("reading tree")?;
        if !paths.is_empty() && !touches(&commit, &tree, paths)? {
            continue;
        }
        let parent_tree = match commit.parent(0) {
            Ok(p) => Some(p.tree().context("reading parent tree")?),
            Err(_) => None,
        };
        let diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(DiffOptions::new().skip_binary_check(true)))
            .context("comparing trees")?;
        let mut lfs = Vec::new();
        for d in diff.deltas() {
            if !matches!(d.status(), Delta::Added | Delta::Modified | Delta::Renamed | Delta::Copied) {
                continue;
            }
            let f = d.new_file();
            if !f.path().and_then(|p| p.to_str()).is_some_and(|p| crate::ops::diff::path_chosen(p, paths)) {
                continue;
            }
            if let (Some(p), Some(path)) = (git::blob_pointer(repo, f.id()), f.path().and_then(|p| p.to_str())) {
                lfs.push(LfsFileChange { path: path.to_string(), size: p.size, oid: p.oid.to_hex() });
            }
        }
        let stat = if stat {
            use crate::ops::diff::Side;
            let short = |c: &git2::Commit<'_>| c.id().to_string()[..12].to_string();
            let parent = commit.parent(0).map(|p| short(&p)).unwrap_or_else(|_| format!("{}~1", short(&commit)));
            let (old, new) = (Side::Tree(parent_tree.clone(), parent), Side::Tree(Some(tree.clone()), short(&commit)));
            Some(crate::ops::diff::diff(repo, &old, &new, true, paths, &crate::progress::Silent)?)
        } else {
            None
        };
        let author = commit.author();
        out.push(LogEntry {
            commit: commit.id().to_string(),
            author: author.name().unwrap_or("").to_string(),
            email: author.email().unwrap_or("").to_string(),
            time: author.when().seconds(),
            offset_minutes: author.when().offset_minutes(),
            message: commit.message().unwrap_or("").to_string(),
            lfs,
            stat,
        });
    }
    Ok(out)
}
