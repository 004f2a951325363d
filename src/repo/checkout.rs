//! The one writer of work-tree files: trees (whole, or the paths a fast-forward changes) and LFS
//! content from the local store, each file through a temp file and a rename, with the index
//! updated so `git status` stays clean. Which LFS files get content is `lfs::select`; getting
//! their objects is `lfs::fetch`.
//!
//! Hostile trees are the normal case: every path of a tree is checked with git's rules
//! (`path_rules`) before the first byte is written, and no write, rename or removal passes
//! through a symbolic link: each leading directory of a path is lstat-ed and must be a real
//! directory inside the work tree (missing ones are created one at a time). Symlinks from a tree
//! are written as symlinks; their target is data, never followed.

use crate::error::{Context, Error, Result};
use crate::lfs::fetch::StagedCopies;
use crate::lfs::pointer::Pointer;
use crate::lfs::select::Selection;
use crate::lfs::store::{copy_into, Store};
use crate::progress::Progress;
use crate::repo::git;
use crate::repo::path_rules::{self, Refusal};

use git2::Repository;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Checks every entry of `tree` (recursively) with git's path rules and refuses duplicate names,
/// before anything is written. The error names the path and `commit`.
pub fn verify_tree(repo: &Repository, tree: &git2::Tree<'_>, commit: git2::Oid) -> Result<()> {
    let refuse = |path: &[u8], why: Refusal| {
        Error::with_hint(
            format!(
                "refusing to check out commit {}: path `{}` has {why}; nothing was written",
                &commit.to_string()[..12],
                escape_path(path)
            ),
            "such paths could write outside the work tree or into .git, so hfgit refuses them as git does; ask the repository's owner to fix its history",
        )
    };
    let mut stack = vec![(Vec::new(), tree.id())];
    let mut checked = HashSet::new(); // a subtree's names are the same wherever it appears
    while let Some((prefix, id)) = stack.pop() {
        if !checked.insert(id) {
            continue;
        }
        let t = repo.find_tree(id).context(format!("reading tree {id}"))?;
        let mut names = HashSet::new();
        for e in t.iter() {
            let name = e.name_bytes();
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let mode = e.filemode_raw() as u32;
            path_rules::check_name(name, mode).map_err(|why| refuse(&path, why))?;
            if std::str::from_utf8(name).is_err() {
                return Err(Error::failed(format!(
                    "cannot check out commit {}: path `{}` is not valid UTF-8; nothing was written",
                    &commit.to_string()[..12],
                    escape_path(&path)
                )));
            }
            if !names.insert(name.to_vec()) {
                return Err(refuse(&path, Refusal::Duplicate));
            }
            match mode {
                0o040000 => stack.push((path, e.id())),
                0o100644 | 0o100755 | 0o100664 | 0o120000 | 0o160000 => {}
                m => return Err(refuse(&path, Refusal::BadMode(m))),
            }
        }
    }
    Ok(())
}

/// A path for a message: printable, control bytes and invalid UTF-8 escaped.
fn escape_path(p: &[u8]) -> String {
    crate::net::remote::escape_text(&String::from_utf8_lossy(p))
}

/// The absolute path of work-tree file `rel`, each leading directory made a real directory
/// inside `workdir`: existing ones are lstat-ed (a symlink or a file there stops the write, so
/// nothing is ever written through a link), missing ones are created one at a time.
pub fn prepare_dest(workdir: &Path, rel: &str) -> Result<PathBuf> {
    path_rules::check_path(rel.as_bytes(), 0o100644)
        .map_err(|why| Error::failed(format!("refusing to write `{}`: it has {why}", escape_path(rel.as_bytes()))))?;
    let parts: Vec<&str> = rel.split('/').collect();
    let mut cur = workdir.to_path_buf();
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        cur.push(part);
        let shown = || parts[..=i].join("/");
        loop {
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => break,
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::failed(format!("refusing to write `{rel}`: `{}` is a symbolic link", shown())))
                }
                Ok(_) => return Err(Error::failed(format!("cannot write `{rel}`: `{}` is a file, not a directory", shown()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match fs::create_dir(&cur) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue, // look again
                    Err(e) => return Err(e).context(format!("creating {}", cur.display())),
                },
                Err(e) => return Err(e).context(format!("reading {}", cur.display())),
            }
        }
    }
    Ok(cur.join(parts[parts.len() - 1]))
}

