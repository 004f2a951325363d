//! Xet storage for tests: xet-core's own CAS (`local_cas_server`, from the `xet-client` crate,
//! built once by scripts/test.sh into the peer cache) behind a strict front of ours, which plays
//! the parts of the Hub's CAS that the local server leaves out:
//! - auth: every request needs a Bearer token that the Hub test server minted for one repository
//!   (`xet-read-token` / `xet-write-token`), write scope for xorbs and shards; an expired or
//!   unknown token is 401, a read token writing is 403;
//! - shard checks before the shard reaches the CAS: every xorb it names was uploaded, every
//!   term's verification hash matches the chunks it names, the file hash matches the chunks, and
//!   the SHA-256 in the metadata extension is the SHA-256 of the reassembled file (all computed
//!   with xet-core's own `xet-core-structures`, not with hfgit's code);
//! - once a shard is accepted, each file it registers becomes an LFS object of the token's
//!   repository on the Hub test server (the Hub's "LFS bridge" serves it to plain LFS clients),
//!   and its Xet file id is remembered for `paths-info`;
//! - `HEAD /v1/xorbs/default/{hash}` answered here, from the xorbs the front has seen stored:
//!   local_cas_server 1.8.0 looks the hash up among *files* there, so it says 404 for every xorb;
//! - measurements: xorb bytes posted, and of those the bytes of xorbs the CAS did not have;
//! - faults: `down` (connections closed unanswered) and `stall` (xorb data requests hang).
#![allow(dead_code)]

use super::lfs_server::{read_request, respond as reply, Request};
use std::collections::HashMap;
use std::io::{BufReader, Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use xet_core_structures::merklehash::{compute_data_hash, file_hash, MerkleHash};
use xet_core_structures::metadata_shard::chunk_verification::range_hash_from_chunks;
use xet_core_structures::metadata_shard::shard_in_memory::MDBInMemoryShard;
use xet_core_structures::xorb_object::deserialize_chunk;

/// Where scripts/test.sh puts the CAS binary (`HFGIT_TEST_XET_CAS` overrides).
pub fn cas_binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("HFGIT_TEST_XET_CAS") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    std::path::PathBuf::from(home).join(".cache/hfgit-test-peers/xet/bin/local_cas_server")
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    Up,
    /// Every connection is closed without an answer: the CAS is unreachable.
    Down,
    /// Requests for xorb data are accepted and never answered.
    Stall,
}

#[derive(Clone, Debug)]
struct Token {
    repo: String,
    write: bool,
    expires: Instant,
    /// Requests left before the CAS calls this token expired (`None`: until `expires`).
    uses_left: Option<u32>,
}

/// A file a shard registered.
#[derive(Clone, Debug)]
pub struct Registered {
    pub repo: String,
    pub file_id: String,
    pub sha256: String,
    pub content: Vec<u8>,
}

/// What the Hub does with a file a shard registers.
pub type OnFile = Box<dyn Fn(&Registered) + Send + Sync>;

#[derive(Default)]
pub struct Shared {
    tokens: Mutex<HashMap<String, Token>>,
    xorbs: Mutex<HashMap<String, Vec<u8>>>,
    files: Mutex<Vec<Registered>>,
    mode: Mutex<Option<Mode>>,
    counters: Mutex<HashMap<String, u64>>,
    /// Every request: (method, path without query, token scope ok).
    pub log: Mutex<Vec<(String, String)>>,
    pub xorb_bytes_posted: AtomicU64,
    /// Every xorb upload the CAS took: (hash, bytes, new to it).
    pub posts: Mutex<Vec<(String, usize, bool)>>,
    /// Xorb uploads being received or forwarded right now (a killed client's may still be).
    pub xorb_posts_in_flight: AtomicU64,
    pub xorb_bytes_new: AtomicU64,
    pub xorb_data_bytes_served: AtomicU64,
    /// Tokens minted so far (a refresh mints another).
    pub minted: AtomicU64,
    /// Called with each file a verified shard registers (the Hub stores it as an LFS object).
    pub on_file: Mutex<Option<OnFile>>,
}

pub struct XetCas {
    child: Child,
    /// The front: the `casUrl` the Hub hands out.
    pub url: String,
    cas: String,
    pub shared: Arc<Shared>,
}

