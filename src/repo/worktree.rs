//! Reads the work tree the way a commit sees it: every file not ignored (or already tracked),
//! classified as LFS or plain, and turned into the blob git would store: a canonical pointer for
//! LFS files, the raw bytes otherwise. The index doubles as a stat cache, like git's: a file
//! whose stat data still matches its index entry is not read again. LFS files are hashed on
//! several threads, largest first; in commit mode the same read stores the object.

use crate::error::{Context, Error, Result};
use crate::lfs::pointer::{Pointer, MAX_POINTER_SIZE};
use crate::lfs::store::{hash_all, Store};
use crate::lfs::track;
use crate::progress::Progress;
use crate::repo::git::{blob_pointer, is_racy, stat_matches};
use git2::{ObjectType, Repository};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScanMode {
    /// Compute blob ids only; nothing is written anywhere.
    Status,
    /// Write blobs to the object database and LFS content to the store.
    Commit,
}

/// One work-tree file as it would be committed.
#[derive(Debug, Clone)]
pub struct FileState {
    pub path: String,
    pub mode: u32,
    pub blob: git2::Oid,
    /// Set when the file is stored through LFS.
    pub lfs: Option<Pointer>,
    /// An LFS file that no `filter=lfs` rule covers (it is over the size threshold, or a binary
    /// file over 1 MiB).
    pub needs_rule: bool,
    /// The work tree holds the content (false: it holds the pointer text only).
    pub materialized: bool,
    pub meta: fs::Metadata,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub files: Vec<FileState>,
    /// Bytes read from the work tree to hash files (0 when the stat cache covered everything).
    pub hashed_bytes: u64,
    pub stored_objects: u64,
    pub stored_bytes: u64,
    /// Bytes stored as clones sharing the work-tree file's extents (copy-on-write filesystems).
    pub shared_bytes: u64,
    /// Files read again because their stat data differed from their index entry, and found to
    /// hold what the entry says (indexes into `files`): their stat data can be refreshed.
    pub stale_stat: Vec<usize>,
}

struct Candidate {
    path: String,
    abs: PathBuf,
    meta: fs::Metadata,
}

/// Lists the work tree's files: `.git` and nested repositories skipped, ignored files skipped
/// unless tracked (git's rule).
fn list_files(repo: &Repository, workdir: &Path, tracked: &BTreeSet<String>) -> Result<Vec<Candidate>> {
    let has_tracked_under = |dir: &str| {
        let prefix = format!("{dir}/");
        tracked.range(prefix.clone()..).next().is_some_and(|p| p.starts_with(&prefix))
    };
    let mut out = Vec::new();
    let mut walker = walkdir::WalkDir::new(workdir).follow_links(false).sort_by_file_name().into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| Error::failed(format!("reading the work tree: {e}")))?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(workdir)
            .expect("walkdir yields paths under its root")
            .to_str()
            .ok_or_else(|| Error::failed(format!("path is not valid UTF-8: {}", entry.path().display())))?
            .to_string();
        let ft = entry.file_type();
        if ft.is_dir() {
            let nested_repo = entry.path().join(".git").exists();
            let ignored = repo.is_path_ignored(format!("{rel}/")).unwrap_or(false);
            if entry.file_name() == ".git" || nested_repo || (ignored && !has_tracked_under(&rel)) {
                walker.skip_current_dir();
            }
            continue;
        }
        if !(ft.is_file() || ft.is_symlink()) {
            continue;
        }
        if !tracked.contains(&rel) && repo.is_path_ignored(&rel).unwrap_or(false) {
            continue;
        }
        let meta = fs::symlink_metadata(entry.path()).context(format!("reading {rel}"))?;
        out.push(Candidate { path: rel, abs: entry.path().to_path_buf(), meta });
    }
    Ok(out)
}

enum Plan {
    Done(Box<FileState>),
    Lfs { needs_rule: bool },
    Plain,
    Symlink,
}

