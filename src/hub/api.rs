//! The Hugging Face Hub's JSON API, as far as hfgit uses it today: who a token belongs to
//! (`GET /api/whoami-v2`), repository creation, pull requests (the discussions API), the
//! server's own upload decision (`preupload`)
//! and model-card check (`validate-yaml`), and the token file huggingface_hub reads and writes (plain text, one
//! line, mode 0600 in a 0700 directory), so `hfgit login` and `hf auth login` share it.

use crate::error::{Context, Error, Result};
use crate::net::credentials::{self, Secret};
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

/// A redirect from the Hub API is an answer like any other non-success status.
#[allow(clippy::result_large_err)] // ureq's own result, passed through unchanged
fn no_redirect(r: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response, ureq::Error> {
    match r {
        Ok(resp) if (300..400).contains(&resp.status()) => Err(ureq::Error::Status(resp.status(), resp)),
        other => other,
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(crate::net::http::Limits::global().connect)
        .timeout_read(crate::net::http::Limits::global().activity.max(Duration::from_secs(60)))
        // no redirect is followed: the token stays with the endpoint, and a redirect to another
        // scheme cannot reach the HTTP library (which panicked on `file://`)
        .redirects(0)
        .user_agent(concat!("hfgit/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `GET {endpoint}/api/whoami-v2` with the token as Bearer.
pub fn whoami(endpoint: &str, token: &Secret) -> Result<Whoami> {
    let url = format!("{}/api/whoami-v2", endpoint.trim_end_matches('/'));
    let resp = match no_redirect(agent().get(&url).set("Authorization", &format!("Bearer {}", token.expose())).call()) {
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
    credentials::hf_token_path()
        .ok_or_else(|| Error::failed("cannot find a home directory for the token file; set HF_HOME or HF_TOKEN_PATH"))
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

/// A Hub repository named by a URL on the Hub's host: `{endpoint}/[datasets/|spaces/|kernels/]owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRepo {
    /// `model`, `dataset`, `space` or `kernel`.
    pub kind: &'static str,
    pub owner: String,
    pub name: String,
}

impl HubRepo {
    /// The repo a Hub URL points at, when `url` is on the Hub's host.
    pub fn from_url(url: &str) -> Option<HubRepo> {
        if !credentials::is_hub_url(url) {
            return None;
        }
        let (_, rest) = url.split_once("://")?;
        let path = rest.split_once('/')?.1.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let parts: Vec<&str> = path.split('/').collect();
        let (kind, owner, name) = match parts.as_slice() {
            [o, n] => ("model", o, n),
            ["datasets", o, n] => ("dataset", o, n),
            ["spaces", o, n] => ("space", o, n),
            ["kernels", o, n] => ("kernel", o, n),
            _ => return None,
        };
        Some(HubRepo { kind, owner: owner.to_string(), name: name.to_string() })
    }

    /// The repo id's prefix in URLs: `datasets/`, `spaces/`, `kernels/`, or nothing for a model.
    pub fn url_prefix(&self) -> &'static str {
        match self.kind {
            "dataset" => "datasets/",
            "space" => "spaces/",
            "kernel" => "kernels/",
            _ => "",
        }
    }

    /// The API's collection: `models`, `datasets`, `spaces` or `kernels`.
    pub fn api_kind(&self) -> &'static str {
        match self.kind {
            "dataset" => "datasets",
            "space" => "spaces",
            "kernel" => "kernels",
            _ => "models",
        }
    }
}

/// Turns a failed git request to a Hub repository into what it means: a missing repository and
/// a private one look the same to the Hub without a token (401/404).
pub fn explain(repo: &HubRepo, err: Error) -> Error {
    let text = err.to_string();
    let id = format!("{}{}/{}", repo.url_prefix(), repo.owner, repo.name);
    if text.contains("404") || text.contains("401") || text.contains("needs credentials") || text.contains("authentication failed") {
        let token = credentials::hf_token();
        if let Some(t) = &token {
            // tell a bad token apart from a missing or hidden repository
            if let Err(e) = whoami(&crate::net::remote::hub_endpoint(), t) {
                if e.to_string().contains("rejected the token") {
                    return Error::with_hint(
                        format!("the Hub rejected your token while reaching {id}"),
                        "the token is invalid or expired: create one at https://huggingface.co/settings/tokens and run `hfgit login` (or fix HF_TOKEN)",
                    );
                }
            }
        }
        let has_token = token.is_some();
        return Error::with_hint(
            if has_token {
                format!("the Hub repository {id} does not exist, or your token cannot see it")
            } else {
                format!("the Hub repository {id} does not exist, or it is private and no token was given")
            },
            if has_token {
                format!("check the name; create it with `hfgit push {id} --create`; or use a token with access (`hfgit login`)")
            } else {
                format!("run `hfgit login` (or set HF_TOKEN) for a private repository; create a new one with `hfgit push {id} --create`")
            },
        );
    }
    err
}

/// `GET {endpoint}/api/{models|datasets|spaces}/{owner}/{name}`: does the repository exist for
/// this token? (A gated repository exists; 401 and 404 both mean "not for you".)
pub fn repo_exists(endpoint: &str, token: Option<&Secret>, repo: &HubRepo) -> Result<bool> {
    let kind = repo.api_kind();
    let url = format!("{}/api/{kind}/{}/{}", endpoint.trim_end_matches('/'), repo.owner, repo.name);
    let mut req = agent().get(&url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {}", t.expose()));
    }
    match no_redirect(req.call()) {
        Ok(_) => Ok(true),
        Err(ureq::Error::Status(401 | 404, r)) => Ok(r.header("X-Error-Code") == Some("GatedRepo")),
        Err(ureq::Error::Status(code, _)) => {
            Err(Error::failed(format!("asking the Hub about {}/{} failed: HTTP {code}", repo.owner, repo.name)))
        }
        Err(ureq::Error::Transport(t)) => Err(Error::failed(format!("cannot reach the Hub at {endpoint}: {}", t.kind()))),
    }
}

/// What `create_repo` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New,
    AlreadyExisted,
}

/// `POST {endpoint}/api/repos/create`; 409 means it exists; "another conflicting operation is
/// in progress" is retried.
pub fn create_repo(endpoint: &str, token: &Secret, repo: &HubRepo, private: bool) -> Result<Created> {
    let url = format!("{}/api/repos/create", endpoint.trim_end_matches('/'));
    let body = serde_json::json!({
        "name": repo.name,
        "organization": repo.owner,
        "type": repo.kind,
        "private": private,
        "visibility": if private { "private" } else { "public" },
    });
    for attempt in 0..6 {
        let r = no_redirect(agent().post(&url).set("Authorization", &format!("Bearer {}", token.expose())).send_json(body.clone()));
        match r {
            Ok(_) => return Ok(Created::New),
            Err(ureq::Error::Status(409, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                if text.contains("conflicting operation") && attempt < 5 {
                    std::thread::sleep(Duration::from_millis(500 * (attempt + 1)));
                    continue;
                }
                return Ok(Created::AlreadyExisted);
            }
            // like huggingface_hub with exist_ok: a refusal does not prove the repo is absent
            Err(ureq::Error::Status(401..=403, _)) if repo_exists(endpoint, Some(token), repo)? => return Ok(Created::AlreadyExisted),
            Err(ureq::Error::Status(401, _)) => {
                return Err(Error::with_hint(
                    format!("the Hub refused to create {}/{}: the token is invalid", repo.owner, repo.name),
                    "run `hfgit login` with a token that has write access",
                ))
            }
            Err(ureq::Error::Status(403, _)) => {
                return Err(Error::with_hint(
                    format!("the Hub refused to create {}/{}: no write access to `{}`", repo.owner, repo.name, repo.owner),
                    "use a token with write access to that user or organization",
                ))
            }
            Err(ureq::Error::Status(code, resp)) => {
                return Err(Error::failed(format!(
                    "creating {}/{} on the Hub failed: HTTP {code} {}",
                    repo.owner,
                    repo.name,
                    crate::net::remote::escape_text(resp.into_string().unwrap_or_default().trim())
                )))
            }
            Err(ureq::Error::Transport(t)) => return Err(Error::failed(format!("cannot reach the Hub at {endpoint}: {}", t.kind()))),
        }
    }
    Err(Error::failed("the Hub kept reporting a conflicting operation"))
}

/// One file the Hub is asked about before a push: its path, first bytes and size.
pub struct Sample<'a> {
    pub path: &'a str,
    pub head: &'a [u8],
    pub size: u64,
}

fn bearer(req: ureq::Request, token: Option<&Secret>) -> ureq::Request {
    match token {
        Some(t) => req.set("Authorization", &format!("Bearer {}", t.expose())),
        None => req,
    }
}

/// `POST {endpoint}/api/{type}s/{id}/preupload/{rev}` (256 files a request, as huggingface_hub
/// sends them): the paths the Hub itself would store through LFS. `None` when the server does
/// not offer the endpoint (then the local rules are all there is).
pub fn preupload(endpoint: &str, token: Option<&Secret>, repo: &HubRepo, rev: &str, files: &[Sample<'_>]) -> Result<Option<Vec<String>>> {
    let url = format!("{}/api/{}/{}/{}/preupload/{}", endpoint.trim_end_matches('/'), repo.api_kind(), repo.owner, repo.name, rev);
    let mut lfs = Vec::new();
    for chunk in files.chunks(256) {
        let body = serde_json::json!({"files": chunk.iter().map(|f| serde_json::json!({
            "path": f.path,
            "sample": credentials::base64_lite::encode(&f.head[..f.head.len().min(512)]),
            "size": f.size,
        })).collect::<Vec<_>>()});
        let resp = match no_redirect(bearer(agent().post(&url), token).send_json(body)) {
            Ok(r) => r,
            Err(ureq::Error::Status(404 | 405 | 501, _)) => return Ok(None),
            Err(ureq::Error::Status(code, r)) => {
                let text = crate::net::remote::escape_text(r.into_string().unwrap_or_default().trim());
                return Err(Error::failed(format!(
                    "the Hub's preupload check for {}/{} failed: HTTP {code} {text}",
                    repo.owner, repo.name
                )));
            }
            Err(ureq::Error::Transport(t)) => return Err(Error::failed(format!("cannot reach the Hub at {endpoint}: {}", t.kind()))),
        };
        let v: serde_json::Value = resp.into_json().context("reading the Hub's preupload answer")?;
        for f in v["files"].as_array().into_iter().flatten() {
            if f["uploadMode"] == "lfs" {
                lfs.extend(f["path"].as_str().map(str::to_string));
            }
        }
    }
    Ok(Some(lfs))
}

/// `POST {endpoint}/api/validate-yaml` with a model card's metadata: the Hub's errors (it
/// answers 400 with them) and warnings. `None` when the server does not offer the endpoint.
pub fn validate_yaml(endpoint: &str, token: Option<&Secret>, repo: &HubRepo, yaml: &str) -> Result<Option<(Vec<String>, Vec<String>)>> {
    let url = format!("{}/api/validate-yaml", endpoint.trim_end_matches('/'));
    let body = serde_json::json!({"content": yaml, "repoType": repo.kind});
    let resp = match no_redirect(bearer(agent().post(&url), token).send_json(body)) {
        Ok(r) | Err(ureq::Error::Status(400, r)) => r,
        Err(ureq::Error::Status(404 | 405 | 501, _)) => return Ok(None),
        Err(ureq::Error::Status(code, _)) => return Err(Error::failed(format!("the Hub's model card check failed: HTTP {code}"))),
        Err(ureq::Error::Transport(t)) => return Err(Error::failed(format!("cannot reach the Hub at {endpoint}: {}", t.kind()))),
    };
    let v: serde_json::Value = resp.into_json().context("reading the Hub's model card check")?;
    let messages = |k: &str| -> Vec<String> {
        v[k].as_array().into_iter().flatten().filter_map(|m| m["message"].as_str().map(crate::net::remote::escape_text)).collect()
    };
    Ok(Some((messages("errors"), messages("warnings"))))
}

/// A pull request on the Hub: its number and web page.
#[derive(Debug, Clone, Serialize)]
pub struct PullRequest {
    pub num: u64,
    pub url: String,
}

/// The web page of discussion `num`: `{endpoint}/{type prefix}{owner}/{name}/discussions/{num}`.
pub fn discussion_url(endpoint: &str, repo: &HubRepo, num: u64) -> String {
    format!("{}/{}{}/{}/discussions/{num}", endpoint.trim_end_matches('/'), repo.url_prefix(), repo.owner, repo.name)
}

fn discussions_api(endpoint: &str, repo: &HubRepo) -> String {
    format!("{}/api/{}/{}/{}/discussions", endpoint.trim_end_matches('/'), repo.api_kind(), repo.owner, repo.name)
}

/// A refusal of the discussions API, said for what it means.
fn discussion_error(what: &str, repo: &HubRepo, err: ureq::Error, endpoint: &str) -> Error {
    let id = format!("{}{}/{}", repo.url_prefix(), repo.owner, repo.name);
    match err {
        ureq::Error::Status(401, _) => Error::with_hint(
            format!("the Hub refused to {what} on {id}: no valid token"),
            "run `hfgit login` (or set HF_TOKEN) with a token that can read the repository",
        ),
        ureq::Error::Status(403, _) => Error::with_hint(
            format!("the Hub refused to {what} on {id}: your token may not"),
            "use a token that can read the repository (`hfgit login`)",
        ),
        ureq::Error::Status(code, r) => Error::failed(format!(
            "the Hub could not {what} on {id}: HTTP {code} {}",
            crate::net::remote::escape_text(r.into_string().unwrap_or_default().trim())
        )),
        ureq::Error::Transport(t) => Error::failed(format!("cannot reach the Hub at {endpoint}: {}", t.kind())),
    }
}

/// `POST {endpoint}/api/{type}s/{id}/discussions` with `pullRequest: true`: opens a pull request
/// (the Hub makes `refs/pr/N` for it); anyone who can read the repository may.
pub fn create_pull_request(endpoint: &str, token: &Secret, repo: &HubRepo, title: &str, description: &str) -> Result<PullRequest> {
    let body = serde_json::json!({"title": title, "description": description, "pullRequest": true});
    let r = no_redirect(bearer(agent().post(&discussions_api(endpoint, repo)), Some(token)).send_json(body))
        .map_err(|e| discussion_error("open a pull request", repo, e, endpoint))?;
    let v: serde_json::Value = r.into_json().context("reading the Hub's answer to the new pull request")?;
    let num =
        v["num"].as_u64().filter(|n| *n > 0).ok_or_else(|| Error::failed("the Hub's answer to the new pull request has no number"))?;
    Ok(PullRequest { num, url: discussion_url(endpoint, repo, num) })
}

/// `GET {endpoint}/api/{type}s/{id}/discussions/{num}`: refuses unless it is a pull request
/// still open (or draft), so commits pushed to `refs/pr/{num}` land somewhere that takes them.
pub fn open_pull_request(endpoint: &str, token: Option<&Secret>, repo: &HubRepo, num: u64) -> Result<PullRequest> {
    let url = format!("{}/{num}", discussions_api(endpoint, repo));
    let id = format!("{}{}/{}", repo.url_prefix(), repo.owner, repo.name);
    let r = match no_redirect(bearer(agent().get(&url), token).call()) {
        Ok(r) => r,
        Err(ureq::Error::Status(404, r)) if r.header("X-Error-Code") == Some("RepoNotFound") => {
            return Err(Error::with_hint(
                format!("the Hub repository {id} does not exist, or your token cannot see it"),
                "check the name, or use a token with access (`hfgit login`)",
            ))
        }
        Err(ureq::Error::Status(404, _)) => {
            return Err(Error::with_hint(
                format!("{id} has no pull request #{num}"),
                format!(
                    "open a new one with `hfgit push --pr`; the pull requests are listed at {}/{id}/discussions",
                    endpoint.trim_end_matches('/')
                ),
            ))
        }
        Err(e) => return Err(discussion_error("read the pull request", repo, e, endpoint)),
    };
    let v: serde_json::Value = r.into_json().context("reading the Hub's pull request")?;
    if v["isPullRequest"].as_bool() != Some(true) {
        return Err(Error::with_hint(
            format!("#{num} on {id} is a discussion, not a pull request"),
            "open a pull request with `hfgit push --pr`",
        ));
    }
    let status = v["status"].as_str().unwrap_or("");
    if !matches!(status, "open" | "draft") {
        return Err(Error::with_hint(
            format!("pull request #{num} on {id} is {}", crate::net::remote::escape_text(status)),
            "open a new one with `hfgit push --pr`",
        ));
    }
    Ok(PullRequest { num, url: discussion_url(endpoint, repo, num) })
}