impl Drop for XetCas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl XetCas {
    /// Starts `local_cas_server --in-memory` and the front; panics (the test fails) when the
    /// binary is missing: run scripts/test.sh, which builds it.
    pub fn start() -> XetCas {
        let bin = cas_binary();
        assert!(bin.exists(), "xet-core's local_cas_server is not at {}: scripts/test.sh builds it", bin.display());
        let port = free_port();
        let child = Command::new(&bin)
            .args(["--in-memory", "--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let cas = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{cas}/health")).call().is_err() {
            assert!(Instant::now() < deadline, "local_cas_server did not come up on {cas}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let shared = Arc::new(Shared::default());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let (sh, cas2) = (shared.clone(), cas.clone());
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let (sh, cas) = (sh.clone(), cas2.clone());
                std::thread::spawn(move || front(conn, &sh, &cas));
            }
        });
        XetCas { child, url, cas, shared }
    }

    pub fn set_mode(&self, m: Mode) {
        *self.shared.mode.lock().unwrap() = Some(m);
    }

    pub fn count(&self, key: &str) -> u64 {
        *self.shared.counters.lock().unwrap().get(key).unwrap_or(&0)
    }

    pub fn files(&self) -> Vec<Registered> {
        self.shared.files.lock().unwrap().clone()
    }

    pub fn file_id_of(&self, repo: &str, sha256: &str) -> Option<String> {
        self.shared.files.lock().unwrap().iter().find(|f| f.repo == repo && f.sha256 == sha256).map(|f| f.file_id.clone())
    }

    pub fn posted(&self) -> u64 {
        self.shared.xorb_bytes_posted.load(Ordering::SeqCst)
    }

    /// Waits until no xorb upload is being received or forwarded (what a killed client sent
    /// has landed or failed).
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        // a request whose body is still arriving is not counted yet: give it a moment
        std::thread::sleep(Duration::from_millis(50));
        while self.shared.xorb_posts_in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn posted_new(&self) -> u64 {
        self.shared.xorb_bytes_new.load(Ordering::SeqCst)
    }
}

impl Shared {
    /// A token for `repo` (what the Hub's token endpoints hand out), valid for `ttl`, or for
    /// `uses` requests when given. Returns (token, exp as unix seconds).
    pub fn mint(&self, repo: &str, write: bool, ttl: Duration, uses: Option<u32>) -> (String, u64) {
        let n = self.minted.fetch_add(1, Ordering::SeqCst);
        let token = format!("xet_{}_{n}_{:x}", if write { "w" } else { "r" }, rand_u64());
        let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + ttl.as_secs();
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), Token { repo: repo.into(), write, expires: Instant::now() + ttl, uses_left: uses });
        (token, exp)
    }

    /// The Xet file id of the object `sha256` that a shard registered for `repo`.
    pub fn file_id_for(&self, repo: &str, sha256: &str) -> Option<String> {
        self.files.lock().unwrap().iter().find(|f| f.repo == repo && f.sha256 == sha256).map(|f| f.file_id.clone())
    }

    fn bump(&self, key: &str, by: u64) {
        *self.counters.lock().unwrap().entry(key.into()).or_insert(0) += by;
    }

    /// The repository of a valid token with enough scope, or the status to answer.
    fn check(&self, req: &Request, write: bool) -> Result<String, (u16, &'static str)> {
        let h = req.headers.get("authorization").cloned().unwrap_or_default();
        let Some(t) = h.strip_prefix("Bearer ") else { return Err((401, "no bearer token")) };
        let mut tokens = self.tokens.lock().unwrap();
        let Some(tok) = tokens.get_mut(t) else { return Err((401, "unknown token")) };
        if Instant::now() >= tok.expires || tok.uses_left == Some(0) {
            self.bump("expired", 1);
            return Err((401, "token expired"));
        }
        if let Some(n) = tok.uses_left.as_mut() {
            *n -= 1;
        }
        if write && !tok.write {
            return Err((403, "a read token cannot write"));
        }
        Ok(tok.repo.clone())
    }
}

fn rand_u64() -> u64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    t ^ (std::process::id() as u64).rotate_left(32)
}

