//! `hfgit clone`: a new repository fetched from the remote, its LFS files downloaded (verified)
//! and written into the work tree. A clone that was interrupted is resumed by running the same
//! command again: a marker in `.git` says the directory is hfgit's unfinished clone.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::fetch::{self, LfsFailure, StagedCopies};
use crate::lfs::remote::{self as lfs_remote, LfsRemote};
use crate::lfs::select::{self, Selection};
use crate::net::remote::{self, Location};
use crate::progress::Progress;
use crate::repo::checkout;
use crate::repo::git;
use git2::Repository;
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

const MARKER: &str = "hfgit-clone-incomplete";

pub struct CloneOptions<'a> {
    pub target: &'a str,
    pub dir: Option<&'a Path>,
    pub include: &'a [String],
    pub exclude: &'a [String],
    pub no_lfs: bool,
    /// Check out this branch (attached) or tag (detached at its commit) instead of the remote's
    /// default branch.
    pub branch: Option<&'a str>,
    /// Check out this commit id (or branch or tag), detached.
    pub revision: Option<&'a str>,
    /// May credential helpers prompt on the terminal?
    pub interactive: bool,
}

#[derive(Debug, Serialize)]
pub struct CloneOutcome {
    pub dir: String,
    pub remote: String,
    /// The branch checked out; `None` when HEAD is detached (`--revision`, a tag) or the
    /// repository is empty.
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub detached: bool,
    pub resumed: bool,
    pub lfs_files: u64,
    pub lfs_files_selected: u64,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub files_written: u64,
    /// Bytes of work-tree files that share the store object's extents (copy-on-write
    /// filesystems): disk space a plain copy would have used.
    pub shared_bytes: u64,
    pub failures: Vec<LfsFailure>,
}

/// The directory name git would pick: the last path component without `.git`.
pub fn default_dir(url: &str) -> Option<String> {
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    let name = last.strip_suffix(".git").unwrap_or(last);
    (!name.is_empty()).then(|| name.to_string())
}

/// Fetches every branch of `origin` (and, with `tags`, every tag into `refs/tags`), returns the
/// remote's default branch and its commit. `session_url`, when given, is the remote's URL with the credentials the user typed in it
/// (they are used for this run only; the stored URL never has them).
pub fn fetch_origin(
    repo: &Repository,
    remote_name: &str,
    interactive: bool,
    session_url: Option<&str>,
    tags: bool,
    extra: &[String],
) -> Result<Option<(String, git2::Oid)>> {
    let mut r = repo.find_remote(remote_name).context(format!("reading remote {remote_name}"))?;
    let url = session_url.map(str::to_string).unwrap_or_else(|| r.url().unwrap_or("").to_string());
    let mut specs = vec![format!("+refs/heads/*:refs/remotes/{remote_name}/*")];
    if tags {
        specs.push("+refs/tags/*:refs/tags/*".to_string());
    }
    specs.extend(extra.iter().cloned());
    let mut fo = git2::FetchOptions::new();
    fo.remote_callbacks(git::remote_callbacks(&url, interactive));
    let headers = git::extra_headers(repo, &url);
    fo.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    r.fetch(&specs, Some(&mut fo), None).map_err(|e| git::refused(e, format!("fetching from {}", remote::redact(&url))))?;
    let default = {
        let conn = r.connect_auth(git2::Direction::Fetch, Some(git::remote_callbacks(&url, interactive)), None);
        match conn {
            Ok(c) => c.default_branch().ok().and_then(|b| b.as_str().map(str::to_string)),
            Err(_) => None,
        }
    };
    let branch = match default.as_deref().and_then(|b| b.strip_prefix("refs/heads/")) {
        Some(b) => b.to_string(),
        None => "main".to_string(),
    };
    match repo.refname_to_id(&format!("refs/remotes/{remote_name}/{branch}")) {
        Ok(id) => Ok(Some((branch, id))),
        Err(_) => {
            // No HEAD or an unusual one: take the only branch, if there is exactly one.
            let refs: Vec<_> = repo
                .references_glob(&format!("refs/remotes/{remote_name}/*"))
                .context("listing remote branches")?
                .flatten()
                .filter_map(|r| Some((r.shorthand()?.rsplit_once('/')?.1.to_string(), r.target()?)))
                .filter(|(b, _)| b != "HEAD")
                .collect();
            Ok(if refs.len() == 1 { refs.into_iter().next() } else { None })
        }
    }
}

