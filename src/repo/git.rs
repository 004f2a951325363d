//! Repository plumbing shared by the commands: finding and locking the repository, the current
//! branch, reading pointer blobs and walking trees for them, index stat data, and waiting out
//! git's "racy" timestamp window before the index is written.

use crate::error::{Context, Error, Result};
use crate::lfs::pointer::{Pointer, MAX_POINTER_SIZE};
use git2::{ObjectType, Repository, Tree, TreeWalkMode, TreeWalkResult};
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Finds the repository containing `start` (like git does, walking up).
pub fn discover(start: &Path) -> Result<Repository> {
    let repo = Repository::discover(start).map_err(|_| Error::NotARepo(start.to_path_buf()))?;
    apply_network_limits(&repo);
    Ok(repo)
}

/// Gives libgit2 the repository's HTTP time limits (`net::http::Limits`) before any transfer.
pub fn apply_network_limits(repo: &Repository) {
    let limits = repo.config().map(|c| crate::net::http::Limits::from_config(&c)).unwrap_or_default();
    limits.apply_to_libgit2();
}

/// The work tree of a non-bare repository.
pub fn workdir(repo: &Repository) -> Result<PathBuf> {
    repo.workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::failed(format!("{} is a bare repository; this command needs a work tree", repo.path().display())))
}

/// An exclusive lock on `.git/hfgit.lock`, held for the lifetime of the value. A second hfgit on
/// the same repository gets `Error::Locked` at once instead of racing.
pub struct RepoLock {
    _file: File,
}

/// Taking the lock also removes what killed commands left in the LFS store's `lfs/tmp` (and
/// partial downloads too old to resume): with the lock held, nobody else is writing there.
pub fn lock(repo: &Repository) -> Result<RepoLock> {
    lock_waiting(repo, Duration::ZERO)
}

/// [`lock`], waiting up to `patience` for another hfgit to release it (for short commands such
/// as `add`: two at once both succeed, one after the other).
pub fn lock_waiting(repo: &Repository, patience: Duration) -> Result<RepoLock> {
    let path = repo.path().join("hfgit.lock");
    let file =
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).context(format!("opening {}", path.display()))?;
    let until = std::time::Instant::now() + patience;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(path)),
            Err(fs::TryLockError::Error(e)) => return Err(e).context(format!("locking {}", path.display())),
        }
    }
    crate::lfs::store::Store::for_git_dir(repo.path()).remove_leftovers(crate::cleanup::started());
    Ok(RepoLock { _file: file })
}

/// The branch HEAD points at (even when it has no commits yet), or `None` when HEAD is
/// detached (it names a commit directly).
pub fn head_branch(repo: &Repository) -> Result<Option<String>> {
    let head = repo.find_reference("HEAD").context("reading HEAD")?;
    Ok(head.symbolic_target().map(|t| t.strip_prefix("refs/heads/").unwrap_or(t).to_string()))
}

/// The branch HEAD points at; an error saying so when HEAD is detached (for commands that
/// need a branch: push, pull).
pub fn current_branch(repo: &Repository) -> Result<String> {
    head_branch(repo)?.ok_or_else(|| {
        let at = repo.head().ok().and_then(|h| h.target()).map(|id| id.to_string()[..12].to_string()).unwrap_or_default();
        Error::with_hint(
            format!("HEAD is detached at {at}; this command works on a branch"),
            "switch to a branch (`hfgit switch main`), or make one here (`hfgit switch -c <NAME>`)",
        )
    })
}

/// Paths with conflict stages (1, 2 or 3) in the index: a merge (or cherry-pick, rebase, …)
/// left them unresolved. Sorted, each once.
pub fn unmerged_paths(index: &git2::Index) -> Vec<String> {
    let set: std::collections::BTreeSet<String> =
        index.iter().filter(|e| (e.flags >> 12) & 0x3 != 0).map(|e| String::from_utf8_lossy(&e.path).into_owned()).collect();
    set.into_iter().collect()
}

/// The commits a merge in progress joins in (`.git/MERGE_HEAD`), empty when none is.
pub fn merge_heads(repo: &Repository) -> Result<Vec<git2::Oid>> {
    let path = repo.path().join("MERGE_HEAD");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context("reading .git/MERGE_HEAD"),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| git2::Oid::from_str(l).map_err(|_| Error::failed(format!(".git/MERGE_HEAD holds `{l}`, which is not a commit id"))))
        .collect()
}

