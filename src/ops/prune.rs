//! `hfgit prune`: deletes the local LFS objects nothing needs, by git-lfs's rules
//! (`commands/command_prune.go`). Kept: every object of HEAD's tree, of the index (this work
//! tree's and every linked worktree's, with their HEADs), of a work-tree file that is a pointer,
//! of each ref whose commit is within the recent window (`lfs.fetchrecentrefsdays` +
//! `lfs.pruneoffsetdays`, remote refs too unless `lfs.fetchrecentremoterefs` is false), the
//! previous versions within `lfs.fetchrecentcommitsdays` + offset of those commits, every object
//! a commit not yet on the remote (`lfs.pruneremotetocheck`, default `origin`: reachable from a
//! branch or tag but not from `refs/remotes/<remote>/*`) added, and every object a stash entry
//! added (its reflog, or the ref alone when it has none). Paths `lfs.fetchexclude` excludes are
//! not kept for recent refs and their previous versions (as git-lfs); git-lfs drops them for
//! HEAD and the index too, hfgit never deletes an object HEAD or an index names.
//!
//! Before deleting, the remote is asked whether it has the objects (`Verify`); by default those a
//! commit still reaches, since those are the ones whose only copy would be lost. Deletion happens
//! under the repository lock; the plan (`plan`) is also what `hfgit du` reports.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::oid::Oid;
use crate::lfs::pointer::{Pointer, MAX_POINTER_SIZE};
use crate::lfs::remote::LfsRemote;
use crate::lfs::select::Selection;
use crate::lfs::store::Store;
use crate::net::remote;
use crate::progress::Progress;
use crate::repo::git;
use git2::Repository;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;

pub const DAY: i64 = 24 * 60 * 60;

/// git-lfs's fetch and prune settings (`lfs/config.go`, `NewFetchPruneConfig`), with its
/// defaults.
#[derive(Debug, Clone)]
pub struct RecentConfig {
    pub refs_days: i64,
    pub remote_refs: bool,
    pub commits_days: i64,
    pub always: bool,
    pub offset_days: i64,
    pub prune_remote: String,
    pub verify_unreachable_always: bool,
}

impl RecentConfig {
    pub fn from_repo(repo: &Repository) -> Result<RecentConfig> {
        let cfg = repo.config().context("reading git config")?;
        let int = |k: &str, d: i64| cfg.get_i64(k).unwrap_or(d);
        let flag = |k: &str, d: bool| cfg.get_bool(k).unwrap_or(d);
        Ok(RecentConfig {
            refs_days: int("lfs.fetchrecentrefsdays", 7),
            remote_refs: flag("lfs.fetchrecentremoterefs", true),
            commits_days: int("lfs.fetchrecentcommitsdays", 0),
            always: flag("lfs.fetchrecentalways", false),
            offset_days: int("lfs.pruneoffsetdays", 3),
            prune_remote: cfg.get_string("lfs.pruneremotetocheck").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "origin".into()),
            verify_unreachable_always: flag("lfs.pruneverifyunreachablealways", false),
        })
    }
}

/// Which objects to check on the remote before deleting them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Those a commit of some ref still reaches (hfgit's default; git-lfs's `--verify-remote`).
    Reachable,
    /// Every object to delete (`--verify-remote`; git-lfs's `--verify-unreachable`).
    All,
    /// None (`--no-verify-remote`; git-lfs's default).
    Never,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredObject {
    pub oid: String,
    pub size: u64,
}

/// What prune would do, before any remote is asked.
#[derive(Debug, Default)]
pub struct Plan {
    pub store_objects: u64,
    pub store_bytes: u64,
    pub retained_objects: u64,
    pub retained_bytes: u64,
    /// Largest first.
    pub prunable: Vec<Pointer>,
}

impl Plan {
    pub fn prunable_bytes(&self) -> u64 {
        self.prunable.iter().map(|p| p.size).sum()
    }
}

#[derive(Debug, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub store_objects: u64,
    pub store_bytes: u64,
    pub retained_objects: u64,
    /// The objects deleted (with `dry_run`, that would be).
    pub pruned: Vec<StoredObject>,
    pub pruned_bytes: u64,
    /// How many were confirmed on the remote first, and which remote.
    pub verified_objects: u64,
    pub remote: Option<String>,
}