pub fn clone(opts: &CloneOptions<'_>, cwd: &Path, progress: &dyn Progress) -> Result<CloneOutcome> {
    let url = remote::resolve_target(opts.target, cwd)?;
    if let Location::Local(remote_path) = remote::location(&url)? {
        lfs_remote::git_dir_of(&remote_path).map_err(|_| {
            Error::with_hint(
                format!("{} is not a git repository", remote_path.display()),
                "check the path (it should be a bare repository such as model.git)",
            )
        })?;
    }
    let dir: PathBuf = match opts.dir {
        Some(d) => cwd.join(d),
        None => cwd.join(default_dir(&url).ok_or_else(|| Error::BadInput(format!("cannot pick a directory name for {url}; give DIR")))?),
    };
    let marker = dir.join(".git").join(MARKER);
    let resumed = marker.exists();
    if !resumed && dir.exists() && fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::BadInput(format!("destination path {} already exists and is not an empty directory", dir.display())));
    }
    let sel = if opts.no_lfs { Selection::new(&[], &["*".to_string()])? } else { Selection::new(opts.include, opts.exclude)? };
    let repo = if resumed {
        Repository::open(&dir).context(format!("opening the unfinished clone in {}", dir.display()))?
    } else {
        let mut o = git2::RepositoryInitOptions::new();
        o.mkpath(true).initial_head("main");
        // Everything the clone's config needs is written before the repository appears.
        git::create_repository_atomically(&dir, &mut o, |staging| {
            let r = Repository::open(staging).context("opening the new repository")?;
            // never store credentials typed into the URL
            r.remote("origin", &crate::net::credentials::split_url_credentials(&url).0).context("adding remote origin")?;
            save_selection(&r, opts)?;
            crate::repo::hooks::install_pre_push(&r)?;
            fs::write(staging.join(".git").join(MARKER), b"").context("marking the clone as unfinished")
        })?;
        Repository::open(&dir).context(format!("opening {}", dir.display()))?
    };
    let _lock = git::lock(&repo)?;
    git::apply_network_limits(&repo);
    if resumed {
        remove_stale_locks(repo.path())?;
        save_selection(&repo, opts)?;
    }
    let mut outcome = CloneOutcome {
        dir: dir.display().to_string(),
        remote: remote::redact(&url),
        branch: None,
        commit: None,
        detached: false,
        resumed,
        lfs_files: 0,
        lfs_files_selected: 0,
        downloaded_objects: 0,
        downloaded_bytes: 0,
        files_written: 0,
        shared_bytes: 0,
        failures: Vec::new(),
    };
    let fetched = fetch_origin(&repo, "origin", opts.interactive, Some(&url), true, &[]);
    let fetched = match (fetched, crate::hub::api::HubRepo::from_url(&url)) {
        (Err(e), Some(h)) => {
            // nothing was cloned: leave no directory behind
            drop(_lock);
            drop(repo);
            let _ = fs::remove_dir_all(&dir);
            return Err(crate::hub::api::explain(&h, e));
        }
        (r, _) => r?,
    };
    let chosen = match choose(&repo, fetched, opts, &outcome.remote) {
        Ok(c) => c,
        Err(e) => {
            if !resumed {
                // nothing was checked out: leave no directory behind
                drop(_lock);
                drop(repo);
                let _ = fs::remove_dir_all(&dir);
            }
            return Err(e);
        }
    };
    let Some(chosen) = chosen else {
        fs::remove_file(&marker).context("finishing the clone")?;
        return Ok(outcome); // an empty repository
    };
    let id = match &chosen {
        Chosen::Branch(_, id) | Chosen::Detached(id, _) => *id,
    };
    let commit = repo.find_commit(id).context("reading the fetched commit")?;
    // A hostile tree is refused before a branch, an object or a file appears; a clone that
    // hfgit started is removed whole, so nothing of that repository stays on disk.
    let tree = commit.tree().context("reading tree")?;
    if let Err(e) = checkout::verify_tree(&repo, &tree, id) {
        if !resumed {
            drop(_lock);
            drop(tree);
            drop(commit);
            drop(repo);
            let _ = fs::remove_dir_all(&dir);
        }
        return Err(e);
    }
    let lfs_ref = match &chosen {
        Chosen::Branch(branch, _) => {
            repo.reference(&format!("refs/heads/{branch}"), id, true, "clone").context(format!("creating branch {branch}"))?;
            let mut b = repo.find_branch(branch, git2::BranchType::Local).context(format!("reading branch {branch}"))?;
            b.set_upstream(Some(&format!("origin/{branch}"))).context("setting upstream")?;
            repo.set_head(&format!("refs/heads/{branch}")).context("setting HEAD")?;
            outcome.branch = Some(branch.clone());
            Some(format!("refs/heads/{branch}"))
        }
        Chosen::Detached(_, from) => {
            repo.set_head_detached(id).context("setting HEAD")?;
            outcome.detached = true;
            from.clone()
        }
    };
    outcome.commit = Some(id.to_string());

    let all = checkout::selected_pointers(&repo, &tree, &Selection::new(&[], &[])?)?;
    let wanted = checkout::selected_pointers(&repo, &tree, &sel)?;
    outcome.lfs_files = all.len() as u64;
    outcome.lfs_files_selected = wanted.len() as u64;
    let lfs = LfsRemote::for_remote(&repo, Some("origin"), &url, Operation::Download, lfs_ref, opts.interactive)?;
    let staged = StagedCopies::new(&repo)?;
    let fetched = fetch::fetch_objects(&repo, &lfs, &wanted, progress, Some(&staged));
    outcome.downloaded_objects = fetched.downloaded_objects;
    outcome.downloaded_bytes = fetched.downloaded_bytes;
    outcome.shared_bytes = fetched.shared_bytes;
    outcome.failures = fetched.failures;

    let m = checkout::checkout_fresh(&repo, id, &tree, &sel, Some(&staged), progress)?;
    outcome.files_written = m.files_written;
    outcome.shared_bytes += m.bytes_shared;
    fs::remove_file(&marker).context("finishing the clone")?;
    Ok(outcome)
}