/// Scans the work tree. `index` is the stat cache (the repository's index as last written).
pub fn scan(repo: &Repository, index: &git2::Index, mode: ScanMode, progress: &dyn Progress) -> Result<Scan> {
    let workdir = crate::repo::git::workdir(repo)?;
    let store = Store::for_git_dir(repo.path());
    let threshold = track::threshold(repo)?;
    let index_time = crate::repo::git::index_mtime(repo);
    let mut cached: HashMap<String, git2::IndexEntry> = HashMap::new();
    for e in index.iter() {
        let stage = (e.flags >> 12) & 0x3;
        if stage == 0 && e.mode != 0o160000 {
            if let Ok(p) = String::from_utf8(e.path.clone()) {
                cached.insert(p, e);
            }
        }
    }
    let tracked: BTreeSet<String> = cached.keys().cloned().collect();
    let candidates = list_files(repo, &workdir, &tracked)?;
    let odb = repo.odb().context("opening the object database")?;
    let added = crate::repo::added::Added::load(repo.path());

    let mut plans = Vec::with_capacity(candidates.len());
    for c in &candidates {
        let cache = Cache { entry: cached.get(&c.path), index_time, added: &added };
        plans.push(plan(repo, &odb, &store, c, &cache, threshold, mode)?);
    }

    if mode == ScanMode::Commit {
        refuse_broken_pointers(&candidates, &plans)?;
    }

    let mut scan = Scan::default();
    // LFS files: hash (and store) on worker threads, largest first.
    let jobs: Vec<usize> = plans.iter().enumerate().filter(|(_, p)| matches!(p, Plan::Lfs { .. })).map(|(i, _)| i).collect();
    let total: u64 = jobs.iter().map(|&i| candidates[i].meta.len()).sum();
    let mut results: HashMap<usize, Result<(Pointer, Stored, bool)>> = HashMap::new();
    if !jobs.is_empty() {
        progress.begin("Hashing", total, jobs.len() as u64);
        let done = crate::parallel::largest_first(
            jobs,
            |&i| candidates[i].meta.len(),
            crate::parallel::default_threads(),
            |&i| {
                let fp = crate::progress::FileProgress::new(progress, &candidates[i].path, candidates[i].meta.len());
                let r = hash_lfs(&store, &candidates[i], mode, &fp);
                progress.item_done();
                r
            },
        );
        progress.end();
        results.extend(done);
    }

    for (i, (c, p)) in candidates.into_iter().zip(plans).enumerate() {
        let hashed = matches!(p, Plan::Lfs { .. } | Plan::Plain);
        let state = match p {
            Plan::Done(s) => *s,
            Plan::Lfs { needs_rule } => {
                let (pointer, stored, materialized) = results.remove(&i).expect("every LFS job ran")?;
                if materialized {
                    scan.hashed_bytes += c.meta.len();
                }
                if stored != Stored::Not {
                    scan.stored_objects += 1;
                    scan.stored_bytes += pointer.size;
                }
                if stored == Stored::Shared {
                    scan.shared_bytes += pointer.size;
                }
                let bytes = pointer.encode();
                let blob = small_blob(repo, &bytes, mode, "writing pointer blob")?;
                FileState {
                    path: c.path,
                    mode: file_mode(&c.meta),
                    blob,
                    lfs: Some(pointer),
                    needs_rule: needs_rule && materialized,
                    materialized,
                    meta: c.meta,
                }
            }
            Plan::Plain => {
                scan.hashed_bytes += c.meta.len();
                let blob = hash_plain(repo, &odb, &c, mode)?;
                FileState { path: c.path, mode: file_mode(&c.meta), blob, lfs: None, needs_rule: false, materialized: true, meta: c.meta }
            }
            Plan::Symlink => {
                let target = fs::read_link(&c.abs).context(format!("reading link {}", c.path))?;
                let bytes = target.as_os_str().as_encoded_bytes();
                let blob = small_blob(repo, bytes, mode, "writing link blob")?;
                FileState { path: c.path, mode: 0o120000, blob, lfs: None, needs_rule: false, materialized: true, meta: c.meta }
            }
        };
        if hashed && cached.get(&state.path).is_some_and(|e| e.id == state.blob && e.mode == state.mode) {
            scan.stale_stat.push(scan.files.len());
        }
        scan.files.push(state);
    }
    Ok(scan)
}