/// Every object file in the store (`objects/<aa>/<bb>/<oid>`, regular files only), as a
/// pointer with the file's size.
pub fn local_objects(store: &Store) -> Result<Vec<Pointer>> {
    let root = store.root().join("objects");
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    for e in walkdir::WalkDir::new(&root).min_depth(3).max_depth(3) {
        let e = e.map_err(|e| Error::failed(format!("listing {}: {e}", root.display())))?;
        if !e.file_type().is_file() {
            continue;
        }
        let Some(oid) = e.file_name().to_str().and_then(Oid::from_hex) else { continue };
        if store.object_path(&oid) != e.path() {
            continue; // not where git-lfs would look for it: not an object
        }
        let size = fs::symlink_metadata(e.path()).context(format!("reading {}", e.path().display()))?.len();
        out.push(Pointer::new(oid, size));
    }
    Ok(out)
}

/// Pointer blobs by path in a commit's tree.
struct Trees<'r> {
    repo: &'r Repository,
    cache: HashMap<git2::Oid, Option<Pointer>>,
}

impl<'r> Trees<'r> {
    fn new(repo: &'r Repository) -> Trees<'r> {
        Trees { repo, cache: HashMap::new() }
    }

    fn pointers(&mut self, commit: &git2::Commit<'_>) -> Result<BTreeMap<String, Pointer>> {
        let tree = commit.tree().context(format!("reading the tree of {}", commit.id()))?;
        Ok(git::tree_pointers(self.repo, &tree, &mut self.cache)?.into_iter().map(|(path, p, _)| (path, p)).collect())
    }

    /// The `+` side (what `commit` added or changed, against its first parent; a root commit
    /// adds everything) or, with `old_side`, the `-` side (the parent's versions it replaced).
    fn changed(&mut self, commit: &git2::Commit<'_>, old_side: bool) -> Result<Vec<(String, Pointer)>> {
        let new = self.pointers(commit)?;
        let old = match commit.parent(0) {
            Ok(parent) => self.pointers(&parent)?,
            Err(_) => BTreeMap::new(),
        };
        let (side, other) = if old_side { (old, new) } else { (new, old) };
        Ok(side.into_iter().filter(|(path, p)| other.get(path) != Some(p)).collect())
    }
}

fn commit_time(c: &git2::Commit<'_>) -> i64 {
    c.committer().when().seconds()
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The commits of refs whose commit is no older than `since` (git-lfs's `RecentBranches`: any
/// `refs/<kind>/<name>`; remote-tracking refs only with `remotes`, and then only `only_remote`'s
/// when given).
pub fn recent_ref_commits<'r>(
    repo: &'r Repository,
    since: i64,
    remotes: bool,
    only_remote: Option<&str>,
) -> Result<Vec<(String, git2::Commit<'r>)>> {
    let mut out = Vec::new();
    for r in repo.references().context("listing refs")?.flatten() {
        let Some(name) = r.name().map(str::to_string) else { continue };
        if name.split('/').count() < 3 {
            continue; // refs/stash, HEAD: not a branch
        }
        if let Some(rest) = name.strip_prefix("refs/remotes/") {
            if !remotes || only_remote.is_some_and(|o| !rest.starts_with(&format!("{o}/"))) {
                continue;
            }
        }
        let Ok(c) = r.peel_to_commit() else { continue };
        if commit_time(&c) >= since {
            out.push((name, c));
        }
    }
    Ok(out)
}

/// The previous versions (`-` side) of LFS files changed by commits reachable from `tip`
/// whose date is at or after `since` (git-lfs's `ScanPreviousVersions`), with the commit that
/// replaced each.
pub fn previous_versions_of(repo: &Repository, tip: git2::Oid, since: i64) -> Result<Vec<(git2::Oid, String, Pointer)>> {
    previous_versions(&mut Trees::new(repo), repo, tip, since)
}

fn previous_versions(trees: &mut Trees<'_>, repo: &Repository, tip: git2::Oid, since: i64) -> Result<Vec<(git2::Oid, String, Pointer)>> {
    let mut walk = repo.revwalk().context("walking history")?;
    walk.push(tip).context("walking history")?;
    let mut out = Vec::new();
    for id in walk {
        let c = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        if commit_time(&c) >= since {
            out.extend(trees.changed(&c, true)?.into_iter().map(|(path, p)| (c.id(), path, p)));
        }
    }
    Ok(out)
}

/// The kept oids; `exclude` is `lfs.fetchexclude`, which `filtered` honours.
struct Keep<'a> {
    set: HashSet<Oid>,
    exclude: &'a Selection,
}

impl Keep<'_> {
    fn filtered(&mut self, items: impl IntoIterator<Item = (String, Pointer)>) {
        self.set.extend(items.into_iter().filter(|(path, _)| self.exclude.selects(path)).map(|(_, p)| p.oid));
    }
    fn all(&mut self, items: impl IntoIterator<Item = (String, Pointer)>) {
        self.set.extend(items.into_iter().map(|(_, p)| p.oid));
    }
}

