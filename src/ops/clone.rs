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
    /// May credential helpers prompt on the terminal?
    pub interactive: bool,
}

#[derive(Debug, Serialize)]
pub struct CloneOutcome {
    pub dir: String,
    pub remote: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
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

/// Fetches every branch of `origin`, returns the remote's default branch and its commit.
/// `session_url`, when given, is the remote's URL with the credentials the user typed in it
/// (they are used for this run only; the stored URL never has them).
pub fn fetch_origin(
    repo: &Repository,
    remote_name: &str,
    interactive: bool,
    session_url: Option<&str>,
) -> Result<Option<(String, git2::Oid)>> {
    let mut r = repo.find_remote(remote_name).context(format!("reading remote {remote_name}"))?;
    let url = session_url.map(str::to_string).unwrap_or_else(|| r.url().unwrap_or("").to_string());
    let spec = format!("+refs/heads/*:refs/remotes/{remote_name}/*");
    let mut fo = git2::FetchOptions::new();
    fo.remote_callbacks(git::remote_callbacks(&url, interactive));
    let headers = git::extra_headers(repo, &url);
    fo.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    r.fetch(&[spec.as_str()], Some(&mut fo), None).map_err(|e| git::refused(e, format!("fetching from {}", remote::redact(&url))))?;
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
        resumed,
        lfs_files: 0,
        lfs_files_selected: 0,
        downloaded_objects: 0,
        downloaded_bytes: 0,
        files_written: 0,
        shared_bytes: 0,
        failures: Vec::new(),
    };
    let fetched = fetch_origin(&repo, "origin", opts.interactive, Some(&url));
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
    let Some((branch, id)) = fetched else {
        fs::remove_file(&marker).context("finishing the clone")?;
        return Ok(outcome); // an empty repository
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
    repo.reference(&format!("refs/heads/{branch}"), id, true, "clone").context(format!("creating branch {branch}"))?;
    let mut b = repo.find_branch(&branch, git2::BranchType::Local).context(format!("reading branch {branch}"))?;
    b.set_upstream(Some(&format!("origin/{branch}"))).context("setting upstream")?;
    repo.set_head(&format!("refs/heads/{branch}")).context("setting HEAD")?;
    outcome.branch = Some(branch);
    outcome.commit = Some(id.to_string());

    let all = checkout::selected_pointers(&repo, &tree, &Selection::new(&[], &[])?)?;
    let wanted = checkout::selected_pointers(&repo, &tree, &sel)?;
    outcome.lfs_files = all.len() as u64;
    outcome.lfs_files_selected = wanted.len() as u64;
    let lfs = LfsRemote::for_remote(
        &repo,
        Some("origin"),
        &url,
        Operation::Download,
        Some(format!("refs/heads/{}", outcome.branch.as_deref().unwrap_or("main"))),
        opts.interactive,
    )?;
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