/// Writes the refreshed stat data of the files `scan` read again and found unchanged into the
/// index, as `git status` does, so the next scan does not read them again. Best effort, never
/// an error: skipped when another hfgit holds the repository lock or the index cannot be
/// written, and an entry is skipped when the index or the file changed since the scan, or
/// when the file was modified this second (its entry would be racy: git, seeing LFS content
/// where the index has a pointer, would call it modified). Returns the entries refreshed.
pub fn save_refreshed_stat(repo: &Repository, scan: &Scan) -> usize {
    if scan.stale_stat.is_empty() {
        return 0;
    }
    let Ok(_lock) = crate::repo::git::lock(repo) else { return 0 };
    let (Ok(workdir), Ok(mut index)) = (crate::repo::git::workdir(repo), repo.index()) else { return 0 };
    if index.read(false).is_err() {
        return 0;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut refreshed = 0;
    for &i in &scan.stale_stat {
        let f = &scan.files[i];
        let Some(e) = index.get_path(Path::new(&f.path), 0) else { continue };
        let unchanged = fs::symlink_metadata(workdir.join(&f.path)).is_ok_and(|m| crate::lfs::store::same_file_state(&f.meta, &m));
        if e.id != f.blob || e.mode != f.mode || f.meta.mtime() >= now || !unchanged {
            continue;
        }
        if index.add(&crate::repo::git::index_entry_for(&f.meta, &f.path, f.blob, f.mode)).is_ok() {
            refreshed += 1;
        }
    }
    if refreshed == 0 || crate::repo::git::write_index_safely(&mut index, None).is_err() {
        return 0;
    }
    refreshed
}

/// Refuses, before anything is stored, LFS files whose bytes are pointer-shaped text that is
/// not a valid pointer (conflict markers a merge without git-lfs wrote into a pointer, or a
/// damaged pointer): stored as content, that text would replace the weights.
fn refuse_broken_pointers(candidates: &[Candidate], plans: &[Plan]) -> Result<()> {
    let mut bad = Vec::new();
    for (c, p) in candidates.iter().zip(plans) {
        if !matches!(p, Plan::Lfs { .. }) || c.meta.len() >= MAX_POINTER_SIZE {
            continue;
        }
        let bytes = fs::read(&c.abs).context(format!("reading {}", c.path))?;
        if Pointer::looks_like_broken_pointer(&bytes) {
            bad.push(c.path.clone());
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::with_hint(
        format!(
            "refusing to commit: these LFS files hold pointer text that is not a valid pointer (conflict markers?); nothing was committed:\n  {}",
            bad.join("\n  ")
        ),
        "put the real content back (e.g. `hfgit restore --source <REV> <PATH>` or copy the file in), then commit again",
    ))
}

fn file_mode(meta: &fs::Metadata) -> u32 {
    if meta.mode() & 0o111 != 0 {
        0o100755
    } else {
        0o100644
    }
}

/// What is known of a file without reading it: its index entry (and when the index was
/// written), and the pointer `add` computed as it copied the file in.
struct Cache<'a> {
    entry: Option<&'a git2::IndexEntry>,
    index_time: Option<std::time::SystemTime>,
    added: &'a crate::repo::added::Added,
}

fn plan(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    store: &Store,
    c: &Candidate,
    cache: &Cache<'_>,
    threshold: u64,
    mode: ScanMode,
) -> Result<Plan> {
    let (entry, index_time) = (cache.entry, cache.index_time);
    if c.meta.file_type().is_symlink() {
        return Ok(Plan::Symlink);
    }
    let size = c.meta.len();
    let attr = track::has_lfs_filter(repo, &c.path)?;
    let is_lfs = size > 0 && (attr || size > threshold);
    let fmode = file_mode(&c.meta);
    // The stat cache: an unchanged, non-racy index entry with the same mode is reused.
    if let Some(e) = entry.filter(|e| e.mode == fmode && stat_matches(e, &c.meta) && !is_racy(e, index_time)) {
        let blob_size = odb.read_header(e.id).map(|(n, _)| n as u64).ok();
        let reuse = |lfs: Option<Pointer>, materialized: bool| {
            Plan::Done(Box::new(FileState {
                path: c.path.clone(),
                mode: fmode,
                blob: e.id,
                lfs,
                needs_rule: false,
                materialized,
                meta: c.meta.clone(),
            }))
        };
        if is_lfs {
            if let Some(p) = blob_pointer(repo, e.id) {
                if p.size == size && (mode == ScanMode::Status || store.contains(&p)) {
                    return Ok(reuse(Some(p), true));
                }
                if blob_size == Some(size) && attr {
                    return Ok(reuse(Some(p), false)); // the work tree holds the pointer text
                }
            }
        } else if blob_size == Some(size) {
            return Ok(reuse(None, true));
        }
    }
    if let Some(p) = cache.added.get(&c.path, &c.meta).filter(|p| is_lfs && (mode == ScanMode::Status || store.contains(p))) {
        let bytes = p.encode();
        let blob = small_blob(repo, &bytes, mode, "writing pointer blob")?;
        let needs_rule = !attr;
        return Ok(Plan::Done(Box::new(FileState {
            path: c.path.clone(),
            mode: fmode,
            blob,
            lfs: Some(p),
            needs_rule,
            materialized: true,
            meta: c.meta.clone(),
        })));
    }
    if !is_lfs {
        // A binary file over 1 MiB goes to LFS (with a rule) at commit, not refused at push:
        // the Hub refuses it outside LFS. One committed plain and unchanged (its stat data
        // matched above, or its bytes are the indexed blob) stays as it is.
        if track::hub_needs_lfs_as_binary(&c.abs, size)? {
            let unchanged = entry.is_some_and(|e| git2::Oid::hash_file(ObjectType::Blob, &c.abs).is_ok_and(|id| id == e.id));
            if !unchanged {
                return Ok(Plan::Lfs { needs_rule: true });
            }
        }
        return Ok(Plan::Plain);
    }
    Ok(Plan::Lfs { needs_rule: !attr })
}

/// Whether hashing an LFS file put a new object in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Not,
    Copied,
    /// A clone sharing the work-tree file's extents.
    Shared,
}