/// HEAD and index of a repository (a work tree, main or linked), and its pointer files. All
/// worktrees share one object database, so `trees` reads any of their commits.
fn keep_checkout(keep: &mut Keep<'_>, trees: &mut Trees<'_>, repo: &Repository, commits: &mut BTreeSet<git2::Oid>) -> Result<()> {
    if let Some(h) = git::head_commit(repo)? {
        if commits.insert(h.id()) {
            keep.all(trees.pointers(&h)?);
        }
    }
    if repo.is_bare() {
        return Ok(());
    }
    let index = repo.index().context("reading the index")?;
    let staged: Vec<(String, Pointer)> = index
        .iter()
        .filter(|e| e.mode != 0o120000 && e.mode != 0o160000)
        .filter_map(|e| Some((String::from_utf8_lossy(&e.path).into_owned(), git::blob_pointer(repo, e.id)?)))
        .collect();
    keep.all(staged);
    // hfgit's own rule: a work-tree file that is a pointer names an object someone may want
    let workdir = git::workdir(repo)?;
    let walker = walkdir::WalkDir::new(&workdir).into_iter().filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
    for e in walker.flatten() {
        if e.file_type().is_file() && e.metadata().is_ok_and(|m| m.len() < MAX_POINTER_SIZE) {
            if let Some(p) = fs::read(e.path()).ok().and_then(|b| Pointer::parse(&b).ok()) {
                keep.set.insert(p.oid);
            }
        }
    }
    Ok(())
}

