//! `hfgit checkout`, `hfgit switch` and `hfgit restore`: move the work tree to a commit, branch
//! or tag, or bring chosen files back from one, with LFS content.
//!
//! The order is pull's: the target's paths are checked, then every LFS object needed comes from
//! the local store or is downloaded (verified) from the remote; then local changes that would be
//! overwritten stop everything, naming the paths; only then are files replaced, each through a
//! temp file and a rename (`repo::checkout`), the index updated, and HEAD (and a new branch)
//! moved last. Killed at any point, every file is old or new and a re-run completes the move.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::fetch;
use crate::lfs::pointer::Pointer;
use crate::lfs::remote::LfsRemote;
use crate::lfs::select::Selection;
use crate::net::remote;
use crate::ops::status::{paths_to_move, tree_files};
use crate::progress::Progress;
use crate::repo::checkout;
use crate::repo::git;
use crate::repo::worktree::{self, ScanMode};
use git2::Repository;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Where to download LFS objects the local store lacks.
pub struct Source<'a> {
    /// A remote name or TARGET; `None`: `origin`, when there is one.
    pub remote: Option<&'a str>,
    pub cwd: &'a Path,
    pub interactive: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct CheckoutOutcome {
    /// The commit the work tree (or the chosen paths) now comes from.
    pub commit: String,
    /// The branch HEAD is attached to afterwards; `None` when it is detached (or, for paths,
    /// unchanged).
    pub branch: Option<String>,
    pub detached: bool,
    /// HEAD's commit before.
    pub previous: Option<String>,
    /// A branch created by `switch -c`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_branch: Option<String>,
    pub files_changed: u64,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub files_written: u64,
    /// Bytes of written files that share the store object's extents (copy-on-write filesystems).
    pub shared_bytes: u64,
}

/// What `rev` names: a local branch (HEAD attaches to it) or any other revision (HEAD detaches).
pub enum Resolved {
    Branch(String, git2::Oid),
    Detached(git2::Oid),
}

/// Resolves a revision as git does for checkout: a local branch name first, else anything
/// `git rev-parse` accepts (commit id, tag, `HEAD~N`, `origin/main`), peeled to a commit.
pub fn resolve(repo: &Repository, rev: &str) -> Result<Resolved> {
    if rev == "HEAD" {
        // `checkout HEAD` stays where it is, attached or not
        if let Some(b) = git::head_branch(repo)? {
            return Ok(Resolved::Branch(b, commit_of(repo, "HEAD")?));
        }
    } else if !rev.is_empty() && !rev.starts_with('-') {
        if let Ok(r) = repo.find_reference(&format!("refs/heads/{rev}")) {
            let id = r.peel_to_commit().context(format!("reading branch {rev}"))?.id();
            return Ok(Resolved::Branch(rev.to_string(), id));
        }
    }
    Ok(Resolved::Detached(commit_of(repo, rev)?))
}

/// `pr/N` with no local branch of that name: the Hub pull request `hfgit fetch --pr N` brought
/// to `refs/remotes/<remote>/pr/N` (checked out as a new local branch `pr/N`, so more commits can
/// go to it with `hfgit push --pr N`). `None` for any other revision.
pub fn pull_request(repo: &Repository, rev: &str, remote: Option<&str>) -> Result<Option<git2::Oid>> {
    let Some(n) = rev.strip_prefix("pr/").filter(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())) else {
        return Ok(None);
    };
    if repo.find_reference(&format!("refs/heads/{rev}")).is_ok() {
        return Ok(None);
    }
    let remote = remote.unwrap_or("origin");
    let name = format!("refs/remotes/{remote}/pr/{n}");
    match repo.find_reference(&name) {
        Ok(r) => Ok(Some(r.peel_to_commit().context(format!("reading {name}"))?.id())),
        Err(_) => Err(Error::with_hint(
            format!("pull request #{n} has not been fetched from {remote}"),
            format!("fetch it first: `hfgit fetch {remote} --pr {n}`"),
        )),
    }
}

