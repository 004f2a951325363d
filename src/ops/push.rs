//! `hfgit push`: creates the remote when asked (a local bare repository), uploads every LFS
//! object the pushed commits need that the remote lacks, and only then moves the remote branch.
//! Interrupted at any point, the remote never has a branch pointing at commits whose LFS
//! objects it lacks.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::oid::Oid;
use crate::lfs::pointer::Pointer;
use crate::lfs::remote::LfsRemote;
use crate::lfs::store::Store;
use crate::net::remote::{self, Location};
use crate::progress::Progress;
use crate::repo::git;
use git2::{Repository, RepositoryInitOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub struct PushOptions<'a> {
    pub remote: &'a str,
    pub create: bool,
    pub force: bool,
    /// Create a Hub repository as private.
    pub private: bool,
    /// Push pickles that would run dangerous code when loaded.
    pub allow_unsafe_pickle: bool,
    /// May credential helpers prompt on the terminal?
    pub interactive: bool,
}

#[derive(Debug, Serialize)]
pub struct PushOutcome {
    pub remote: String,
    pub branch: String,
    pub created: bool,
    pub old: Option<String>,
    pub new: String,
    pub up_to_date: bool,
    pub uploaded_objects: u64,
    pub uploaded_bytes: u64,
    pub skipped_objects: u64,
    pub skipped_bytes: u64,
    /// Pickle-based files pushed that are not safe (pushed only with `--allow-unsafe-pickle`).
    pub pickle_warnings: Vec<crate::weights::scan::FileReport>,
}

/// LFS objects reachable from `tip` but not from `hide`, each with one path that uses it.
pub fn pointers_to_send(repo: &Repository, tip: git2::Oid, hide: &[git2::Oid]) -> Result<BTreeMap<Oid, (String, Pointer)>> {
    let walk = git::new_commits(repo, tip, hide)?;
    let mut cache = HashMap::new();
    let mut out = BTreeMap::new();
    for id in walk {
        let commit = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        let tree = commit.tree().context("reading tree")?;
        for (path, p, _) in git::tree_pointers(repo, &tree, &mut cache)? {
            if p.size > 0 {
                out.entry(p.oid).or_insert((path, p));
            }
        }
    }
    Ok(out)
}

/// A Hub repository's first commit as the server makes it: no parents, and only
/// `.gitattributes` and/or `README.md`.
fn is_hub_initial_commit(repo: &Repository, id: git2::Oid) -> bool {
    let Ok(c) = repo.find_commit(id) else { return false };
    let Ok(tree) = c.tree() else { return false };
    c.parent_count() == 0 && tree.iter().all(|e| matches!(e.name(), Some(".gitattributes") | Some("README.md")))
}

/// Makes sure a local remote exists (creating it with `create`) and is bare.
fn prepare_local(path: &Path, opts: &PushOptions<'_>, branch: &str) -> Result<bool> {
    let mut created = false;
    if !path.exists() {
        if !opts.create {
            return Err(Error::with_hint(
                format!("remote repository {} does not exist", path.display()),
                format!("create it with `hfgit push {} --create`", opts.remote),
            ));
        }
        let mut o = RepositoryInitOptions::new();
        o.bare(true).initial_head(branch).mkpath(true);
        git::create_repository_atomically(path, &mut o, |_| Ok(()))?;
        created = true;
    }
    let remote_repo = Repository::open(path).context(format!("opening remote repository {}", path.display()))?;
    if !remote_repo.is_bare() {
        return Err(Error::with_hint(
            format!("{} is not a bare repository; pushing into a checked-out branch would desynchronise its work tree", path.display()),
            "push to a bare repository instead (`hfgit push <path>.git --create`)",
        ));
    }
    Ok(created)
}

