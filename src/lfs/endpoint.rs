//! Where a remote's LFS API lives, found as git-lfs finds it: `lfs.pushurl` / `lfs.url`,
//! `remote.<name>.lfspushurl` / `remote.<name>.lfsurl`, the same keys in `.lfsconfig` (only the
//! keys git-lfs allows there; real git config wins), else derived from the git remote URL
//! (`<url>.git/info/lfs`, or `<url>/info/lfs` when it ends in `.git`; local paths and file://
//! stay local).

use crate::error::{Context, Result};
use git2::Repository;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Upload,
    Download,
}

/// Keys `.lfsconfig` may set (git-lfs-config(5), "LFSCONFIG"), `*` matching one segment.
const LFSCONFIG_ALLOWED: [&str; 10] = [
    "lfs.allowincompletepush",
    "lfs.fetchexclude",
    "lfs.fetchinclude",
    "lfs.gitprotocol",
    "lfs.locksverify",
    "lfs.pushurl",
    "lfs.skipdownloaderrors",
    "lfs.url",
    "lfs.*.access",
    "remote.*.lfsurl",
];

fn allowed_in_lfsconfig(key: &str) -> bool {
    let k: Vec<&str> = key.split('.').collect();
    LFSCONFIG_ALLOWED.iter().any(|pat| {
        let p: Vec<&str> = pat.split('.').collect();
        if p.len() == 3 && p[1] == "*" {
            k.len() >= 3 && k[0] == p[0] && k[k.len() - 1] == p[2]
        } else {
            key == *pat
        }
    })
}

/// Reads `.lfsconfig` from the work tree, else from HEAD.
fn lfsconfig(repo: &Repository) -> Option<git2::Config> {
    if let Some(w) = repo.workdir() {
        let p = w.join(".lfsconfig");
        if p.is_file() {
            return git2::Config::open(&p).ok();
        }
    }
    let head = repo.head().ok()?.peel_to_tree().ok()?;
    let entry = head.get_name(".lfsconfig")?;
    let blob = repo.find_blob(entry.id()).ok()?;
    let tmp = tempfile::NamedTempFile::new().ok()?;
    std::fs::write(tmp.path(), blob.content()).ok()?;
    let cfg = git2::Config::open(tmp.path()).ok()?;
    // keep the values after the temp file goes: snapshot copies them
    let mut c = cfg;
    c.snapshot().ok()
}

/// A setting from git config, else from `.lfsconfig` when that key is allowed there.
pub fn lfs_setting(repo: &Repository, key: &str) -> Result<Option<String>> {
    let cfg = repo.config().context("reading git config")?;
    if let Ok(v) = cfg.get_string(key) {
        return Ok(Some(v));
    }
    if allowed_in_lfsconfig(key) {
        if let Some(c) = lfsconfig(repo) {
            if let Ok(v) = c.get_string(key) {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

/// The LFS endpoint implied by a git remote URL.
pub fn derive(url: &str) -> String {
    let u = url.trim_end_matches('/');
    if u.starts_with("file://") || !u.contains("://") {
        return u.to_string();
    }
    if u.ends_with(".git") {
        format!("{u}/info/lfs")
    } else {
        format!("{u}.git/info/lfs")
    }
}

/// The LFS endpoint for `op` on remote `name` (when it is a configured remote) whose git URL is
/// `url`.
pub fn endpoint(repo: &Repository, name: Option<&str>, url: &str, op: Operation) -> Result<String> {
    let mut keys: Vec<String> = Vec::new();
    if op == Operation::Upload {
        keys.push("lfs.pushurl".into());
    }
    keys.push("lfs.url".into());
    if let Some(n) = name {
        if op == Operation::Upload {
            keys.push(format!("remote.{n}.lfspushurl"));
        }
        keys.push(format!("remote.{n}.lfsurl"));
    }
    for k in keys {
        if let Some(v) = lfs_setting(repo, &k)? {
            if !v.trim().is_empty() {
                return Ok(v.trim().trim_end_matches('/').to_string());
            }
        }
    }
    Ok(derive(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_follows_git_lfs() {
        assert_eq!(derive("https://git-server.com/foo/bar"), "https://git-server.com/foo/bar.git/info/lfs");
        assert_eq!(derive("https://git-server.com/foo/bar.git/"), "https://git-server.com/foo/bar.git/info/lfs");
        assert_eq!(derive("file:///srv/x.git"), "file:///srv/x.git");
        assert_eq!(derive("/srv/x.git"), "/srv/x.git");
    }

    #[test]
    fn configured_urls_win_in_git_lfs_order() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let url = "http://h/o/r";
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Upload).unwrap(), "http://h/o/r.git/info/lfs");
        std::fs::write(
            dir.path().join(".lfsconfig"),
            "[lfs]\n\turl = http://cfgfile/lfs\n[remote \"origin\"]\n\tlfsurl = http://ignored-order\n[core]\n\tsshcommand = evil\n",
        )
        .unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), "http://cfgfile/lfs");
        assert_eq!(lfs_setting(&repo, "core.sshcommand").unwrap(), None, "a key .lfsconfig may not set");
        let mut cfg = repo.config().unwrap();
        cfg.set_str("remote.origin.lfsurl", "http://remote-lfsurl/x").unwrap();
        cfg.set_str("lfs.url", "http://git-config/lfs").unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), "http://git-config/lfs");
        cfg.set_str("lfs.pushurl", "http://push/lfs/").unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Upload).unwrap(), "http://push/lfs");
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), "http://git-config/lfs");
        cfg.remove("lfs.url").unwrap();
        cfg.remove("lfs.pushurl").unwrap();
        // lfs.url (from .lfsconfig) comes before remote.origin.lfsurl, as in git-lfs
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), "http://cfgfile/lfs");
        assert_eq!(endpoint(&repo, None, url, Operation::Upload).unwrap(), "http://cfgfile/lfs");
        std::fs::remove_file(dir.path().join(".lfsconfig")).unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), "http://remote-lfsurl/x");
        cfg.set_str("remote.origin.lfspushurl", "http://rpush/x").unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Upload).unwrap(), "http://rpush/x");
    }
}