/// True when every leading directory of `rel` is a real directory under `workdir`, so that
/// `workdir/rel` is inside the work tree and touching it cannot reach through a symlink.
fn under_real_dirs(workdir: &Path, rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut cur = workdir.to_path_buf();
    parts[..parts.len() - 1].iter().all(|p| {
        cur.push(p);
        fs::symlink_metadata(&cur).is_ok_and(|m| m.is_dir())
    })
}

/// The selected LFS files of `tree` (path → pointer).
pub fn selected_pointers(repo: &Repository, tree: &git2::Tree<'_>, sel: &Selection) -> Result<BTreeMap<String, Pointer>> {
    let mut cache = std::collections::HashMap::new();
    Ok(git::tree_pointers(repo, tree, &mut cache)?
        .into_iter()
        .filter(|(path, p, _)| p.size > 0 && sel.selects(path))
        .map(|(path, p, _)| (path, p))
        .collect())
}

#[derive(Debug, Default, Serialize)]
pub struct MaterializeReport {
    pub files_written: u64,
    pub bytes_written: u64,
    /// Bytes written as clones sharing the store object's extents (copy-on-write filesystems).
    pub bytes_shared: u64,
}

/// Writes the content of every selected LFS file of the index whose object is in the local
/// store and whose work-tree file is still the pointer (or missing). Then refreshes the index
/// stat data of those files.
pub fn materialize(repo: &Repository, sel: &Selection, progress: &dyn Progress) -> Result<MaterializeReport> {
    let workdir = git::workdir(repo)?;
    let store = Store::for_git_dir(repo.path());
    let mut index = repo.index().context("reading the index")?;
    struct Job {
        path: String,
        pointer: Pointer,
        mode: u32,
        id: git2::Oid,
    }
    let mut jobs = Vec::new();
    let mut refresh = Vec::new();
    for e in index.iter() {
        if (e.flags >> 12) & 0x3 != 0 || e.mode == 0o120000 || e.mode == 0o160000 {
            continue;
        }
        let Ok(path) = String::from_utf8(e.path.clone()) else { continue };
        let Some(p) = git::blob_pointer(repo, e.id) else { continue };
        if p.size == 0 || !sel.selects(&path) || !store.contains(&p) {
            continue;
        }
        if path_rules::check_path(path.as_bytes(), e.mode).is_err() || !under_real_dirs(&workdir, &path) {
            continue; // never read or write through a link or outside the work tree
        }
        let abs = workdir.join(&path);
        match fs::symlink_metadata(&abs) {
            Ok(m)
                if m.is_file() && m.len() == p.size
                // Content already there (a resumed clone): verify before trusting it.
                && !git::stat_matches(&e, &m) =>
            {
                refresh.push((path, p, e.mode, e.id));
            }
            Ok(m) if m.is_file() && m.len() < crate::lfs::pointer::MAX_POINTER_SIZE => {
                let bytes = fs::read(&abs).context(format!("reading {path}"))?;
                if Pointer::parse(&bytes).ok().as_ref() == Some(&p) {
                    jobs.push(Job { path, pointer: p, mode: e.mode, id: e.id });
                }
            }
            Err(e2) if e2.kind() == std::io::ErrorKind::NotFound => jobs.push(Job { path, pointer: p, mode: e.mode, id: e.id }),
            _ => {} // a local change: leave it alone
        }
    }
    let total = jobs.iter().map(|j| j.pointer.size).sum();
    progress.begin("Checking out", total, jobs.len() as u64);
    let results = crate::parallel::largest_first(
        jobs,
        |j| j.pointer.size,
        crate::parallel::default_threads(),
        |j| {
            let r = write_content(&store, &workdir, &j.path, &j.pointer, j.mode);
            progress.bytes(j.pointer.size);
            progress.item_done();
            r
        },
    );
    progress.end();
    let mut errors = Vec::new();
    let mut done = Vec::new();
    for (j, r) in results {
        match r {
            Ok((meta, shared)) => done.push((j.path, j.pointer, j.mode, j.id, meta, shared)),
            Err(e) => errors.push(format!("{}: {e}", j.path)),
        }
    }
    for (path, p, mode, id) in refresh {
        let abs = workdir.join(&path);
        let meta = fs::symlink_metadata(&abs).context(format!("reading {path}"))?;
        let mut f = fs::File::open(&abs).context(format!("opening {path}"))?;
        let (oid, n) = crate::lfs::store::hash_all(&mut f, progress).context(format!("reading {path}"))?;
        if oid == p.oid && n == p.size {
            done.push((path, p, mode, id, meta, false));
        }
    }
    let mut report = MaterializeReport::default();
    let mut newest = None;
    for (path, p, mode, id, meta, shared) in &done {
        index.add(&git::index_entry_for(meta, path, *id, *mode)).context(format!("indexing {path}"))?;
        newest = newest.max(Some(meta.mtime()));
        report.files_written += 1;
        report.bytes_written += p.size;
        report.bytes_shared += if *shared { p.size } else { 0 };
    }
    if !done.is_empty() {
        git::write_index_safely(&mut index, newest)?;
    }
    if !errors.is_empty() {
        return Err(Error::failed(format!("could not write LFS content:\n  {}", errors.join("\n  "))));
    }
    Ok(report)
}

