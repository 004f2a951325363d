//! What changed in the work tree against HEAD: added, modified and deleted paths, each marked
//! with whether it is (or will be) stored through LFS; and the LFS files whose work-tree file
//! holds only the pointer (content not downloaded), with the command that gets the content.

use crate::error::{Context, Result};
use crate::lfs::pointer::Pointer;
use crate::lfs::select::Selection;
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
    /// LFS files whose work-tree file is the pointer, not the content.
    pub not_downloaded: Vec<NotDownloaded>,
    /// Commands (run at the top of the work tree) that bring the content of `not_downloaded`.
    pub fetch_with: Vec<String>,
    /// Bytes read to hash files whose stat data had changed (0: the index covered everything).
    pub bytes_hashed: u64,
    /// Index entries whose stat data was refreshed, so the next status need not read them.
    pub stat_refreshed: usize,
    /// In a repository that has pushed or fetched through Xet storage (it has a chunk index):
    /// per new or modified LFS file, the bytes of chunks not known here, which a push to the
    /// Hub would send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xet: Option<XetPending>,
}

/// What a push to Xet storage would send of the changed LFS files.
#[derive(Debug, Serialize)]
pub struct XetPending {
    pub files: Vec<crate::xet::upload::FileBytes>,
    /// Bytes read to chunk them.
    pub bytes_read: u64,
}

/// Chunks the changed LFS files against the local chunk index, when there is one.
fn xet_pending(repo: &Repository, changes: &[Change]) -> Result<Option<XetPending>> {
    let Some(top) = repo.workdir() else { return Ok(None) };
    if !repo.path().join("lfs").join("xet").is_dir() || repo.config().ok().and_then(|c| c.get_bool("hfgit.xet").ok()) == Some(false) {
        return Ok(None);
    }
    let store = crate::lfs::store::Store::for_git_dir(repo.path());
    let sources: Vec<crate::xet::upload::Source> = changes
        .iter()
        .filter(|c| c.lfs && c.status != ChangeKind::Deleted)
        .filter_map(|c| {
            let oid = crate::lfs::oid::Oid::from_hex(c.oid.as_deref()?)?;
            let file = top.join(&c.path);
            // only content in the work tree (not a pointer left there), read where it is
            let size = c.size.filter(|n| std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file() && m.len() == *n))?;
            Some(crate::xet::upload::Source { path: c.path.clone(), file, sha256: *oid.as_bytes(), size })
        })
        .collect();
    let present = |oid: &[u8; 32]| store.object_path(&crate::lfs::oid::Oid::from_bytes(*oid)).exists();
    let plan = crate::xet::upload::plan(&sources, &crate::xet::index::Index::for_git_dir(repo.path()), &present)?;
    Ok(Some(XetPending { bytes_read: plan.bytes, files: plan.per_file }))
}

/// An LFS file the work tree holds as its pointer text (left by `git checkout` without git-lfs,
/// `clone --no-lfs`, `--exclude`): status must not call it clean.
#[derive(Debug, Clone, Serialize)]
pub struct NotDownloaded {
    pub path: String,
    pub size: u64,
    pub oid: String,
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
    let changes: Vec<Change> = changes(repo, &head_files, &scan.files).into_iter().filter(|c| !unmerged.contains(&c.path)).collect();
    let xet = xet_pending(repo, &changes)?;
    let pointers: Vec<&FileState> =
        scan.files.iter().filter(|f| !f.materialized && f.lfs.is_some() && !unmerged.contains(&f.path)).collect();
    let fetch_with = fetch_commands(repo, head.as_ref(), &pointers)?;
    let not_downloaded = pointers
        .iter()
        .filter_map(|f| f.lfs.as_ref().map(|p| NotDownloaded { path: f.path.clone(), size: p.size, oid: p.oid.to_hex() }))
        .collect();
    let stat_refreshed = worktree::save_refreshed_stat(repo, &scan);
    Ok(Status {
        detached: branch.is_none(),
        branch: branch.unwrap_or_else(|| "HEAD".into()),
        head: head.map(|c| c.id().to_string()),
        merging: !git::merge_heads(repo)?.is_empty(),
        unmerged,
        changes,
        not_downloaded,
        fetch_with,
        bytes_hashed: scan.hashed_bytes,
        stat_refreshed,
        xet,
    })
}

