//! Where a remote's LFS API lives, found as git-lfs finds it: `lfs.pushurl` / `lfs.url`,
//! `remote.<name>.lfspushurl` / `remote.<name>.lfsurl`, the same keys in `.lfsconfig` (only the
//! keys git-lfs allows there; real git config wins), else derived from the git remote URL
//! (`<url>.git/info/lfs`, or `<url>/info/lfs` when it ends in `.git`; local paths and file://
//! stay local).

use crate::error::{Context, Error, Result};
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

/// Reads `.lfsconfig` from the work tree (a regular file only: never through a symlink), else
/// from HEAD.
fn lfsconfig(repo: &Repository) -> Option<git2::Config> {
    if let Some(w) = repo.workdir() {
        let p = w.join(".lfsconfig");
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
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

/// Where a setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The user's own git config (repository, global or system).
    GitConfig,
    /// The repository's committed `.lfsconfig`: written by whoever made the repository.
    LfsConfig,
}

/// A setting from git config, else from `.lfsconfig` when that key is allowed there. A value
/// with CR, LF or NUL is refused, naming the key and where it was set: such a value can only be
/// an attempt to smuggle lines into `git credential` or an HTTP request.
pub fn lfs_setting(repo: &Repository, key: &str) -> Result<Option<(String, Source)>> {
    let cfg = repo.config().context("reading git config")?;
    let found = match cfg.get_string(key) {
        Ok(v) => Some((v, Source::GitConfig)),
        Err(_) if allowed_in_lfsconfig(key) => lfsconfig(repo).and_then(|c| c.get_string(key).ok()).map(|v| (v, Source::LfsConfig)),
        Err(_) => None,
    };
    if let Some((v, src)) = &found {
        if v.contains(['\r', '\n', '\0']) {
            let whence = if *src == Source::LfsConfig { "the repository's .lfsconfig" } else { "git config" };
            return Err(Error::BadInput(format!(
                "{key} in {whence} contains a line break or NUL (`{}`); refusing to use it",
                crate::net::remote::escape_text(&crate::net::remote::redact(v))
            )));
        }
    }
    Ok(found)
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
/// `url`: the URL and where it came from (derived from the git URL counts as the user's own).
pub fn endpoint(repo: &Repository, name: Option<&str>, url: &str, op: Operation) -> Result<(String, Source)> {
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
        if let Some((v, src)) = lfs_setting(repo, &k)? {
            if !v.trim().is_empty() {
                return Ok((v.trim().trim_end_matches('/').to_string(), src));
            }
        }
    }
    Ok((derive(url), Source::GitConfig))
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
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Upload).unwrap().0, "http://h/o/r.git/info/lfs");
        std::fs::write(
            dir.path().join(".lfsconfig"),
            "[lfs]\n\turl = http://cfgfile/lfs\n[remote \"origin\"]\n\tlfsurl = http://ignored-order\n[core]\n\tsshcommand = evil\n",
        )
        .unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), ("http://cfgfile/lfs".into(), Source::LfsConfig));
        assert_eq!(lfs_setting(&repo, "core.sshcommand").unwrap(), None, "a key .lfsconfig may not set");
        let mut cfg = repo.config().unwrap();
        cfg.set_str("remote.origin.lfsurl", "http://remote-lfsurl/x").unwrap();
        cfg.set_str("lfs.url", "http://git-config/lfs").unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap(), ("http://git-config/lfs".into(), Source::GitConfig));
        cfg.set_str("lfs.pushurl", "http://push/lfs/").unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Upload).unwrap().0, "http://push/lfs");
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap().0, "http://git-config/lfs");
        cfg.remove("lfs.url").unwrap();
        cfg.remove("lfs.pushurl").unwrap();
        // lfs.url (from .lfsconfig) comes before remote.origin.lfsurl, as in git-lfs
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap().0, "http://cfgfile/lfs");
        assert_eq!(endpoint(&repo, None, url, Operation::Upload).unwrap().0, "http://cfgfile/lfs");
        std::fs::remove_file(dir.path().join(".lfsconfig")).unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Download).unwrap().0, "http://remote-lfsurl/x");
        cfg.set_str("remote.origin.lfspushurl", "http://rpush/x").unwrap();
        assert_eq!(endpoint(&repo, Some("origin"), url, Operation::Upload).unwrap().0, "http://rpush/x");
    }

    #[test]
    fn line_breaks_in_lfs_settings_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join(".lfsconfig"), "[lfs]\n\turl = \"http://h/x\\nhost=evil.example\"\n").unwrap();
        let e = endpoint(&repo, Some("origin"), "http://h/o/r", Operation::Download).unwrap_err().to_string();
        assert!(e.contains("lfs.url") && e.contains(".lfsconfig") && e.contains("line break"), "{e}");
        assert!(!e.contains('\n'), "the value is shown escaped: {e}");
    }
}