fn front(conn: TcpStream, sh: &Shared, cas: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let Some(req) = read_request(&mut reader) else { return };
    let mut s = conn;
    let path = req.path.split('?').next().unwrap_or("").to_string();
    sh.log.lock().unwrap().push((req.method.clone(), path.clone()));
    let mode = sh.mode.lock().unwrap().unwrap_or(Mode::Up);
    if mode == Mode::Down {
        return; // closed unanswered
    }
    let data_request = path.starts_with("/v1/fetch_term") || path.starts_with("/v1/get_xorb");
    if mode == Mode::Stall && data_request {
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let write = req.method == "POST" && (path.starts_with("/v1/xorbs/") || path.contains("/shards"));
    // signed data URLs carry their own authorisation (the CAS's URLs to itself): no token
    let repo = if data_request {
        String::new()
    } else {
        match sh.check(&req, write) {
            Ok(r) => r,
            Err((status, why)) => return reply(&mut s, status, &[], format!("{{\"error\":\"{why}\"}}").as_bytes()),
        }
    };
    sh.bump(&format!("{} {}", req.method, path.split('/').take(3).collect::<Vec<_>>().join("/")), 1);
    if path.starts_with("/v1/xorb-grants/") {
        // no upload grants here (xorbs reach the CAS through this front, where they are kept
        // for the shard checks): hf_xet falls back to `POST /v1/xorbs` on 404, as the spec's
        // clients do
        return reply(&mut s, 404, &[], b"{\"error\":\"no upload grants\"}");
    }
    if req.method == "HEAD" && path.starts_with("/v1/xorbs/") {
        let hash = path.rsplit('/').next().unwrap_or("");
        let len = sh.xorbs.lock().unwrap().get(hash).map(Vec::len);
        let head = match len {
            Some(n) => format!("HTTP/1.1 200 X\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"),
            None => "HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
        };
        let _ = s.write_all(head.as_bytes());
        return;
    }
    if req.method == "POST" && path.starts_with("/v1/xorbs/") {
        let hash = path.rsplit('/').next().unwrap_or("").to_string();
        let had = sh.xorbs.lock().unwrap().contains_key(&hash);
        sh.xorb_bytes_posted.fetch_add(req.body.len() as u64, Ordering::SeqCst);
        sh.xorb_posts_in_flight.fetch_add(1, Ordering::SeqCst);
        let (status, body) = forward(cas, &req);
        if status == 200 {
            if !had {
                sh.xorb_bytes_new.fetch_add(req.body.len() as u64, Ordering::SeqCst);
            }
            sh.posts.lock().unwrap().push((hash.clone(), req.body.len(), !had));
            sh.xorbs.lock().unwrap().insert(hash, req.body.clone());
        }
        sh.xorb_posts_in_flight.fetch_sub(1, Ordering::SeqCst);
        return reply(&mut s, status, &[("Content-Type", "application/json".into())], &body);
    }
    if req.method == "POST" && (path == "/v1/shards" || path == "/v2/shards") {
        let checked = match verify_shard(sh, &req.body, &repo) {
            Ok(files) => files,
            Err(why) => {
                sh.bump("shard-refused", 1);
                let msg = serde_json::json!({"error": why}).to_string();
                if path == "/v2/shards" {
                    // as the real v2: 200 at once, the failure in the last event
                    let body = format!(
                        "{{\"type\":\"validating\",\"verified\":0,\"total\":1}}\n{{\"type\":\"error\",\"message\":{}}}\n",
                        serde_json::json!(why)
                    );
                    return reply(&mut s, 200, &[("Content-Type", "application/x-ndjson".into())], body.as_bytes());
                }
                return reply(&mut s, 400, &[("Content-Type", "application/json".into())], msg.as_bytes());
            }
        };
        let (status, body) = forward(cas, &req);
        let ok = status == 200 && (path == "/v1/shards" || String::from_utf8_lossy(&body).contains("\"type\":\"result\""));
        if ok {
            for f in checked {
                if let Some(cb) = sh.on_file.lock().unwrap().as_ref() {
                    cb(&f);
                }
                sh.files.lock().unwrap().push(f);
            }
        }
        return reply(&mut s, status, &[], &body);
    }
    // reads: forwarded, with the CAS's URLs pointing back here
    let front_host = req.headers.get("host").cloned().unwrap_or_default();
    let (status, body, headers) = forward_full(cas, &req, &front_host);
    if data_request {
        sh.xorb_data_bytes_served.fetch_add(body.len() as u64, Ordering::SeqCst);
        if req.headers.get("range").is_some_and(|r| r.contains(',')) {
            sh.bump("multi-range fetches", 1);
        }
    }
    let keep: Vec<(&str, String)> = headers
        .into_iter()
        .filter(|(k, _)| ["content-type", "content-range"].contains(&k.as_str()))
        .map(|(k, v)| (if k == "content-type" { "Content-Type" } else { "Content-Range" }, v))
        .collect();
    if req.method == "HEAD" {
        // the CAS's Content-Length, with no body
        let len = body.len();
        let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
        let _ = s.write_all(head.as_bytes());
        return;
    }
    reply(&mut s, status, &keep, &body);
}

fn forward(cas: &str, req: &Request) -> (u16, Vec<u8>) {
    let (s, b, _) = forward_full(cas, req, "");
    (s, b)
}

/// Sends `req` on to the CAS (Range and Host kept, so its URLs name the front) and returns its
/// status, body and headers. A HEAD's body is its Content-Length in zero bytes.
fn forward_full(cas: &str, req: &Request, host: &str) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
    let mut r = agent.request(&req.method, &format!("{cas}{}", req.path));
    for k in ["range", "content-type", "accept-encoding"] {
        if let Some(v) = req.headers.get(k) {
            if k != "accept-encoding" {
                r = r.set(k, v);
            }
        }
    }
    if !host.is_empty() {
        r = r.set("Host", host);
    }
    let resp = if req.method == "POST" { r.send_bytes(&req.body) } else { r.call() };
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return (502, format!("{{\"error\":\"cas unreachable: {e}\"}}").into_bytes(), vec![]),
    };
    let status = resp.status();
    let headers: Vec<(String, String)> =
        resp.headers_names().iter().filter_map(|n| resp.header(n).map(|v| (n.to_ascii_lowercase(), v.to_string()))).collect();
    if req.method == "HEAD" {
        let n: usize = resp.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        return (status, vec![0; n], headers);
    }
    let mut body = Vec::new();
    let _ = resp.into_reader().read_to_end(&mut body);
    (status, body, headers)
}

