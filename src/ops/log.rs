//! `hfgit log`: commits with the LFS files each one added or changed.

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

pub fn log(repo: &Repository, limit: Option<usize>, stat: bool) -> Result<Vec<LogEntry>> {
    let Some(head) = git::head_commit(repo)? else { return Ok(Vec::new()) };
    let mut walk = repo.revwalk().context("walking history")?;
    walk.push(head.id()).context("walking history")?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME).context("walking history")?;
    let mut out = Vec::new();
    for id in walk {
        if limit.is_some_and(|n| out.len() >= n) {
            break;
        }
        let commit = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        let tree = commit.tree().context("reading tree")?;
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
            if let (Some(p), Some(path)) = (git::blob_pointer(repo, f.id()), f.path().and_then(|p| p.to_str())) {
                lfs.push(LfsFileChange { path: path.to_string(), size: p.size, oid: p.oid.to_hex() });
            }
        }
        let stat = if stat {
            let (old, new) = (crate::ops::diff::Side::Tree(parent_tree.clone()), crate::ops::diff::Side::Tree(Some(tree.clone())));
            Some(crate::ops::diff::diff(repo, &old, &new, true, &crate::progress::Silent)?)
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