/// Removes the files that say a merge is in progress (`MERGE_HEAD`, `MERGE_MSG`, `MERGE_MODE`,
/// `AUTO_MERGE`), as `git commit` and `git merge --abort` do; absent ones are fine.
pub fn clear_merge_state(repo: &Repository) -> Result<()> {
    for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE"] {
        match fs::remove_file(repo.path().join(f)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("removing .git/{f}")),
        }
    }
    Ok(())
}

/// The commit HEAD points at, or `None` on an unborn branch.
pub fn head_commit(repo: &Repository) -> Result<Option<git2::Commit<'_>>> {
    match repo.head() {
        Ok(r) => Ok(Some(r.peel_to_commit().context("reading HEAD commit")?)),
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch || e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e).context("reading HEAD"),
    }
}

/// The commits reachable from any of `tips` but not from any of `hide` (ids unknown locally
/// ignored): what a push sends.
pub fn new_commits<'r>(repo: &'r Repository, tips: &[git2::Oid], hide: &[git2::Oid]) -> Result<git2::Revwalk<'r>> {
    let mut walk = repo.revwalk().context("walking history")?;
    for tip in tips {
        walk.push(*tip).context("walking history")?;
    }
    for h in hide {
        if repo.find_commit(*h).is_ok() {
            walk.hide(*h).context("walking history")?;
        }
    }
    Ok(walk)
}

/// Reads a blob as a pointer when it is small enough to be one and parses as one.
pub fn blob_pointer(repo: &Repository, id: git2::Oid) -> Option<Pointer> {
    let odb = repo.odb().ok()?;
    let (size, kind) = odb.read_header(id).ok()?;
    if kind != ObjectType::Blob || size as u64 >= MAX_POINTER_SIZE || size == 0 {
        return None;
    }
    let obj = odb.read(id).ok()?;
    Pointer::parse(obj.data()).ok()
}

/// Every pointer blob in `tree`, keyed by path. `cache` remembers blob ids already classified,
/// so walking many commits reads each distinct blob once.
pub fn tree_pointers(
    repo: &Repository,
    tree: &Tree<'_>,
    cache: &mut HashMap<git2::Oid, Option<Pointer>>,
) -> Result<Vec<(String, Pointer, i32)>> {
    let mut out = Vec::new();
    let mut err = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(ObjectType::Blob) || entry.filemode() == 0o120000 {
            return TreeWalkResult::Ok;
        }
        let id = entry.id();
        let p = cache.entry(id).or_insert_with(|| blob_pointer(repo, id)).clone();
        if let Some(p) = p {
            match entry.name() {
                Some(name) => out.push((format!("{dir}{name}"), p, entry.filemode())),
                None => {
                    err = Some(Error::failed(format!("non-UTF-8 path in tree under {dir:?}")));
                    return TreeWalkResult::Abort;
                }
            }
        }
        TreeWalkResult::Ok
    })
    .context("walking tree")?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Index stat data of a work-tree file, as git records it.
pub fn index_entry_for(meta: &fs::Metadata, path: &str, id: git2::Oid, mode: u32) -> git2::IndexEntry {
    use std::os::unix::fs::MetadataExt;
    git2::IndexEntry {
        ctime: git2::IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
        mtime: git2::IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode,
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.len() as u32,
        id,
        flags: 0,
        // GIT_INDEX_ENTRY_UPTODATE: the entry was just verified against the work tree, so
        // libgit2 must not "smudge" it as racily clean when writing the index (it cannot run
        // the LFS filter and would wrongly see the content as modified).
        flags_extended: 1 << 2,
        path: path.as_bytes().to_vec(),
    }
}

/// True when the index entry's stat data still describes `meta` (git's `ie_match_stat`).
pub fn stat_matches(entry: &git2::IndexEntry, meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    entry.mtime.seconds() == meta.mtime() as i32
        && entry.mtime.nanoseconds() == meta.mtime_nsec() as u32
        && entry.ctime.seconds() == meta.ctime() as i32
        && entry.ctime.nanoseconds() == meta.ctime_nsec() as u32
        && entry.ino == meta.ino() as u32
        && entry.file_size == meta.len() as u32
}

/// Modification time of the index file (git's reference point for racy entries).
pub fn index_mtime(repo: &Repository) -> Option<SystemTime> {
    fs::metadata(repo.path().join("index")).and_then(|m| m.modified()).ok()
}

/// An entry is racy when it was modified in the same second as (or after) the index was
/// written: git (built without nanosecond support) cannot trust its stat data then.
pub fn is_racy(entry: &git2::IndexEntry, index_time: Option<SystemTime>) -> bool {
    match index_time {
        None => true,
        Some(t) => {
            let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            entry.mtime.seconds() as i64 >= secs
        }
    }
}