/// The decoded chunks `[start, end)` of a xorb the front has seen posted.
fn chunks_of(sh: &Shared, xorb: &str, start: u32, end: u32) -> Result<Vec<Vec<u8>>, String> {
    let xorbs = sh.xorbs.lock().unwrap();
    let bytes = xorbs.get(xorb).ok_or_else(|| format!("xorb {xorb} was never uploaded"))?;
    let mut cur = Cursor::new(bytes.as_slice());
    let mut out = Vec::new();
    for i in 0..end {
        let (data, _, _) = deserialize_chunk(&mut cur).map_err(|e| format!("xorb {xorb} chunk {i}: {e}"))?;
        if i >= start {
            out.push(data);
        }
    }
    Ok(out)
}

/// The Hub's checks of an uploaded shard, with xet-core's own code.
fn verify_shard(sh: &Shared, shard: &[u8], repo: &str) -> Result<Vec<Registered>, String> {
    // uploads are footer-less shards, read as the CAS reads them
    let info = MDBInMemoryShard::from_reader(&mut Cursor::new(shard)).map_err(|e| format!("unreadable shard: {e}"))?;
    for x in info.xorb_content.values() {
        let h = x.metadata.xorb_hash.hex();
        if !sh.xorbs.lock().unwrap().contains_key(&h) {
            return Err(format!("xorb {h} named in the shard was not uploaded"));
        }
    }
    let mut out = Vec::new();
    for f in info.file_content.values() {
        let mut content = Vec::new();
        let mut all_chunks = Vec::new();
        if f.verification.len() != f.segments.len() {
            return Err(format!(
                "file {}: {} terms but {} verification entries",
                f.metadata.file_hash.hex(),
                f.segments.len(),
                f.verification.len()
            ));
        }
        for (term, v) in f.segments.iter().zip(&f.verification) {
            let chunks = chunks_of(sh, &term.xorb_hash.hex(), term.chunk_index_start, term.chunk_index_end)?;
            let hashes: Vec<MerkleHash> = chunks.iter().map(|c| compute_data_hash(c)).collect();
            if range_hash_from_chunks(&hashes) != v.range_hash {
                return Err(format!("verification hash of a term of file {} does not match its chunks", f.metadata.file_hash.hex()));
            }
            let len: usize = chunks.iter().map(Vec::len).sum();
            if len as u32 != term.unpacked_segment_bytes {
                return Err(format!(
                    "term of file {} says {} bytes, its chunks hold {len}",
                    f.metadata.file_hash.hex(),
                    term.unpacked_segment_bytes
                ));
            }
            for (c, h) in chunks.into_iter().zip(hashes) {
                all_chunks.push((h, c.len() as u64));
                content.extend_from_slice(&c);
            }
        }
        let id = file_hash(&all_chunks);
        if id != f.metadata.file_hash {
            return Err(format!("file hash {} does not match its chunks ({})", f.metadata.file_hash.hex(), id.hex()));
        }
        let Some(ext) = f.metadata_ext.as_ref() else {
            return Err(format!("file {}: no SHA-256 (git-backed repositories need it)", id.hex()));
        };
        let sha = {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(&content))
        };
        if ext.sha256.hex() != sha {
            return Err(format!("file {}: metadata SHA-256 {} is not the content's {sha}", id.hex(), ext.sha256.hex()));
        }
        out.push(Registered { repo: repo.into(), file_id: id.hex(), sha256: sha, content });
    }
    Ok(out)
}