/// Copies a store object to `dest` through a temp file in the store's tmp directory (same
/// filesystem as the work tree in the usual layout), then renames it into place. The copy shares
/// the object's extents where the filesystem allows (then says so), else is a full copy.
fn write_content(store: &Store, workdir: &Path, rel: &str, p: &Pointer, mode: u32) -> Result<(fs::Metadata, bool)> {
    let src = store.object_path(&p.oid);
    let dest = &prepare_dest(workdir, rel)?;
    let shared = std::cell::Cell::new(false);
    store.write_via_temp(dest, &|f| {
        shared.set(copy_into(&src, f).context(format!("copying object {}", p.oid))?);
        finish_temp(f, mode)
    })?;
    Ok((fs::symlink_metadata(dest).context(format!("reading {}", dest.display()))?, shared.get()))
}

/// Writes the whole of `tree` into an empty (or partly written, unfinished-clone) work tree and
/// builds the index from scratch. Every file appears through a rename, complete: selected LFS
/// files with their content from the store, others as their pointer, plain files as their blob.
pub fn checkout_fresh(
    repo: &Repository,
    commit: git2::Oid,
    tree: &git2::Tree<'_>,
    sel: &Selection,
    staged: Option<&StagedCopies>,
    progress: &dyn Progress,
) -> Result<MaterializeReport> {
    checkout(repo, commit, tree, sel, staged, None, progress)
}

/// Brings the paths in `only` to their state in `tree` (what a fast-forward changes): files
/// gone from the tree are removed (and directories they leave empty), the others written as
/// [`checkout_fresh`] writes them, each through a rename; the index is updated for just those
/// paths. Killed at any point, every file is either as it was or as it will be.
pub fn checkout_paths(
    repo: &Repository,
    commit: git2::Oid,
    tree: &git2::Tree<'_>,
    sel: &Selection,
    only: &BTreeSet<String>,
    progress: &dyn Progress,
) -> Result<MaterializeReport> {
    checkout(repo, commit, tree, sel, None, Some(only), progress)
}

