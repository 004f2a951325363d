//! `hfgit commit`: records the whole work tree on the current branch. LFS content goes to the
//! store first, then the index (left matching the work tree, so `git status` is clean), then the
//! tree, the commit and the branch (or a detached HEAD).
//!
//! The repository's state is honoured: nothing is recorded while the index has unmerged paths
//! (whoever started the merge), or while a cherry-pick, revert or rebase is in progress; with
//! `MERGE_HEAD` present and everything resolved, the commit is a merge commit (its parents HEAD
//! and then each `MERGE_HEAD` commit) and the merge state is cleared, as `git commit` does.

use crate::error::{Context, Error, Result};
use crate::lfs::track;
use crate::ops::status::{changes, tree_files, Change};
use crate::progress::Progress;
use crate::repo::git;
use crate::repo::worktree::{self, ScanMode};
use git2::Repository;
use serde::Serialize;

pub struct CommitOptions<'a> {
    pub message: &'a str,
    pub author: Option<&'a str>,
    pub allow_empty: bool,
}

#[derive(Debug, Serialize)]
pub struct CommitOutcome {
    pub commit: String,
    /// The branch that moved (`HEAD` when HEAD is detached).
    pub branch: String,
    pub detached: bool,
    /// For a merge commit: the parents after the first (from `MERGE_HEAD`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<String>,
    pub root: bool,
    pub changes: Vec<Change>,
    /// LFS objects newly written to the store, and their bytes.
    pub lfs_objects_stored: u64,
    pub lfs_bytes_stored: u64,
    /// Of those, bytes that share the work-tree file's extents (no second copy on disk).
    pub lfs_bytes_shared: u64,
    /// Work-tree bytes read to hash files (the stat cache avoids re-reading unchanged files).
    pub bytes_hashed: u64,
    /// Paths that got an exact-path LFS rule in `.gitattributes`.
    pub rules_added: Vec<String>,
    /// Of those, the ones under the size threshold: binary files over 1 MiB, which the Hub
    /// refuses outside LFS.
    pub binary_rules_added: Vec<String>,
    /// Things the user should know (e.g. model card metadata the Hub would reject).
    pub warnings: Vec<String>,
    /// The pickle scan of each pickle-based file added or modified.
    pub scans: Vec<crate::weights::scan::FileReport>,
}