/// The commit `rev` names, or an error saying it names none.
pub fn commit_of(repo: &Repository, rev: &str) -> Result<git2::Oid> {
    let obj = repo.revparse_single(rev).map_err(|_| {
        Error::with_hint(format!("unknown revision `{rev}`"), "name a branch, a tag, a commit id or HEAD~N (`hfgit log` lists commits)")
    })?;
    let c = obj.peel_to_commit().map_err(|_| Error::BadInput(format!("`{rev}` does not name a commit")))?;
    Ok(c.id())
}

/// Checks that `name` is a valid branch or tag name (git's rules).
pub fn check_ref_name(kind: &str, name: &str) -> Result<()> {
    let prefix = if kind == "tag" { "refs/tags/" } else { "refs/heads/" };
    if name == "HEAD" || name.starts_with('-') || !git2::Reference::is_valid_name(&format!("{prefix}{name}")) {
        return Err(Error::BadInput(format!("`{name}` is not a valid {kind} name")));
    }
    Ok(())
}

/// Refuses while the index has unmerged paths, naming them.
pub fn refuse_unmerged(repo: &Repository) -> Result<()> {
    let index = repo.index().context("reading the index")?;
    let unmerged = git::unmerged_paths(&index);
    if !unmerged.is_empty() {
        return Err(Error::with_hint(
            format!("cannot check out: these paths are unmerged:\n  {}", unmerged.join("\n  ")),
            "pick a side with `hfgit checkout --ours|--theirs <PATH>` (or edit and `git add <PATH>`) and `hfgit commit`, or abandon the merge with `hfgit merge --abort`",
        ));
    }
    Ok(())
}

