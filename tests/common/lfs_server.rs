//! A fault-injecting Git LFS server for tests, in the spirit of git-lfs's `lfstest-gitserver`:
//! the batch API, storage (PUT/GET with Range) and verify, on 127.0.0.1, with misbehaviour
//! chosen by words in the repository name (`/<repo>/info/lfs`). Storage PUTs are hashed and
//! refused on mismatch, like the real servers that check. A second listener plays "another host"
//! for redirects. Every request is logged (method, path, Authorization, Range) for assertions.
//! Words for hostile servers: `redirect-port` (storage on the other listener, named by
//! 127.0.0.1, which 307s back), `hop-port` (storage here with no action header, which 307s to
//! the other listener's storage), `batch-hop` (an authorised batch POST 307s to the other
//! listener), `file-hop` (storage 307s to `file:///etc/passwd`), `drip` (downloads send a byte a
//! second), `ansi-message` (the batch answers 422 with terminal escapes in its message).
//! `cookie-gated`: every request (git, batch, storage) needs the cookie [`COOKIE`], else 403.
//! `gzip-download`: whole-object GETs are served gzip-encoded, and refused (406) without
//! `Accept-Encoding: gzip`; `br-download`: GETs answer `Content-Encoding: br`.
//! `chunked-upload`: upload actions carry `Transfer-Encoding: chunked`, and storage checks the
//! framing of every PUT (chunked there, Content-Length elsewhere, never both).
//! Range words: `range-short-once` (the first ranged GET sends one byte less than its
//! Content-Range says), `slow-get` (bodies go out at about 6 MB/s per connection); counters
//! `maxinflight:<repo>` say how many GETs of a repository were served at once.
//! The Hub API also answers `preupload` (from the repository's `.gitattributes`, size and
//! binary-ness) and `validate-yaml` (known licenses only). `hub-ratelimit`: the first batch starts a 2-second window answered with 429 and the Hub's
//! `RateLimit: "api";r=0;t=N` (no Retry-After); a batch before the reset counts as `hammered:`.
//! `hub-window`: a fixed window of [`WINDOW`] with a quota of [`QUOTA`] batch calls; a batch over
//! the quota answers 429 with `RateLimit: "api";r=0;t=N` and `RateLimit-Policy`; counters
//! `refused:`, `hammered:` (a batch refused again inside a window already closed to it) and
//! `remainder-ms:` (the most time a refusal had left until the reset).
//! `part-expiry` (Hub multipart): the part URLs of the first batch of an object stop working
//! (403 "Request has expired") after [`PARTS_BEFORE_EXPIRY`] parts are stored; counters
//! `partstored:<repo>:<oid>:<n>` and `partput-b<batch>:<repo>:<oid>`. `part-forget`: each batch
//! starts a new multipart upload (the parts stored before are dropped).
//! Pull requests (the Hub's discussions API): `POST /api/{type}s/{id}/discussions` opens one at
//! `refs/pr/N` (pointing at `main`, as on the Hub), `GET .../discussions/N` describes it. A
//! [`READ_TOKEN`] (user `bob`) may read every repository and push `refs/pr/*` only: its other
//! pushes are denied by the pre-receive hook, and an upload batch naming a `ref` is refused (403).
//! `storage-403-once`: the first storage request per object answers 403 "Request has expired".
//! `mirror-hrefs`: actions name `https://huggingface.co` instead of this server (a mirror).
//! Expiry words: `expired` (every action expired at a real past time), `expire-once` (the first
//! batch's actions already expired, relative), `go-expiry` (`expires_at` is Go's zero time, as
//! Go servers write "no expiry"), `zero-in-expiry` (`expires_in: 0`, "no expiry" too).
#![allow(dead_code)]

use super::{data, Env, Run};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Logged {
    pub listener: &'static str,
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub range: Option<String>,
    pub cookie: Option<String>,
}

#[derive(Default)]
struct State {
    objects: Mutex<HashMap<(String, String), Vec<u8>>>,
    parts: Mutex<HashMap<(String, String, u64), Vec<u8>>>,
    counters: Mutex<HashMap<String, u32>>,
    log: Mutex<Vec<Logged>>,
    base: Mutex<String>,
    other: Mutex<String>,
    other_ip: Mutex<String>,
    git_root: Mutex<std::path::PathBuf>,
    /// `hub-ratelimit`: when each repository's rate-limit window resets.
    resets: Mutex<HashMap<String, std::time::Instant>>,
    /// Xet storage behind this Hub ([`LfsServer::with_xet`]): its front's URL and state.
    xet: Mutex<Option<(String, Arc<super::xet_cas::Shared>)>>,
    /// `hub-window`: each repository's current window (its start and the calls in it).
    windows: Mutex<HashMap<String, (std::time::Instant, u32)>>,
    /// Discussions per repository directory (`alice/x.git`), in order (`num` = index + 1).
    discussions: Mutex<HashMap<String, Vec<serde_json::Value>>>,
}

pub struct LfsServer {
    pub url: String,
    pub other_url: String,
    /// The second listener by the same name as the first (`http://127.0.0.1:<its port>`):
    /// another origin on the same host, told apart only by the port.
    pub other_ip_url: String,
    state: Arc<State>,
    /// Bare repositories served by `git http-backend` (`/<org>/<name>.git/...`).
    pub git_root: tempfile::TempDir,
}

pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret-pass";
/// The session cookie `cookie-gated` repositories require (`name=value`).
pub const COOKIE: &str = "sso_session=letmein";
/// The one Hub token this server accepts (as Bearer, or as a Basic password).
pub const HF_TOKEN: &str = "hf_TestToken0123456789";
/// A token of another user (`bob`) with read access only: it may open pull requests and push to
/// `refs/pr/*`, nothing else.
pub const READ_TOKEN: &str = "hf_ReadOnlyBob0123456789";
/// `hub-window`: the fixed window and the batch calls allowed in it.
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(3);
pub const QUOTA: u32 = 2;
/// `part-expiry`: parts stored with the first batch's URLs before they expire.
pub const PARTS_BEFORE_EXPIRY: u32 = 2;
/// Hub-style repositories (name contains `hub`) answer `multipart` above this size…
pub const MULTIPART_THRESHOLD: i64 = 300_000;
/// …in parts of this size.
pub const CHUNK_SIZE: u64 = 262_144;

