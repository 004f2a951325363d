//! The Git LFS batch API and the `basic` transfer adapter over HTTP, as git-lfs speaks them:
//! batches of up to 100 objects, largest first, a bounded number of transfers at once, the
//! action's own headers sent to storage URLs (our credentials only to the API's own host, and
//! never when the server says `authenticated: true`), retries with exponential backoff that
//! honour `Retry-After`, expiring actions re-requested, `verify` after upload, and downloads
//! that stream into `lfs/incomplete/<oid>.part`, resume with `Range`, and are hashed before
//! they become objects.

use crate::error::{Context, Error, Result};
use crate::lfs::oid::Oid;
use crate::lfs::pointer::Pointer;
use crate::lfs::store::Store;
use crate::net::credentials::{self, Auth, GitCredential};
use crate::net::remote::redact;
use crate::progress::Progress;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use ureq::{Agent, Request, Response};

mod xet_transfer;
pub use xet_transfer::XetSummary;

const MEDIA_TYPE: &str = "application/vnd.git-lfs+json";
const BATCH_SIZE: usize = 100;
/// An action that expires within this margin is treated as expired (git-lfs: 5 s).
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

#[derive(Serialize)]
struct BatchRequest<'a> {
    operation: &'a str,
    transfers: Vec<&'a str>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<RefName>,
    objects: Vec<ObjectSpec>,
    hash_algo: &'a str,
}

#[derive(Serialize)]
struct RefName {
    name: String,
}

#[derive(Serialize, Clone)]
struct ObjectSpec {
    oid: String,
    size: u64,
}

#[derive(Deserialize, Debug)]
struct BatchResponse {
    #[serde(default)]
    transfer: Option<String>,
    objects: Vec<ObjectResponse>,
    #[serde(default)]
    hash_algo: Option<String>,
}

#[derive(Deserialize, Debug)]
struct ObjectResponse {
    oid: String,
    size: i64,
    #[serde(default)]
    authenticated: Option<bool>,
    #[serde(default, alias = "_links")]
    actions: Option<Actions>,
    #[serde(default)]
    error: Option<ObjectError>,
}

#[derive(Deserialize, Debug, Default)]
struct Actions {
    upload: Option<Action>,
    download: Option<Action>,
    verify: Option<Action>,
}

#[derive(Deserialize, Debug, Clone)]
struct Action {
    href: String,
    /// Servers send `"header": null` too (rudolfs).
    #[serde(default, deserialize_with = "null_as_empty")]
    header: BTreeMap<String, String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Debug)]
struct ObjectError {
    code: i64,
    message: String,
}

/// Retry settings: git-lfs's keys and defaults.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// `lfs.transfer.maxretries` (8): attempts per request.
    pub max_attempts: u32,
    /// `lfs.transfer.maxretrydelay` (10 s): cap of the exponential backoff (from 250 ms).
    pub max_delay: Duration,
    /// `lfs.transfer.maxverifies` (3, at least 3).
    pub max_verifies: u32,
    /// A `Retry-After` longer than this fails instead of sleeping (300 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, max_delay: Duration::from_secs(10), max_verifies: 3, max_retry_after: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    pub fn from_config(repo: &git2::Repository) -> Result<RetryPolicy> {
        let cfg = repo.config().context("reading git config")?;
        let mut p = RetryPolicy::default();
        if let Ok(n) = cfg.get_i64("lfs.transfer.maxretries") {
            p.max_attempts = n.clamp(1, 100) as u32;
        }
        if let Ok(n) = cfg.get_i64("lfs.transfer.maxretrydelay") {
            p.max_delay = Duration::from_secs(n.clamp(0, 3600) as u64);
        }
        if let Ok(n) = cfg.get_i64("lfs.transfer.maxverifies") {
            p.max_verifies = (n.clamp(1, 100) as u32).max(3);
        }
        Ok(p)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let d = Duration::from_millis(250).saturating_mul(1u32 << attempt.min(16));
        d.min(self.max_delay)
    }
}

/// How one failed request should be handled.
enum Failure {
    /// Try again after this long.
    Retry(Duration, String),
    /// Give up: the message says why.
    Fatal(String),
    /// The signed URL no longer works (a storage 403 from the Hub): ask the batch API for a new
    /// action instead of trying the same URL again.
    Rebatch(String),
}

/// How a transfer that needs a new action from the batch API begins its message.
const URL_EXPIRED: &str = "the storage URL expired";

/// What a request body is.
enum Body<'a> {
    None,
    Json(serde_json::Value),
    Reader(&'a mut dyn Read),
}

/// Sends a request; any HTTP status is a response, only transport failures (refused, reset,
/// timed out) are errors. Error texts never include the URL (it may carry a signed token).
fn call(req: Request, body: Body<'_>) -> std::result::Result<Response, String> {
    let r = match body {
        Body::None => req.call(),
        Body::Json(v) => req.send_json(v),
        Body::Reader(r) => req.send(r),
    };
    match r {
        Ok(resp) | Err(ureq::Error::Status(_, resp)) => Ok(resp),
        Err(ureq::Error::Transport(t)) => {
            // the kind, ureq's message and the io error under it ("timed out"), never the URL
            let mut text = t.kind().to_string();
            if let Some(m) = t.message() {
                text.push_str(&format!(": {m}"));
            }
            if let Some(src) = std::error::Error::source(&t) {
                let src = src.to_string();
                if !text.contains(&src) {
                    text.push_str(&format!(": {src}"));
                }
            }
            Err(text)
        }
    }
}

fn json_headers() -> [(&'static str, String); 2] {
    [("Accept", MEDIA_TYPE.to_string()), ("Content-Type", MEDIA_TYPE.to_string())]
}

/// Where a 3xx response sends us: its `Location` resolved against `url`, http(s) only.
fn redirect_target(url: &str, resp: &Response) -> std::result::Result<String, String> {
    let status = resp.status();
    let loc = resp.header("Location").ok_or_else(|| format!("HTTP {status} redirect without a Location"))?;
    let next = url_join_base(url)
        .and_then(|b| b.join(loc).ok())
        .ok_or_else(|| format!("HTTP {status} redirect to an invalid URL `{}`", crate::net::remote::escape_text(loc)))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("HTTP {status} redirect to a `{}:` URL, which hfgit does not follow", next.scheme()));
    }
    Ok(next.to_string())
}

/// `Retry-After` as seconds or an HTTP date.
/// How long the server asks us to wait: the Hub's `RateLimit: "api";r=0;t=<seconds>` (IETF
/// draft; huggingface_hub sleeps exactly `t`), else `Retry-After` (seconds or an HTTP date).
fn retry_after(resp: &Response) -> Option<Duration> {
    if let Some(t) = resp.header("RateLimit").and_then(ratelimit_reset) {
        return Some(Duration::from_secs(t));
    }
    let v = resp.header("Retry-After")?.trim().to_string();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(&v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The `t` (seconds until the window resets) of a `RateLimit` header value.
fn ratelimit_reset(v: &str) -> Option<u64> {
    v.split(';').find_map(|p| p.trim().strip_prefix("t=")).and_then(|t| t.trim().parse().ok())
}

/// Sleeps `wait`, telling `progress` each second how long is left.
fn wait_visibly(wait: Duration, why: &str, progress: &dyn Progress) {
    let end = Instant::now() + wait;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        progress.waiting(why, left.as_secs_f64().ceil() as u64);
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_secs(1)));
    }
}