/// Makes sure every object of `wanted` is in the local store, downloading the missing ones from
/// the remote (verified). Fails naming each missing object, having changed nothing else.
/// Returns the objects and bytes downloaded.
pub fn bring_objects(
    repo: &Repository,
    wanted: &BTreeMap<String, Pointer>,
    src: &Source<'_>,
    ref_name: Option<String>,
    what: &str,
    progress: &dyn Progress,
) -> Result<(u64, u64)> {
    let store = crate::lfs::store::Store::for_git_dir(repo.path());
    let missing: BTreeMap<String, Pointer> =
        wanted.iter().filter(|(_, p)| !store.contains(p)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if missing.is_empty() {
        return Ok((0, 0));
    }
    let list = |why: &dyn Fn(&str) -> String| -> String {
        missing.iter().map(|(path, p)| format!("{path} (sha256:{}){}", p.oid, why(path))).collect::<Vec<_>>().join("\n  ")
    };
    let name = match src.remote {
        Some(n) => n,
        None if repo.find_remote("origin").is_ok() => "origin",
        None => {
            return Err(Error::with_hint(
                format!("cannot check out {what}: these LFS objects are not in the local store and there is no remote to download them from; nothing was changed:\n  {}", list(&|_| String::new())),
                "name a remote that has them with `--remote <NAME|TARGET>` (or add `origin`)",
            ))
        }
    };
    let (remote_name, url) = remote::remote_url(repo, name, src.cwd, false)?;
    let lfs = LfsRemote::for_remote(repo, remote_name.as_deref(), &url, Operation::Download, ref_name, src.interactive)?;
    let fetched = fetch::fetch_objects(repo, &lfs, &missing, progress, None);
    if !fetched.failures.is_empty() {
        let errors: HashMap<&str, &str> = fetched.failures.iter().map(|f| (f.path.as_str(), f.error.as_str())).collect();
        return Err(Error::with_hint(
            format!(
                "cannot check out {what}: these LFS objects are not in the local store and could not be downloaded from {}; nothing was changed:\n  {}",
                remote::redact(&url),
                list(&|path| errors.get(path).map(|e| format!(": {e}")).unwrap_or_default())
            ),
            "push them from a repository that has them, or name another remote with `--remote`",
        ));
    }
    Ok((fetched.downloaded_objects, fetched.downloaded_bytes))
}

/// What [`move_work_tree`] did.
#[derive(Debug, Default, Serialize)]
pub struct Moved {
    pub files_changed: u64,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub files_written: u64,
    /// Bytes written as clones sharing the store object's extents.
    pub shared_bytes: u64,
}

/// Brings the work tree and index from `old` to `new_tree` (commit `new`'s, or a tree made for
/// it), in checkout's order: the tree's paths are checked, its LFS objects are brought into the
/// store (verified), local changes to the paths that differ stop everything (naming them and
/// `command`), and only then are those paths written. Moving HEAD is the caller's job, last.
#[allow(clippy::too_many_arguments)]
pub fn move_work_tree(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: git2::Oid,
    new_tree: &git2::Tree<'_>,
    src: &Source<'_>,
    ref_name: Option<String>,
    command: &str,
    progress: &dyn Progress,
) -> Result<Moved> {
    checkout::verify_tree(repo, new_tree, new)?;
    let sel = Selection::from_config(repo)?;
    let wanted = checkout::selected_pointers(repo, new_tree, &sel)?;
    let (downloaded_objects, downloaded_bytes) = bring_objects(repo, &wanted, src, ref_name, &new.to_string()[..12], progress)?;
    let (touched, local) = paths_to_move(repo, old, new_tree, progress)?;
    let mut moved = Moved { files_changed: touched.len() as u64, downloaded_objects, downloaded_bytes, files_written: 0, shared_bytes: 0 };
    if !touched.is_empty() {
        if !local.is_empty() {
            return Err(Error::with_hint(
                format!(
                    "your local changes to these files would be overwritten by {command}; nothing was changed:\n  {}",
                    local.join("\n  ")
                ),
                format!("commit them (`hfgit commit -m ...`) or move them away, then run `hfgit {command}` again"),
            ));
        }
        let m = checkout::checkout_paths(repo, new, new_tree, &sel, &touched, progress)?;
        moved.files_written = m.files_written;
        moved.shared_bytes = m.bytes_shared;
    }
    Ok(moved)
}

/// `hfgit checkout <REV>` (and `switch`): moves the work tree and HEAD to `target`. With
/// `create`, the branch `create` is made at the target (it must not exist) as HEAD moves to it.
pub fn checkout(
    repo: &Repository,
    target: &Resolved,
    create: Option<&str>,
    src: &Source<'_>,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let _lock = git::lock(repo)?;
    refuse_unmerged(repo)?;
    let (new, attach) = match target {
        Resolved::Branch(b, id) => (*id, Some(b.clone())),
        Resolved::Detached(id) => (*id, None),
    };
    let attach = match create {
        Some(name) => {
            check_ref_name("branch", name)?;
            if repo.find_reference(&format!("refs/heads/{name}")).is_ok() {
                return Err(Error::BadInput(format!("a branch named `{name}` already exists")));
            }
            Some(name.to_string())
        }
        None => attach,
    };
    let head = git::head_commit(repo)?;
    let mut out = CheckoutOutcome {
        commit: new.to_string(),
        previous: head.as_ref().map(|c| c.id().to_string()),
        detached: attach.is_none(),
        branch: attach.clone(),
        created_branch: create.map(str::to_string),
        ..Default::default()
    };
    let new_tree = repo.find_commit(new).context("reading the commit")?.tree().context("reading tree")?;
    let old_tree = match &head {
        Some(c) => Some(c.tree().context("reading tree")?),
        None => None,
    };
    let ref_name = attach.as_ref().map(|b| format!("refs/heads/{b}"));
    let moved = move_work_tree(repo, old_tree.as_ref(), new, &new_tree, src, ref_name, "checkout", progress)?;
    out.files_changed = moved.files_changed;
    out.downloaded_objects = moved.downloaded_objects;
    out.downloaded_bytes = moved.downloaded_bytes;
    out.files_written = moved.files_written;
    out.shared_bytes = moved.shared_bytes;
    let sel = Selection::from_config(repo)?;
    // HEAD last: until here, a re-run starts from the old HEAD and finishes the job.
    match &attach {
        Some(b) => {
            let refname = format!("refs/heads/{b}");
            if create.is_some() {
                repo.reference(&refname, new, false, &format!("branch: Created from {}", &new.to_string()[..12]))
                    .context(format!("creating branch {b}"))?;
            }
            repo.set_head(&refname).context(format!("moving HEAD to {b}"))?;
        }
        None => repo.set_head_detached(new).context("detaching HEAD")?,
    }
    let m = checkout::materialize(repo, &sel, progress)?;
    out.files_written += m.files_written;
    out.shared_bytes += m.bytes_shared;
    Ok(out)
}

/// The repository-relative form of `path` as the user typed it (relative to `cwd`), or an
/// error when it is outside the work tree.
pub fn repo_path(repo: &Repository, cwd: &Path, path: &str) -> Result<String> {
    let workdir = git::workdir(repo)?;
    let workdir = workdir.canonicalize().unwrap_or(workdir);
    let cwd = cwd.canonicalize().unwrap_or(cwd.to_path_buf());
    let joined = cwd.join(path);
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            std::path::Component::Normal(n) => parts.push(n.to_os_string()),
            _ => parts.clear(),
        }
    }
    let abs: std::path::PathBuf = std::iter::once(std::ffi::OsString::from("/")).chain(parts).collect();
    let rel = abs.strip_prefix(&workdir).map_err(|_| Error::BadInput(format!("{path} is outside the work tree")))?;
    rel.to_str().map(str::to_string).ok_or_else(|| Error::BadInput(format!("{path} is not valid UTF-8")))
}