/// Sleeps until the wall clock is past second `newest_mtime_sec`, so an index written now is
/// not racy for entries whose work-tree bytes differ from their blob (LFS files): git would
/// otherwise re-read them and, without the LFS filter, report them modified.
pub fn wait_out_racy_window(newest_mtime_sec: i64) {
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        if (now.as_secs() as i64) > newest_mtime_sec {
            return;
        }
        let left = Duration::from_secs(1).saturating_sub(Duration::from_nanos(now.subsec_nanos() as u64));
        std::thread::sleep(left + Duration::from_millis(5));
    }
}

/// Writes `index` after waiting out the racy window for the given entries.
pub fn write_index_safely(index: &mut git2::Index, newest_lfs_mtime: Option<i64>) -> Result<()> {
    if let Some(t) = newest_lfs_mtime {
        wait_out_racy_window(t);
    }
    index.write().context("writing the index")
}

/// Creates a repository at `dest` as one atomic step: it is initialised (and `prepare`d) in a
/// sibling directory, then renamed into place, so an interrupted creation never leaves a
/// half-made repository at `dest`. `dest` must not exist, or be an empty directory.
pub fn create_repository_atomically(
    dest: &Path,
    opts: &mut git2::RepositoryInitOptions,
    prepare: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let name =
        dest.file_name().and_then(|n| n.to_str()).ok_or_else(|| Error::BadInput(format!("invalid repository path {}", dest.display())))?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).context(format!("creating {}", parent.display()))?;
    let staging = parent.join(format!(".{name}.hfgit-init"));
    if staging.exists() {
        // left by an interrupted hfgit: it was never visible as `dest`
        fs::remove_dir_all(&staging).context(format!("removing {}", staging.display()))?;
    }
    Repository::init_opts(&staging, opts).context(format!("creating a repository in {}", staging.display()))?;
    prepare(&staging)?;
    fs::rename(&staging, dest).context(format!("moving the new repository to {}", dest.display()))?;
    Ok(())
}

/// libgit2 callbacks for talking to `url`: credentials for HTTP remotes, asked at most twice,
/// never stored. libgit2 passes the URL it is really talking to, which after a redirect is
/// another host: the credentials typed into `url` and the Hugging Face token belong to `url`'s
/// origin (and the Hub's) and are given only there; for any other origin the credential helpers
/// are asked about that origin.
pub fn remote_callbacks(url: &str, interactive: bool) -> git2::RemoteCallbacks<'static> {
    use crate::net::credentials::{self, Auth};
    let url = url.to_string();
    let mut tries = 0;
    let mut tried_netrc = false;
    let mut helper: Option<credentials::GitCredential> = None;
    let mut cb = git2::RemoteCallbacks::new();
    cb.credentials(move |asked_url, _user, allowed| {
        if !allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            return Err(git2::Error::from_str("the remote asks for an authentication method hfgit does not support"));
        }
        tries += 1;
        if let Some(c) = helper.take() {
            credentials::report(&c, false);
        }
        // the URL libgit2 is talking to, without the userinfo the configured one may carry
        let (asked, _) = credentials::split_url_credentials(if asked_url.is_empty() { &url } else { asked_url });
        // URL or Hub token, .netrc, a helper: three tries at most
        if tries > 3 {
            return Err(git2::Error::from_str(&format!("authentication failed for {}", crate::net::remote::redact(&asked))));
        }
        let same_origin = credentials::origin_of(&asked).is_some() && credentials::origin_of(&asked) == credentials::origin_of(&url);
        if tries == 1 && same_origin {
            let (_, in_url) = credentials::split_url_credentials(&url);
            if let Some(Auth::Basic { username, password }) = in_url {
                return git2::Cred::userpass_plaintext(&username, password.expose());
            }
        }
        if tries == 1 && credentials::is_hub_url(&asked) {
            if let Some(t) = credentials::hf_token() {
                return git2::Cred::userpass_plaintext("hf_user", t.expose());
            }
        }
        // then .netrc, once, before the helpers (curl's and git-lfs's order)
        if !tried_netrc {
            tried_netrc = true;
            if let Some(Auth::Basic { username, password }) = credentials::netrc_for(&asked) {
                return git2::Cred::userpass_plaintext(&username, password.expose());
            }
        }
        match credentials::fill(&asked, interactive) {
            Ok(Some(c)) => {
                let cred = git2::Cred::userpass_plaintext(&c.username, c.password.expose());
                helper = Some(c);
                cred
            }
            Err(e) => Err(git2::Error::from_str(&e.to_string())),
            Ok(None) => Err(git2::Error::from_str(&format!(
                "{} needs credentials and none were found (put them in ~/.netrc or a git credential helper, or for the Hub set HF_TOKEN)",
                crate::net::remote::redact(&asked)
            ))),
        }
    });
    cb
}