/// The server's `message`, when its error body has one.
fn server_message(resp: Response) -> String {
    let status = format!("{} {}", resp.status(), resp.status_text());
    let text = resp.into_string().unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect());
    // the server's words are a stranger's: no escape sequence reaches the terminal
    if msg.trim().is_empty() {
        format!("HTTP {}", crate::net::remote::escape_text(&status))
    } else {
        format!("HTTP {}: {}", crate::net::remote::escape_text(&status), crate::net::remote::escape_text(msg.trim()))
    }
}

struct AuthState {
    auth: Auth,
    helper: Option<GitCredential>,
    tried_netrc: bool,
    tried_helper: bool,
}

/// A remote's LFS API over HTTP.
pub struct HttpLfs {
    endpoint: String,
    cookies: crate::net::cookies::CookieConfig,
    git_url: String,
    /// Follows no redirects: `send` follows them by hand, origin by origin; uploads, whose
    /// streamed body cannot be replayed, do the same in `upload_one`.
    agent: Agent,
    limits: crate::net::http::Limits,
    auth: Mutex<AuthState>,
    concurrency: usize,
    /// The LFS API is the Hub's (its storage URLs are signed and expire).
    hub: bool,
    /// Connections open at once, whole objects and ranges together (`lfs.concurrenttransfers`).
    slots: crate::lfs::ranged::Slots,
    /// Objects at least this large download over several ranges at once (`hfgit.rangedDownloadThreshold`).
    range_threshold: u64,
    retry: RetryPolicy,
    ref_name: Option<String>,
    interactive: bool,
    /// Offer the Hub's `xet` transfer and download from its CAS (`hfgit.xet`, default true).
    xet: bool,
    /// A CAS request that delivers nothing for this long has stalled (`hfgit.xetStallTimeout`).
    xet_stall: Duration,
    /// Multipart parts already stored, per object (oid hex): part number → ETag. When the part
    /// URLs expire mid-upload, the new batch's upload goes on from what remains.
    parts_done: Mutex<HashMap<String, BTreeMap<u64, String>>>,
}

/// Per-object outcome of a transfer.
#[derive(Debug, Default)]
pub struct TransferReport {
    pub transferred_objects: u64,
    pub transferred_bytes: u64,
    pub skipped_objects: u64,
    pub skipped_bytes: u64,
    pub failures: Vec<TransferFailure>,
    /// What went through Xet storage, when anything did.
    pub xet: Option<XetSummary>,
}

/// One object that did not move.
#[derive(Debug, Clone)]
pub struct TransferFailure {
    pub path: String,
    pub oid: Oid,
    pub error: String,
    /// The remote said it does not have the object (an object error 404/410 in the batch, or
    /// storage answering 404/410): fetching again helps only once someone pushes it.
    pub missing_on_remote: bool,
}

impl TransferFailure {
    fn new(path: String, oid: Oid, error: impl Into<String>) -> TransferFailure {
        TransferFailure { path, oid, error: error.into(), missing_on_remote: false }
    }
}

/// How a download that the remote cannot serve for lack of the object begins its message.
pub const REMOTE_LACKS: &str = "the remote is missing this object";

struct Job {
    path: String,
    pointer: Pointer,
    action: Action,
    verify: Option<Action>,
    authenticated: bool,
    batch_time: Instant,
}

enum JobOutcome {
    Done,
    Expired,
    Failed(String),
}

