//! `hfgit fetch`: brings the remote's branches (git objects, `refs/remotes/<remote>/*`) and the
//! LFS objects some revisions need into the local store, verified; the work tree, the index and
//! HEAD are not touched. The revisions are the ones named, else HEAD and the current branch's
//! upstream tip; `--all` takes every commit of every ref; `--recent` adds the refs and commits
//! within git-lfs's recent window (`lfs.fetchrecentrefsdays`, `lfs.fetchrecentremoterefs`,
//! `lfs.fetchrecentcommitsdays`; `lfs.fetchrecentalways` makes it the default).
//!
//! `--pr N` also fetches the Hub pull request `refs/pr/N` (not fetched otherwise) into
//! `refs/remotes/<remote>/pr/N`, and its LFS files unless revisions are named.
//!
//! Which files: `--include` / `--exclude` when given (they replace the saved selection for this
//! run), else `lfs.fetchinclude` / `lfs.fetchexclude`; `--all` takes every file, as git-lfs does.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::fetch::{self, LfsFailure};
use crate::lfs::pointer::Pointer;
use crate::lfs::remote::LfsRemote;
use crate::lfs::select::Selection;
use crate::lfs::store::Store;
use crate::net::remote;
use crate::ops::prune::{self, RecentConfig, DAY};
use crate::progress::Progress;
use crate::repo::git;
use git2::Repository;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub struct FetchOptions<'a> {
    pub remote: Option<&'a str>,
    pub revs: &'a [String],
    pub all: bool,
    pub recent: bool,
    pub include: &'a [String],
    pub exclude: &'a [String],
    pub interactive: bool,
    /// Also fetch this Hub pull request (`refs/pr/N`).
    pub pr: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct FetchOutcome {
    pub remote: String,
    /// The commits whose LFS files were wanted.
    pub commits: Vec<String>,
    /// Distinct objects those files use, and how many were already in the store.
    pub objects: u64,
    pub already_present: u64,
    /// Objects of those commits the selection left out (and the store lacks).
    pub not_selected: u64,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub failures: Vec<LfsFailure>,
    /// `--pr`: the local ref the pull request was fetched into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request_ref: Option<String>,
}

/// The wanted files, keyed by a name for messages: `path`, or `path (at <commit>)` when the
/// same path holds another object in another commit.
struct Wanted {
    files: BTreeMap<String, Pointer>,
    seen: std::collections::HashSet<crate::lfs::oid::Oid>,
}

impl Wanted {
    fn add(&mut self, commit: git2::Oid, path: String, p: Pointer) {
        if p.size == 0 || !self.seen.insert(p.oid) {
            return;
        }
        let key = if self.files.contains_key(&path) { format!("{path} (at {})", &commit.to_string()[..12]) } else { path };
        self.files.insert(key, p);
    }
}