/// A libgit2 error with what to do about an HTTP 403 (libgit2 names the status in its message):
/// a host behind a sign-in cookie needs `http.cookieFile`.
pub fn refused(e: git2::Error, what: String) -> Error {
    if e.class() == git2::ErrorClass::Http && e.message().contains("403") {
        return Error::with_hint(
            format!("{what}: {}", e.message()),
            "the server refused access (HTTP 403): if it signs you in with a cookie, save it to a file (Netscape format) and run `git config http.cookieFile <FILE>`; otherwise check that your account may use this repository",
        );
    }
    Error::Git { context: what, source: e }
}

/// Request headers git (through curl) would send to `url` that libgit2 does not add by itself:
/// the cookies of `http.cookieFile` / `http.<url>.cookieFile`. For `custom_headers` of fetch and
/// push options.
pub fn extra_headers(repo: &Repository, url: &str) -> Vec<String> {
    let Ok(cfg) = repo.config() else { return Vec::new() };
    crate::net::cookies::CookieConfig::from_config(&cfg).header_for(url).map(|c| vec![format!("Cookie: {c}")]).unwrap_or_default()
}

/// Removes every ref under `ns` (a namespace of hfgit's own, `refs/hfgit/...`), and the `*.lock`
/// files a killed hfgit left there: the caller holds the repository lock, and nothing but
/// hfgit writes that namespace, so no live writer holds them.
pub fn clear_refs(repo: &Repository, ns: &str) -> Result<()> {
    let dir = repo.path().join(ns);
    if dir.is_dir() {
        for e in walkdir::WalkDir::new(&dir).into_iter().flatten() {
            if e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(".lock") {
                fs::remove_file(e.path()).context(format!("removing stale {}", e.path().display()))?;
            }
        }
    }
    for r in repo.references_glob(&format!("{ns}*")).context("listing refs")?.flatten() {
        if let Some(name) = r.name() {
            let name = name.to_string();
            repo.find_reference(&name).and_then(|mut r| r.delete()).context("removing a temporary ref")?;
        }
    }
    Ok(())
}

/// The branches and tags a remote has (`refs/heads/*` → commit, `refs/tags/*` → the tag object
/// or commit it names) and the `extra` ref when given, with their history fetched so that
/// fast-forward checks can be made locally. Nothing outside hfgit's own namespace changes (no tag is auto-followed into
/// `refs/tags`). (Listing through `Remote::list` is avoided: git2 0.20 builds a slice from a
/// null pointer when a remote has no refs at all.)
pub fn remote_refs(
    repo: &Repository,
    url: &str,
    interactive: bool,
    missing_ok: bool,
    extra: Option<&str>,
) -> Result<HashMap<String, git2::Oid>> {
    const NS: &str = "refs/hfgit/ls-remote/";
    let clear = |repo: &Repository| clear_refs(repo, NS);
    clear(repo)?;
    let mut r = repo.remote_anonymous(url).context("preparing the remote")?;
    let mut fo = git2::FetchOptions::new();
    fo.remote_callbacks(remote_callbacks(url, interactive));
    fo.update_fetchhead(false);
    let headers = extra_headers(repo, url);
    fo.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    fo.download_tags(git2::AutotagOption::None);
    let mut specs = vec![format!("+refs/heads/*:{NS}heads/*"), format!("+refs/tags/*:{NS}tags/*")];
    // one more ref outside branches and tags (a pull request's `refs/pr/N`)
    specs.extend(extra.and_then(|e| e.strip_prefix("refs/")).map(|e| format!("+refs/{e}:{NS}{e}")));
    match r.fetch(&specs, Some(&mut fo), None) {
        Ok(()) => {}
        // A host that creates repositories on first push (as the test forge and many others
        // do) answers 404 until then: for a push, that is a remote with no branches.
        Err(e) if missing_ok && e.class() == git2::ErrorClass::Http && e.message().contains("404") => return Ok(HashMap::new()),
        Err(e) => return Err(refused(e, format!("reading branches of {}", crate::net::remote::redact(url)))),
    }
    let mut out = HashMap::new();
    for reference in repo.references_glob(&format!("{NS}*")).context("listing refs")?.flatten() {
        if let (Some(name), Some(id)) = (reference.name(), reference.target()) {
            out.insert(format!("refs/{}", &name[NS.len()..]), id);
        }
    }
    clear(repo)?;
    Ok(out)
}
