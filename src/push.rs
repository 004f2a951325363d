//! `hfgit push`: creates the remote when asked, uploads every LFS object the pushed commits need
//! that the remote lacks, and only then moves the remote branch. Interrupted at any point, the
//! remote never has a branch pointing at commits whose LFS objects it lacks.

use crate::error::{Context, Error, Result};
use crate::git;
use crate::lfs_remote::{self, LfsRemote};
use crate::oid::Oid;
use crate::pointer::Pointer;
use crate::progress::Progress;
use crate::remote::{self, Location};
use crate::store::Store;
use git2::{Repository, RepositoryInitOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

pub struct PushOptions<'a> {
    pub remote: &'a str,
    pub create: bool,
    pub force: bool,
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
}

/// LFS objects reachable from `tip` but not from `hide`, each with one path that uses it.
pub fn pointers_to_send(repo: &Repository, tip: git2::Oid, hide: &[git2::Oid]) -> Result<BTreeMap<Oid, (String, Pointer)>> {
    let mut walk = repo.revwalk().context("walking history")?;
    walk.push(tip).context("walking history")?;
    for h in hide {
        if repo.find_commit(*h).is_ok() {
            walk.hide(*h).context("walking history")?;
        }
    }
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

pub fn push(repo: &Repository, opts: &PushOptions<'_>, cwd: &Path, progress: &dyn Progress) -> Result<PushOutcome> {
    let _lock = git::lock(repo)?;
    let branch = git::current_branch(repo)?;
    let head = git::head_commit(repo)?
        .ok_or_else(|| Error::with_hint(format!("nothing to push: branch {branch} has no commits"), "commit first: hfgit commit -m \"...\""))?
        .id();
    let (name, url) = remote::remote_url(repo, opts.remote, cwd, true)?;
    let shown = remote::redact(&url);
    let path = match remote::location(&url)? {
        Location::Local(p) => p,
        Location::Http(_) => {
            return Err(Error::with_hint(
                format!("cannot push to {shown}: HTTP remotes are not supported by this version of hfgit"),
                "push to a local bare repository (a path or file:// URL)",
            ))
        }
    };
    let mut created = false;
    if !path.exists() {
        if !opts.create {
            return Err(Error::with_hint(
                format!("remote repository {} does not exist", path.display()),
                format!("create it with `hfgit push {} --create`", opts.remote),
            ));
        }
        let mut o = RepositoryInitOptions::new();
        o.bare(true).initial_head(&branch).mkpath(true);
        git::create_repository_atomically(&path, &mut o, |_| Ok(()))?;
        created = true;
    }
    let remote_repo = Repository::open(&path).context(format!("opening remote repository {}", path.display()))?;
    if !remote_repo.is_bare() {
        return Err(Error::with_hint(
            format!("{} is not a bare repository; pushing into a checked-out branch would desynchronise its work tree", path.display()),
            "push to a bare repository instead (`hfgit push <path>.git --create`)",
        ));
    }
    let refname = format!("refs/heads/{branch}");
    let old = remote_repo.refname_to_id(&refname).ok();
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
    };
    if let Some(old) = old.filter(|o| *o != head) {
        let ff = repo.find_commit(old).is_ok() && repo.graph_descendant_of(head, old).unwrap_or(false);
        if !ff && !opts.force {
            return Err(Error::with_hint(
                format!("rejected: {branch} on {shown} has commits that are not in your branch (non-fast-forward)"),
                "run `hfgit pull` to bring them in, then push again (or `hfgit push --force` to overwrite them)",
            ));
        }
    }

    // Everything the remote's branches already reach is assumed to have its objects there.
    let mut hide: Vec<git2::Oid> = Vec::new();
    for r in remote_repo.references_glob("refs/heads/*").context("listing remote branches")?.flatten() {
        if let Some(id) = r.target() {
            hide.push(id);
        }
    }
    let lfs = LfsRemote::local(&path, lfs_remote::local_transfer(repo)?)?;
    let local = Store::for_git_dir(repo.path());
    let needed = if outcome.up_to_date { BTreeMap::new() } else { pointers_to_send(repo, head, &hide)? };
    let mut to_send = Vec::new();
    let mut problems = Vec::new();
    for (path, p) in needed.values() {
        if lfs.has(p) {
            outcome.skipped_objects += 1;
            outcome.skipped_bytes += p.size;
        } else if !local.contains(p) {
            let kind = if local.object_path(&p.oid).exists() { "corrupt" } else { "missing" };
            problems.push(format!("({kind}) {path} (sha256:{})", p.oid));
        } else {
            to_send.push(p.clone());
        }
    }
    if !problems.is_empty() {
        return Err(Error::with_hint(
            format!("cannot push: LFS objects are not in the local store:\n  {}", problems.join("\n  ")),
            "run `hfgit fsck` for details; restore the files and commit again, or `hfgit pull` if another clone has them",
        ));
    }
    to_send.sort_by_key(|p| p.size);
    let total: u64 = to_send.iter().map(|p| p.size).sum();
    progress.begin("Uploading", total, to_send.len() as u64);
    let queue = Mutex::new(to_send.clone());
    let errors = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(p) = queue.lock().expect("queue lock").pop() else { break };
                if let Err(e) = lfs.upload(&local, &p, progress) {
                    errors.lock().expect("errors lock").push(format!("sha256:{}: {e}", p.oid));
                }
                progress.item_done();
            });
        }
    });
    progress.end();
    let errors = errors.into_inner().expect("errors lock");
    if !errors.is_empty() {
        return Err(Error::with_hint(
            format!("LFS upload failed; the remote branch was not moved:\n  {}", errors.join("\n  ")),
            "fix the cause and run the push again: objects already sent are not sent twice",
        ));
    }
    outcome.uploaded_objects = to_send.len() as u64;
    outcome.uploaded_bytes = total;

    if !outcome.up_to_date {
        let plus = if opts.force { "+" } else { "" };
        let spec = format!("{plus}{refname}:{refname}");
        let mut r = repo.remote_anonymous(&url).context("preparing the git push")?;
        let rejected = std::cell::RefCell::new(None);
        let mut cb = git2::RemoteCallbacks::new();
        cb.push_update_reference(|_r, status| {
            if let Some(s) = status {
                *rejected.borrow_mut() = Some(s.to_string());
            }
            Ok(())
        });
        let mut po = git2::PushOptions::new();
        po.remote_callbacks(cb);
        r.push(&[spec.as_str()], Some(&mut po)).context(format!("pushing {branch} to {shown}"))?;
        drop(po);
        drop(r);
        if let Some(msg) = rejected.into_inner() {
            return Err(Error::failed(format!("the remote rejected {branch}: {msg}")));
        }
    }
    if let Some(name) = name {
        repo.reference(&format!("refs/remotes/{name}/{branch}"), head, true, "push")
            .context("updating the remote-tracking branch")?;
        let mut cfg = repo.config().context("opening git config")?;
        if cfg.get_string(&format!("branch.{branch}.remote")).is_err() {
            cfg.set_str(&format!("branch.{branch}.remote"), &name).context("setting upstream")?;
            cfg.set_str(&format!("branch.{branch}.merge"), &refname).context("setting upstream")?;
        }
    }
    Ok(outcome)
}