/// Hashes one LFS file. Returns the pointer, whether a new object was stored, and whether the
/// work tree held real content (false when it held a valid pointer, which passes through
/// unchanged as git-lfs's clean filter does).
fn hash_lfs(store: &Store, c: &Candidate, mode: ScanMode, progress: &dyn Progress) -> Result<(Pointer, Stored, bool)> {
    if c.meta.len() < MAX_POINTER_SIZE {
        let mut bytes = Vec::new();
        fs::File::open(&c.abs).and_then(|mut f| f.read_to_end(&mut bytes)).context(format!("reading {}", c.path))?;
        if let Ok(p) = Pointer::parse(&bytes) {
            if p.size > 0 && p.is_canonical(&bytes) {
                return Ok((p, Stored::Not, false));
            }
        }
    }
    match mode {
        ScanMode::Commit => {
            let added = store.add_file(&c.abs, progress)?;
            let stored = match (added.newly_stored, added.shared) {
                (false, _) => Stored::Not,
                (true, false) => Stored::Copied,
                (true, true) => Stored::Shared,
            };
            Ok((added.pointer, stored, true))
        }
        ScanMode::Status => {
            let mut f = fs::File::open(&c.abs).context(format!("opening {}", c.path))?;
            let (oid, n) = hash_all(&mut f, progress).context(format!("reading {}", c.path))?;
            Ok((Pointer::new(oid, n), Stored::Not, true))
        }
    }
}

/// The blob of bytes already in memory (a pointer, a link's target): written in commit mode.
fn small_blob(repo: &Repository, bytes: &[u8], mode: ScanMode, what: &str) -> Result<git2::Oid> {
    match mode {
        ScanMode::Commit => repo.blob(bytes).context(what),
        ScanMode::Status => Ok(git2::Oid::hash_object(ObjectType::Blob, bytes)?),
    }
}

/// One plain file, written to the object database (used for `.gitattributes` after rules are
/// appended to it).
pub fn plain_file(repo: &Repository, workdir: &Path, rel: &str) -> Result<FileState> {
    let abs = workdir.join(rel);
    let meta = fs::symlink_metadata(&abs).context(format!("reading {rel}"))?;
    let odb = repo.odb().context("opening the object database")?;
    let c = Candidate { path: rel.to_string(), abs, meta };
    let blob = hash_plain(repo, &odb, &c, ScanMode::Commit)?;
    Ok(FileState { path: c.path, mode: file_mode(&c.meta), blob, lfs: None, needs_rule: false, materialized: true, meta: c.meta })
}

/// The blob of a plain file: raw bytes, streamed into the object database in commit mode.
fn hash_plain(repo: &Repository, odb: &git2::Odb<'_>, c: &Candidate, mode: ScanMode) -> Result<git2::Oid> {
    match mode {
        ScanMode::Status => git2::Oid::hash_file(ObjectType::Blob, &c.abs).context(format!("hashing {}", c.path)),
        ScanMode::Commit => {
            let mut f = fs::File::open(&c.abs).context(format!("opening {}", c.path))?;
            let size = c.meta.len();
            let mut w = odb.writer(size as usize, ObjectType::Blob).context("writing blob")?;
            let n = std::io::copy(&mut f, &mut w).context(format!("reading {}", c.path))?;
            let after = fs::symlink_metadata(&c.abs).context(format!("reading {}", c.path))?;
            if n != size || !crate::lfs::store::same_file_state(&c.meta, &after) {
                return Err(Error::ChangedWhileReading(c.abs.clone()));
            }
            let _ = repo;
            w.finalize().context(format!("storing {}", c.path))
        }
    }
}
