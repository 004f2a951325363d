//! Credentials for HTTP remotes: user:password embedded in a URL, the Hugging Face token (found
//! as huggingface_hub finds it) for Hub hosts, then `.netrc` and `git credential fill` (git-lfs's
//! order) for everything else.
//! Secrets live in `Secret`, whose Debug/Display print `***`; nothing here writes a secret to
//! git config, a URL on disk, a log or an error message.

use crate::error::{Error, Result};
use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};

/// A secret string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How requests to one host authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

impl Auth {
    /// The `Authorization` header value, if any.
    pub fn header(&self) -> Option<String> {
        use base64_lite::encode;
        match self {
            Auth::None => None,
            Auth::Basic { username, password } => Some(format!("Basic {}", encode(format!("{username}:{}", password.expose()).as_bytes()))),
            Auth::Bearer(t) => Some(format!("Bearer {}", t.expose())),
        }
    }
}

/// Splits `user:password@` off a URL: the clean URL and the credentials it carried.
pub fn split_url_credentials(url: &str) -> (String, Option<Auth>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), None) };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return (url.to_string(), None) };
    let clean = format!("{scheme}://{host}{path}");
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (percent_decode(u), percent_decode(p)),
        None => (percent_decode(userinfo), String::new()),
    };
    if pass.is_empty() {
        return (clean, None);
    }
    (clean, Some(Auth::Basic { username: user, password: Secret::new(pass) }))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The origin of a URL: scheme and `host[:port]`, the port left out when it is the scheme's
/// default (so `https://h` and `https://h:443` are one origin, `http://h:1` and `http://h:2`
/// two). None for what is not a URL with a host, or has control characters in it.
pub fn origin_of(url: &str) -> Option<(String, String)> {
    if url.chars().any(char::is_control) {
        return None; // the url crate would silently drop tabs and newlines
    }
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    Some((u.scheme().to_string(), authority))
}

/// The `.netrc` entry for `url`'s host (and user, when the URL names one), as Basic credentials.
/// Only for http(s) URLs.
pub fn netrc_for(url: &str) -> Option<Auth> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let user = Some(u.username()).filter(|n| !n.is_empty()).map(percent_decode);
    let (username, password) = crate::net::netrc::lookup(u.host_str()?, user.as_deref())?;
    Some(Auth::Basic { username, password })
}

/// A username/password pair from `git credential fill`.
#[derive(Clone, Debug)]
pub struct GitCredential {
    pub protocol: String,
    pub host: String,
    pub path: Option<String>,
    pub username: String,
    pub password: Secret,
}

/// The text `git credential` reads. A value with CR, LF or NUL would add lines of its own
/// (`host=` of another site, say) and is refused, naming the key, before any helper runs.
fn credential_input(protocol: &str, host: &str, path: Option<&str>, user: Option<&str>, pass: Option<&Secret>) -> Result<String> {
    let mut s = String::new();
    let fields =
        [("protocol", Some(protocol)), ("host", Some(host)), ("path", path), ("username", user), ("password", pass.map(Secret::expose))];
    for (key, value) in fields {
        let Some(v) = value else { continue };
        if v.contains(['\r', '\n', '\0']) {
            let shown = if key == "password" { "***".to_string() } else { crate::net::remote::escape_text(v) };
            return Err(Error::BadInput(format!(
                "refusing to ask git's credential helpers: the {key} `{shown}` contains a line break or NUL"
            )));
        }
        s.push_str(&format!("{key}={v}\n"));
    }
    Ok(s + "\n")
}