fn hex(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

impl LfsServer {
    pub fn start() -> LfsServer {
        let state = Arc::new(State::default());
        let main = TcpListener::bind("127.0.0.1:0").unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", main.local_addr().unwrap().port());
        // "another host": same machine, another name for it
        let other_url = format!("http://localhost:{}", other.local_addr().unwrap().port());
        let other_ip_url = format!("http://127.0.0.1:{}", other.local_addr().unwrap().port());
        let git_root = tempfile::tempdir().unwrap();
        *state.git_root.lock().unwrap() = git_root.path().to_path_buf();
        *state.base.lock().unwrap() = url.clone();
        *state.other.lock().unwrap() = other_url.clone();
        *state.other_ip.lock().unwrap() = other_ip_url.clone();
        for (l, name) in [(main, "main"), (other, "other")] {
            let st = state.clone();
            std::thread::spawn(move || {
                for conn in l.incoming().flatten() {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let _ = handle(conn, &st, name);
                    });
                }
            });
        }
        LfsServer { url, other_url, other_ip_url, state, git_root }
    }

    /// The LFS endpoint of `repo` on this server.
    pub fn endpoint(&self, repo: &str) -> String {
        format!("{}/{repo}/info/lfs", self.url)
    }

    pub fn put(&self, repo: &str, content: &[u8]) {
        self.state.objects.lock().unwrap().insert((repo.into(), hex(content)), content.to_vec());
    }

    /// Drops an object, as a server that lost it (or never got it).
    pub fn forget(&self, repo: &str, oid: &str) {
        self.state.objects.lock().unwrap().remove(&(repo.to_string(), oid.to_string()));
    }

    pub fn get(&self, repo: &str, oid: &str) -> Option<Vec<u8>> {
        self.state.objects.lock().unwrap().get(&(repo.to_string(), oid.to_string())).cloned()
    }

    pub fn count(&self, key: &str) -> u32 {
        *self.state.counters.lock().unwrap().get(key).unwrap_or(&0)
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// Sets a discussion's status (`open`, `closed`, `merged`), as its author or the owner would.
    pub fn set_discussion_status(&self, repo_dir: &str, num: usize, status: &str) {
        self.state.discussions.lock().unwrap().get_mut(repo_dir).unwrap()[num - 1]["status"] = serde_json::json!(status);
    }
    /// Puts Xet storage behind this Hub: repositories whose name contains `xet` answer an upload
    /// batch that offers `xet` with the xet transfer, the token endpoints mint tokens for the
    /// CAS, files that the CAS registers become LFS objects (the bridge), and `paths-info` gives
    /// their `xetHash`. `xet-token-<N>uses` in a name: tokens expire after N CAS requests.
    pub fn with_xet(&self, cas: &super::xet_cas::XetCas) {
        let st = self.state.clone();
        *cas.shared.on_file.lock().unwrap() = Some(Box::new(move |f: &super::xet_cas::Registered| {
            store_object(&st, &f.repo, &f.sha256, f.content.clone());
        }));
        *self.state.xet.lock().unwrap() = Some((cas.url.clone(), cas.shared.clone()));
    }
}

/// `xet-token-<N>uses` in a repository name: its CAS tokens expire after N requests.
fn token_uses(name: &str) -> Option<u32> {
    name.split("xet-token-").nth(1)?.split("uses").next()?.parse().ok()
}

/// `alice~name.git` (the storage key of a Hub repository) from `alice/name` and its type prefix.
fn hub_repo_key(prefix: &str, id: &str) -> String {
    format!("{prefix}{id}.git").replace('/', "~")
}

/// `GET /api/{type}s/{id}/xet-{read|write}-token/{rev}`: Bearer only, as the Hub.
fn xet_token(s: &mut TcpStream, st: &State, req: &Request, prefix: &str, id: &str, write: bool) -> bool {
    if req.headers.get("authorization") != Some(&format!("Bearer {HF_TOKEN}")) {
        json(s, 401, serde_json::json!({"error": "Invalid credentials in Authorization header"}));
    } else if !st.git_root.lock().unwrap().join(format!("{prefix}{id}.git")).exists() {
        json(s, 404, serde_json::json!({"error": "Repository not found"}));
    } else if let Some((url, xet)) = st.xet.lock().unwrap().clone() {
        bump(st, format!("xet-token:{id}"));
        let (token, exp) = xet.mint(&hub_repo_key(prefix, id), write, std::time::Duration::from_secs(3600), token_uses(id));
        json(s, 200, serde_json::json!({"accessToken": token, "exp": exp, "casUrl": url}));
    } else {
        json(s, 404, serde_json::json!({"error": "no xet here"}));
    }
    true
}

/// `POST /api/{type}s/{id}/paths-info/{rev}` (form `paths=…&expand=…`): the files at `rev`, with
/// `lfs` for pointers and `xetHash` for those the CAS holds.
fn paths_info(s: &mut TcpStream, st: &State, prefix: &str, id: &str, rev: &str, req: &Request) -> bool {
    let dir = st.git_root.lock().unwrap().join(format!("{prefix}{id}.git"));
    if !dir.exists() {
        json(s, 404, serde_json::json!({"error": "Repository not found"}));
        return true;
    }
    let paths: Vec<String> = url::form_urlencoded::parse(&req.body).filter(|(k, _)| k == "paths").map(|(_, v)| v.into_owned()).collect();
    let xet = st.xet.lock().unwrap().clone();
    let mut out = Vec::new();
    for path in paths {
        let blob = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&dir)
            .args(["cat-file", "blob", &format!("{rev}:{path}")])
            .output()
            .unwrap();
        if !blob.status.success() {
            continue; // as the Hub: paths that are not there are left out
        }
        let text = String::from_utf8_lossy(&blob.stdout).to_string();
        let mut entry = serde_json::json!({"type": "file", "path": path, "size": blob.stdout.len()});
        if let Some(oid) = text.lines().find_map(|l| l.strip_prefix("oid sha256:")) {
            let size: u64 = text.lines().find_map(|l| l.strip_prefix("size ")).and_then(|n| n.parse().ok()).unwrap_or(0);
            entry["lfs"] = serde_json::json!({"oid": oid, "size": size, "pointerSize": blob.stdout.len()});
            entry["size"] = serde_json::json!(size);
            if let Some((_, x)) = &xet {
                if let Some(f) = x.file_id_for(&hub_repo_key(prefix, id), oid) {
                    entry["xetHash"] = serde_json::json!(f);
                }
            }
        }
        out.push(entry);
    }
    json(s, 200, serde_json::Value::Array(out));
    true
}

fn bump(st: &State, key: String) -> u32 {
    let mut c = st.counters.lock().unwrap();
    let n = c.entry(key).or_insert(0);
    *n += 1;
    *n
}

/// One HTTP request as the test servers read it (header names lower-cased).
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// Reads one request (line, headers, body by Content-Length or chunked).
pub fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    stream.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        stream.read_exact(&mut body).ok()?;
    } else if headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            stream.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            stream.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Request { method, path, headers, body })
}

