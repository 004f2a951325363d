//! Remote targets: URLs, local paths to bare repositories and Hub repo ids, resolved to the URL
//! stored in git config, and classified as local or HTTP. Credentials never appear in what this
//! module stores or prints (`redact`).

use crate::error::{Error, Result};
use git2::Repository;
use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where a remote lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A repository on this machine; the path is its git directory or work tree.
    Local(PathBuf),
    /// An HTTP(S) git host.
    Http(String),
}

/// `$HF_ENDPOINT` without trailing slash, default `https://huggingface.co`.
pub fn hub_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

fn is_repo_id_part(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
}

/// `owner/name`, `datasets/owner/name`, `spaces/owner/name`, `kernels/owner/name` → the URL
/// prefix path.
fn hub_repo_path(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [o, n] if is_repo_id_part(o) && is_repo_id_part(n) => Some(format!("{o}/{n}")),
        [t, o, n] if ["datasets", "spaces", "kernels", "models"].contains(t) && is_repo_id_part(o) && is_repo_id_part(n) => {
            Some(if *t == "models" { format!("{o}/{n}") } else { format!("{t}/{o}/{n}") })
        }
        _ => None,
    }
}

/// Resolves a TARGET (URL, path or Hub repo id) to the URL to store as a remote. Paths become
/// absolute. A name that could be a path or a repo id is a path when it exists on disk or starts
/// with `./`, `../` or `/`.
pub fn resolve_target(target: &str, cwd: &Path) -> Result<String> {
    let t = target.trim();
    if t.is_empty() {
        return Err(Error::BadInput("empty remote target".into()));
    }
    if t.starts_with("http://") || t.starts_with("https://") || t.starts_with("file://") {
        return Ok(t.to_string());
    }
    // git's rule: a colon before the first slash is scp-like SSH (unless it names a path here)
    if let Some(e) = ssh_refusal(t).filter(|_| !cwd.join(t).exists()) {
        return Err(e);
    }
    if let Some((scheme, _)) = t.split_once("://") {
        return Err(Error::BadInput(format!("unsupported remote URL scheme `{scheme}://` (use https://, http://, file:// or a path)")));
    }
    let explicit_path = t.starts_with("./") || t.starts_with("../") || t.starts_with('/') || t == "." || t == "..";
    let abs = cwd.join(t);
    if !explicit_path && !abs.exists() {
        if let Some(p) = hub_repo_path(t) {
            return Ok(format!("{}/{p}", hub_endpoint()));
        }
    }
    Ok(normalize(&abs).to_string_lossy().into_owned())
}

/// An SSH remote (`ssh://[user@]host[:port]/path` or git's `user@host:path`): hfgit's libgit2 is
/// built without SSH, so it is refused with the https:// form that reaches the same repository
/// (the Hub serves git and LFS over HTTPS; `git-lfs-authenticate` is not offered there).
fn ssh_refusal(url: &str) -> Option<Error> {
    let (host, path) = if let Some(rest) = url.strip_prefix("ssh://").or_else(|| url.strip_prefix("git+ssh://")) {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?.split(':').next()?;
        (host.to_string(), path.to_string())
    } else {
        // scp-like: a colon before any slash, and something before it that is not a drive letter
        let (before, path) = url.split_once(':')?;
        if before.contains('/') || before.len() < 2 || path.starts_with("//") {
            return None;
        }
        (before.rsplit('@').next()?.to_string(), path.to_string())
    };
    let path = path.trim_start_matches('/');
    let hub = url::Url::parse(&hub_endpoint()).ok();
    let on_hub = hub.as_ref().and_then(|u| u.host_str()).is_some_and(|h| h == host || (host == "hf.co" && h == "huggingface.co"));
    let https = match on_hub {
        true => format!("{}/{}", hub_endpoint(), path.strip_suffix(".git").unwrap_or(path)),
        false => format!("https://{host}/{path}"),
    };
    Some(Error::with_hint(
        format!("`{}` is an SSH remote; hfgit talks to git hosts over HTTPS (its libgit2 is built without SSH)", escape_text(url)),
        format!("use `{https}` instead (with a token or a git credential helper for private repositories)"),
    ))
}

