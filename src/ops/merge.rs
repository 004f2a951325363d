//! `hfgit merge`, `hfgit merge --abort` and `hfgit checkout --ours|--theirs`: joining another
//! commit into HEAD with libgit2, aware of LFS.
//!
//! libgit2 merges the trees as git stores them, so LFS files are merged as their pointers. A
//! weights file changed on both sides never receives conflict markers: the index records the
//! conflict (stages 1, 2, 3) and the work tree keeps our content, until `checkout --ours` or
//! `--theirs` picks a side (with its content). Other text files get git's usual markers; binary
//! files keep ours, as git does.
//!
//! The order is checkout's: the result's paths are checked, every LFS object it needs is in the
//! store (downloaded and verified), local changes the merge would overwrite stop it with
//! nothing changed; then files are written (temp file + rename), `MERGE_HEAD`/`MERGE_MSG`/
//! `MERGE_MODE` recorded, conflicts put into the index, and a clean merge committed, moving the
//! branch last. Deliberately absent: rebase, octopus merges, merge strategies.

use crate::error::{Context, Error, Result};
use crate::lfs::select::Selection;
use crate::ops::checkout::{bring_objects, move_work_tree, Source};
use crate::ops::status::tree_files;
use crate::progress::Progress;
use crate::repo::checkout;
use crate::repo::git;
use git2::{IndexEntry, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

pub struct MergeOptions<'a> {
    /// The merge commit's message (default: git's "Merge branch 'X'").
    pub message: Option<&'a str>,
    /// Stop before committing a clean merge, leaving `MERGE_HEAD` for `hfgit commit`.
    pub no_commit: bool,
    /// Refuse unless the merge is a fast-forward.
    pub ff_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub path: String,
    /// Stored through LFS on either side: the work tree keeps ours, with no markers.
    pub lfs: bool,
    /// Conflict markers were written into the work-tree file (text files only).
    pub markers: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct MergeOutcome {
    /// HEAD's commit before.
    pub previous: Option<String>,
    /// The commit merged in.
    pub theirs: String,
    /// The commit HEAD is at afterwards when it moved: the merge commit, or `theirs` after a
    /// fast-forward; `None` when the merge stopped (conflicts or `--no-commit`).
    pub commit: Option<String>,
    pub up_to_date: bool,
    pub fast_forward: bool,
    pub conflicts: Vec<Conflict>,
    pub files_changed: u64,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub files_written: u64,
}

/// Git's default message for merging `rev`: "Merge branch 'dev'", "Merge tag 'v1'", …, with
/// " into <branch>" unless the current branch is main or master.
pub fn default_message(repo: &Repository, rev: &str) -> Result<String> {
    let what = if repo.find_reference(&format!("refs/heads/{rev}")).is_ok() {
        "branch"
    } else if repo.find_reference(&format!("refs/remotes/{rev}")).is_ok() {
        "remote-tracking branch"
    } else if repo.find_reference(&format!("refs/tags/{rev}")).is_ok() {
        "tag"
    } else {
        "commit"
    };
    let mut msg = format!("Merge {what} '{rev}'");
    if let Some(b) = git::head_branch(repo)?.filter(|b| b != "main" && b != "master") {
        msg.push_str(&format!(" into {b}"));
    }
    Ok(msg)
}

/// `hfgit merge <REV>`: merges commit `theirs` (named `name` in messages and markers) into HEAD.
/// `held`: the repository lock, when the caller (pull) already holds it.
pub fn merge(
    repo: &Repository,
    theirs: git2::Oid,
    name: &str,
    opts: &MergeOptions<'_>,
    src: &Source<'_>,
    held: Option<&git::RepoLock>,
    progress: &dyn Progress,
) -> Result<MergeOutcome> {
    let _lock = if held.is_none() { Some(git::lock(repo)?) } else { None };
    refuse_busy(repo)?;
    let head = git::head_commit(repo)?;
    let their_commit = repo.find_commit(theirs).context("reading the commit to merge")?;
    let their_tree = their_commit.tree().context("reading tree")?;
    checkout::verify_tree(repo, &their_tree, theirs)?;
    let mut out = MergeOutcome { previous: head.as_ref().map(|c| c.id().to_string()), theirs: theirs.to_string(), ..Default::default() };
    let ours = match &head {
        Some(c) if c.id() == theirs || repo.graph_descendant_of(c.id(), theirs).unwrap_or(false) => {
            out.up_to_date = true;
            out.commit = Some(c.id().to_string());
            return Ok(out);
        }
        Some(c) if !repo.graph_descendant_of(theirs, c.id()).unwrap_or(false) => c,
        _ => return fast_forward(repo, head.as_ref(), theirs, &their_tree, name, src, progress, out),
    };
    if opts.ff_only {
        return Err(Error::with_hint(
            format!("cannot fast-forward to {name}: HEAD and {name} have diverged; nothing was changed"),
            format!("merge it with `hfgit merge {name}` (without --ff-only)"),
        ));
    }
    let our_tree = ours.tree().context("reading tree")?;
    let mut mopts = git2::MergeOptions::new();
    mopts.find_renames(true);
    let mut merged = repo.merge_commits(ours, &their_commit, Some(&mopts)).context(format!("merging {name}"))?;
    let conflicts = conflicts_of(repo, &merged, ours.id(), &our_tree, &their_tree)?;

    // What the work tree will hold: the merge's clean entries, and for each conflict ours (or
    // theirs when we deleted it) or, for text, the file with markers.
    let mut work = git2::Index::new().context("building the merged tree")?;
    let copy = |e: &Option<IndexEntry>| e.as_ref().map(|e| with_id(e, e.id));
    let sides = |c: &git2::IndexConflict| [copy(&c.ancestor), copy(&c.our), copy(&c.their)];
    let conflicted: HashSet<Vec<u8>> = conflicts.values().flat_map(|c| sides(c).into_iter().flatten().map(|e| e.path)).collect();
    for e in merged.iter().filter(|e| stage(e) == 0 && !conflicted.contains(&e.path)) {
        work.add(&e).context("building the merged tree")?;
    }
    let mut report = Vec::new();
    for (path, c) in &conflicts {
        let lfs = sides(c).iter().flatten().any(|e| git::blob_pointer(repo, e.id).is_some());
        let textual = !lfs && both_text(repo, c);
        let mut entry = match (&c.our, &c.their) {
            (Some(o), Some(t)) if textual => {
                let empty; // git merges an add/add conflict against an empty file
                let base = match &c.ancestor {
                    Some(a) => a,
                    None => {
                        empty = with_id(o, repo.blob(b"").context("writing a blob")?);
                        &empty
                    }
                };
                let mut fo = git2::MergeFileOptions::new();
                fo.our_label("HEAD").their_label(name);
                let r = repo.merge_file_from_index(base, o, t, Some(&mut fo)).context(format!("merging {path}"))?;
                with_id(o, repo.blob(r.content()).context("writing a blob")?)
            }
            (Some(o), _) => with_id(o, o.id),
            (None, Some(t)) => with_id(t, t.id),
            (None, None) => continue, // deleted on both sides: nothing to write
        };
        entry.path = path.as_bytes().to_vec();
        entry.flags &= !0x3000;
        work.add(&entry).context("building the merged tree")?;
        report.push(Conflict { path: path.clone(), lfs, markers: textual && c.our.is_some() && c.their.is_some() });
    }
    let work_tree = repo.find_tree(work.write_tree_to(repo).context("writing the merged tree")?).context("reading the merged tree")?;
    refuse_staged(repo, &our_tree, &work_tree)?;
    let moved = move_work_tree(repo, Some(&our_tree), theirs, &work_tree, src, None, "merge", progress)?;
    out.files_changed = moved.files_changed;
    out.downloaded_objects = moved.downloaded_objects;
    out.downloaded_bytes = moved.downloaded_bytes;
    out.files_written = moved.files_written;

    let message = match opts.message {
        Some(m) => m.to_string(),
        None => default_message(repo, name)?,
    };
    // A merge that stops leaves its state, as git does; one committed now needs none, so a run
    // killed before the commit is completed by running it again.
    if !conflicts.is_empty() || opts.no_commit {
        write_merge_state(repo, theirs, &message, &report)?;
    }
    if !conflicts.is_empty() {
        // the conflicts into the index: stages 1, 2, 3 replace the work-tree entry
        let mut index = repo.index().context("reading the index")?;
        for (path, c) in &conflicts {
            let _ = index.remove_path(Path::new(path));
            for (n, e) in sides(c).into_iter().enumerate() {
                if let Some(mut e) = e {
                    e.flags = (e.flags & !0x3000) | ((n as u16 + 1) << 12);
                    index.add(&e).context(format!("recording the conflict in {path}"))?;
                }
            }
        }
        git::write_index_safely(&mut index, None)?;
    } else if !opts.no_commit {
        let tree = repo.find_tree(merged.write_tree_to(repo).context("writing the merged tree")?).context("reading the merged tree")?;
        let (author, committer) = crate::repo::identity::signatures(repo, None)?;
        let message = git2::message_prettify(&message, None).context("cleaning the commit message")?;
        let id =
            repo.commit(Some("HEAD"), &author, &committer, &message, &tree, &[ours, &their_commit]).context("creating the merge commit")?;
        git::clear_merge_state(repo)?;
        out.commit = Some(id.to_string());
    }
    out.conflicts = report;
    let m = checkout::materialize(repo, &Selection::from_config(repo)?, progress)?;
    out.files_written += m.files_written;
    Ok(out)
}

fn stage(e: &IndexEntry) -> u16 {
    (e.flags >> 12) & 0x3
}

/// `e` with another blob id (git2's `IndexEntry` is not `Clone`).
fn with_id(e: &IndexEntry, id: git2::Oid) -> IndexEntry {
    IndexEntry {
        ctime: e.ctime,
        mtime: e.mtime,
        dev: e.dev,
        ino: e.ino,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        file_size: e.file_size,
        id,
        flags: e.flags,
        flags_extended: e.flags_extended,
        path: e.path.clone(),
    }
}

/// Refuses to start a merge while another operation's state is in the way.
fn refuse_busy(repo: &Repository) -> Result<()> {
    if !git::merge_heads(repo)?.is_empty() {
        return Err(Error::with_hint(
            "a merge is already in progress; nothing was changed",
            "conclude it with `hfgit commit -m ...` or abandon it with `hfgit merge --abort`",
        ));
    }
    crate::ops::checkout::refuse_unmerged(repo)?;
    if repo.state() != git2::RepositoryState::Clean {
        return Err(Error::with_hint(
            format!("cannot merge: the repository is in the middle of a {:?}; nothing was changed", repo.state()),
            "finish or abort it with git first",
        ));
    }
    Ok(())
}

/// Refuses a three-way merge while the index differs from HEAD (as git does): `--abort` then
/// restores exactly what the merge touched, and no staged work is mixed into the merge. An entry
/// already as the merge will have it (an interrupted run wrote it) is not a difference.
fn refuse_staged(repo: &Repository, head: &git2::Tree<'_>, result: &git2::Tree<'_>) -> Result<()> {
    let index = repo.index().context("reading the index")?;
    let diff = repo.diff_tree_to_index(Some(head), Some(&index), None).context("comparing the index with HEAD")?;
    let result = tree_files(Some(result))?;
    let paths: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            let path = d.new_file().path().or(d.old_file().path())?.to_str()?.to_string();
            let staged = (d.status() != git2::Delta::Deleted).then(|| (d.new_file().id(), i32::from(d.new_file().mode())));
            (result.get(&path).copied() != staged).then_some(path)
        })
        .collect();
    if paths.is_empty() {
        return Ok(());
    }
    Err(Error::with_hint(
        format!("cannot merge: the index has changes to these files that are in no commit; nothing was changed:\n  {}", paths.join("\n  ")),
        "commit them (`hfgit commit -m ...`) or unstage them (`git restore --staged <PATH>`), then merge again",
    ))
}