fn checkout(
    repo: &Repository,
    commit: git2::Oid,
    tree: &git2::Tree<'_>,
    sel: &Selection,
    staged: Option<&StagedCopies>,
    only: Option<&BTreeSet<String>>,
    progress: &dyn Progress,
) -> Result<MaterializeReport> {
    let workdir = git::workdir(repo)?;
    let store = Store::for_git_dir(repo.path());
    verify_tree(repo, tree, commit)?;
    struct Item {
        path: String,
        id: git2::Oid,
        mode: u32,
        pointer: Option<Pointer>,
    }
    let mut items = Vec::new();
    let mut walk_err = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
        if e.kind() != Some(git2::ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        let Some(name) = e.name() else {
            walk_err = Some(Error::failed(format!("non-UTF-8 path under {dir:?}")));
            return git2::TreeWalkResult::Abort;
        };
        let path = format!("{dir}{name}");
        if only.is_some_and(|o| !o.contains(&path)) {
            return git2::TreeWalkResult::Ok;
        }
        let mode = e.filemode() as u32;
        let pointer = if mode == 0o120000 { None } else { git::blob_pointer(repo, e.id()) };
        let pointer = pointer.filter(|p| p.size > 0 && sel.selects(&path) && store.contains(p));
        items.push(Item { path, id: e.id(), mode, pointer });
        git2::TreeWalkResult::Ok
    })
    .context("walking tree")?;
    if let Some(e) = walk_err {
        return Err(e);
    }
    // Paths leaving the tree go first, so a file may replace a directory and the reverse.
    let removed: Vec<&String> = match only {
        Some(o) => {
            let kept: BTreeSet<&str> = items.iter().map(|i| i.path.as_str()).collect();
            o.iter().filter(|p| !kept.contains(p.as_str())).collect()
        }
        None => Vec::new(),
    };
    // Nothing is written unless every path can be: a leading directory that is a symlink or a
    // file (and is not itself leaving the tree) stops the checkout here.
    let leaving: HashSet<&str> = removed.iter().map(|p| p.as_str()).collect();
    for it in &items {
        let parts: Vec<&str> = it.path.split('/').collect();
        let mut cur = workdir.clone();
        for i in 0..parts.len() - 1 {
            cur.push(parts[i]);
            let prefix = parts[..=i].join("/");
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => continue,
                Err(_) => break, // created when written
                Ok(_) if leaving.contains(prefix.as_str()) => break,
                Ok(m) => {
                    let what = if m.file_type().is_symlink() { "a symbolic link" } else { "a file" };
                    return Err(Error::with_hint(
                        format!("cannot write `{}`: `{prefix}` in the work tree is {what}; nothing was written", it.path),
                        format!("move `{prefix}` away, then run the command again"),
                    ));
                }
            }
        }
    }
    for path in &removed {
        if path_rules::check_path(path.as_bytes(), 0o100644).is_err() || !under_real_dirs(&workdir, path) {
            continue; // not inside the work tree: nothing of ours to remove
        }
        let abs = workdir.join(path);
        match fs::remove_file(&abs) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("removing {path}")),
        }
        let mut dir = abs.parent();
        while let Some(d) = dir.filter(|d| *d != workdir.as_path()) {
            if fs::remove_dir(d).is_err() {
                break; // not empty (or already gone)
            }
            dir = d.parent();
        }
    }
    // Plain blobs and symlinks on this thread (libgit2 objects), LFS content on workers.
    let mut written = Vec::new();
    for it in items.iter().filter(|i| i.pointer.is_none()) {
        let blob = repo.find_blob(it.id).context(format!("reading {}", it.path))?;
        let dest = prepare_dest(&workdir, &it.path)?;
        let meta = if it.mode == 0o120000 {
            let target = std::path::Path::new(std::ffi::OsStr::from_bytes(blob.content()));
            let tmp = store.temp_dir()?.join(format!("{}link", crate::cleanup::temp_prefix()));
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).context(format!("creating link {}", it.path))?;
            fs::rename(&tmp, &dest).context(format!("writing {}", it.path))?;
            fs::symlink_metadata(&dest).context(format!("reading {}", it.path))?
        } else {
            let mut tmp = store.temp_file()?;
            std::io::Write::write_all(tmp.as_file_mut(), blob.content()).context(format!("writing {}", it.path))?;
            persist_into_worktree(tmp, &dest, it.mode)?
        };
        written.push((it.path.clone(), it.id, it.mode, meta));
    }
    let jobs: Vec<(&Item, &Pointer)> = items.iter().filter_map(|i| Some((i, i.pointer.as_ref()?))).collect();
    let total = jobs.iter().map(|(_, p)| p.size).sum();
    progress.begin("Checking out", total, jobs.len() as u64);
    let results = crate::parallel::largest_first(
        jobs,
        |(_, p)| p.size,
        crate::parallel::default_threads(),
        |(it, p)| {
            let r = match staged.and_then(|st| st.take(p)) {
                // a staged copy's sharing was counted when it was staged
                Some(copy) => place_staged(&copy, &workdir, &it.path, it.mode).map(|m| (m, false)),
                None => write_content(&store, &workdir, &it.path, p, it.mode),
            };
            progress.bytes(p.size);
            progress.item_done();
            r
        },
    );
    progress.end();
    let mut report = MaterializeReport::default();
    let mut newest = None;
    for ((it, _), r) in results {
        let (path, id, mode) = (it.path.clone(), it.id, it.mode);
        let (meta, shared) = r?;
        newest = newest.max(Some(meta.mtime()));
        report.files_written += 1;
        report.bytes_written += meta.len();
        report.bytes_shared += if shared { meta.len() } else { 0 };
        written.push((path, id, mode, meta));
    }
    let mut index = repo.index().context("reading the index")?;
    if only.is_none() {
        index.clear().context("resetting the index")?;
    }
    for path in &removed {
        let _ = index.remove_path(std::path::Path::new(path.as_str()));
    }
    for (path, id, mode, meta) in &written {
        index.add(&git::index_entry_for(meta, path, *id, *mode)).context(format!("indexing {path}"))?;
    }
    git::write_index_safely(&mut index, newest)?;
    Ok(report)
}