/// What a clone checks out.
enum Chosen {
    /// A branch (HEAD attached), at this commit.
    Branch(String, git2::Oid),
    /// A commit (HEAD detached), and the remote ref it was named by, if any.
    Detached(git2::Oid, Option<String>),
}

/// The `--branch` (a branch, else a tag) or `--revision` (a commit id, else a branch or tag)
/// asked for, among what was fetched; else the remote's default branch (`None`: an empty
/// repository).
fn choose(repo: &Repository, default: Option<(String, git2::Oid)>, opts: &CloneOptions<'_>, shown: &str) -> Result<Option<Chosen>> {
    let remote_branch = |b: &str| repo.refname_to_id(&format!("refs/remotes/origin/{b}")).ok();
    let tag = |t: &str| {
        let r = repo.find_reference(&format!("refs/tags/{t}")).ok()?;
        r.peel_to_commit().ok().map(|c| c.id())
    };
    let commit_id = |rev: &str| -> Option<git2::Oid> {
        let hex = rev.len() >= 4 && rev.len() <= 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| repo.revparse_single(rev).ok()?.peel_to_commit().ok().map(|c| c.id())).flatten()
    };
    if let Some(b) = opts.branch {
        return match (remote_branch(b), tag(b)) {
            (Some(id), _) => Ok(Some(Chosen::Branch(b.to_string(), id))),
            (None, Some(id)) => Ok(Some(Chosen::Detached(id, Some(format!("refs/tags/{b}"))))),
            (None, None) => Err(Error::with_hint(
                format!("remote branch {} not found on {shown}", crate::net::remote::escape_text(b)),
                format!("list its branches and tags with `git ls-remote {shown}`, or clone without --branch"),
            )),
        };
    }
    if let Some(rev) = opts.revision {
        let full = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
        let by_ref =
            remote_branch(rev).map(|id| (id, format!("refs/heads/{rev}"))).or_else(|| tag(rev).map(|id| (id, format!("refs/tags/{rev}"))));
        return match (commit_id(rev), by_ref) {
            (Some(id), _) if full => Ok(Some(Chosen::Detached(id, None))),
            (_, Some((id, name))) => Ok(Some(Chosen::Detached(id, Some(name)))),
            (Some(id), None) => Ok(Some(Chosen::Detached(id, None))),
            (None, None) => Err(Error::with_hint(
                format!("revision {} not found on {shown}", crate::net::remote::escape_text(rev)),
                "name a commit id the remote's branches or tags contain, a branch or a tag (`git ls-remote` lists them)",
            )),
        };
    }
    Ok(default.map(|(b, id)| Chosen::Branch(b, id)))
}

/// Records `--include` / `--exclude` / `--no-lfs` as `lfs.fetchinclude` / `lfs.fetchexclude`.
fn save_selection(repo: &Repository, opts: &CloneOptions<'_>) -> Result<()> {
    if opts.no_lfs {
        select::save_selection(repo, &[], &["*".to_string()])
    } else {
        select::save_selection(repo, opts.include, opts.exclude)
    }
}

/// In an unfinished clone only hfgit ever wrote, a `*.lock` file (config, HEAD, index, refs)
/// or a file in `lfs/tmp` can only be left by the interrupted run; we hold the repository lock,
/// so remove them.
fn remove_stale_locks(git_dir: &Path) -> Result<()> {
    let tmp = git_dir.join("lfs").join("tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).context(format!("removing {}", tmp.display()))?;
    }
    let walker = walkdir::WalkDir::new(git_dir)
        .into_iter()
        .filter_entry(|e| e.depth() != 1 || !matches!(e.file_name().to_str(), Some("objects") | Some("lfs")));
    for e in walker.flatten() {
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && name.ends_with(".lock") && name != "hfgit.lock" {
            fs::remove_file(e.path()).context(format!("removing stale {}", e.path().display()))?;
        }
    }
    Ok(())
}