/// Lexically removes `.` and `..` components.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Classifies a stored remote URL.
pub fn location(url: &str) -> Result<Location> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Ok(Location::Local(PathBuf::from(rest)));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Location::Http(url.to_string()));
    }
    if let Some(e) = ssh_refusal(url) {
        return Err(e);
    }
    if url.contains("://") || (url.contains(':') && !url.starts_with('/')) {
        return Err(Error::BadInput(format!("unsupported remote URL `{}`", redact(url))));
    }
    Ok(Location::Local(PathBuf::from(url)))
}

/// A remote named in config, or a TARGET. Returns (remote name if it was one, URL for push).
pub fn remote_url(repo: &Repository, name_or_target: &str, cwd: &Path, push: bool) -> Result<(Option<String>, String)> {
    if let Ok(r) = repo.find_remote(name_or_target) {
        let url = if push { r.pushurl().or(r.url()) } else { r.url() };
        let url = url.ok_or_else(|| Error::failed(format!("remote `{name_or_target}` has no URL")))?;
        return Ok((Some(name_or_target.to_string()), url.to_string()));
    }
    if name_or_target == "origin" {
        return Err(Error::with_hint(
            "no remote named `origin`",
            "name a target (`hfgit push ../model.git --create`) or set one with `hfgit init --remote <TARGET>`",
        ));
    }
    Ok((None, resolve_target(name_or_target, cwd)?))
}

/// The URL with any `user:password@` removed, for display.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://***@{host}{path}");
        }
    }
    url.to_string()
}

/// Text that came from somewhere else (a server's message, a path from a tree), made safe for a
/// terminal: control characters are written as `\xNN` (newline as `\n`), so an escape sequence
/// from a stranger never reaches the terminal raw.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            // bidirectional overrides reorder what the terminal shows
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        std::fs::create_dir(cwd.join("alice")).unwrap();
        std::fs::create_dir(cwd.join("alice/existing")).unwrap();
        assert_eq!(resolve_target("https://h/x.git", cwd).unwrap(), "https://h/x.git");
        assert!(resolve_target("ssh://h/x", cwd).is_err());
        // exists on disk → path
        assert_eq!(resolve_target("alice/existing", cwd).unwrap(), cwd.join("alice/existing").to_string_lossy());
        // ./ → path even when missing
        assert_eq!(resolve_target("./bob/x", cwd).unwrap(), cwd.join("bob/x").to_string_lossy());
        assert_eq!(resolve_target("../up.git", &cwd.join("alice")).unwrap(), cwd.join("up.git").to_string_lossy());
        assert_eq!(location("/srv/x.git").unwrap(), Location::Local("/srv/x.git".into()));
        assert_eq!(location("file:///srv/x.git").unwrap(), Location::Local("/srv/x.git".into()));
    }

    #[test]
    fn hub_ids() {
        let dir = tempfile::tempdir().unwrap();
        // the only test touching HF_ENDPOINT
        std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9/");
        assert_eq!(resolve_target("bob/mlp", dir.path()).unwrap(), "http://127.0.0.1:9/bob/mlp");
        assert_eq!(resolve_target("datasets/bob/d", dir.path()).unwrap(), "http://127.0.0.1:9/datasets/bob/d");
        assert_eq!(resolve_target("spaces/bob/s", dir.path()).unwrap(), "http://127.0.0.1:9/spaces/bob/s");
        assert_eq!(resolve_target("kernels/bob/k", dir.path()).unwrap(), "http://127.0.0.1:9/kernels/bob/k");
        for ssh in ["git@hf.co:bob/m", "ssh://git@hf.co/bob/m.git", "git@127.0.0.1:bob/m"] {
            let e = resolve_target(ssh, dir.path()).unwrap_err();
            assert!(e.to_string().contains("SSH remote"), "{ssh}: {e}");
            assert!(e.hint().unwrap().contains("http"), "{ssh}");
        }
        let e = resolve_target("git@127.0.0.1:bob/m", dir.path()).unwrap_err();
        assert!(e.hint().unwrap().contains("`http://127.0.0.1:9/bob/m`"), "{:?}", e.hint());
        let e = resolve_target("git@git.example.com:team/m.git", dir.path()).unwrap_err();
        assert!(e.hint().unwrap().contains("`https://git.example.com/team/m.git`"), "{:?}", e.hint());
        std::env::remove_var("HF_ENDPOINT");
        assert_eq!(resolve_target("bob/mlp", dir.path()).unwrap(), "https://huggingface.co/bob/mlp");
        assert_eq!(redact("https://u:tok@h.co/a/b"), "https://***@h.co/a/b");
    }
}