impl HttpLfs {
    /// `endpoint` is the LFS API URL (`…/info/lfs`), `git_url` the git remote's URL (credentials
    /// for the API are looked up for it when both are on one host, as git-lfs does).
    pub fn new(repo: &git2::Repository, endpoint: &str, git_url: &str, ref_name: Option<String>, interactive: bool) -> Result<HttpLfs> {
        let (endpoint, url_auth) = credentials::split_url_credentials(endpoint);
        let (git_url, git_auth) = credentials::split_url_credentials(git_url);
        let same_host = credentials::origin_of(&endpoint) == credentials::origin_of(&git_url);
        let auth = url_auth
            .or(if same_host { git_auth } else { None })
            .or_else(|| credentials::is_hub_url(&endpoint).then(credentials::hf_token).flatten().map(Auth::Bearer))
            .unwrap_or(Auth::None);
        let cfg = repo.config().context("reading git config")?;
        let concurrency = cfg.get_i64("lfs.concurrenttransfers").map(|n| n.clamp(1, 64) as usize).unwrap_or(8);
        let limits = crate::net::http::Limits::from_config(&cfg);
        Ok(HttpLfs {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            git_url,
            agent: crate::net::http::agent(&limits),
            limits,
            cookies: crate::net::cookies::CookieConfig::from_config(&cfg),
            auth: Mutex::new(AuthState { auth, helper: None, tried_netrc: false, tried_helper: false }),
            concurrency,
            hub: credentials::is_hub_url(&endpoint),
            slots: crate::lfs::ranged::Slots::new(concurrency),
            range_threshold: cfg.get_i64("hfgit.rangedDownloadThreshold").ok().filter(|n| *n > 0).map_or(64 << 20, |n| n as u64),
            retry: RetryPolicy::from_config(repo)?,
            ref_name,
            interactive,
            xet: cfg.get_bool("hfgit.xet").unwrap_or(true),
            xet_stall: Duration::from_secs(cfg.get_i64("hfgit.xetstalltimeout").ok().filter(|n| *n > 0).map_or(20, |n| n.min(3600) as u64)),
            parts_done: Mutex::new(HashMap::new()),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn same_origin(&self, url: &str) -> bool {
        credentials::origin_of(url) == credentials::origin_of(&self.endpoint)
    }

    /// Adds our credentials to a request for `url` unless it is on another host, the server said
    /// the action is self-authenticating, or the action already carries an Authorization header.
    fn with_auth(&self, req: Request, url: &str, authenticated: bool, headers: &BTreeMap<String, String>) -> Request {
        let req = match headers.keys().any(|k| k.eq_ignore_ascii_case("cookie")) {
            true => req,
            false => self.with_cookies(req, url),
        };
        if authenticated || !self.same_origin(url) || headers.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
            return req;
        }
        match self.auth.lock().expect("auth lock").auth.header() {
            Some(h) => req.set("Authorization", &h),
            None => req,
        }
    }

    /// The cookies of `http.cookieFile` / `http.<url>.cookieFile` that apply to `url`.
    fn with_cookies(&self, req: Request, url: &str) -> Request {
        match self.cookies.header_for(url) {
            Some(c) => req.set("Cookie", &c),
            None => req,
        }
    }

    /// After a 401 from the API: `.netrc`, then the credential helpers, each once (git-lfs's
    /// order); true when there is something new to try.
    fn refresh_credentials(&self) -> bool {
        let mut st = self.auth.lock().expect("auth lock");
        if let Some(c) = st.helper.take() {
            credentials::report(&c, false);
        }
        let lookup =
            if credentials::origin_of(&self.git_url) == credentials::origin_of(&self.endpoint) { &self.git_url } else { &self.endpoint };
        if !st.tried_netrc {
            st.tried_netrc = true;
            if let Some(auth) = credentials::netrc_for(lookup) {
                st.auth = auth;
                return true;
            }
        }
        if st.tried_helper {
            return false;
        }
        st.tried_helper = true;
        match credentials::fill(lookup, self.interactive) {
            Ok(Some(c)) => {
                st.auth = Auth::Basic { username: c.username.clone(), password: c.password.clone() };
                st.helper = Some(c);
                true
            }
            _ => false,
        }
    }

    fn credentials_worked(&self) {
        let mut st = self.auth.lock().expect("auth lock");
        if let Some(c) = st.helper.take() {
            credentials::report(&c, true);
        }
    }

    fn batch(&self, operation: &str, objects: &[ObjectSpec], progress: &dyn Progress) -> Result<(BatchResponse, Instant)> {
        let url = format!("{}/objects/batch", self.endpoint);
        let body = BatchRequest {
            operation,
            // huggingface_hub's offer: the Hub answers `multipart` for large files
            // and with xet, the Hub's CAS (huggingface_hub's and hf_xet's order)
            transfers: match operation {
                "upload" if self.xet_enabled() => vec!["xet", "multipart", "basic"],
                "upload" => vec!["basic", "multipart"],
                _ => vec!["basic"],
            },
            reference: self.ref_name.clone().map(|name| RefName { name }),
            objects: objects.to_vec(),
            hash_algo: "sha256",
        };
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let json = serde_json::to_value(&body).expect("a batch request serialises");
            let failure = match self.send("POST", &url, &BTreeMap::new(), false, &json_headers(), Some(&json)) {
                Err(e) => Failure::Retry(self.retry.backoff(attempt), e),
                Ok(resp) => {
                    let status = resp.status();
                    if status == 200 {
                        self.credentials_worked();
                        let text = resp
                            .into_string()
                            .map_err(|e| Error::failed(format!("reading the batch response from {}: {e}", redact(&url))))?;
                        let parsed: BatchResponse = serde_json::from_str(&text)
                            .map_err(|e| Error::failed(format!("invalid batch response from {}: {e}", redact(&url))))?;
                        return Ok((parsed, started));
                    }
                    if (200..300).contains(&status) {
                        return Err(Error::failed(format!("invalid batch response from {}: HTTP {status} (expected 200)", redact(&url))));
                    }
                    if status == 401 {
                        if self.refresh_credentials() {
                            continue;
                        }
                        return Err(Error::with_hint(
                            format!("authentication failed for the LFS API {}: {}", redact(&url), server_message(resp)),
                            "put credentials for this host in ~/.netrc (`machine HOST login USER password SECRET`) or a git credential helper (`git credential approve`), or in the remote URL; for the Hub set HF_TOKEN or run `hfgit login`",
                        ));
                    }
                    match status {
                        429 => {
                            let wait = retry_after(&resp).unwrap_or_else(|| self.retry.backoff(attempt));
                            if wait > self.retry.max_retry_after {
                                return Err(Error::failed(format!(
                                    "rate limited by {}: the server asks for a wait of {}s, longer than hfgit waits",
                                    redact(&url),
                                    wait.as_secs()
                                )));
                            }
                            Failure::Retry(wait, server_message(resp))
                        }
                        500 | 502 | 503 | 504 => {
                            Failure::Retry(retry_after(&resp).unwrap_or_else(|| self.retry.backoff(attempt)), server_message(resp))
                        }
                        403 if self.hub && operation == "upload" && self.ref_name.is_some() => {
                            // the Hub applies the named branch's permissions to the upload
                            return Err(Error::with_hint(
                                format!("the Hub refused the upload to {}: {}", redact(&url), server_message(resp)),
                                "without write access to the branch, open a pull request with your commits: `hfgit push --pr` (or use a token with write access)",
                            ));
                        }
                        403 => {
                            let hint = match self.cookies.file_for(&url) {
                                None => "if this host signs you in with a cookie, save it to a file (Netscape format) and run `git config http.cookieFile <FILE>`; otherwise check that your account may use this repository",
                                Some(_) => "the cookies of http.cookieFile were sent: sign in again and refresh the file, or check that your account may use this repository",
                            };
                            return Err(Error::with_hint(
                                format!("the LFS API {} refused access (HTTP 403): {}", redact(&url), server_message(resp)),
                                hint,
                            ));
                        }
                        _ => Failure::Fatal(server_message(resp)),
                    }
                }
            };
            match failure {
                Failure::Fatal(m) | Failure::Rebatch(m) => {
                    return Err(Error::failed(format!("LFS batch request to {} failed: {m}", redact(&url))))
                }
                Failure::Retry(wait, m) => {
                    attempt += 1;
                    if attempt >= self.retry.max_attempts {
                        return Err(Error::failed(format!("LFS batch request to {} failed after {attempt} attempts: {m}", redact(&url))));
                    }
                    wait_visibly(wait, &format!("{} asked to wait", redact(&url)), progress);
                }
            }
        }
    }

    /// Validates a batch response against what was asked (git-lfs's checks).
    fn check_response(&self, resp: &BatchResponse, asked: &HashMap<String, Pointer>) -> Result<()> {
        if let Some(t) = resp.transfer.as_deref() {
            if !t.is_empty() && t != "basic" && t != "multipart" && !(t == "xet" && self.xet_enabled()) {
                return Err(Error::failed(format!("the LFS server chose the `{t}` transfer, which hfgit did not offer")));
            }
        }
        if let Some(h) = resp.hash_algo.as_deref() {
            if !h.is_empty() && h != "sha256" {
                return Err(Error::failed(format!("the LFS server uses hash algorithm `{h}`; only sha256 is supported")));
            }
        }
        for o in &resp.objects {
            if !asked.contains_key(&o.oid) {
                return Err(Error::failed(format!("[{}] The server returned an unknown OID.", o.oid)));
            }
            if o.size < 0 {
                return Err(Error::failed(format!("the LFS server returned an invalid size ({}) for {}", o.size, o.oid)));
            }
        }
        Ok(())
    }

    /// Runs `batch` for `objects` (largest first, ≤ 100 per request) and the resulting jobs on
    /// `concurrency` threads; expired actions go back through a new batch.
    fn run(
        &self,
        operation: &str,
        local: &Store,
        objects: Vec<(String, Pointer)>,
        progress: &dyn Progress,
        staging: Option<&crate::lfs::fetch::StagedCopies>,
    ) -> Result<TransferReport> {
        let mut report = TransferReport::default();
        let mut pending = objects;
        pending.sort_by_key(|(_, p)| std::cmp::Reverse(p.size));
        pending.dedup_by(|a, b| a.1.oid == b.1.oid);
        let total: u64 = pending.iter().map(|(_, p)| p.size).sum();
        progress.begin(if operation == "upload" { "Uploading" } else { "Downloading" }, total, pending.len() as u64);
        let mut rounds = 0;
        while !pending.is_empty() {
            rounds += 1;
            let mut retry_later = Vec::new();
            for chunk in pending.chunks(BATCH_SIZE) {
                let asked: HashMap<String, Pointer> = chunk.iter().map(|(_, p)| (p.oid.to_hex(), p.clone())).collect();
                let paths: HashMap<String, String> = chunk.iter().map(|(path, p)| (p.oid.to_hex(), path.clone())).collect();
                let specs: Vec<ObjectSpec> = chunk.iter().map(|(_, p)| ObjectSpec { oid: p.oid.to_hex(), size: p.size }).collect();
                let (resp, batch_time) = self.batch(operation, &specs, progress)?;
                self.check_response(&resp, &asked)?;
                let mut jobs = Vec::new();
                let answered: std::collections::HashSet<String> = resp.objects.iter().map(|o| o.oid.clone()).collect();
                for (path, p) in chunk.iter().filter(|(_, p)| !answered.contains(&p.oid.to_hex())) {
                    report.failures.push(TransferFailure::new(path.clone(), p.oid, "the server's batch response left this object out"));
                }
                for o in resp.objects {
                    let p = asked[&o.oid].clone();
                    let path = paths[&o.oid].clone();
                    if let Some(e) = o.error {
                        let mut f = TransferFailure::new(
                            path,
                            p.oid,
                            format!("the server says {} ({})", crate::net::remote::escape_text(&e.message), e.code),
                        );
                        f.missing_on_remote = operation == "download" && matches!(e.code, 404 | 410);
                        report.failures.push(f);
                        continue;
                    }
                    let actions = o.actions.unwrap_or_default();
                    let action = if operation == "upload" { actions.upload } else { actions.download };
                    match action {
                        None if operation == "upload" => {
                            report.skipped_objects += 1;
                            report.skipped_bytes += p.size;
                            progress.bytes(p.size);
                            progress.item_done();
                        }
                        None => report.failures.push(TransferFailure::new(path, p.oid, "the server sent no download action")),
                        Some(action) => jobs.push(Job {
                            path,
                            pointer: p,
                            action: self.mirrored(action),
                            verify: actions.verify.map(|v| self.mirrored(v)),
                            authenticated: o.authenticated == Some(true),
                            batch_time,
                        }),
                    }
                }
                if operation == "upload" && resp.transfer.as_deref() == Some("xet") {
                    self.xet_upload(local, jobs, progress, &mut report);
                } else {
                    self.run_jobs(operation, local, jobs, progress, staging, &mut report, &mut retry_later);
                }
            }
            if !retry_later.is_empty() && rounds >= 3 {
                for (path, p) in retry_later {
                    report.failures.push(TransferFailure::new(path, p.oid, "the server's actions keep expiring"));
                }
                break;
            }
            pending = retry_later;
        }
        progress.end();
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)] // one call site each for upload and download; a struct would only rename them
    fn run_jobs(
        &self,
        operation: &str,
        local: &Store,
        jobs: Vec<Job>,
        progress: &dyn Progress,
        staging: Option<&crate::lfs::fetch::StagedCopies>,
        report: &mut TransferReport,
        retry_later: &mut Vec<(String, Pointer)>,
    ) {
        let results = crate::parallel::largest_first(
            jobs,
            |j| j.pointer.size,
            self.concurrency,
            |job| {
                let outcome = if expired(&job.action, job.batch_time) {
                    JobOutcome::Expired
                } else if operation == "upload" {
                    self.upload_one(local, job, &crate::progress::FileProgress::new(progress, &job.path, job.pointer.size))
                } else {
                    let fp = crate::progress::FileProgress::new(progress, &job.path, job.pointer.size);
                    self.slots.take();
                    let r = self.download_one(local, job, &fp, staging.map(|st| st.path_for(&job.pointer.oid)));
                    self.slots.give();
                    r
                };
                if !matches!(outcome, JobOutcome::Expired) {
                    progress.item_done();
                }
                outcome
            },
        );
        for (job, outcome) in results {
            match outcome {
                JobOutcome::Done => {
                    report.transferred_objects += 1;
                    report.transferred_bytes += job.pointer.size;
                }
                JobOutcome::Expired => retry_later.push((job.path, job.pointer)),
                JobOutcome::Failed(m) => {
                    let mut f = TransferFailure::new(job.path, job.pointer.oid, m);
                    f.missing_on_remote = f.error.starts_with(REMOTE_LACKS);
                    report.failures.push(f);
                }
            }
        }
    }