/// The conflicts libgit2 found, by path; plus any path where the text merge of two pointers
/// produced a pointer neither side has (it would name an object that exists nowhere): that is a
/// conflict too.
fn conflicts_of(
    repo: &Repository,
    merged: &git2::Index,
    base_of: git2::Oid,
    ours: &git2::Tree<'_>,
    theirs: &git2::Tree<'_>,
) -> Result<BTreeMap<String, git2::IndexConflict>> {
    let mut out = BTreeMap::new();
    for c in merged.conflicts().context("reading the merge's conflicts")? {
        let c = c.context("reading the merge's conflicts")?;
        let e = c.our.as_ref().or(c.their.as_ref()).or(c.ancestor.as_ref()).expect("a conflict has an entry");
        out.insert(String::from_utf8_lossy(&e.path).into_owned(), c);
    }
    let (our_files, their_files) = (tree_files(Some(ours))?, tree_files(Some(theirs))?);
    let known: HashSet<git2::Oid> = our_files.values().chain(their_files.values()).map(|(id, _)| *id).collect();
    let entry = |files: &BTreeMap<String, (git2::Oid, i32)>, path: &str, like: &IndexEntry| {
        files.get(path).map(|(id, mode)| IndexEntry { mode: *mode as u32, ..with_id(like, *id) })
    };
    for e in merged.iter().filter(|e| stage(e) == 0 && !known.contains(&e.id)) {
        if git::blob_pointer(repo, e.id).is_none() {
            continue;
        }
        let path = String::from_utf8_lossy(&e.path).into_owned();
        let base_tree = repo.find_commit(base_of).ok().and_then(|c| c.tree().ok());
        let base = tree_files(base_tree.as_ref())?;
        let c = git2::IndexConflict {
            ancestor: entry(&base, &path, &e),
            our: entry(&our_files, &path, &e),
            their: entry(&their_files, &path, &e),
        };
        out.insert(path, c);
    }
    Ok(out)
}

