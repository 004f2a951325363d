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

/// `owner/name`, `datasets/owner/name`, `spaces/owner/name` → the URL prefix path.
fn hub_repo_path(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [o, n] if is_repo_id_part(o) && is_repo_id_part(n) => Some(format!("{o}/{n}")),
        [t, o, n] if ["datasets", "spaces", "models"].contains(t) && is_repo_id_part(o) && is_repo_id_part(n) => {
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
        std::env::remove_var("HF_ENDPOINT");
        assert_eq!(resolve_target("bob/mlp", dir.path()).unwrap(), "https://huggingface.co/bob/mlp");
        assert_eq!(redact("https://u:tok@h.co/a/b"), "https://***@h.co/a/b");
    }
}