/// Renames a complete temp file onto a work-tree path with the entry's permissions.
fn persist_into_worktree(tmp: tempfile::NamedTempFile, dest: &std::path::Path, mode: u32) -> Result<fs::Metadata> {
    finish_temp(tmp.as_file(), mode)?;
    tmp.persist(dest).map_err(|e| e.error).context(format!("writing {}", dest.display()))?;
    fs::symlink_metadata(dest).context(format!("reading {}", dest.display()))
}

/// Sets the entry's permissions on a file hfgit just wrote, and dates it one second back. The
/// index then never records it as "racily clean" (same second as the index itself), so git need
/// not re-read it, and hfgit need not wait for the clock before writing the index. Safe because
/// hfgit knows the content equals the index entry; any later change moves mtime and ctime.
fn finish_temp(f: &fs::File, mode: u32) -> Result<()> {
    let perm = if mode == 0o100755 { 0o755 } else { 0o644 };
    f.set_permissions(fs::Permissions::from_mode(perm)).context("setting permissions")?;
    let back = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    f.set_modified(back).context("setting the modification time")
}

/// Renames a verified staged copy into the work tree.
fn place_staged(copy: &Path, workdir: &Path, rel: &str, mode: u32) -> Result<fs::Metadata> {
    let f = fs::OpenOptions::new().write(true).open(copy).context(format!("opening {}", copy.display()))?;
    finish_temp(&f, mode)?;
    drop(f);
    let dest = &prepare_dest(workdir, rel)?;
    fs::rename(copy, dest).context(format!("writing {}", dest.display()))?;
    fs::symlink_metadata(dest).context(format!("reading {}", dest.display()))
}