pub fn commit(repo: &Repository, opts: &CommitOptions<'_>, progress: &dyn Progress) -> Result<CommitOutcome> {
    let message = git2::message_prettify(opts.message, None).context("cleaning the commit message")?;
    if message.trim().is_empty() {
        return Err(Error::BadInput("empty commit message; pass -m <MESSAGE>".into()));
    }
    let (author, committer) = crate::repo::identity::signatures(repo, opts.author)?;
    let _lock = git::lock(repo)?;
    let branch = git::head_branch(repo)?;
    let workdir = git::workdir(repo)?;
    let parent = git::head_commit(repo)?;
    let mut index = repo.index().context("reading the index")?;
    let merged = check_state(repo, &index)?;
    let mut scan = worktree::scan(repo, &index, ScanMode::Commit, progress)?;

    // Large files no rule covers get an exact-path rule, in this same commit.
    let rules_added: Vec<String> = scan.files.iter().filter(|f| f.needs_rule).map(|f| f.path.clone()).collect();
    let threshold = track::threshold(repo)?;
    let binary_rules_added: Vec<String> =
        scan.files.iter().filter(|f| f.needs_rule && f.meta.len() <= threshold).map(|f| f.path.clone()).collect();
    if !rules_added.is_empty() {
        track::append_rules(&crate::lfs::store::Store::for_git_dir(repo.path()), &workdir, &rules_added)?;
        for f in scan.files.iter_mut().filter(|f| f.needs_rule) {
            if !track::has_lfs_filter(repo, &f.path)? {
                return Err(Error::failed(format!("the .gitattributes rule added for {} does not match it", f.path)));
            }
            f.needs_rule = false;
        }
        let attrs = worktree::plain_file(repo, &workdir, ".gitattributes")?;
        scan.hashed_bytes += attrs.meta.len();
        scan.files.retain(|f| f.path != ".gitattributes");
        let at = scan.files.partition_point(|f| f.path.as_str() < ".gitattributes");
        scan.files.insert(at, attrs);
    }

    let gitlinks: Vec<git2::IndexEntry> = index.iter().filter(|e| e.mode == 0o160000).collect();
    index.clear().context("resetting the index")?;
    let mut newest_lfs_mtime = None;
    for f in &scan.files {
        index.add(&git::index_entry_for(&f.meta, &f.path, f.blob, f.mode)).context(format!("indexing {}", f.path))?;
        if f.lfs.is_some() && f.materialized {
            use std::os::unix::fs::MetadataExt;
            newest_lfs_mtime = newest_lfs_mtime.max(Some(f.meta.mtime()));
        }
    }
    for g in &gitlinks {
        index.add(g).context("keeping submodule entry")?;
    }
    git::write_index_safely(&mut index, newest_lfs_mtime)?;
    // what `add` recorded is in the index now
    crate::repo::added::clear(repo.path());
    let tree_id = index.write_tree().context("writing the tree")?;
    let tree = repo.find_tree(tree_id).context("reading the new tree")?;

    let parent_tree = match &parent {
        Some(c) => Some(c.tree().context("reading HEAD tree")?),
        None => None,
    };
    let head_files = tree_files(parent_tree.as_ref())?;
    let changes = changes(repo, &head_files, &scan.files);
    let unchanged = match &parent_tree {
        Some(t) => t.id() == tree_id,
        None => scan.files.is_empty(),
    };
    if unchanged && !opts.allow_empty && merged.is_empty() {
        return Err(Error::NothingToCommit);
    }
    let mut warnings = Vec::new();
    if changes.iter().any(|c| c.path == "README.md" && c.status != crate::ops::status::ChangeKind::Deleted) {
        if let Ok(text) = std::fs::read_to_string(workdir.join("README.md")) {
            warnings.extend(crate::hub::model_card::front_matter_problem(&text));
        }
    }
    let mut scans = Vec::new();
    for c in changes.iter().filter(|c| c.status != crate::ops::status::ChangeKind::Deleted) {
        let abs = workdir.join(&c.path);
        // by name or by content (a pickle renamed `weights.txt` is still a pickle); never a link
        let regular = std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_file());
        if regular && crate::weights::is_pickle_file(&abs) {
            let report = crate::weights::scan::scan_file(&abs, &c.path).context(format!("scanning {}", c.path))?;
            if report.is_pickle {
                scans.push(report);
            }
        }
    }
    let merged_commits =
        merged.iter().map(|id| repo.find_commit(*id).context(format!("reading MERGE_HEAD commit {id}"))).collect::<Result<Vec<_>>>()?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().chain(merged_commits.iter()).collect();
    let id = repo.commit(Some("HEAD"), &author, &committer, &message, &tree, &parents).context("creating the commit")?;
    if !merged.is_empty() {
        // the merge is recorded: clear its state as `git commit` does
        git::clear_merge_state(repo)?;
    }
    Ok(CommitOutcome {
        commit: id.to_string(),
        detached: branch.is_none(),
        branch: branch.unwrap_or_else(|| "HEAD".into()),
        merged: merged.iter().map(|m| m.to_string()).collect(),
        root: parent.is_none(),
        changes,
        lfs_objects_stored: scan.stored_objects,
        lfs_bytes_stored: scan.stored_bytes,
        lfs_bytes_shared: scan.shared_bytes,
        bytes_hashed: scan.hashed_bytes,
        rules_added,
        binary_rules_added,
        warnings,
        scans,
    })
}

/// Refuses to commit in a state where a commit would be wrong: unmerged index paths (naming
/// them), or a cherry-pick, revert or rebase in progress. Returns the `MERGE_HEAD` commits a
/// merge in progress joins (empty when there is no merge).
fn check_state(repo: &Repository, index: &git2::Index) -> Result<Vec<git2::Oid>> {
    let unmerged = git::unmerged_paths(index);
    if !unmerged.is_empty() {
        return Err(Error::with_hint(
            format!("cannot commit: these paths are unmerged (a merge left conflicts):\n  {}", unmerged.join("\n  ")),
            "resolve each one (`hfgit checkout --ours|--theirs <PATH>`, or put the content you want in the file and `git add <PATH>`), or abandon the merge with `hfgit merge --abort`",
        ));
    }
    use git2::RepositoryState as S;
    let busy = match repo.state() {
        S::CherryPick | S::CherryPickSequence => Some(("a cherry-pick", "git cherry-pick --continue` or `git cherry-pick --abort")),
        S::Revert | S::RevertSequence => Some(("a revert", "git revert --continue` or `git revert --abort")),
        S::Rebase | S::RebaseInteractive | S::RebaseMerge | S::ApplyMailbox | S::ApplyMailboxOrRebase => {
            Some(("a rebase", "git rebase --continue` or `git rebase --abort"))
        }
        S::Clean | S::Merge | S::Bisect => None,
    };
    if let Some((what, how)) = busy {
        return Err(Error::with_hint(
            format!("cannot commit: {what} is in progress, and hfgit would record it as an ordinary commit; nothing was committed"),
            format!("finish it with `{how}` (git records the right commit)"),
        ));
    }
    git::merge_heads(repo)
}