/// How many commits [`fetch_commands`] looks through for the version a pointer names.
const SOURCE_SEARCH_LIMIT: usize = 10_000;

/// The commands that bring the content of work-tree pointers `files`, grouped: `hfgit restore
/// <PATH>...` for HEAD's version (downloading what the local store lacks), `--source <COMMIT>`
/// for a version another commit has (a plain `git checkout <REV> -- <PATH>` left it), preceded
/// by the `git config --unset` that lifts an `lfs.fetchinclude` / `lfs.fetchexclude` (e.g.
/// `clone --no-lfs`) keeping the file out, since restore honours them. A pointer no commit has
/// gets HEAD's version.
pub fn fetch_commands(repo: &Repository, head: Option<&git2::Commit<'_>>, files: &[&FileState]) -> Result<Vec<String>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let unselect = Unselect::from_config(repo)?;
    let mut wanted: BTreeMap<&str, git2::Oid> = files.iter().map(|f| (f.path.as_str(), f.blob)).collect();
    let mut source: BTreeMap<&str, Option<String>> = BTreeMap::new();
    if let Some(head) = head {
        let mut walk = repo.revwalk().context("walking history")?;
        walk.push(head.id()).context("walking history")?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME).context("walking history")?;
        for id in walk.take(SOURCE_SEARCH_LIMIT) {
            if wanted.is_empty() {
                break;
            }
            let commit = repo.find_commit(id.context("walking history")?).context("reading commit")?;
            let tree = commit.tree().context("reading tree")?;
            let short = (commit.id() != head.id()).then(|| commit.id().to_string()[..12].to_string());
            wanted.retain(|path, blob| match tree.get_path(std::path::Path::new(path)) {
                Ok(e) if e.id() == *blob => {
                    source.insert(path, short.clone());
                    false
                }
                _ => true,
            });
        }
    }
    let mut groups: BTreeMap<(String, Option<String>), Vec<&str>> = BTreeMap::new();
    for f in files {
        let prefix = unselect.prefix(&f.path);
        let src = source.get(f.path.as_str()).cloned().flatten();
        groups.entry((prefix, src)).or_default().push(f.path.as_str());
    }
    Ok(groups.into_iter().map(|((prefix, src), paths)| format!("{prefix}{}", restore_command(src.as_deref(), &paths))).collect())
}

/// What keeps an LFS path out of the selection (`lfs.fetchinclude` / `lfs.fetchexclude`, which
/// restore, checkout and pull honour), as the commands that lift it.
pub struct Unselect {
    include: Selection,
    exclude: Selection,
}

impl Unselect {
    pub fn from_config(repo: &Repository) -> Result<Unselect> {
        let cfg = repo.config().context("reading git config")?;
        let get = |k: &str| cfg.get_string(k).ok().map(|v| vec![v]).unwrap_or_default();
        Ok(Unselect { include: Selection::new(&get("lfs.fetchinclude"), &[])?, exclude: Selection::new(&[], &get("lfs.fetchexclude"))? })
    }

    /// `git config --unset …` for each setting that keeps `path` out, each followed by ` && `;
    /// empty when `path` is selected.
    pub fn prefix(&self, path: &str) -> String {
        let mut out = String::new();
        if !self.include.selects(path) {
            out.push_str("git config --unset lfs.fetchinclude && ");
        }
        if !self.exclude.selects(path) {
            out.push_str("git config --unset lfs.fetchexclude && ");
        }
        out
    }
}

/// `hfgit restore [--source <REV>] <PATH>`, the path quoted for a shell.
pub fn restore_command(source: Option<&str>, paths: &[&str]) -> String {
    let source = source.map(|c| format!("--source {c} ")).unwrap_or_default();
    let dashes = if paths.iter().any(|p| p.starts_with('-')) { "-- " } else { "" };
    let words: Vec<String> = paths.iter().map(|p| shell_word(p)).collect();
    format!("hfgit restore {source}{dashes}{}", words.join(" "))
}

/// `s` as one word for a POSIX shell: unchanged when plain, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-/+=:@%,".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}
