//! `hfgit branch`: list, create and delete local branches. Names follow git's rules; `-d`
//! refuses a branch whose commits HEAD does not contain, `-D` deletes it anyway; the current
//! branch is never deleted.

use crate::error::{Context, Error, Result};
use crate::ops::checkout::{check_ref_name, commit_of};
use crate::repo::git;
use git2::{BranchType, Repository};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct BranchInfo {
    pub name: String,
    pub commit: String,
    pub current: bool,
}

/// Local branches, sorted by name, the current one marked.
pub fn list(repo: &Repository) -> Result<Vec<BranchInfo>> {
    let current = git::head_branch(repo)?;
    let mut out = Vec::new();
    for b in repo.branches(Some(BranchType::Local)).context("listing branches")? {
        let (b, _) = b.context("listing branches")?;
        let Some(name) = b.name().ok().flatten().map(str::to_string) else { continue };
        let Some(id) = b.get().target() else { continue };
        out.push(BranchInfo { current: current.as_deref() == Some(name.as_str()), name, commit: id.to_string() });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Creates branch `name` at `start` (default HEAD). An existing branch is never moved.
pub fn create(repo: &Repository, name: &str, start: Option<&str>) -> Result<BranchInfo> {
    check_ref_name("branch", name)?;
    let id = match start {
        Some(s) => commit_of(repo, s)?,
        None => git::head_commit(repo)?
            .ok_or_else(|| Error::with_hint("HEAD has no commits yet; there is nothing to branch from", "commit first"))?
            .id(),
    };
    if repo.find_branch(name, BranchType::Local).is_ok() {
        return Err(Error::BadInput(format!("a branch named `{name}` already exists")));
    }
    let commit = repo.find_commit(id).context("reading the start commit")?;
    repo.branch(name, &commit, false).context(format!("creating branch {name}"))?;
    Ok(BranchInfo { name: name.to_string(), commit: id.to_string(), current: false })
}

/// Deletes branch `name`. Without `force`, refuses when its commit is not contained in HEAD.
/// Returns the commit it pointed at.
pub fn delete(repo: &Repository, name: &str, force: bool) -> Result<String> {
    let mut b = repo.find_branch(name, BranchType::Local).map_err(|_| Error::BadInput(format!("no branch named `{name}`")))?;
    if git::head_branch(repo)?.as_deref() == Some(name) {
        return Err(Error::with_hint(
            format!("cannot delete branch `{name}`: it is the current branch"),
            "switch to another branch first (`hfgit switch <BRANCH>`)",
        ));
    }
    let id = b.get().target().ok_or_else(|| Error::failed(format!("branch {name} is not a direct reference")))?;
    if !force {
        let head = git::head_commit(repo)?.map(|c| c.id());
        let merged = head.is_some_and(|h| h == id || repo.graph_descendant_of(h, id).unwrap_or(false));
        if !merged {
            return Err(Error::with_hint(
                format!("branch `{name}` is not fully merged into HEAD; its commits would be lost"),
                format!("merge it first, or delete it anyway with `hfgit branch -D {name}`"),
            ));
        }
    }
    b.delete().context(format!("deleting branch {name}"))?;
    Ok(id.to_string())
}