/// Asks git's credential helpers (`git credential fill`) for `url`. Never prompts on a terminal
/// when `interactive` is false.
pub fn fill(url: &str, interactive: bool) -> Result<Option<GitCredential>> {
    if let Some(c) = url.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(Error::BadInput(format!(
            "refusing to ask git's credential helpers about `{}`: the URL contains {}",
            crate::net::remote::escape_text(&crate::net::remote::redact(url)),
            if c == '\0' { "a NUL" } else { "a line break" }
        )));
    }
    let (protocol, host) = origin_of(url).ok_or_else(|| Error::failed("cannot ask for credentials: not a URL"))?;
    let path = url::Url::parse(url).ok().map(|u| u.path().trim_start_matches('/').to_string()).filter(|p| !p.is_empty());
    let input = credential_input(&protocol, &host, path.as_deref(), None, None)?;
    let mut cmd = Command::new("git");
    cmd.args(["credential", "fill"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    if !interactive {
        cmd.env("GIT_TERMINAL_PROMPT", "0").env_remove("GIT_ASKPASS").env_remove("SSH_ASKPASS");
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    child.stdin.take().expect("piped").write_all(input.as_bytes()).ok();
    let out = child.wait_with_output().map_err(|e| Error::failed(format!("git credential fill: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut username = None;
    let mut password = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("username=") {
            username = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("password=") {
            password = Some(Secret::new(v));
        }
    }
    Ok(match (username, password) {
        (Some(u), Some(p)) => Some(GitCredential { protocol, host, path, username: u, password: p }),
        _ => None,
    })
}

/// Tells the helpers a credential worked (`approve`) or did not (`reject`).
pub fn report(c: &GitCredential, ok: bool) {
    let Ok(input) = credential_input(&c.protocol, &c.host, c.path.as_deref(), Some(&c.username), Some(&c.password)) else { return };
    let verb = if ok { "approve" } else { "reject" };
    if let Ok(mut child) =
        Command::new("git").args(["credential", verb]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
    {
        let _ = child.stdin.take().expect("piped").write_all(input.as_bytes());
        let _ = child.wait();
    }
}

/// The Hugging Face token, as huggingface_hub finds it: `HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`,
/// then the token file (`$HF_TOKEN_PATH`, else `$HF_HOME/token`, else
/// `$XDG_CACHE_HOME/huggingface/token`, else `~/.cache/huggingface/token`).
pub fn hf_token() -> Option<Secret> {
    for var in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim();
            if !v.is_empty() {
                return Some(Secret::new(v));
            }
        }
    }
    let text = std::fs::read_to_string(hf_token_path()?).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| Secret::new(t))
}

pub fn hf_token_path() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("HF_TOKEN_PATH") {
        return Some(p.into());
    }
    if let Ok(h) = std::env::var("HF_HOME") {
        return Some(std::path::Path::new(&h).join("token"));
    }
    if let Ok(x) = std::env::var("XDG_CACHE_HOME") {
        return Some(std::path::Path::new(&x).join("huggingface").join("token"));
    }
    let home = std::env::var("HOME").ok()?;
    Some(std::path::Path::new(&home).join(".cache").join("huggingface").join("token"))
}

/// True when `url` is on the Hub endpoint's host (`$HF_ENDPOINT`).
pub fn is_hub_url(url: &str) -> bool {
    match (origin_of(url), origin_of(&crate::net::remote::hub_endpoint())) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Minimal standard base64 (the Basic header, the Hub's preupload samples), to avoid a
/// dependency for eight lines.
pub mod base64_lite {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(b: &[u8]) -> String {
        let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
        for c in b.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            s.push(T[(n >> 18) as usize & 63] as char);
            s.push(T[(n >> 12) as usize & 63] as char);
            s.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
            s.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_split_off_and_never_printed() {
        let (clean, auth) = split_url_credentials("https://alice:s%40cret@host.example:8443/a/b.git");
        assert_eq!(clean, "https://host.example:8443/a/b.git");
        let auth = auth.unwrap();
        assert_eq!(auth, Auth::Basic { username: "alice".into(), password: Secret::new("s@cret") });
        assert!(!format!("{auth:?}").contains("s@cret"));
        assert_eq!(auth.header().unwrap(), "Basic YWxpY2U6c0BjcmV0");
        assert_eq!(split_url_credentials("http://h/x").1, None);
        assert_eq!(origin_of("HTTP://u:p@Host:1/x"), Some(("http".into(), "host:1".into())));
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64_lite::encode(b""), "");
        assert_eq!(base64_lite::encode(b"f"), "Zg==");
        assert_eq!(base64_lite::encode(b"fo"), "Zm8=");
        assert_eq!(base64_lite::encode(b"foobar"), "Zm9vYmFy");
    }
}