    /// Sends `method` to `url` and follows redirects by hand (at most 5). The server-given
    /// `headers` of an action belong to the action's origin (scheme, host and port): they are not
    /// sent to another; our credentials go only to the LFS API's own origin (`with_auth`); `ours`
    /// (Accept, Content-Type, Range) go everywhere. A redirect to anything but http(s) is an
    /// error.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &BTreeMap<String, String>,
        authenticated: bool,
        ours: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> std::result::Result<Response, String> {
        const MAX_REDIRECTS: usize = 5;
        let first = credentials::origin_of(url);
        let mut url = url.to_string();
        let none = BTreeMap::new();
        for hop in 0..=MAX_REDIRECTS {
            let own = if credentials::origin_of(&url) == first { headers } else { &none };
            let mut req = self.agent.request(method, &url);
            for (k, v) in own {
                req = req.set(k, v);
            }
            for (k, v) in ours {
                req = req.set(k, v);
            }
            let req = self.with_auth(req, &url, authenticated, own);
            let resp = call(req, body.map(|b| Body::Json(b.clone())).unwrap_or(Body::None))?;
            if !matches!(resp.status(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let next = redirect_target(&url, &resp)?;
            if hop == MAX_REDIRECTS {
                return Err(format!("more than {MAX_REDIRECTS} redirects"));
            }
            url = next;
        }
        unreachable!("the loop returns")
    }

    fn request(&self, agent: &Agent, method: &str, a: &Action, authenticated: bool) -> Request {
        let mut req = agent.request(method, &a.href);
        for (k, v) in &a.header {
            req = req.set(k, v);
        }
        self.with_auth(req, &a.href, authenticated, &a.header)
    }

    /// Classifies a storage response: git-lfs retries 403 (expired signature), 429 and 5xx, and
    /// gives up on other client errors.
    fn storage_failure(&self, resp: Response, attempt: u32) -> Failure {
        let code = resp.status();
        let wait = retry_after(&resp);
        let msg = server_message(resp);
        match code {
            429 => match wait {
                Some(w) if w > self.retry.max_retry_after => Failure::Fatal(format!("{msg} (Retry-After too long)")),
                Some(w) => Failure::Retry(w, msg),
                None => Failure::Retry(self.retry.backoff(attempt), msg),
            },
            // the Hub's storage URLs are signed and expire (hub-protocol.md §9): a new batch
            403 if self.hub => Failure::Rebatch(msg),
            403 | 408 | 500..=599 => Failure::Retry(wait.unwrap_or_else(|| self.retry.backoff(attempt)), msg),
            _ => Failure::Fatal(msg),
        }
    }

    fn upload_one(&self, local: &Store, job: &Job, progress: &dyn Progress) -> JobOutcome {
        let p = &job.pointer;
        if !local.contains(p) {
            let kind = if local.object_path(&p.oid).exists() { "corrupt" } else { "missing" };
            return JobOutcome::Failed(format!("({kind}) the object is not in the local store; run `hfgit fsck`"));
        }
        if job.action.header.contains_key("chunk_size") {
            if let Err(m) = self.upload_multipart(local, job, progress) {
                // parts whose signed URLs expired: a new batch gives the upload new ones
                return if m.starts_with(URL_EXPIRED) { JobOutcome::Expired } else { JobOutcome::Failed(m) };
            }
            return self.verify(job);
        }
        let mut attempt = 0;
        let mut target = job.action.clone();
        let mut redirects = 0;
        loop {
            let file = match File::open(local.object_path(&p.oid)) {
                Ok(f) => f,
                Err(e) => return JobOutcome::Failed(format!("cannot read the local object: {e}")),
            };
            // The framing the action asks for: chunked when its headers say so (then no
            // Content-Length, which would contradict it), else Content-Length only.
            let chunked = target
                .header
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked"));
            let mut framed = target.clone();
            framed.header.retain(|k, _| !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("transfer-encoding"));
            let mut req = self.request(&self.agent, "PUT", &framed, job.authenticated);
            if !target.header.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                req = req.set("Content-Type", "application/octet-stream");
            }
            req = match chunked {
                true => req.set("Transfer-Encoding", "chunked"),
                false => req.set("Content-Length", &p.size.to_string()),
            };
            let mut body = Counting { inner: std::io::BufReader::with_capacity(1 << 20, file), progress };
            let failure = match call(req, Body::Reader(&mut body)) {
                Ok(r) if (200..300).contains(&r.status()) => break,
                Ok(r) if (300..400).contains(&r.status()) && redirects < 5 => {
                    let next = match redirect_target(&target.href, &r) {
                        Ok(n) => n,
                        Err(m) => return JobOutcome::Failed(format!("upload failed: {m}")),
                    };
                    // the action's headers belong to its origin: they do not follow to another one
                    if credentials::origin_of(&next) != credentials::origin_of(&target.href) {
                        target.header.clear();
                    }
                    target.href = next;
                    redirects += 1;
                    continue;
                }
                Ok(r) => self.storage_failure(r, attempt),
                Err(e) => Failure::Retry(self.retry.backoff(attempt), e),
            };
            match failure {
                Failure::Fatal(m) => return JobOutcome::Failed(format!("upload refused: {m}")),
                Failure::Rebatch(_) => return JobOutcome::Expired,
                Failure::Retry(wait, m) => {
                    attempt += 1;
                    if attempt >= self.retry.max_attempts {
                        return JobOutcome::Failed(format!("upload failed after {attempt} attempts: {m}"));
                    }
                    std::thread::sleep(wait);
                }
            }
        }
        self.verify(job)
    }

    /// The `verify` action, when the server gave one: up to `max_verifies` attempts.
    fn verify(&self, job: &Job) -> JobOutcome {
        let p = &job.pointer;
        let Some(v) = &job.verify else { return JobOutcome::Done };
        let mut last = String::new();
        for attempt in 0..self.retry.max_verifies {
            let body = serde_json::json!({"oid": p.oid.to_hex(), "size": p.size});
            match self.send("POST", &v.href, &v.header, false, &json_headers(), Some(&body)) {
                Ok(r) if (200..300).contains(&r.status()) => return JobOutcome::Done,
                Ok(r) => last = server_message(r),
                Err(e) => last = e,
            }
            if attempt + 1 < self.retry.max_verifies {
                std::thread::sleep(self.retry.backoff(attempt));
            }
        }
        JobOutcome::Failed(format!("the server did not verify the upload after {} attempts: {last}", self.retry.max_verifies))
    }

    /// The Hub's `multipart` transfer: the upload action's header carries `chunk_size` and one
    /// pre-signed URL per part under numbered keys; each slice is PUT to its URL (with no
    /// credentials of ours: the URL is its own authorisation), the `ETag`s are collected, and a
    /// completion POST to the action's href lists them. Parts stored before their URLs expired
    /// are not sent again: the new batch's URLs carry the upload on from the first part missing
    /// (and should the server then not know those parts, the whole upload starts over).
    fn upload_multipart(&self, local: &Store, job: &Job, progress: &dyn Progress) -> std::result::Result<(), String> {
        let p = &job.pointer;
        let h = &job.action.header;
        let chunk: u64 = h
            .get("chunk_size")
            .and_then(|c| c.trim().parse().ok())
            .filter(|c| *c > 0)
            .ok_or_else(|| format!("invalid multipart chunk_size {:?}", h.get("chunk_size")))?;
        let mut parts: Vec<(u64, String)> = h
            .iter()
            .filter(|(k, _)| !k.is_empty() && k.bytes().all(|c| c.is_ascii_digit()))
            .filter_map(|(k, v)| Some((k.parse::<u64>().ok()?, v.clone())))
            .collect();
        parts.sort();
        let want = p.size.div_ceil(chunk);
        if parts.len() as u64 != want || parts.iter().enumerate().any(|(i, (n, _))| *n != i as u64 + 1) {
            return Err(format!("the server sent {} part URLs for {want} parts of {chunk} bytes", parts.len()));
        }
        let path = local.object_path(&p.oid);
        let oid = p.oid.to_hex();
        let stored = |n: u64| self.parts_done.lock().expect("parts lock").get(&oid).is_some_and(|d| d.contains_key(&n));
        let resumed = parts.iter().any(|(n, _)| stored(*n));
        parts.retain(|(n, _)| !stored(*n));
        let expired = std::sync::atomic::AtomicBool::new(false);
        let threads = self.concurrency.clamp(1, 4);
        let results = crate::parallel::largest_first(
            parts,
            |(n, _)| u64::MAX - n,
            threads,
            |(n, url)| {
                // one part's URL expired: so have the others of that batch; the next batch's go on
                if expired.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(format!("{URL_EXPIRED}: an earlier part's URL expired"));
                }
                let start = (n - 1) * chunk;
                let len = chunk.min(p.size - start);
                let r = self.retrying(&format!("part {n}"), |attempt| {
                    let unreadable = |e: std::io::Error| Failure::Fatal(format!("cannot read the local object: {e}"));
                    let mut f = File::open(&path).map_err(unreadable)?;
                    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start)).map_err(unreadable)?;
                    let mut body = Counting { inner: std::io::BufReader::with_capacity(1 << 20, f.take(len)), progress };
                    let req = self.with_cookies(self.agent.put(url), url).set("Content-Length", &len.to_string());
                    match call(req, Body::Reader(&mut body)) {
                        Ok(r) if (200..300).contains(&r.status()) => r
                            .header("ETag")
                            .map(str::to_string)
                            .ok_or_else(|| Failure::Fatal("the storage answered without an ETag".into())),
                        Ok(r) => Err(self.storage_failure(r, attempt)),
                        Err(e) => Err(Failure::Retry(self.retry.backoff(attempt), e)),
                    }
                });
                match &r {
                    Ok(etag) => {
                        self.parts_done.lock().expect("parts lock").entry(oid.clone()).or_default().insert(*n, etag.clone());
                    }
                    Err(m) if m.starts_with(URL_EXPIRED) => expired.store(true, std::sync::atomic::Ordering::Relaxed),
                    Err(_) => {}
                }
                r
            },
        );
        // a real failure says more than the parts that only stopped because of an expiry
        let mut failures: Vec<String> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
        failures.sort_by_key(|m| m.starts_with(URL_EXPIRED));
        if let Some(m) = failures.into_iter().next() {
            return Err(m);
        }
        let etags: Vec<(u64, String)> =
            self.parts_done.lock().expect("parts lock").get(&oid).map(|d| d.clone().into_iter().collect()).unwrap_or_default();
        let body = serde_json::json!({
            "oid": p.oid.to_hex(),
            "parts": etags.iter().map(|(n, e)| serde_json::json!({"partNumber": n, "etag": e})).collect::<Vec<_>>(),
        });
        let done = self.retrying("completing the multipart upload", |attempt| {
            // like huggingface_hub: the completion URL authorises itself; no token is added
            match self.send("POST", &job.action.href, &BTreeMap::new(), true, &json_headers(), Some(&body)) {
                Ok(r) if (200..300).contains(&r.status()) => Ok(()),
                Ok(r) => Err(self.storage_failure(r, attempt)),
                Err(e) => Err(Failure::Retry(self.retry.backoff(attempt), e)),
            }
        });
        self.parts_done.lock().expect("parts lock").remove(&oid);
        match done {
            // parts of an earlier batch the server did not keep: once more, every part anew
            Err(m) if resumed && !m.starts_with(URL_EXPIRED) => {
                Err(format!("{URL_EXPIRED}: the resumed upload was not completed ({m}); starting it over"))
            }
            other => other,
        }
    }

    /// Runs `once(attempt)` until it succeeds, fails for good, or the attempts run out, sleeping
    /// as each failure asks. Errors read "<what> refused: …" or "<what> failed after N attempts: …".
    fn retrying<T>(&self, what: &str, mut once: impl FnMut(u32) -> std::result::Result<T, Failure>) -> std::result::Result<T, String> {
        let mut attempt = 0;
        loop {
            match once(attempt) {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(m)) => return Err(format!("{what} refused: {m}")),
                // a multipart part's URL: signed like the others; the whole upload is asked again
                Err(Failure::Rebatch(m)) => return Err(format!("{URL_EXPIRED}: {m}")),
                Err(Failure::Retry(wait, m)) => {
                    attempt += 1;
                    if attempt >= self.retry.max_attempts {
                        return Err(format!("{what} failed after {attempt} attempts: {m}"));
                    }
                    std::thread::sleep(wait);
                }
            }
        }
    }

    fn download_one(&self, local: &Store, job: &Job, progress: &dyn Progress, stage: Option<std::path::PathBuf>) -> JobOutcome {
        let r = self.download_inner(local, job, progress, stage.as_deref());
        if let (Err(_), Some(st)) = (&r, &stage) {
            let _ = fs::remove_file(st);
        }
        match r {
            Ok(()) => JobOutcome::Done,
            Err(e) if e.to_string().starts_with(URL_EXPIRED) => JobOutcome::Expired,
            Err(e) => JobOutcome::Failed(e.to_string()),
        }
    }

    /// With `stage`, a download that starts from byte 0 is also written there as it arrives
    /// (the work-tree copy of a clone, made while the network is the bottleneck); a resumed one
    /// is not, and `checkout_fresh` copies it from the store instead. A ranged download writes
    /// it whole, in order, as it verifies the pieces.
    fn download_inner(&self, local: &Store, job: &Job, progress: &dyn Progress, stage: Option<&std::path::Path>) -> Result<()> {
        let p = &job.pointer;
        let part = local.incomplete_path(&p.oid);
        fs::create_dir_all(part.parent().expect("has parent")).context("creating lfs/incomplete")?;
        if p.size >= self.range_threshold && self.concurrency > 1 {
            use crate::lfs::ranged;
            let get = |start: u64, end: u64| self.range_answer(job, start, end);
            let backoff = |a: u32| self.retry.backoff(a);
            match ranged::download(&part, p, self.concurrency, &self.slots, self.retry.max_attempts, &backoff, &get, progress, stage)? {
                ranged::Outcome::Done => return local.persist_path(&part, &p.oid),
                ranged::Outcome::NoRanges => {} // one stream, below
            }
        }
        let mut attempt = 0;
        loop {
            let mut have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if have >= p.size {
                // never ask for an empty or inverted range: start again
                let _ = fs::remove_file(&part);
                have = 0;
            }
            let mut hasher = Sha256::new();
            if have > 0 {
                let mut f = File::open(&part).context("reading the partial download")?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf).context("reading the partial download")?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
            }
            // Whole downloads accept gzip (decoded here, hashed decoded), as Go's client asks for
            // it; a resumed one asks for the identity bytes its Range counts.
            let range: Vec<(&str, String)> = match have {
                0 => vec![("Accept-Encoding", "gzip, identity".into())],
                _ => vec![("Range", format!("bytes={have}-{}", p.size - 1)), ("Accept-Encoding", "identity".into())],
            };
            let failure = match self.send("GET", &job.action.href, &job.action.header, job.authenticated, &range, None) {
                Err(e) => Failure::Retry(self.retry.backoff(attempt), e),
                Ok(resp) if resp.status() == 416 => {
                    let _ = fs::remove_file(&part);
                    Failure::Retry(Duration::ZERO, "range not satisfiable; downloading from the start".into())
                }
                Ok(resp) if matches!(resp.status(), 404 | 410) => {
                    let _ = fs::remove_file(&part);
                    return Err(Error::failed(format!("{REMOTE_LACKS} (storage answered {})", server_message(resp))));
                }
                Ok(resp) if have > 0 && (200..300).contains(&resp.status()) && is_encoded(&resp) => {
                    // asked for identity bytes from `have` on: an encoded answer cannot extend them
                    let _ = fs::remove_file(&part);
                    Failure::Retry(Duration::ZERO, "the server encoded a resumed download; downloading from the start".into())
                }
                Ok(resp) if (200..300).contains(&resp.status()) => {
                    let encoding = resp.header("Content-Encoding").map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty());
                    let gzip = match encoding.as_deref() {
                        None | Some("identity") => false,
                        Some("gzip") | Some("x-gzip") => true,
                        Some(other) => {
                            let _ = fs::remove_file(&part);
                            return Err(Error::failed(format!(
                                "the server sent the object with Content-Encoding `{}`, which hfgit cannot decode (it asked for gzip or identity)",
                                crate::net::remote::escape_text(other)
                            )));
                        }
                    };
                    let resumed = have > 0
                        && !gzip
                        && resp.status() == 206
                        && resp.header("Content-Range").is_some_and(|v| v.trim().starts_with(&format!("bytes {have}-")));
                    let raw = crate::net::http::LowSpeed::new(resp.into_reader(), self.limits);
                    let mut resp: Box<dyn Read> = match gzip {
                        true => Box::new(flate2::read::GzDecoder::new(raw)),
                        false => Box::new(raw),
                    };
                    if have > 0 && !resumed {
                        have = 0;
                        hasher = Sha256::new();
                    }
                    let out = OpenOptions::new()
                        .create(true)
                        .write(true)
                        .append(resumed)
                        .truncate(!resumed)
                        .open(&part)
                        .context("writing the download")?;
                    // the response hands out small chunks: batch them into large writes
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
                    let mut copy = match stage {
                        Some(st) if !resumed => {
                            Some(std::io::BufWriter::with_capacity(1 << 20, File::create(st).context("staging the work-tree copy")?))
                        }
                        Some(st) => {
                            let _ = fs::remove_file(st);
                            None
                        }
                        None => None,
                    };
                    let mut n = have;
                    let mut buf = vec![0u8; 1 << 20];
                    let mut stream_err = None;
                    loop {
                        match resp.read(&mut buf) {
                            Ok(0) => break,
                            Ok(k) => {
                                if n + k as u64 > p.size {
                                    stream_err = Some(format!("the server sent more than {} bytes", p.size));
                                    break;
                                }
                                hasher.update(&buf[..k]);
                                out.write_all(&buf[..k]).context("writing the download")?;
                                if let Some(c) = copy.as_mut() {
                                    c.write_all(&buf[..k]).context("staging the work-tree copy")?;
                                }
                                n += k as u64;
                                progress.bytes(k as u64);
                            }
                            Err(e) => {
                                stream_err = Some(format!("connection lost after {n} bytes: {e}"));
                                break;
                            }
                        }
                    }
                    out.flush().context("writing the download")?;
                    drop(out);
                    if let Some(mut c) = copy {
                        c.flush().context("staging the work-tree copy")?;
                    }
                    match stream_err {
                        Some(m) if n < p.size => Failure::Retry(self.retry.backoff(attempt), m),
                        Some(m) => {
                            let _ = fs::remove_file(&part);
                            return Err(Error::failed(m));
                        }
                        None if n < p.size => {
                            Failure::Retry(self.retry.backoff(attempt), format!("the download ended after {n} of {} bytes", p.size))
                        }
                        None => {
                            let got = Oid::from_bytes(hasher.finalize().into());
                            if got != p.oid && resumed {
                                // the kept partial download may be what is damaged: start again
                                let _ = fs::remove_file(&part);
                                Failure::Retry(
                                    Duration::ZERO,
                                    format!("a resumed download did not verify (got {got}); downloading from the start"),
                                )
                            } else if got != p.oid {
                                let _ = fs::remove_file(&part);
                                return Err(Error::failed(format!(
                                    "the server sent content that does not match the object: expected OID {}, got {got} after {n} bytes",
                                    p.oid
                                )));
                            } else {
                                return local.persist_path(&part, &p.oid);
                            }
                        }
                    }
                }
                Ok(resp) => self.storage_failure(resp, attempt),
            };
            match failure {
                Failure::Fatal(m) => return Err(Error::failed(format!("download refused: {m}"))),
                // the partial download stays: the new action's URL resumes it
                Failure::Rebatch(m) => return Err(Error::failed(format!("{URL_EXPIRED}: {m}"))),
                Failure::Retry(wait, m) => {
                    attempt += 1;
                    if attempt >= self.retry.max_attempts {
                        return Err(Error::failed(format!("download failed after {attempt} attempts: {m}")));
                    }
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// Which of `objects` the server cannot give back: asked as a download batch (git-lfs's
    /// `prune --verify-remote` check), an object answered with an error, or with no download
    /// action, or left out of the answer is missing. Nothing is downloaded.
    pub fn missing(&self, objects: &[Pointer]) -> Result<Vec<(Pointer, String)>> {
        let mut out = Vec::new();
        for chunk in objects.chunks(BATCH_SIZE) {
            let asked: HashMap<String, Pointer> = chunk.iter().map(|p| (p.oid.to_hex(), p.clone())).collect();
            let specs: Vec<ObjectSpec> = chunk.iter().map(|p| ObjectSpec { oid: p.oid.to_hex(), size: p.size }).collect();
            let (resp, _) = self.batch("download", &specs, &crate::progress::Silent)?;
            self.check_response(&resp, &asked)?;
            let mut answered = std::collections::HashSet::new();
            for o in resp.objects {
                answered.insert(o.oid.clone());
                let p = asked[&o.oid].clone();
                if let Some(e) = o.error {
                    out.push((p, format!("the server says {} ({})", crate::net::remote::escape_text(&e.message), e.code)));
                } else if o.actions.and_then(|a| a.download).is_none() {
                    out.push((p, "the server sent no download action".into()));
                }
            }
            out.extend(
                chunk
                    .iter()
                    .filter(|p| !answered.contains(&p.oid.to_hex()))
                    .map(|p| (p.clone(), "the server's batch response left this object out".into())),
            );
        }
        Ok(out)
    }

    /// With `HF_ENDPOINT` naming a mirror, an action the Hub wrote for `https://huggingface.co`
    /// goes to the mirror instead, as huggingface_hub rewrites it.
    fn mirrored(&self, mut a: Action) -> Action {
        let endpoint = crate::net::remote::hub_endpoint();
        let default = crate::net::remote::DEFAULT_ENDPOINT;
        if self.hub && endpoint != default {
            if let Some(rest) = a.href.strip_prefix(default).filter(|r| r.is_empty() || r.starts_with('/')) {
                a.href = format!("{endpoint}{rest}");
            }
        }
        a
    }

    /// One range of a download, classified for [`crate::lfs::ranged::download`]: only a 206 with
    /// exactly the asked `Content-Range` and no content encoding is a piece.
    fn range_answer(&self, job: &Job, start: u64, end: u64) -> crate::lfs::ranged::Answer {
        use crate::lfs::ranged::{content_range_is, Answer};
        let headers = [("Range", format!("bytes={start}-{}", end - 1)), ("Accept-Encoding", "identity".to_string())];
        let resp = match self.send("GET", &job.action.href, &job.action.header, job.authenticated, &headers, None) {
            Ok(r) => r,
            Err(e) => return Answer::Retry(None, e),
        };
        match resp.status() {
            206 if !is_encoded(&resp) && content_range_is(resp.header("Content-Range"), start, end, job.pointer.size) => {
                Answer::Partial(Box::new(crate::net::http::LowSpeed::new(resp.into_reader(), self.limits)))
            }
            206 => Answer::Retry(None, format!("the server answered another range than bytes {start}-{}", end - 1)),
            200 | 416 => Answer::NoRanges,
            404 | 410 => Answer::Fatal(format!("{REMOTE_LACKS} (storage answered {})", server_message(resp))),
            _ => match self.storage_failure(resp, 0) {
                Failure::Retry(w, m) => Answer::Retry(Some(w), m),
                Failure::Fatal(m) => Answer::Fatal(m),
                Failure::Rebatch(m) => Answer::Fatal(format!("{URL_EXPIRED}: {m}")),
            },
        }
    }

    /// Uploads what the server asks for; objects it already has are skipped.
    pub fn upload(&self, local: &Store, objects: Vec<(String, Pointer)>, progress: &dyn Progress) -> Result<TransferReport> {
        self.run("upload", local, objects, progress, None)
    }

    /// Downloads objects into the local store, each verified before it becomes an object.
    /// With `staging`, full downloads are also written to their staged work-tree copy.
    pub fn download(
        &self,
        local: &Store,
        objects: Vec<(String, Pointer)>,
        progress: &dyn Progress,
        staging: Option<&crate::lfs::fetch::StagedCopies>,
    ) -> Result<TransferReport> {
        let mut first = TransferReport::default();
        let objects = if self.xet_enabled() { self.xet_download(local, objects, progress, &mut first) } else { objects };
        let mut r = if objects.is_empty() { TransferReport::default() } else { self.run("download", local, objects, progress, staging)? };
        r.transferred_objects += first.transferred_objects;
        r.transferred_bytes += first.transferred_bytes;
        r.xet = first.xet;
        Ok(r)
    }
}

/// Reports the bytes an upload body hands to the connection.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

/// The URL to resolve a relative `Location` against.
/// git-lfs's rule (`tools.IsExpiredAtOrIn`): a non-zero `expires_in` counts from the batch
/// request; otherwise `expires_at` decides; absent values, `expires_in: 0` and the zero time
/// (`0001-01-01T00:00:00Z`, which Go's JSON encoder writes for "no expiry") never expire.
/// Expired means within [`EXPIRY_MARGIN`] of the deadline.
fn expired(a: &Action, batch_time: Instant) -> bool {
    let left = match (a.expires_in.filter(|s| *s != 0), a.expires_at.as_deref().filter(|t| !is_zero_time(t))) {
        (Some(secs), _) => Some(secs as f64 - batch_time.elapsed().as_secs_f64()),
        (None, Some(at)) => crate::time::parse_date(at).ok().map(|(secs, _)| {
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            secs as f64 - now
        }),
        (None, None) => None,
    };
    left.is_some_and(|l| l <= EXPIRY_MARGIN.as_secs_f64())
}

/// The response body is content-encoded (not identity).
fn is_encoded(resp: &Response) -> bool {
    resp.header("Content-Encoding").map(str::trim).is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
}

/// Go's zero `time.Time` in any zone (year 1, or year 0 east of UTC): "no expiry" to git-lfs.
fn is_zero_time(t: &str) -> bool {
    t.trim().get(0..4).and_then(|y| y.parse::<u32>().ok()).is_some_and(|y| y <= 1)
}

fn url_join_base(href: &str) -> Option<url::Url> {
    url::Url::parse(href).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_responses_as_real_servers_write_them() {
        // rudolfs: "header": null; old servers: "_links"; absolute expiry
        let r: BatchResponse = serde_json::from_str(
            r#"{"transfer":"basic","objects":[
                {"oid":"a","size":1,"authenticated":null,"actions":{"upload":{"href":"http://x/a","header":null,"expires_at":"2099-01-01T00:00:00Z"}},"error":null},
                {"oid":"b","size":2,"_links":{"download":{"href":"http://x/b"}}},
                {"oid":"c","size":3}]}"#,
        )
        .unwrap();
        let up = r.objects[0].actions.as_ref().unwrap().upload.as_ref().unwrap();
        assert!(up.header.is_empty());
        assert_eq!(up.expires_at.as_deref(), Some("2099-01-01T00:00:00Z"));
        assert_eq!(r.objects[1].actions.as_ref().unwrap().download.as_ref().unwrap().href, "http://x/b");
        assert!(r.objects[2].actions.is_none());
    }

    #[test]
    fn expiry_follows_git_lfs_zero_times_never_expire() {
        let act = |json: &str| serde_json::from_str::<Action>(json).unwrap();
        let now = Instant::now();
        let never = [
            r#"{"href":"h"}"#,
            r#"{"href":"h","expires_in":0}"#,
            r#"{"href":"h","expires_at":"0001-01-01T00:00:00Z"}"#,
            r#"{"href":"h","expires_at":"0001-01-01T00:00:00+02:00"}"#,
            r#"{"href":"h","expires_at":"0001-01-01T00:00:00Z","expires_in":0}"#,
            r#"{"href":"h","expires_at":"2099-01-01T00:00:00Z"}"#,
            r#"{"href":"h","expires_in":3600}"#,
            // a non-zero expires_in wins over expires_at, as in git-lfs
            r#"{"href":"h","expires_at":"2001-01-01T00:00:00Z","expires_in":3600}"#,
        ];
        for j in never {
            assert!(!expired(&act(j), now), "{j} should not be expired");
        }
        let gone = [
            r#"{"href":"h","expires_at":"2001-01-01T00:00:00Z"}"#,
            r#"{"href":"h","expires_in":-1}"#,
            r#"{"href":"h","expires_in":3}"#,
            r#"{"href":"h","expires_at":"2099-01-01T00:00:00Z","expires_in":-60}"#,
        ];
        for j in gone {
            assert!(expired(&act(j), now), "{j} should be expired");
        }
    }

    #[test]
    fn backoff_doubles_from_250ms_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(1000));
        assert_eq!(p.backoff(10), Duration::from_secs(10));
    }
}