/// Both sides are regular files whose blobs hold no NUL byte in their first 8000 bytes (git's
/// test for binary): only those get conflict markers.
fn both_text(repo: &Repository, c: &git2::IndexConflict) -> bool {
    [&c.our, &c.their].iter().all(|e| match e {
        Some(e) if e.mode == 0o100644 || e.mode == 0o100755 => {
            repo.find_blob(e.id).is_ok_and(|b| !b.content()[..b.content().len().min(8000)].contains(&0))
        }
        Some(_) => false,
        None => true,
    })
}

/// `MERGE_MSG`, `MERGE_MODE`, then `MERGE_HEAD` (what says a merge is in progress), as git
/// writes them.
fn write_merge_state(repo: &Repository, theirs: git2::Oid, message: &str, conflicts: &[Conflict]) -> Result<()> {
    let mut msg = format!("{}\n", message.trim_end());
    if !conflicts.is_empty() {
        msg.push_str("\n# Conflicts:\n");
        for c in conflicts {
            msg.push_str(&format!("#\t{}\n", c.path));
        }
    }
    let dir = repo.path();
    let store = crate::lfs::store::Store::for_git_dir(dir);
    crate::lfs::track::write_atomic(&store, &dir.join("MERGE_MSG"), msg.as_bytes())?;
    crate::lfs::track::write_atomic(&store, &dir.join("MERGE_MODE"), b"")?;
    crate::lfs::track::write_atomic(&store, &dir.join("MERGE_HEAD"), format!("{theirs}\n").as_bytes())
}

