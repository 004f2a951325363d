//! The Hugging Face Hub's JSON API, as far as hfgit uses it today: who a token belongs to
//! (`GET /api/whoami-v2`), and the token file huggingface_hub reads and writes (plain text, one
//! line, mode 0600 in a 0700 directory), so `hfgit login` and `hf auth login` share it.

use crate::credentials::{self, Secret};
use crate::error::{Context, Error, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Whoami {
    pub name: String,
    pub fullname: Option<String>,
    pub orgs: Vec<String>,
    /// The token's role (`read`, `write`, …) when the Hub says.
    pub role: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
        .user_agent(concat!("hfgit/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `GET {endpoint}/api/whoami-v2` with the token as Bearer.
pub fn whoami(endpoint: &str, token: &Secret) -> Result<Whoami> {
    let url = format!("{}/api/whoami-v2", endpoint.trim_end_matches('/'));
    let resp = match agent().get(&url).set("Authorization", &format!("Bearer {}", token.expose())).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(401, r)) => {
            let msg = r.header("X-Error-Message").unwrap_or("").to_string();
            return Err(Error::with_hint(
                format!("the Hub at {endpoint} rejected the token{}", if msg.is_empty() { String::new() } else { format!(": {msg}") }),
                "create a token at https://huggingface.co/settings/tokens and run `hfgit login` again",
            ));
        }
        Err(ureq::Error::Status(429, _)) => {
            return Err(Error::with_hint(format!("the Hub at {endpoint} is rate-limiting whoami"), "wait a minute and try again"))
        }
        Err(ureq::Error::Status(code, r)) => {
            return Err(Error::failed(format!("whoami at {endpoint} failed: HTTP {code} {}", r.status_text())))
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(Error::with_hint(
                format!("cannot reach the Hub at {endpoint}: {}", t.kind()),
                "check your network, or HF_ENDPOINT if you use a mirror",
            ))
        }
    };
    let v: serde_json::Value = resp.into_json().context(format!("reading the whoami answer from {endpoint}"))?;
    let name = v["name"].as_str().ok_or_else(|| Error::failed(format!("the whoami answer from {endpoint} has no name")))?;
    Ok(Whoami {
        name: name.to_string(),
        fullname: v["fullname"].as_str().map(str::to_string),
        orgs: v["orgs"].as_array().map(|a| a.iter().filter_map(|o| o["name"].as_str().map(str::to_string)).collect()).unwrap_or_default(),
        role: v["auth"]["accessToken"]["role"].as_str().map(str::to_string),
    })
}

/// Where the token file is (huggingface_hub's rules).
pub fn token_path() -> Result<PathBuf> {
    credentials::hf_token_path().ok_or_else(|| Error::failed("cannot find a home directory for the token file; set HF_HOME or HF_TOKEN_PATH"))
}

/// Writes the token file atomically, readable only by its owner.
pub fn save_token(token: &Secret) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = token_path()?;
    let dir = path.parent().expect("token paths have a parent");
    let created = !dir.exists();
    std::fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
    if created {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut tmp = tempfile::Builder::new().prefix(".token-").tempfile_in(dir).context(format!("writing in {}", dir.display()))?;
    std::io::Write::write_all(tmp.as_file_mut(), token.expose().as_bytes()).context("writing the token")?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).context("protecting the token file")?;
    tmp.persist(&path).map_err(|e| e.error).context(format!("writing {}", path.display()))?;
    Ok(path)
}

/// Removes the token file; false when there was none.
pub fn delete_token() -> Result<bool> {
    let path = token_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).context(format!("removing {}", path.display())),
    }
}

/// A token as users paste it: surrounding whitespace dropped; refused when empty or multi-line.
pub fn clean_token(raw: &str) -> Result<Secret> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(Error::BadInput("empty token".into()));
    }
    if t.contains(char::is_whitespace) {
        return Err(Error::BadInput("a token is one word; what was given has spaces or several lines".into()));
    }
    Ok(Secret::new(t))
}
