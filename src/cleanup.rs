//! Temp files of the running command, and the leftovers of earlier ones.
//!
//! Every temp file hfgit makes is named `hfgit-<pid>-…` and lives in a directory registered
//! here (`lfs/tmp` under `.git`, or, when that is on another filesystem, next to a work-tree
//! file). When SIGINT or SIGTERM ends the command (the binary waits for them on a thread of its
//! own, so nothing here runs in a signal handler), [`remove_own_temps`] deletes this process's
//! files in those directories. What a SIGKILL leaves is found by [`remove_stale`]: files of a
//! process that no longer runs, or older than a cut-off. This module knows nothing of git.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

static DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static STARTED: OnceLock<SystemTime> = OnceLock::new();

/// Partial downloads (`lfs/incomplete/*.part`) older than this are not resumed but removed by
/// the next command that takes the repository lock.
pub const PART_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

/// Temp files in a directory no lock guards (a local remote's `lfs/tmp`) whose process cannot
/// be told dead (not named by hfgit) are removed once this old.
pub const FOREIGN_TEMP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// When this command started (the first call fixes it; the binary calls it first thing). A file
/// older than that cannot be one of this command's.
pub fn started() -> SystemTime {
    *STARTED.get_or_init(SystemTime::now)
}

/// The name prefix of this process's temp files.
pub fn temp_prefix() -> String {
    format!("hfgit-{}-", std::process::id())
}

/// Registers `dir` as holding temp files of this process.
pub fn watch_dir(dir: &Path) {
    DIRS.lock().unwrap_or_else(|e| e.into_inner()).insert(dir.to_path_buf());
}

/// Removes this process's temp files from every registered directory (on SIGINT / SIGTERM,
/// just before exiting). Returns how many were removed.
pub fn remove_own_temps() -> usize {
    let prefix = temp_prefix();
    let dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut n = 0;
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(|s| s.starts_with(&prefix) || s.starts_with(&format!(".{prefix}")))
                && fs::remove_file(e.path()).is_ok()
            {
                n += 1;
            }
        }
    }
    n
}

/// The process id in an hfgit temp name (`hfgit-<pid>-…`, or with a leading dot).
fn pid_of(name: &str) -> Option<i32> {
    name.trim_start_matches('.').strip_prefix("hfgit-")?.split('-').next()?.parse().ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH))
}

/// Removes the files in `dir` (not below it) an earlier, killed command left: hfgit's of a
/// process that no longer runs (never one that does, whatever its age), and any other file
/// last modified before `before`. Never fails; returns how many were removed.
pub fn remove_stale(dir: &Path, before: SystemTime) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let me = std::process::id() as i32;
    let mut n = 0;
    for e in entries.flatten() {
        let Ok(meta) = fs::symlink_metadata(e.path()) else { continue };
        if meta.is_dir() {
            continue;
        }
        let name = e.file_name();
        let stale = match name.to_str().and_then(pid_of) {
            Some(pid) => pid != me && !alive(pid),
            None => meta.modified().is_ok_and(|t| t < before),
        };
        if stale && fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_temps_go_and_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("{}abc", temp_prefix()));
        let other = dir.path().join("hfgit-1-abc");
        fs::write(&mine, b"x").unwrap();
        fs::write(&other, b"x").unwrap();
        watch_dir(dir.path());
        assert!(remove_own_temps() >= 1);
        assert!(!mine.exists() && other.exists());
    }

    #[test]
    fn stale_means_dead_or_old_never_mine() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("{}abc", temp_prefix()));
        // pid 2^22 + 1 is above Linux's pid_max limit: no such process
        let dead = dir.path().join("hfgit-4194305-abc");
        let foreign = dir.path().join("tmp-from-git-lfs");
        for f in [&mine, &dead, &foreign] {
            fs::write(f, b"x").unwrap();
        }
        let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        assert_eq!(remove_stale(dir.path(), long_ago), 1);
        assert!(!dead.exists() && mine.exists() && foreign.exists());
        let later = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(remove_stale(dir.path(), later), 1);
        assert!(mine.exists() && !foreign.exists(), "a running hfgit's temp file is kept, however old");
    }
}