/// A fast-forward: the work tree moves to `theirs` as checkout moves it, then the branch (or a
/// detached HEAD) moves last.
#[allow(clippy::too_many_arguments)]
fn fast_forward(
    repo: &Repository,
    head: Option<&git2::Commit<'_>>,
    theirs: git2::Oid,
    their_tree: &git2::Tree<'_>,
    name: &str,
    src: &Source<'_>,
    progress: &dyn Progress,
    mut out: MergeOutcome,
) -> Result<MergeOutcome> {
    let old_tree = match head {
        Some(c) => Some(c.tree().context("reading tree")?),
        None => None,
    };
    let branch = git::head_branch(repo)?;
    let ref_name = branch.as_ref().map(|b| format!("refs/heads/{b}"));
    let moved = move_work_tree(repo, old_tree.as_ref(), theirs, their_tree, src, ref_name.clone(), "merge", progress)?;
    match &ref_name {
        Some(r) => {
            repo.reference(r, theirs, true, &format!("merge {name}: Fast-forward")).context(format!("moving {r}"))?;
        }
        None => repo.set_head_detached(theirs).context("moving HEAD")?,
    }
    out.fast_forward = true;
    out.commit = Some(theirs.to_string());
    out.files_changed = moved.files_changed;
    out.downloaded_objects = moved.downloaded_objects;
    out.downloaded_bytes = moved.downloaded_bytes;
    out.files_written = moved.files_written;
    let m = checkout::materialize(repo, &Selection::from_config(repo)?, progress)?;
    out.files_written += m.files_written;
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct AbortOutcome {
    /// The commit the work tree and index are back at.
    pub head: String,
    /// Paths brought back as HEAD has them.
    pub restored: Vec<String>,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
}

/// `hfgit merge --abort`: the index and the work-tree files a merge touched (conflicted, or
/// staged differently from HEAD) back as HEAD has them, with content, and the merge state
/// removed last. Works for a merge started by hfgit or by plain `git merge`; other local
/// changes are kept, as `git merge --abort` keeps them.
pub fn abort(repo: &Repository, src: &Source<'_>, progress: &dyn Progress) -> Result<AbortOutcome> {
    let _lock = git::lock(repo)?;
    let mut index = repo.index().context("reading the index")?;
    let unmerged = git::unmerged_paths(&index);
    if git::merge_heads(repo)?.is_empty() && unmerged.is_empty() {
        return Err(Error::with_hint("there is no merge to abort (no .git/MERGE_HEAD)", "`hfgit status` shows the repository's state"));
    }
    let head = git::head_commit(repo)?.ok_or_else(|| Error::failed("cannot abort the merge: HEAD has no commit"))?;
    let tree = head.tree().context("reading tree")?;
    checkout::verify_tree(repo, &tree, head.id())?;
    let files = tree_files(Some(&tree))?;
    let mut touched: BTreeSet<String> = unmerged.iter().cloned().collect();
    let mut staged = HashSet::new();
    for e in index.iter().filter(|e| stage(e) == 0) {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        if files.get(&path).is_none_or(|(id, mode)| *id != e.id || *mode as u32 != e.mode) {
            touched.insert(path.clone());
        }
        staged.insert(path);
    }
    touched.extend(files.iter().filter(|(p, (_, m))| *m != 0o160000 && !staged.contains(*p)).map(|(p, _)| p.clone()));
    let sel = Selection::from_config(repo)?;
    let wanted = checkout::selected_pointers(repo, &tree, &sel)?.into_iter().filter(|(p, _)| touched.contains(p)).collect();
    let (downloaded_objects, downloaded_bytes) = bring_objects(repo, &wanted, src, None, "HEAD", progress)?;
    for p in &unmerged {
        index.conflict_remove(Path::new(p)).context(format!("removing the conflict in {p}"))?;
    }
    git::write_index_safely(&mut index, None)?;
    checkout::checkout_paths(repo, head.id(), &tree, &sel, &touched, progress)?;
    git::clear_merge_state(repo)?;
    checkout::materialize(repo, &sel, progress)?;
    Ok(AbortOutcome { head: head.id().to_string(), restored: touched.into_iter().collect(), downloaded_objects, downloaded_bytes })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ours,
    Theirs,
}

#[derive(Debug, Default, Serialize)]
pub struct PickOutcome {
    /// The paths resolved to the chosen side (their index entry is now stage 0).
    pub resolved: Vec<String>,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub files_written: u64,
}

/// `hfgit checkout --ours|--theirs <PATH>...`: each unmerged path (or every unmerged path under
/// a directory) as that side has it: its content (LFS content from the store or the remote)
/// written to the work tree, and the path resolved in the index, so `hfgit commit` can follow.
/// Unlike git's `checkout --ours`, which leaves the path unmerged.
pub fn pick_side(repo: &Repository, side: Side, paths: &[String], src: &Source<'_>, progress: &dyn Progress) -> Result<PickOutcome> {
    let _lock = git::lock(repo)?;
    let index = repo.index().context("reading the index")?;
    let unmerged = git::unmerged_paths(&index);
    let (flag, whose) = match side {
        Side::Ours => ("--ours", "our"),
        Side::Theirs => ("--theirs", "their"),
    };
    let mut chosen = BTreeSet::new();
    for p in paths {
        let p = p.trim_end_matches('/');
        let prefix = format!("{p}/");
        let found: Vec<&String> = unmerged.iter().filter(|u| *u == p || p.is_empty() || u.starts_with(&prefix)).collect();
        if found.is_empty() {
            return Err(Error::with_hint(
                format!("`{p}` is not unmerged; nothing was changed"),
                "`hfgit status` lists the unmerged paths (`U`); `hfgit restore <PATH>` brings back a file as HEAD has it",
            ));
        }
        chosen.extend(found.into_iter().cloned());
    }
    let mut work = git2::Index::new().context("building the chosen tree")?;
    for p in &chosen {
        let c = index.conflict_get(Path::new(p)).context(format!("reading the conflict in {p}"))?;
        let mut e = match side {
            Side::Ours => c.our,
            Side::Theirs => c.their,
        }
        .ok_or_else(|| {
            Error::with_hint(
                format!("`{p}` has no {whose} version (that side deleted it); nothing was changed"),
                format!("take the other side, or delete it with `git rm {p}` (then `hfgit commit`)"),
            )
        })?;
        e.flags &= !0x3000;
        work.add(&e).context("building the chosen tree")?;
    }
    let commit = match side {
        Side::Theirs => git::merge_heads(repo)?.first().copied(),
        Side::Ours => None,
    };
    let commit = match commit {
        Some(c) => c,
        None => git::head_commit(repo)?.map(|c| c.id()).ok_or_else(|| Error::failed("HEAD has no commit"))?,
    };
    let tree = repo.find_tree(work.write_tree_to(repo).context("writing the chosen tree")?).context("reading the chosen tree")?;
    checkout::verify_tree(repo, &tree, commit)?;
    let sel = Selection::from_config(repo)?;
    let wanted = checkout::selected_pointers(repo, &tree, &sel)?;
    let (downloaded_objects, downloaded_bytes) = bring_objects(repo, &wanted, src, None, &format!("{flag} versions"), progress)?;
    drop(index);
    let m = checkout::checkout_paths(repo, commit, &tree, &sel, &chosen, progress)?;
    // the stage-0 entries are written; the conflict stages go
    let mut index = repo.index().context("reading the index")?;
    for p in &chosen {
        index.conflict_remove(Path::new(p)).context(format!("resolving {p}"))?;
    }
    git::write_index_safely(&mut index, None)?;
    Ok(PickOutcome { resolved: chosen.into_iter().collect(), downloaded_objects, downloaded_bytes, files_written: m.files_written })
}