/// The oids prune must keep.
fn retained(repo: &Repository, rc: &RecentConfig) -> Result<HashSet<Oid>> {
    let cfg = repo.config().context("reading git config")?;
    let exclude = Selection::new(&[], &cfg.get_string("lfs.fetchexclude").ok().into_iter().collect::<Vec<_>>())?;
    let mut keep = Keep { set: HashSet::new(), exclude: &exclude };
    let mut trees = Trees::new(repo);
    let mut commits = BTreeSet::new();

    // HEAD and the index, of this work tree and of every other worktree of the repository
    keep_checkout(&mut keep, &mut trees, repo, &mut commits)?;
    for other in other_checkouts(repo)? {
        keep_checkout(&mut keep, &mut trees, &other, &mut commits)?;
    }

    // recent refs, and recent previous versions
    if rc.refs_days > 0 {
        let since = now() - (rc.refs_days + rc.offset_days) * DAY;
        for (_, c) in recent_ref_commits(repo, since, rc.remote_refs, None)? {
            if commits.insert(c.id()) {
                keep.filtered(trees.pointers(&c)?);
            }
        }
    }
    if rc.commits_days > 0 {
        for id in commits.clone() {
            let c = repo.find_commit(id).context("reading commit")?;
            let since = commit_time(&c) - (rc.commits_days + rc.offset_days) * DAY;
            let prev = previous_versions(&mut trees, repo, id, since)?;
            keep.filtered(prev.into_iter().map(|(_, path, p)| (path, p)));
        }
    }

    // unpushed: reachable from a branch or tag (or, stricter than git-lfs, a detached HEAD),
    // not from the remote's tracking refs
    let mut walk = repo.revwalk().context("walking history")?;
    walk.push_glob("refs/heads/*").context("walking history")?;
    walk.push_glob("refs/tags/*").context("walking history")?;
    if let Some(h) = git::head_commit(repo)? {
        walk.push(h.id()).context("walking history")?;
    }
    walk.hide_glob(&format!("refs/remotes/{}/*", rc.prune_remote)).context("walking history")?;
    for id in walk {
        let c = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        let added = trees.changed(&c, false)?;
        keep.all(added);
    }

    // stashes: each entry's commits (work tree, index, untracked) against their first parents
    let mut stashes: BTreeSet<git2::Oid> = repo.reflog("refs/stash").map(|r| r.iter().map(|e| e.id_new()).collect()).unwrap_or_default();
    // a stash ref without a reflog (written by hand) still counts
    stashes.extend(repo.refname_to_id("refs/stash").ok());
    for id in stashes {
        let Ok(w) = repo.find_commit(id) else { continue };
        let mut walk = repo.revwalk().context("walking the stash")?;
        walk.push(w.id()).context("walking the stash")?;
        if let Ok(base) = w.parent_id(0) {
            walk.hide(base).context("walking the stash")?;
        }
        for id in walk {
            let c = repo.find_commit(id.context("walking the stash")?).context("reading commit")?;
            let added = trees.changed(&c, false)?;
            keep.all(added);
        }
    }
    Ok(keep.set)
}

/// The locks of this repository and of every worktree sharing its store: each hfgit command
/// takes its own worktree's lock, and any of them could start using an object prune is about
/// to delete.
fn lock_every_worktree(repo: &Repository) -> Result<Vec<git::RepoLock>> {
    let mut locks = vec![git::lock(repo)?];
    for other in other_checkouts(repo)? {
        locks.push(git::lock(&other)?);
    }
    Ok(locks)
}

/// The other repositories sharing `repo`'s store: the main one when `repo` is a linked
/// worktree, and every linked worktree whose directory still exists.
fn other_checkouts(repo: &Repository) -> Result<Vec<Repository>> {
    let main = if repo.is_worktree() { Some(Repository::open(repo.commondir()).context("opening the main repository")?) } else { None };
    let main_ref = main.as_ref().unwrap_or(repo);
    let mut out = Vec::new();
    for name in main_ref.worktrees().context("listing worktrees")?.iter().flatten() {
        let Ok(wt) = main_ref.find_worktree(name) else { continue };
        if wt.validate().is_err() {
            continue; // prunable: its directory is gone
        }
        match Repository::open_from_worktree(&wt) {
            Ok(r) if r.path() != repo.path() => out.push(r),
            _ => {}
        }
    }
    out.extend(main);
    Ok(out)
}

/// Every LFS object any commit of any ref (or HEAD) reaches.
fn reachable(repo: &Repository) -> Result<HashSet<Oid>> {
    let mut walk = repo.revwalk().context("walking history")?;
    walk.push_glob("refs/*").context("walking history")?;
    if let Some(h) = git::head_commit(repo)? {
        walk.push(h.id()).context("walking history")?;
    }
    let mut trees = Trees::new(repo);
    let mut out = HashSet::new();
    for id in walk {
        let c = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        out.extend(trees.pointers(&c)?.into_values().map(|p| p.oid));
    }
    Ok(out)
}

/// The local objects, split into kept and prunable; nothing is asked of any remote.
pub fn plan(repo: &Repository) -> Result<Plan> {
    let rc = RecentConfig::from_repo(repo)?;
    let store = Store::for_git_dir(repo.path());
    let local = local_objects(&store)?;
    let keep = retained(repo, &rc)?;
    let mut plan = Plan { store_objects: local.len() as u64, store_bytes: local.iter().map(|p| p.size).sum(), ..Plan::default() };
    for p in local {
        if keep.contains(&p.oid) {
            plan.retained_objects += 1;
            plan.retained_bytes += p.size;
        } else {
            plan.prunable.push(p);
        }
    }
    plan.prunable.sort_by(|a, b| b.size.cmp(&a.size).then(a.oid.cmp(&b.oid)));
    Ok(plan)
}

