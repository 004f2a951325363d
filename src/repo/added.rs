//! The pointers `hfgit add` computed while it copied LFS files into the work tree, kept in
//! `<git dir>/hfgit-added.json` by path with the stat data the copy had, so the next commit or
//! status does not read those files again (add has no index entry to put them in: it only
//! brings files in, and commit records the whole work tree). An entry counts only while the
//! file's stat data is exactly what add saw (size, inode, modification and change times to the
//! nanosecond), and only when the file was last modified before the cache was written: a
//! rewrite in that same clock tick would leave the stat data as it was (git's racy rule).
//! Anything else is hashed as usual. `commit` records everything in the index and removes it.

use crate::error::Result;
use crate::lfs::oid::Oid;
use crate::lfs::pointer::Pointer;
use crate::lfs::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const FILE: &str = "hfgit-added.json";

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
struct Stat {
    size: u64,
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stat {
    fn of(meta: &fs::Metadata) -> Stat {
        Stat {
            size: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Entry {
    oid: String,
    stat: Stat,
}

/// The cache as read from disk (empty when there is none, or it cannot be read).
#[derive(Default, Debug)]
pub struct Added {
    entries: BTreeMap<String, Entry>,
    /// Modification time of the cache file when it was read.
    written: Option<(i64, i64)>,
}

fn path_in(git_dir: &Path) -> PathBuf {
    git_dir.join(FILE)
}

impl Added {
    pub fn load(git_dir: &Path) -> Added {
        let path = path_in(git_dir);
        let (Ok(meta), Ok(text)) = (fs::metadata(&path), fs::read(&path)) else { return Added::default() };
        let entries = serde_json::from_slice(&text).unwrap_or_default();
        Added { entries, written: Some((meta.mtime(), meta.mtime_nsec())) }
    }

    /// The pointer add recorded for `path`, if the file is still exactly as add left it.
    pub fn get(&self, path: &str, meta: &fs::Metadata) -> Option<Pointer> {
        let e = self.entries.get(path)?;
        let stat = Stat::of(meta);
        if e.stat != stat || self.written.is_none_or(|w| stat.mtime >= w) {
            return None;
        }
        Some(Pointer::new(Oid::from_hex(&e.oid)?, stat.size))
    }

    pub fn insert(&mut self, path: &str, meta: &fs::Metadata, pointer: &Pointer) {
        self.entries.insert(path.to_string(), Entry { oid: pointer.oid.to_hex(), stat: Stat::of(meta) });
    }

    /// Writes the cache (temp file and rename), keeping only entries whose files in `workdir`
    /// are still as recorded.
    pub fn save(mut self, store: &Store, git_dir: &Path, workdir: &Path) -> Result<()> {
        self.entries.retain(|p, e| fs::symlink_metadata(workdir.join(p)).is_ok_and(|m| Stat::of(&m) == e.stat));
        let bytes = serde_json::to_vec(&self.entries).map_err(|e| crate::error::Error::failed(format!("encoding the add cache: {e}")))?;
        crate::lfs::track::write_atomic(store, &path_in(git_dir), &bytes)
    }
}

/// Removes the cache (after a commit, whose index now holds what it said).
pub fn clear(git_dir: &Path) {
    let _ = fs::remove_file(path_in(git_dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_only_while_the_file_is_as_recorded_and_older_than_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (git_dir, work) = (dir.path().join("git"), dir.path().join("work"));
        fs::create_dir_all(&git_dir).unwrap();
        fs::create_dir_all(&work).unwrap();
        let f = work.join("w.bin");
        fs::write(&f, b"weights").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        fs::File::options().write(true).open(&f).unwrap().set_modified(old).unwrap();
        let meta = fs::symlink_metadata(&f).unwrap();
        let p = Pointer::new(Oid::from_bytes([7; 32]), meta.len());
        let mut added = Added::load(&git_dir);
        added.insert("w.bin", &meta, &p);
        added.insert("gone.bin", &meta, &p);
        added.save(&Store::for_git_dir(&git_dir), &git_dir, &work).unwrap();
        let read = Added::load(&git_dir);
        assert_eq!(read.get("w.bin", &meta), Some(p));
        assert_eq!(read.get("gone.bin", &meta), None, "an entry for a file that is not there is dropped");
        // rewritten with the same size: the change time moves
        fs::write(&f, b"WEIGHTS").unwrap();
        assert_eq!(read.get("w.bin", &fs::symlink_metadata(&f).unwrap()), None);
        // an entry modified no earlier than the cache was written is racy
        let racy = Added { written: Some((meta.mtime(), meta.mtime_nsec())), ..read };
        assert_eq!(racy.get("w.bin", &meta), None);
        clear(&git_dir);
        assert_eq!(Added::load(&git_dir).get("w.bin", &meta), None);
    }
}