/// `hfgit restore [--source <REV>] <PATH>...` and `hfgit checkout <REV> -- <PATH>...`: the
/// chosen paths (files, or every file under a directory) as `source` has them, with content,
/// and their index entries. HEAD does not move. A chosen file whose work-tree content differs
/// from its index entry (unsaved work) stops it, naming the paths, unless `force`.
pub fn restore(
    repo: &Repository,
    source: git2::Oid,
    paths: &[String],
    force: bool,
    src: &Source<'_>,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let _lock = git::lock(repo)?;
    refuse_unmerged(repo)?;
    let tree = repo.find_commit(source).context("reading the commit")?.tree().context("reading tree")?;
    checkout::verify_tree(repo, &tree, source)?;
    let files = tree_files(Some(&tree))?;
    let mut chosen = BTreeSet::new();
    for p in paths {
        let p = p.trim_end_matches('/');
        let prefix = format!("{p}/");
        let before = chosen.len();
        if files.contains_key(p) {
            chosen.insert(p.to_string());
        }
        chosen.extend(files.keys().filter(|f| p.is_empty() || f.starts_with(&prefix)).cloned());
        if chosen.len() == before {
            return Err(Error::BadInput(format!("`{p}` is not in commit {}; nothing was changed", &source.to_string()[..12])));
        }
    }
    chosen.retain(|p| files.get(p).is_some_and(|(_, m)| *m != 0o160000));
    let mut out = CheckoutOutcome { commit: source.to_string(), files_changed: chosen.len() as u64, ..Default::default() };
    out.previous = git::head_commit(repo)?.map(|c| c.id().to_string());
    let sel = Selection::from_config(repo)?;
    let wanted: BTreeMap<String, Pointer> =
        checkout::selected_pointers(repo, &tree, &sel)?.into_iter().filter(|(p, _)| chosen.contains(p)).collect();
    (out.downloaded_objects, out.downloaded_bytes) =
        bring_objects(repo, &wanted, src, None, &format!("from {}", &source.to_string()[..12]), progress)?;
    if !force {
        let index = repo.index().context("reading the index")?;
        let scan = worktree::scan(repo, &index, ScanMode::Status, progress)?;
        let local: Vec<String> = scan
            .files
            .iter()
            .filter(|f| chosen.contains(&f.path))
            .filter(|f| Some(f.blob) != files.get(&f.path).map(|(id, _)| *id)) // already restored
            .filter(|f| index.get_path(Path::new(&f.path), 0).is_none_or(|e| e.id != f.blob))
            .map(|f| f.path.clone())
            .collect();
        if !local.is_empty() {
            return Err(Error::with_hint(
                format!(
                    "these files have changes that are in no commit and would be overwritten; nothing was changed:\n  {}",
                    local.join("\n  ")
                ),
                "commit them or move them away, or pass --force to discard them",
            ));
        }
    }
    let m = checkout::checkout_paths(repo, source, &tree, &sel, &chosen, progress)?;
    out.files_written = m.files_written;
    out.shared_bytes = m.bytes_shared;
    Ok(out)
}