pub struct PruneOptions {
    pub dry_run: bool,
    /// `None`: the configured default (`Reachable`, or `All` with
    /// `lfs.pruneverifyunreachablealways`).
    pub verify: Option<Verify>,
    pub interactive: bool,
}

pub fn prune(repo: &Repository, opts: &PruneOptions, progress: &dyn Progress) -> Result<PruneReport> {
    let PruneOptions { dry_run, verify, interactive } = *opts;
    // an hfgit command in any worktree of the store could make a listed object needed
    let _locks = if dry_run { Vec::new() } else { lock_every_worktree(repo)? };
    let rc = RecentConfig::from_repo(repo)?;
    let verify = verify.unwrap_or(if rc.verify_unreachable_always { Verify::All } else { Verify::Reachable });
    let plan = plan(repo)?;
    let mut report = PruneReport {
        dry_run,
        store_objects: plan.store_objects,
        store_bytes: plan.store_bytes,
        retained_objects: plan.retained_objects,
        pruned: Vec::new(),
        pruned_bytes: 0,
        verified_objects: 0,
        remote: None,
    };
    let to_check: Vec<Pointer> = match verify {
        Verify::Never => Vec::new(),
        Verify::All => plan.prunable.clone(),
        Verify::Reachable => {
            let reach = if plan.prunable.is_empty() { HashSet::new() } else { reachable(repo)? };
            plan.prunable.iter().filter(|p| reach.contains(&p.oid)).cloned().collect()
        }
    };
    if !to_check.is_empty() {
        let name = &rc.prune_remote;
        let r = repo.find_remote(name).map_err(|_| {
            Error::with_hint(
                format!("cannot check that remote `{name}` has the {} LFS object(s) prune would delete: there is no remote `{name}`", to_check.len()),
                format!("add it (`git remote add {name} <URL>`), name another with `git config lfs.pruneremotetocheck <NAME>`, or skip the check with `hfgit prune --no-verify-remote`"),
            )
        })?;
        let url = r.url().ok_or_else(|| Error::failed(format!("remote {name} has no URL")))?.to_string();
        report.remote = Some(remote::redact(&url));
        let lfs = LfsRemote::for_remote(repo, Some(name), &url, Operation::Download, None, interactive)?;
        progress.begin("Checking the remote", 0, 0);
        let lacking = lfs.lacking(&to_check);
        progress.end();
        let lacking = lacking?;
        if !lacking.is_empty() {
            let list: Vec<String> = lacking.iter().map(|(p, why)| format!("sha256:{} ({} bytes): {why}", p.oid, p.size)).collect();
            return Err(Error::with_hint(
                format!(
                    "{} LFS object(s) prune would delete are missing on {}; nothing was deleted:\n  {}",
                    lacking.len(),
                    remote::redact(&url),
                    list.join("\n  ")
                ),
                "keep them (the local copy may be the only one), or delete them anyway with `hfgit prune --no-verify-remote`",
            ));
        }
        report.verified_objects = to_check.len() as u64;
    }
    let store = Store::for_git_dir(repo.path());
    let mut problems = Vec::new();
    if !dry_run {
        progress.begin("Deleting objects", 0, plan.prunable.len() as u64);
    }
    for p in &plan.prunable {
        if !dry_run {
            let path = store.object_path(&p.oid);
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    problems.push(format!("{}: {e}", path.display()));
                }
                continue;
            }
            progress.item_done();
        }
        report.pruned.push(StoredObject { oid: p.oid.to_hex(), size: p.size });
        report.pruned_bytes += p.size;
    }
    if !dry_run {
        progress.end();
    }
    if !problems.is_empty() {
        return Err(Error::failed(format!(
            "deleted {} LFS object(s), but could not delete:\n  {}",
            report.pruned.len(),
            problems.join("\n  ")
        )));
    }
    Ok(report)
}