pub fn respond(s: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

/// As [`respond`], the body in 64 KiB pieces 10 ms apart (a capped connection: about 6 MB/s).
fn respond_slowly(s: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    for piece in body.chunks(64 << 10) {
        if s.write_all(piece).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn json(s: &mut TcpStream, status: u16, v: serde_json::Value) {
    respond(s, status, &[("Content-Type", "application/vnd.git-lfs+json".into())], v.to_string().as_bytes());
}

fn handle(conn: TcpStream, st: &State, listener: &'static str) -> Option<()> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let req = read_request(&mut reader)?;
    let mut s = conn;
    st.log.lock().unwrap().push(Logged {
        listener,
        method: req.method.clone(),
        path: req.path.clone(),
        authorization: req.headers.get("authorization").cloned(),
        range: req.headers.get("range").cloned(),
        cookie: req.headers.get("cookie").cloned(),
    });
    let segs: Vec<&str> = req.path.split('?').next().unwrap_or("").trim_start_matches('/').split('/').collect();
    let base = st.base.lock().unwrap().clone();
    let other = st.other.lock().unwrap().clone();
    let other_ip = st.other_ip.lock().unwrap().clone();
    if listener == "other" {
        // redirector: /redirect/<repo>/<oid> → the main listener's storage; and storage and
        // batch of its own, for what the main listener redirects here (`hop-port`, `batch-hop`)
        match (req.method.as_str(), segs.as_slice()) {
            (_, ["redirect", repo, oid]) => respond(&mut s, 307, &[("Location", format!("{base}/storage/{repo}/{oid}"))], b""),
            ("PUT", ["storage", repo, oid]) => storage_put(&mut s, st, repo, oid, &req),
            ("GET", ["storage", repo, oid]) => storage_get(&mut s, st, repo, oid, &req),
            ("POST", _) if req.path.contains("/info/lfs/objects/batch") => {
                let i = req.path.find("/info/lfs/objects/batch").unwrap();
                batch(&mut s, st, &req.path[1..i].replace('/', "~"), &req, &base, &other)
            }
            _ => respond(&mut s, 404, &[], b""),
        }
        return Some(());
    }
    let path_only = req.path.split('?').next().unwrap_or("");
    if path_only.contains("cookie-gated") && !req.headers.get("cookie").is_some_and(|c| c.split("; ").any(|kv| kv == COOKIE)) {
        // a single-sign-on front: no session cookie, no entry (git, LFS API and storage alike)
        respond(&mut s, 403, &[], b"{\"message\":\"sign in first\"}");
        return Some(());
    }
    if path_only == "/api/whoami-v2" {
        whoami(&mut s, &req);
        return Some(());
    }
    if path_only.starts_with("/api/") && path_only.contains("/preupload/") && req.method == "POST" {
        preupload(&mut s, st, &req);
        return Some(());
    }
    if let Some((prefix, id, what, rev)) = hub_api_route(path_only) {
        let handled = match (req.method.as_str(), what) {
            ("GET", "xet-write-token") => xet_token(&mut s, st, &req, prefix, id, true),
            ("GET", "xet-read-token") => xet_token(&mut s, st, &req, prefix, id, false),
            ("POST", "paths-info") => paths_info(&mut s, st, prefix, id, rev, &req),
            _ => false,
        };
        if handled {
            return Some(());
        }
    }
    if path_only.starts_with("/api/") && path_only.contains("/discussions") {
        discussions(&mut s, st, &req, &base);
        return Some(());
    }
    if let Some(rest) = path_only.strip_prefix("/api/models/").or_else(|| path_only.strip_prefix("/api/datasets/")) {
        // repo info: 401 without a token and 404 with one for a missing or hidden repository
        let prefix = if path_only.starts_with("/api/datasets/") { "datasets/" } else { "" };
        let dir = st.git_root.lock().unwrap().join(format!("{prefix}{rest}.git"));
        let visible = dir.exists() && (!dir.join("hub-private").exists() || bearer_user(&req).is_some());
        if visible {
            json(&mut s, 200, serde_json::json!({"id": rest, "private": dir.join("hub-private").exists()}));
        } else if req.headers.contains_key("authorization") {
            respond(&mut s, 404, &[("X-Error-Code", "RepoNotFound".into())], b"{\"error\":\"Repository not found\"}");
        } else {
            respond(&mut s, 401, &[("X-Error-Code", "RepoNotFound".into())], b"{\"error\":\"Repository not found\"}");
        }
        return Some(());
    }
    if path_only == "/api/validate-yaml" && req.method == "POST" {
        validate_yaml(&mut s, st, &req);
        return Some(());
    }
    if path_only == "/api/repos/create" && req.method == "POST" {
        create_repo(&mut s, st, &req, &base);
        return Some(());
    }
    // Hub-style git URLs have no `.git`: `/<owner>/<name>/info/refs`, `/datasets/<owner>/<name>/…`
    for tail in ["/info/refs", "/git-upload-pack", "/git-receive-pack"] {
        if let Some(prefix) = path_only.strip_suffix(tail) {
            if !prefix.ends_with(".git") && !prefix.contains("/info/lfs") {
                let mut r2 = Request {
                    method: req.method.clone(),
                    path: req.path.replacen(prefix, &format!("{prefix}.git"), 1),
                    headers: req.headers.clone(),
                    body: req.body.clone(),
                };
                r2.headers.insert("x-hub".into(), "1".into());
                git_cgi(&mut s, st, &r2);
                return Some(());
            }
        }
    }
    if let Some(i) = path_only.find("/info/lfs/objects/batch") {
        // a repository path with slashes (`org/name.git`) becomes one storage segment
        let repo = path_only[1..i].replace('/', "~");
        if req.method == "POST" && repo.contains("batch-hop") && authorized(&req) {
            // the batch itself moves to another origin (same host, other port)
            respond(&mut s, 307, &[("Location", format!("{other_ip}{path_only}"))], b"");
        } else if req.method == "POST" {
            batch(&mut s, st, &repo, &req, &base, &other);
        } else {
            respond(&mut s, 405, &[], b"");
        }
        return Some(());
    }
    let own_route = ["/storage/", "/verify/", "/part/", "/complete/", "/hop/"].iter().any(|r| path_only.starts_with(r));
    if path_only.contains(".git/") && !own_route {
        git_cgi(&mut s, st, &req);
        return Some(());
    }
    match (req.method.as_str(), segs.as_slice()) {
        // `hop-port` storage: a 307 from this origin to the other listener's storage
        (_, ["hop", repo, oid]) => respond(&mut s, 307, &[("Location", format!("{other_ip}/storage/{repo}/{oid}"))], b""),
        ("PUT", ["part", repo, oid, n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let tries = bump(st, format!("part:{repo}:{oid}:{n}"));
            let signed = req.path.split("b=").nth(1).and_then(|b| b.split('&').next()).unwrap_or("").to_string();
            bump(st, format!("partput-b{signed}:{repo}:{oid}"));
            if repo.contains("part-expiry") && signed == "1" && bump(st, format!("partok-b1:{repo}:{oid}")) > PARTS_BEFORE_EXPIRY {
                // the signed URLs of the first batch outlived: as the Hub's storage answers
                return {
                    json(&mut s, 403, serde_json::json!({"message": "Request has expired"}));
                    Some(())
                };
            }
            if repo.contains("part-fail") && n == 2 && tries == 1 {
                return {
                    json(&mut s, 500, serde_json::json!({"message": "part storage hiccup"}));
                    Some(())
                };
            }
            let etag = format!("\"{}\"", &hex(&req.body)[..16]);
            st.parts.lock().unwrap().insert((repo.to_string(), oid.to_string(), n), req.body.clone());
            bump(st, format!("partstored:{repo}:{oid}:{n}"));
            respond(&mut s, 200, &[("ETag", etag)], b"");
        }
        ("POST", ["complete", repo, oid]) => {
            bump(st, format!("complete:{repo}:{oid}"));
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let mut data = Vec::new();
            let parts = st.parts.lock().unwrap();
            for (i, part) in body["parts"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                let n = part["partNumber"].as_u64().unwrap_or(0);
                let Some(bytes) = parts.get(&(repo.to_string(), oid.to_string(), n)) else {
                    return {
                        json(&mut s, 400, serde_json::json!({"message": format!("part {n} missing")}));
                        Some(())
                    };
                };
                if n != i as u64 + 1 || part["etag"].as_str() != Some(&format!("\"{}\"", &hex(bytes)[..16])) {
                    return {
                        json(&mut s, 400, serde_json::json!({"message": format!("bad etag or order for part {n}")}));
                        Some(())
                    };
                }
                data.extend_from_slice(bytes);
            }
            drop(parts);
            if body["oid"].as_str() != Some(oid) || hex(&data) != *oid {
                return {
                    json(&mut s, 400, serde_json::json!({"message": "assembled object does not match its oid"}));
                    Some(())
                };
            }
            store_object(st, repo, oid, data);
            json(&mut s, 200, serde_json::json!({}));
        }
        ("POST", [repo, "info", "lfs", "objects", "batch"]) => batch(&mut s, st, repo, &req, &base, &other),
        ("PUT", ["storage", repo, oid]) => storage_put(&mut s, st, repo, oid, &req),
        ("GET", ["storage", repo, oid]) => storage_get(&mut s, st, repo, oid, &req),
        ("POST", ["verify", repo, oid]) => {
            let n = bump(st, format!("verify:{repo}:{oid}"));
            if repo.contains("verify-fail-always") || (repo.contains("verify-fail-2") && n <= 2) {
                json(&mut s, 500, serde_json::json!({"message": "verify failed"}));
            } else if st.objects.lock().unwrap().contains_key(&(repo.to_string(), oid.to_string())) {
                json(&mut s, 200, serde_json::json!({}));
            } else {
                json(&mut s, 404, serde_json::json!({"message": "not found"}));
            }
        }
        _ => respond(&mut s, 404, &[], b"no such route"),
    }
    Some(())
}

/// `/api/{models|datasets}/{owner}/{name}/{what}/{rev}` → (type prefix, id, what, rev).
fn hub_api_route(path: &str) -> Option<(&'static str, &str, &str, &str)> {
    let (prefix, rest) = match path.strip_prefix("/api/models/") {
        Some(r) => ("", r),
        None => ("datasets/", path.strip_prefix("/api/datasets/")?),
    };
    let mut it = rest.splitn(4, '/');
    let (owner, name, what, rev) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let id = &rest[..owner.len() + 1 + name.len()];
    Some((prefix, id, what, rev))
}

fn authorized(req: &Request) -> bool {
    let h = req.headers.get("authorization").cloned().unwrap_or_default();
    h == format!("Basic {}", b64(format!("{USER}:{PASSWORD}").as_bytes()))
        || h == format!("Bearer {HF_TOKEN}")
        || h == format!("Basic {}", b64(format!("hf_user:{HF_TOKEN}").as_bytes()))
        || read_only(req)
}

/// Is this request made with [`READ_TOKEN`] (Bearer, or Basic as git sends it)?
fn read_only(req: &Request) -> bool {
    let h = req.headers.get("authorization").cloned().unwrap_or_default();
    h == format!("Bearer {READ_TOKEN}") || h == format!("Basic {}", b64(format!("hf_user:{READ_TOKEN}").as_bytes()))
}

/// The user a Bearer token belongs to: `alice` ([`HF_TOKEN`]) or `bob` ([`READ_TOKEN`]).
fn bearer_user(req: &Request) -> Option<&'static str> {
    match req.headers.get("authorization").map(String::as_str) {
        Some(h) if h == format!("Bearer {HF_TOKEN}") => Some(USER),
        Some(h) if h == format!("Bearer {READ_TOKEN}") => Some("bob"),
        _ => None,
    }
}

/// `GET /api/whoami-v2` as the Hub answers it (huggingface.js `api-who-am-i.ts`).
fn whoami(s: &mut TcpStream, req: &Request) {
    if bearer_user(req) == Some("bob") {
        return json(
            s,
            200,
            serde_json::json!({"type": "user", "name": "bob", "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "read", "role": "read"}}}),
        );
    }
    if req.headers.get("authorization") != Some(&format!("Bearer {HF_TOKEN}")) {
        return respond(
            s,
            401,
            &[("X-Error-Message", "Invalid credentials in Authorization header".into()), ("Content-Type", "application/json".into())],
            br#"{"error":"Invalid credentials in Authorization header"}"#,
        );
    }
    json(
        s,
        200,
        serde_json::json!({
            "type": "user", "id": "64f0c0ffee", "name": USER, "fullname": "Alice Liddell",
            "email": "alice@example.com", "emailVerified": true, "isPro": false,
            "orgs": [{"type": "org", "name": "acme", "fullname": "ACME Models"}],
            "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}
        }),
    );
}

/// Git smart HTTP through the real `git http-backend` (CGI), with Basic auth for repositories
/// whose name says `requirecreds`, and repositories created on first push.
fn git_cgi(s: &mut TcpStream, st: &State, req: &Request) {
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let hub = req.headers.contains_key("x-hub");
    let root = st.git_root.lock().unwrap().clone();
    let repo_rel = &path[1..path.find(".git/").unwrap() + 4];
    let repo_dir = root.join(repo_rel);
    let private = repo_dir.join("hub-private").exists();
    // The Hub: pushing needs a token; reading a private repository too; a missing repository
    // and a private one look alike without a token (401).
    let needs_auth =
        path.contains("requirecreds") || (hub && (query == "service=git-receive-pack" || path.ends_with("git-receive-pack") || private));
    if needs_auth && !authorized(req) {
        return respond(s, 401, &[("WWW-Authenticate", "Basic realm=\"git\"".into())], b"credentials needed");
    }
    if hub && !repo_dir.exists() {
        // the Hub answers 401 for a missing repository when no credentials were sent
        let code = if req.headers.contains_key("authorization") { 404 } else { 401 };
        let mut h = vec![("X-Error-Code", "RepoNotFound".to_string())];
        if code == 401 {
            h.push(("WWW-Authenticate", "Basic realm=\"git\"".into()));
        }
        return respond(s, code, &h, b"Repository not found");
    }
    if query == "service=git-receive-pack" && !repo_dir.exists() {
        let ok = std::process::Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&repo_dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "git init --bare failed");
    }
    let mut cmd = std::process::Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", req.headers.get("content-type").cloned().unwrap_or_default())
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("REMOTE_USER", USER)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("HUB_ACCESS", if read_only(req) { "read" } else { "write" })
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(enc) = req.headers.get("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(p) = req.headers.get("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    let mut child = cmd.spawn().expect("git http-backend");
    let mut stdin = child.stdin.take().unwrap();
    let body = req.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().expect("git http-backend output");
    writer.join().unwrap();
    let raw = out.stdout;
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4)).or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((i, sep)) = split else { return respond(s, 500, &[], b"bad CGI output") };
    let head = String::from_utf8_lossy(&raw[..i]).to_string();
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(200);
            } else {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    let hdrs: Vec<(&str, String)> = headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    respond(s, status, &hdrs, &raw[i + sep..]);
}

/// `POST /api/repos/create` as the Hub answers it: a Bearer token with write access; 409 when
/// the repository exists; a new repository already holds the server's initial commit (its
/// default `.gitattributes`) and a pre-receive hook with the Hub's 10 MiB rule.
fn create_repo(s: &mut TcpStream, st: &State, req: &Request, base: &str) {
    if req.headers.get("authorization") != Some(&format!("Bearer {HF_TOKEN}")) {
        return json(s, 401, serde_json::json!({"error": "Invalid credentials in Authorization header"}));
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let (Some(name), Some(org)) = (body["name"].as_str(), body["organization"].as_str()) else {
        return json(s, 400, serde_json::json!({"error": "name and organization are required"}));
    };
    let prefix = match body["type"].as_str().unwrap_or("model") {
        "dataset" => "datasets/",
        "space" => "spaces/",
        _ => "",
    };
    let n = bump(st, format!("create:{org}/{name}"));
    if name.contains("forbidden") {
        return json(s, 403, serde_json::json!({"error": "You don't have the rights to create a repo under this namespace"}));
    }
    if name.contains("conflict") && n == 1 {
        return json(s, 409, serde_json::json!({"error": "Cannot create repo: another conflicting operation is in progress"}));
    }
    let root = st.git_root.lock().unwrap().clone();
    let dir = root.join(format!("{prefix}{org}/{name}.git"));
    let url = format!("{base}/{prefix}{org}/{name}");
    if dir.exists() {
        return json(s, 409, serde_json::json!({"error": "You already created this model repo", "url": url}));
    }
    let git = |args: &[&str], cwd: &std::path::Path| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_AUTHOR_NAME", "system")
            .env("GIT_AUTHOR_EMAIL", "system@example.com")
            .env("GIT_COMMITTER_NAME", "system")
            .env("GIT_COMMITTER_EMAIL", "system@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", cwd)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    };
    std::fs::create_dir_all(&dir).unwrap();
    git(&["init", "-q", "--bare", "-b", "main", "."], &dir);
    let work = tempfile::tempdir().unwrap();
    git(&["init", "-q", "-b", "main", "."], work.path());
    let attrs: String = ["*.7z", "*.bin", "*.pt", "*.pth", "*.safetensors", "*.ckpt", "*.h5", "*.onnx", "*.pkl", "*.zip"]
        .iter()
        .map(|p| format!("{p} filter=lfs diff=lfs merge=lfs -text\n"))
        .collect();
    std::fs::write(work.path().join(".gitattributes"), attrs).unwrap();
    git(&["add", ".gitattributes"], work.path());
    git(&["commit", "-qm", "initial commit"], work.path());
    git(&["push", "-q", dir.to_str().unwrap(), "main"], work.path());
    let hook = dir.join("hooks/pre-receive");
    std::fs::write(&hook, HUB_PRE_RECEIVE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    if body["private"].as_bool() == Some(true) || body["visibility"] == "private" {
        std::fs::write(dir.join("hub-private"), "").unwrap();
    }
    json(s, 200, serde_json::json!({"url": url, "id": format!("{org}/{name}")}));
}

/// The Hub's discussions API: `POST /api/{type}s/{id}/discussions` (`{"title", "description",
/// "pullRequest"}`, any user who can read the repository, with a token) → `{"num": N, ...}`; a pull
/// request gets `refs/pr/N` at `main`'s commit, as the Hub makes it. `GET .../discussions/N`
/// describes one. 401 without a token, 404 for a repository the token cannot see.
fn discussions(s: &mut TcpStream, st: &State, req: &Request, base: &str) {
    let path = req.path.split('?').next().unwrap_or("");
    let rest = path.strip_prefix("/api/").unwrap_or("");
    let (repo_part, tail) = rest.split_once("/discussions").unwrap_or((rest, ""));
    let (kind, id) = repo_part.split_once('/').unwrap_or(("models", repo_part));
    let prefix = match kind {
        "datasets" => "datasets/",
        "spaces" => "spaces/",
        "kernels" => "kernels/",
        _ => "",
    };
    let rel = format!("{prefix}{id}.git");
    let dir = st.git_root.lock().unwrap().join(&rel);
    let user = bearer_user(req);
    if req.method == "POST" && user.is_none() {
        return json(s, 401, serde_json::json!({"error": "Invalid credentials in Authorization header"}));
    }
    if !dir.exists() || (dir.join("hub-private").exists() && user.is_none()) {
        return respond(s, 404, &[("X-Error-Code", "RepoNotFound".into())], b"{\"error\":\"Repository not found\"}");
    }
    let mut all = st.discussions.lock().unwrap();
    let list = all.entry(rel).or_default();
    match (req.method.as_str(), tail.trim_start_matches('/')) {
        ("POST", "") => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let title = body["title"].as_str().unwrap_or("").trim().to_string();
            if title.is_empty() {
                return json(s, 400, serde_json::json!({"error": "title is required"}));
            }
            let num = list.len() + 1;
            let pr = body["pullRequest"].as_bool() == Some(true);
            if pr {
                let ok = std::process::Command::new("git")
                    .arg("--git-dir")
                    .arg(&dir)
                    .args(["update-ref", &format!("refs/pr/{num}"), "refs/heads/main"])
                    .status()
                    .is_ok_and(|o| o.success());
                assert!(ok, "creating refs/pr/{num}");
            }
            // the fields huggingface_hub's `get_discussion_details` reads, too
            let d = serde_json::json!({
                "num": num, "title": title, "description": body["description"], "isPullRequest": pr,
                "status": if pr { "draft" } else { "open" }, "author": {"name": user},
                "url": format!("{base}/{prefix}{id}/discussions/{num}"),
                "createdAt": "2026-01-01T00:00:00.000Z", "events": [],
                "repo": {"name": id, "type": kind.trim_end_matches('s')},
                "changes": {"base": "refs/heads/main"}, "filesWithConflicts": [],
            });
            list.push(d.clone());
            bump(st, format!("discussion:{id}"));
            json(s, 200, d)
        }
        ("GET", n) => match n.parse::<usize>().ok().and_then(|n| list.get(n.wrapping_sub(1))) {
            Some(d) => json(s, 200, d.clone()),
            None => json(s, 404, serde_json::json!({"error": "Discussion not found"})),
        },
        _ => respond(s, 405, &[], b""),
    }
}

/// The Hub's pre-receive rules as users meet them: blobs over 10 MiB that are not LFS pointers
/// are refused, and a read-only user may update `refs/pr/*` only.
const HUB_PRE_RECEIVE: &str = r#"#!/bin/sh
# The Hub's rules as users meet them: plain files over 10 MiB and binary files over 1 MiB are
# refused, and so is a pointer to an LFS object the server does not have.
zero=0000000000000000000000000000000000000000
objects="$(dirname "$(dirname "$(pwd)")")"
while [ ! -d "$objects/lfs-objects" ] && [ "$objects" != / ]; do objects="$(dirname "$objects")"; done
objects="$objects/lfs-objects"
while read old new ref; do
  case "$ref" in
    refs/pr/*) ;;
    *) if [ "$HUB_ACCESS" = read ]; then echo "DENIED update $ref: forbidden" >&2; exit 1; fi ;;
  esac
  [ "$new" = "$zero" ] && continue
  if [ "$old" = "$zero" ]; then range="$new"; else range="$old..$new"; fi
  git rev-list --objects "$range" | while read sha path; do
    [ "$(git cat-file -t "$sha")" = blob ] || continue
    size=$(git cat-file -s "$sha")
    if [ "$size" -gt 10485760 ]; then
      echo "Your push was rejected because it contains files larger than 10 MiB: $path" >&2
      exit 1
    fi
    if [ "$size" -gt 1048576 ] && [ "$(git cat-file blob "$sha" | head -c 8000 | tr -d '\000' | wc -c)" -lt "$(git cat-file blob "$sha" | head -c 8000 | wc -c)" ]; then
      echo "Your push was rejected because it contains binary files: $path" >&2
      exit 1
    fi
    if [ "$size" -lt 1024 ]; then
      oid=$(git cat-file blob "$sha" | sed -n 's/^oid sha256:\([0-9a-f]\{64\}\)$/\1/p')
      if [ -n "$oid" ] && [ ! -f "$objects/$oid" ]; then
        echo "Your push was rejected because an LFS pointer pointed to a file that does not exist: $path" >&2
        exit 1
      fi
    fi
  done || exit 1
done
"#;

fn batch(s: &mut TcpStream, st: &State, repo: &str, req: &Request, base: &str, other: &str) {
    let n = bump(st, format!("batch:{repo}"));
    let batch_n = n;
    if repo.contains("requirecreds") && !authorized(req) {
        respond(s, 401, &[("LFS-Authenticate", "Basic realm=\"test\"".into())], b"{\"message\":\"credentials needed\"}");
        return;
    }
    if repo.contains("ansi-message") {
        let msg = "\u{1b}[31mred\u{1b}]0;title\u{7} text\nerror: forged line";
        return json(s, 422, serde_json::json!({ "message": msg }));
    }
    if repo.contains("badbatch") {
        return respond(s, 200, &[], b"this is { not json");
    }
    if let Some(code) = repo.split("status-batch-").nth(1).and_then(|c| c.get(..3)).and_then(|c| c.parse::<u16>().ok()) {
        return json(s, code, serde_json::json!({"message": format!("batch says {code}")}));
    }
    if repo.contains("retry-batch") && n <= 2 {
        return json(s, 503, serde_json::json!({"message": "busy"}));
    }
    if repo.contains("ratelimit-batch") && n == 1 {
        return respond(s, 429, &[("Retry-After", "1".into())], b"{\"message\":\"slow down\"}");
    }
    if repo.contains("hub-ratelimit") {
        // the Hub's fixed window: the first batch spends the quota; until the window resets (2 s
        // later) every batch gets 429 with the IETF RateLimit headers and no Retry-After, and a
        // client that asks before the reset it was told is hammering
        let now = std::time::Instant::now();
        let mut resets = st.resets.lock().unwrap();
        let reset = *resets.entry(repo.to_string()).or_insert(now + std::time::Duration::from_secs(2));
        if now < reset {
            if n > 1 {
                bump(st, format!("hammered:{repo}"));
            }
            let t = (reset - now).as_secs_f64().ceil() as u64;
            let h = [("RateLimit", format!("\"api\";r=0;t={t}")), ("RateLimit-Policy", "\"fixed window\";\"api\";q=1000;w=300".into())];
            return respond(s, 429, &h, b"{\"error\":\"rate limited\"}");
        }
    }
    if repo.contains("hub-window") {
        // the Hub's fixed windows, short: QUOTA batch calls per WINDOW, then 429 until it resets
        let now = std::time::Instant::now();
        let mut windows = st.windows.lock().unwrap();
        let w = windows.entry(repo.to_string()).or_insert((now, 0));
        if now >= w.0 + WINDOW {
            *w = (now, 0);
        }
        w.1 += 1;
        if w.1 > QUOTA {
            let left = w.0 + WINDOW - now;
            if w.1 > QUOTA + 1 {
                bump(st, format!("hammered:{repo}"));
            }
            bump(st, format!("refused:{repo}"));
            let ms = left.as_millis() as u32;
            let mut c = st.counters.lock().unwrap();
            let most = c.entry(format!("remainder-ms:{repo}")).or_insert(0);
            *most = (*most).max(ms);
            drop(c);
            let t = left.as_secs_f64().ceil() as u64;
            let h = [
                ("RateLimit", format!("\"api\";r=0;t={t}")),
                ("RateLimit-Policy", format!("\"fixed window\";\"api\";q={QUOTA};w={}", WINDOW.as_secs())),
            ];
            return respond(s, 429, &h, b"{\"error\":\"rate limited\"}");
        }
    }
    if repo.contains("ratelimit-long") {
        return respond(s, 429, &[("Retry-After", "100000".into())], b"{\"message\":\"come back tomorrow\"}");
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let op = body["operation"].as_str().unwrap_or("").to_string();
    if op == "upload" && read_only(req) && body.get("ref").is_some_and(|r| !r.is_null()) {
        // the Hub applies the branch's permissions to a batch that names it: no write, no upload
        return json(s, 403, serde_json::json!({"message": "You don't have write access to this branch"}));
    }
    st.log.lock().unwrap().push(Logged {
        listener: "batch-body",
        method: op.clone(),
        path: body.to_string(),
        authorization: None,
        range: None,
        cookie: None,
    });
    let offered_multipart = body["transfers"].as_array().is_some_and(|t| t.iter().any(|x| x == "multipart"));
    let xet = st.xet.lock().unwrap().clone().filter(|_| repo.contains("xet") && op == "upload");
    if let Some((cas_url, shared)) = xet.filter(|_| body["transfers"].as_array().is_some_and(|t| t.iter().any(|x| x == "xet"))) {
        // the Hub's answer to a client that offers xet: per object, the token refresh route and
        // a write token for the CAS in the action's headers
        let id = repo.trim_end_matches(".git").replace('~', "/");
        let (prefix, id) = match id.strip_prefix("datasets/") {
            Some(rest) => ("datasets", rest.to_string()),
            None => ("models", id),
        };
        let uses = token_uses(repo);
        let (token, exp) = shared.mint(repo, true, std::time::Duration::from_secs(3600), uses);
        let mut out = Vec::new();
        for o in body["objects"].as_array().cloned().unwrap_or_default() {
            let oid = o["oid"].as_str().unwrap_or("").to_string();
            let mut obj = serde_json::json!({"oid": oid, "size": o["size"]});
            if !st.objects.lock().unwrap().contains_key(&(repo.to_string(), oid.clone())) {
                // `xet-foreign-href`: the token refresh route names another origin
                let route = if repo.contains("xet-foreign-href") { st.other_ip.lock().unwrap().clone() } else { base.to_string() };
                obj["actions"] = serde_json::json!({"upload": {
                    "href": format!("{route}/api/{prefix}/{id}/xet-write-token/main"),
                    "header": {
                        "X-Xet-Cas-Url": cas_url,
                        "X-Xet-Access-Token": token,
                        "X-Xet-Token-Expiration": exp.to_string(),
                        "X-Xet-Session-Id": format!("session-{}", bump(st, "xet-sessions".into())),
                    }
                }});
            }
            out.push(obj);
        }
        return json(s, 200, serde_json::json!({"transfer": "xet", "objects": out}));
    }
    let mut any_multipart = false;
    let mut out = Vec::new();
    for o in body["objects"].as_array().cloned().unwrap_or_default() {
        let oid = o["oid"].as_str().unwrap_or("").to_string();
        let size = o["size"].as_i64().unwrap_or(0);
        let has = st.objects.lock().unwrap().contains_key(&(repo.to_string(), oid.clone()));
        let mut obj = serde_json::json!({"oid": oid, "size": if repo.contains("invalid-size") { -1 } else { size }});
        if repo.contains("object-error") {
            obj["error"] = serde_json::json!({"code": 422, "message": "Object is not allowed"});
            out.push(obj);
            continue;
        }
        let other_ip = st.other_ip.lock().unwrap().clone();
        let storage = if repo.contains("redirect-port") {
            format!("{other_ip}/redirect/{repo}/{oid}")
        } else if repo.contains("redirect") {
            format!("{other}/redirect/{repo}/{oid}")
        } else if repo.contains("hop-port") {
            format!("{base}/hop/{repo}/{oid}")
        } else {
            format!("{base}/storage/{repo}/{oid}")
        };
        // `mirror-hrefs`: the Hub behind a mirror names its own host in the actions
        let storage = if repo.contains("mirror-hrefs") { storage.replace(base, "https://huggingface.co") } else { storage };
        let mut action = serde_json::json!({"href": storage, "header": {"Authorization": format!("Bearer storage-{}", &oid[..8])}});
        if repo.contains("hop-port") {
            // no header of its own: the client's credentials go with the request to this origin
            action["header"] = serde_json::json!({});
        }
        if repo.contains("chunked-upload") && op == "upload" {
            action["header"]["Transfer-Encoding"] = serde_json::json!("chunked");
        }
        if repo.contains("expired") {
            // a real time in the past: expired
            action["expires_at"] = serde_json::json!("2001-01-01T00:00:00Z");
        } else if repo.contains("expire-once") && n == 1 {
            action["expires_in"] = serde_json::json!(-1);
        } else if repo.contains("go-expiry") {
            // Go's encoder: `omitempty` drops expires_in 0 but writes the zero time.Time
            action["expires_at"] = serde_json::json!("0001-01-01T00:00:00Z");
        } else if repo.contains("zero-in-expiry") {
            action["expires_in"] = serde_json::json!(0);
        } else {
            action["expires_in"] = serde_json::json!(3600);
        }
        if repo.contains("authenticated") {
            obj["authenticated"] = serde_json::json!(true);
            action["header"] = serde_json::json!({});
        }
        if op == "upload" && repo.contains("hub") && offered_multipart && size > MULTIPART_THRESHOLD && !has {
            any_multipart = true;
            if repo.contains("part-forget") {
                // every batch a fresh upload: the parts stored with earlier URLs are gone
                st.parts.lock().unwrap().retain(|(r, o, _), _| r != repo || *o != oid);
            }
            let mut header = serde_json::Map::new();
            header.insert("chunk_size".into(), serde_json::json!(CHUNK_SIZE.to_string()));
            for n in 1..=(size as u64).div_ceil(CHUNK_SIZE) {
                header.insert(format!("{n:05}"), serde_json::json!(format!("{base}/part/{repo}/{oid}/{n}?X-Signature=test&b={batch_n}")));
            }
            obj["actions"] = serde_json::json!({
                "upload": {"href": format!("{base}/complete/{repo}/{oid}"), "header": header},
                "verify": {"href": format!("{base}/verify/{repo}/{oid}")}
            });
            out.push(obj);
            continue;
        }
        if op == "upload" {
            if !(has || repo.contains("has-all")) {
                let mut actions = serde_json::json!({"upload": action});
                if repo.contains("verify") {
                    actions["verify"] = serde_json::json!({"href": format!("{base}/verify/{repo}/{oid}")});
                }
                obj["actions"] = actions;
            }
        } else if has {
            obj["actions"] = serde_json::json!({"download": action});
        } else {
            obj["error"] = serde_json::json!({"code": 404, "message": "Object does not exist"});
        }
        out.push(obj);
    }
    if repo.contains("unknown-oid") {
        out.push(serde_json::json!({"oid": "f".repeat(64), "size": 1, "actions": {}}));
    }
    let mut resp = serde_json::json!({"transfer": if any_multipart { "multipart" } else { "basic" }, "objects": out});
    if repo.contains("hashalgo-bad") {
        resp["hash_algo"] = serde_json::json!("sha1");
    } else if repo.contains("hashalgo-empty") {
        resp["hash_algo"] = serde_json::json!("");
    }
    if repo.contains("batch203") {
        return json(s, 203, resp);
    }
    json(s, 200, resp)
}

/// Keeps an object in memory, and on disk under `<git root>/lfs-objects/<oid>` so the Hub-style
/// pre-receive hook can see which objects the server has.
fn store_object(st: &State, repo: &str, oid: &str, data: Vec<u8>) {
    let dir = st.git_root.lock().unwrap().join("lfs-objects");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(oid), &data).unwrap();
    st.objects.lock().unwrap().insert((repo.to_string(), oid.to_string()), data);
}

fn storage_fault(s: &mut TcpStream, st: &State, repo: &str, oid: &str, kind: &str) -> bool {
    let n = bump(st, format!("{kind}:{repo}:{oid}"));
    if repo.contains("file-hop") {
        respond(s, 307, &[("Location", "file:///etc/passwd".into())], b"");
        return true;
    }
    if let Some(code) = repo.split("status-storage-").nth(1).and_then(|c| c.get(..3)).and_then(|c| c.parse::<u16>().ok()) {
        json(s, code, serde_json::json!({"message": format!("storage says {code}")}));
        return true;
    }
    if repo.contains("storage-403-once") && n == 1 {
        // a signed URL past its expiry, as the Hub's storage answers
        json(s, 403, serde_json::json!({"message": "Request has expired"}));
        return true;
    }
    if repo.contains("storage-500-twice") && n <= 2 {
        json(s, 500, serde_json::json!({"message": "try again"}));
        return true;
    }
    if repo.contains("ratelimit-storage") && n == 1 {
        let h: Vec<(&str, String)> = if repo.contains("nohdr") { vec![] } else { vec![("Retry-After", "1".into())] };
        respond(s, 429, &h, b"{\"message\":\"slow down\"}");
        return true;
    }
    false
}

fn storage_put(s: &mut TcpStream, st: &State, repo: &str, oid: &str, req: &Request) {
    if storage_fault(s, st, repo, oid, "put") {
        return;
    }
    // framing, strictly: chunked where the action asked for it, else Content-Length; never both
    let te = req.headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let cl = req.headers.contains_key("content-length");
    if te && cl {
        return json(s, 400, serde_json::json!({"message": "both Content-Length and Transfer-Encoding"}));
    }
    if repo.contains("chunked-upload") != te || (!te && !cl) {
        return json(s, 400, serde_json::json!({"message": format!("wrong framing: chunked {te}, Content-Length {cl}")}));
    }
    if repo.contains("slow-storage") {
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    if hex(&req.body) != oid {
        return json(s, 403, serde_json::json!({"message": "content does not match the oid"}));
    }
    store_object(st, repo, oid, req.body.clone());
    respond(s, 200, &[], b"");
}

fn storage_get(s: &mut TcpStream, st: &State, repo: &str, oid: &str, req: &Request) {
    if storage_fault(s, st, repo, oid, "get") {
        return;
    }
    let Some(mut data) = st.objects.lock().unwrap().get(&(repo.to_string(), oid.to_string())).cloned() else {
        return json(s, 404, serde_json::json!({"message": "not found"}));
    };
    if repo.contains("drip") {
        // all the headers at once, then one byte a second (at most 120), whatever was asked
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len());
        let _ = s.write_all(head.as_bytes());
        for b in data.iter().take(120) {
            if s.write_all(&[*b]).and_then(|_| s.flush()).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        return;
    }
    if repo.contains("corrupt-download") {
        data[0] ^= 0xff;
    }
    let accepts_gzip = req.headers.get("accept-encoding").is_some_and(|a| a.split(',').any(|e| e.trim().starts_with("gzip")));
    if repo.contains("gzip-download") && !req.headers.contains_key("range") {
        if !accepts_gzip {
            return json(s, 406, serde_json::json!({"message": "this storage only serves gzip"}));
        }
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&data).unwrap();
        return respond(s, 200, &[("Content-Encoding", "gzip".into())], &z.finish().unwrap());
    }
    if repo.contains("br-download") {
        bump(st, format!("br-get:{repo}"));
        return respond(s, 200, &[("Content-Encoding", "br".into())], &data[..data.len() / 3]);
    }
    let n = bump(st, format!("getbody:{repo}:{oid}"));
    if repo.contains("truncate-first") && n == 1 {
        // announce everything, send half, hang up
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len());
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(&data[..data.len() / 2]);
        let _ = s.flush();
        let _ = s.shutdown(std::net::Shutdown::Both);
        return;
    }
    // concurrent GETs of this repository, and the most seen at once
    let inflight = bump(st, format!("inflight:{repo}"));
    {
        let mut c = st.counters.lock().unwrap();
        let max = c.entry(format!("maxinflight:{repo}")).or_insert(0);
        *max = (*max).max(inflight);
    }
    struct Done<'a>(&'a State, String);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            *self.0.counters.lock().unwrap().get_mut(&self.1).unwrap() -= 1;
        }
    }
    let _done = Done(st, format!("inflight:{repo}"));
    if let Some(range) = req.headers.get("range") {
        if repo.contains("range-416") {
            return respond(s, 416, &[], b"");
        }
        if repo.contains("range-short-once") && bump(st, format!("short:{repo}")) == 1 {
            // announces the range asked for, sends one byte less, and ends
            let spec = range.trim_start_matches("bytes=");
            let (a, b) = spec.split_once('-').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            return respond(s, 206, &[("Content-Range", format!("bytes {a}-{b}/{}", data.len()))], &data[a..b]);
        }
        if !repo.contains("range-ignore") {
            let spec = range.trim_start_matches("bytes=");
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = b.parse().unwrap_or(data.len() - 1).min(data.len() - 1);
            if a > b {
                return respond(s, 416, &[], b"");
            }
            if repo.contains("slow-get") {
                return respond_slowly(s, 206, &[("Content-Range", format!("bytes {a}-{b}/{}", data.len()))], &data[a..=b]);
            }
            return respond(s, 206, &[("Content-Range", format!("bytes {a}-{b}/{}", data.len()))], &data[a..=b]);
        }
    }
    if repo.contains("slow-get") {
        return respond_slowly(s, 200, &[], &data);
    }
    respond(s, 200, &[], &data);
}

/// `POST /api/{type}s/{id}/preupload/{rev}`: the Hub's upload decision per file, from the
/// repository's own `.gitattributes` at that revision (its `filter=lfs` patterns, `*.ext` and
/// `/exact` forms), the size (over 10 MiB) and binary-ness (a NUL in the sample, over 1 MiB): the
/// same limits as this server's pre-receive hook.
fn preupload(s: &mut TcpStream, st: &State, req: &Request) {
    bump(st, "preupload".into());
    let path = req.path.split('?').next().unwrap_or("");
    let rest = path.strip_prefix("/api/").unwrap_or("");
    let (repo_part, rev) = rest.split_once("/preupload/").unwrap_or((rest, "main"));
    let rev = rev.replace("%2F", "/");
    let rev = rev.as_str();
    let (kind, id) = repo_part.split_once('/').unwrap_or(("models", repo_part));
    let prefix = match kind {
        "datasets" => "datasets/",
        "spaces" => "spaces/",
        _ => "",
    };
    let bare = st.git_root.lock().unwrap().join(format!("{prefix}{id}.git"));
    let attrs = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["show", &format!("{rev}:.gitattributes")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let patterns: Vec<String> =
        attrs.lines().filter(|l| l.contains("filter=lfs")).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect();
    let tracked = |p: &str| {
        patterns.iter().any(|pat| match (pat.strip_prefix("*."), pat.strip_prefix('/')) {
            (Some(ext), _) => p.rsplit('/').next().is_some_and(|n| n.ends_with(&format!(".{ext}"))),
            (_, Some(exact)) => p == exact,
            _ => p.rsplit('/').next() == Some(pat.as_str()),
        })
    };
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let files: Vec<serde_json::Value> = body["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let size = f["size"].as_u64().unwrap_or(0);
            let name = f["path"].as_str().unwrap_or("");
            let binary = unb64(f["sample"].as_str().unwrap_or("")).contains(&0);
            let lfs = tracked(name) || size > 10 * 1024 * 1024 || (binary && size > 1024 * 1024);
            serde_json::json!({"path": f["path"], "uploadMode": if lfs { "lfs" } else { "regular" }, "shouldIgnore": false})
        })
        .collect();
    let mut files = files;
    if id.contains("preupload-hostile") {
        // a path nobody asked about, with terminal escapes and a forged line
        files.push(serde_json::json!({"path": "\u{1b}[31mevil\nerror: forged", "uploadMode": "lfs"}));
    }
    json(s, 200, serde_json::json!({ "files": files }));
}

/// `POST /api/validate-yaml`: `license` must be one the Hub knows (a few, here).
fn validate_yaml(s: &mut TcpStream, st: &State, req: &Request) {
    bump(st, "validate-yaml".into());
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let content = body["content"].as_str().unwrap_or("");
    let known = ["mit", "apache-2.0", "bsd-3-clause", "cc-by-4.0", "gpl-3.0", "openrail", "other", "unknown"];
    let bad: Vec<&str> = content.lines().filter_map(|l| l.strip_prefix("license:")).map(str::trim).filter(|l| !known.contains(l)).collect();
    if bad.is_empty() {
        return json(s, 200, serde_json::json!({"errors": [], "warnings": []}));
    }
    let errors: Vec<serde_json::Value> =
        bad.iter().map(|l| serde_json::json!({"message": format!("\"license\" must be one of {known:?}, not {l:?}")})).collect();
    json(s, 400, serde_json::json!({"errors": errors, "warnings": []}))
}

fn unb64(t: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let vals: Vec<u32> = t.bytes().filter_map(|c| T.iter().position(|x| *x == c).map(|p| p as u32)).collect();
    let mut out = Vec::new();
    for q in vals.chunks(4) {
        let n = q.iter().enumerate().fold(0u32, |n, (i, v)| n | v << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..q.len()]);
    }
    out
}

/// Runs `code` in the Python of scripts/test.sh (`HFGIT_TEST_PYTHON`, with huggingface_hub)
/// against `server` as the Hub, with `HF_HOME` in the test's directory and `envs` set; its
/// stdout, trimmed. Fails the test when Python does, or is not there.
pub fn hub_python(env: &Env, server: &LfsServer, envs: &[(&str, &str)], code: &str) -> String {
    let python = std::env::var("HFGIT_TEST_PYTHON").expect("HFGIT_TEST_PYTHON is not set: run the tests with scripts/test.sh");
    let o = env
        .command(&python, env.dir.path())
        .args(["-c", code])
        .env("HF_ENDPOINT", &server.url)
        .env("HF_HOME", env.path("hf-home"))
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(o.status.success(), "python failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The `Authorization` value of Basic credentials, as a client sends them.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{password}").as_bytes()))
}

fn b64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        s.push(if c.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    s
}

/// A committed repository whose `.lfsconfig` sends LFS to one repository of a fresh fault
/// server (git itself goes to the local bare `remote.git` beside it).
pub struct Fx {
    pub env: Env,
    pub server: LfsServer,
    pub repo: PathBuf,
    pub a: Vec<u8>,
    pub b: Vec<u8>,
}

/// A committed repository whose `.lfsconfig` sends LFS to `name` on a fresh fault server.
pub fn fx(name: &str) -> Fx {
    let env = Env::new();
    let server = LfsServer::start();
    for (k, v) in [("lfs.transfer.maxretries", "3"), ("lfs.transfer.maxretrydelay", "1")] {
        env.git(env.dir.path(), &["config", "--global", k, v]).ok();
    }
    let repo = env.init("m");
    let a = data(500, 300_000);
    let b = data(501, 200_000);
    fs::write(repo.join("a.bin"), &a).unwrap();
    fs::write(repo.join("b.bin"), &b).unwrap();
    fs::write(repo.join(".lfsconfig"), format!("[lfs]\n\turl = {}\n", server.endpoint(name))).unwrap();
    // the user's own .lfsconfig, trusted in so many words (a committed one is not, by default)
    env.git(&repo, &["config", "hfgit.trustLfsconfig", "true"]).ok();
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    Fx { env, server, repo, a, b }
}

impl Fx {
    pub fn push(&self) -> Run {
        self.env.hfgit(&self.repo, &["push", "../remote.git", "--create"])
    }
    pub fn remote_has_branch(&self) -> bool {
        self.env.git(&self.env.path("remote.git"), &["rev-parse", "--verify", "-q", "main"]).code == 0
    }
    /// Objects on the server already, a bare remote with the commit, ready to clone.
    pub fn seeded(name: &str) -> Fx {
        let f = fx(name);
        f.server.put(name, &f.a);
        f.server.put(name, &f.b);
        f.push().ok();
        f
    }
    pub fn clone(&self, dir: &str) -> Run {
        self.env.hfgit(self.env.dir.path(), &["clone", "remote.git", dir])
    }
}