pub fn push(repo: &Repository, opts: &PushOptions<'_>, cwd: &Path, progress: &dyn Progress) -> Result<PushOutcome> {
    let _lock = git::lock(repo)?;
    let branch = git::current_branch(repo)?;
    let head = git::head_commit(repo)?
        .ok_or_else(|| {
            Error::with_hint(format!("nothing to push: branch {branch} has no commits"), "commit first: hfgit commit -m \"...\"")
        })?
        .id();
    let (name, url) = remote::remote_url(repo, opts.remote, cwd, true)?;
    let shown = remote::redact(&url);
    let hub = crate::hub::api::HubRepo::from_url(&url);
    // With --create, refuse before creating anything remotely: check all history now, and
    // again below only if the remote turns out to have branches already.
    let checked_all = match opts.create {
        true => Some(crate::weights::policy::check(repo, head, &[], &Store::for_git_dir(repo.path()), opts.allow_unsafe_pickle)?),
        false => None,
    };
    let created = match remote::location(&url)? {
        Location::Local(p) => prepare_local(&p, opts, &branch)?,
        Location::Http(_) => match (&hub, opts.create) {
            (Some(h), true) => {
                let token = crate::net::credentials::hf_token()
                    .ok_or_else(|| Error::with_hint("creating a Hub repository needs a token", "run `hfgit login`, or set HF_TOKEN"))?;
                crate::hub::api::create_repo(&remote::hub_endpoint(), &token, h, opts.private)? == crate::hub::api::Created::New
            }
            // generic hosts create repositories on first push, or not at all
            _ => false,
        },
    };
    let refname = format!("refs/heads/{branch}");
    let refs = match (git::remote_refs(repo, &url, opts.interactive, hub.is_none()), &hub) {
        (Ok(r), _) => r,
        (Err(e), Some(h)) => return Err(crate::hub::api::explain(h, e)),
        (Err(e), None) => return Err(e),
    };
    let old = refs.get(&refname).copied();
    let mut head = head;
    let mut outcome = PushOutcome {
        remote: shown.clone(),
        branch: branch.clone(),
        created,
        old: old.map(|o| o.to_string()),
        new: head.to_string(),
        up_to_date: old == Some(head),
        uploaded_objects: 0,
        uploaded_bytes: 0,
        skipped_objects: 0,
        skipped_bytes: 0,
        pickle_warnings: Vec::new(),
    };
    if let Some(old) = old.filter(|o| *o != head) {
        let ff = repo.find_commit(old).is_ok() && repo.graph_descendant_of(head, old).unwrap_or(false);
        if !ff && hub.is_some() && is_hub_initial_commit(repo, old) && repo.merge_base(head, old).is_err() {
            // A new Hub repository holds the server's own first commit: join the histories.
            head = crate::hub::merge::land_on(repo, head, old, &branch)?;
            outcome.new = head.to_string();
            outcome.up_to_date = false;
        } else if !ff && !opts.force {
            return Err(Error::with_hint(
                format!("rejected: {branch} on {shown} has commits that are not in your branch (non-fast-forward)"),
                "run `hfgit pull` to bring them in, then push again (or `hfgit push --force` to overwrite them)",
            ));
        }
    }
    if outcome.up_to_date {
        return Ok(outcome);
    }

    // Everything the remote's branches already reach is assumed to have its objects there.
    let hide: Vec<git2::Oid> = refs.iter().filter(|(n, _)| n.starts_with("refs/heads/")).map(|(_, id)| *id).collect();
    let needed: Vec<(String, Pointer)> = pointers_to_send(repo, head, &hide)?.into_values().collect();
    outcome.pickle_warnings = match checked_all {
        Some(all) if hide.is_empty() => all,
        _ => crate::weights::policy::check(repo, head, &hide, &Store::for_git_dir(repo.path()), opts.allow_unsafe_pickle)?,
    };
    if hub.is_some() {
        crate::hub::rules::check(repo, head, &hide, &needed, &Store::for_git_dir(repo.path()))?;
    }
    let lfs = LfsRemote::for_remote(repo, name.as_deref(), &url, Operation::Upload, Some(refname.clone()), opts.interactive)?;
    let sum = lfs.upload_all(&Store::for_git_dir(repo.path()), needed, progress)?;
    outcome.uploaded_objects = sum.uploaded_objects;
    outcome.uploaded_bytes = sum.uploaded_bytes;
    outcome.skipped_objects = sum.skipped_objects;
    outcome.skipped_bytes = sum.skipped_bytes;

    let plus = if opts.force { "+" } else { "" };
    let spec = format!("{plus}{refname}:{refname}");
    let mut r = repo.remote_anonymous(&url).context("preparing the git push")?;
    let rejected = std::cell::RefCell::new(None);
    let mut cb = git::remote_callbacks(&url, opts.interactive);
    cb.push_update_reference(|_r, status| {
        if let Some(s) = status {
            *rejected.borrow_mut() = Some(s.to_string());
        }
        Ok(())
    });
    let mut po = git2::PushOptions::new();
    po.remote_callbacks(cb);
    let headers = git::extra_headers(repo, &url);
    po.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    r.push(&[spec.as_str()], Some(&mut po)).context(format!("pushing {branch} to {shown}"))?;
    drop(po);
    drop(r);
    if let Some(msg) = rejected.into_inner() {
        return Err(Error::failed(format!("the remote rejected {branch}: {msg}")));
    }
    if let Some(name) = name {
        repo.reference(&format!("refs/remotes/{name}/{branch}"), head, true, "push").context("updating the remote-tracking branch")?;
        let mut cfg = repo.config().context("opening git config")?;
        if cfg.get_string(&format!("branch.{branch}.remote")).is_err() {
            cfg.set_str(&format!("branch.{branch}.remote"), &name).context("setting upstream")?;
            cfg.set_str(&format!("branch.{branch}.merge"), &refname).context("setting upstream")?;
        }
    }
    Ok(outcome)
}