pub fn fetch(repo: &Repository, opts: &FetchOptions<'_>, progress: &dyn Progress) -> Result<FetchOutcome> {
    let FetchOptions { remote: remote_name, revs, all, recent, include, exclude, interactive, pr } = *opts;
    if all && (recent || !include.is_empty() || !exclude.is_empty()) {
        return Err(Error::BadInput(
            "--all takes every file of every commit; it cannot be combined with --recent, --include or --exclude".into(),
        ));
    }
    let sel = if !include.is_empty() || !exclude.is_empty() { Selection::new(include, exclude)? } else { Selection::from_config(repo)? };
    let _lock = git::lock(repo)?;
    let branch = git::head_branch(repo)?;
    let cfg = repo.config().context("reading git config")?;
    let name = match (remote_name, &branch) {
        (Some(n), _) => n.to_string(),
        (None, Some(b)) => cfg.get_string(&format!("branch.{b}.remote")).unwrap_or_else(|_| "origin".into()),
        (None, None) => "origin".into(),
    };
    let r = repo.find_remote(&name).map_err(|_| {
        if remote_name.is_some() && repo.revparse_single(&name).is_ok() {
            // `hfgit fetch v1`: the first argument is always the remote, as with git-lfs
            return Error::with_hint(
                format!("no remote named `{name}`"),
                format!("revisions come after the remote: `hfgit fetch origin {name}`"),
            );
        }
        Error::with_hint(format!("no remote named `{name}`"), "set one with `hfgit init --remote <TARGET>` or `git remote add`")
    })?;
    let url = r.url().ok_or_else(|| Error::failed(format!("remote {name} has no URL")))?.to_string();
    // `--pr N`: into hfgit's own namespace first, so that a pull request the remote lacks (a
    // refspec that matches nothing fetches nothing, silently) is told apart from one fetched
    let pr_ref = pr.map(|n| format!("refs/remotes/{name}/pr/{n}"));
    let staged = pr.map(|n| format!("refs/hfgit/fetch-pr/{n}"));
    let extra: Vec<String> = pr.iter().zip(&staged).map(|(n, tmp)| format!("+refs/pr/{n}:{tmp}")).collect();
    if pr.is_some() {
        git::clear_refs(repo, "refs/hfgit/fetch-pr/")?; // what a killed run left
    }
    crate::ops::clone::fetch_origin(repo, &name, interactive, None, true, &extra)?;
    let pr_tip = match (&pr_ref, &staged, pr) {
        (Some(local), Some(tmp), Some(n)) => {
            let mut r = repo.find_reference(tmp).map_err(|_| {
                Error::with_hint(
                    format!("{} has no pull request #{n} (no refs/pr/{n})", remote::redact(&url)),
                    "check the number on the repository's Community tab; `hfgit push --pr` opens a new one",
                )
            })?;
            let id = r.target().ok_or_else(|| Error::failed(format!("{tmp} names no object")))?;
            repo.reference(local, id, true, "fetch --pr").context(format!("updating {local}"))?;
            r.delete().context(format!("deleting {tmp}"))?;
            Some(id)
        }
        _ => None,
    };

    // the commits, before any object moves: a bad revision changes nothing
    let mut commits: Vec<git2::Oid> = Vec::new();
    let mut push = |id: git2::Oid| {
        if !commits.contains(&id) {
            commits.push(id);
        }
    };
    if !revs.is_empty() {
        for rev in revs {
            push(crate::ops::checkout::commit_of(repo, rev)?);
        }
    } else if let (Some(tip), false) = (pr_tip, all) {
        push(tip);
    } else if all {
        let mut walk = repo.revwalk().context("walking history")?;
        walk.push_glob("refs/*").context("walking history")?;
        if let Some(h) = git::head_commit(repo)? {
            walk.push(h.id()).context("walking history")?;
        }
        for id in walk {
            push(id.context("walking history")?);
        }
    } else {
        if let Some(h) = git::head_commit(repo)? {
            push(h.id());
        }
        if let Some(b) = &branch {
            let merge = cfg.get_string(&format!("branch.{b}.merge")).unwrap_or_else(|_| format!("refs/heads/{b}"));
            let upstream = format!("refs/remotes/{name}/{}", merge.strip_prefix("refs/heads/").unwrap_or(&merge));
            if let Ok(id) = repo.refname_to_id(&upstream) {
                push(id);
            }
        }
    }
    let rc = RecentConfig::from_repo(repo)?;
    let mut previous = Vec::new();
    if recent || (rc.always && !all) {
        if rc.refs_days > 0 {
            let since = prune::now() - rc.refs_days * DAY;
            for (_, c) in prune::recent_ref_commits(repo, since, rc.remote_refs, Some(&name))? {
                push(c.id());
            }
        }
        if rc.commits_days > 0 {
            for id in commits.clone() {
                let c = repo.find_commit(id).context("reading commit")?;
                previous.push((id, c.committer().when().seconds() - rc.commits_days * DAY));
            }
        }
    }
    let mut wanted = Wanted { files: BTreeMap::new(), seen: Default::default() };
    let store = Store::for_git_dir(repo.path());
    let mut left_out = std::collections::HashSet::new();
    let mut cache = HashMap::new();
    for id in &commits {
        let tree = repo.find_commit(*id).context("reading commit")?.tree().context("reading tree")?;
        for (path, p, _) in git::tree_pointers(repo, &tree, &mut cache)? {
            if all || sel.selects(&path) {
                wanted.add(*id, path, p);
            } else if !store.contains(&p) {
                left_out.insert(p.oid);
            }
        }
    }
    for (tip, since) in previous {
        for (id, path, p) in prune::previous_versions_of(repo, tip, since)? {
            if sel.selects(&path) {
                wanted.add(id, path, p);
            }
        }
    }

    let already = wanted.files.values().filter(|p| store.contains(p)).count() as u64;
    let ref_name = branch.as_ref().map(|b| format!("refs/heads/{b}"));
    let lfs = LfsRemote::for_remote(repo, Some(&name), &url, Operation::Download, ref_name, interactive)?;
    let got = fetch::fetch_objects(repo, &lfs, &wanted.files, progress, None);
    let outcome = FetchOutcome {
        remote: remote::redact(&url),
        commits: commits.iter().map(|c| c.to_string()).collect(),
        objects: wanted.files.len() as u64,
        already_present: already,
        not_selected: left_out.iter().filter(|o| !wanted.seen.contains(o)).count() as u64,
        downloaded_objects: got.downloaded_objects,
        downloaded_bytes: got.downloaded_bytes,
        failures: got.failures,
        pull_request_ref: pr_ref,
    };
    if !outcome.failures.is_empty() {
        let list: Vec<String> = outcome.failures.iter().map(|f| format!("{} (sha256:{}): {}", f.path, f.oid, f.error)).collect();
        return Err(Error::with_hint(
            format!(
                "could not download {} LFS object(s) from {} ({} others arrived):\n  {}",
                outcome.failures.len(),
                outcome.remote,
                outcome.downloaded_objects,
                list.join("\n  ")
            ),
            "the remote's LFS store is missing or has damaged objects; ask whoever pushed them to push again",
        ));
    }
    Ok(outcome)
}
