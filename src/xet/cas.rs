//! The CAS API (spec `api.md`) over HTTP, blocking, with ureq: tokens that refresh themselves
//! (30 s before `exp`, and once on a 401), retries of 429/5xx and dropped connections with
//! backoff, `POST /v2/shards` read to its last event (its 200 says nothing) with the fallback to
//! `/v1/shards` on 404, v2 reconstructions with the fallback to v1, and multi-range fetches of
//! signed xorb URLs (`multipart/byteranges` parsed here).
//!
//! No token or signed URL query ever reaches an error message: URLs are printed without their
//! query, and tokens only travel in the Authorization header.

use crate::error::{Error, Result};
use crate::net::http::Limits;
use crate::xet::hash::MerkleHash;
use std::io::Read;
use std::ops::Range;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A CAS access token as the Hub hands it out (`{accessToken, exp, casUrl}`).
#[derive(Clone)]
pub struct Token {
    pub access: String,
    /// Unix seconds.
    pub exp: u64,
    pub cas_url: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(exp {}, {})", self.exp, self.cas_url)
    }
}

impl Token {
    /// Parses the Hub's token JSON.
    pub fn from_json(v: &serde_json::Value) -> Option<Token> {
        Some(Token {
            access: v["accessToken"].as_str()?.to_string(),
            exp: v["exp"].as_u64().or_else(|| v["exp"].as_f64().map(|f| f as u64))?,
            cas_url: v["casUrl"].as_str()?.trim_end_matches('/').to_string(),
        })
    }

    fn stale(&self) -> bool {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        now + 30 >= self.exp
    }
}

/// Gets a new token (the Hub's token route).
pub type Refresh = dyn Fn() -> Result<Token> + Send + Sync;

/// How a CAS request failed.
#[derive(Debug)]
pub enum CasError {
    /// The CAS could not be reached, or stopped sending (connect, activity or stall timeout).
    Unreachable(String),
    /// The CAS answered, and said no.
    Refused(u16, String),
}

impl CasError {
    pub fn into_error(self, what: &str) -> Error {
        match self {
            CasError::Unreachable(m) => Error::failed(format!("{what}: the Xet storage could not be reached: {m}")),
            CasError::Refused(code, m) => Error::failed(format!("{what}: the Xet storage answered HTTP {code}: {m}")),
        }
    }
}

impl std::fmt::Display for CasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CasError::Unreachable(m) => write!(f, "unreachable: {m}"),
            CasError::Refused(c, m) => write!(f, "HTTP {c}: {m}"),
        }
    }
}

pub struct Cas {
    agent: ureq::Agent,
    token: Mutex<Token>,
    refresh: Box<Refresh>,
    max_attempts: u32,
}

/// One reconstruction term: chunks `[start, end)` of `xorb`, `unpacked` bytes once decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub xorb: MerkleHash,
    pub start: u32,
    pub end: u32,
    pub unpacked: u64,
}

/// One range a signed URL may be asked for: `(chunks [a, b), bytes [s, e])`.
pub type XorbRange = ((u32, u32), (u64, u64));

/// A signed URL and the xorb ranges it may be asked for.
#[derive(Clone, Debug)]
pub struct Fetch {
    pub xorb: MerkleHash,
    pub url: String,
    pub ranges: Vec<XorbRange>,
}

/// `GET /v2/reconstructions/{file_id}`.
#[derive(Clone, Debug)]
pub struct Reconstruction {
    pub offset_into_first_range: u64,
    pub terms: Vec<Term>,
    pub fetches: Vec<Fetch>,
}

/// No xorb range is larger than a whole serialized xorb (64 MiB of data, a header per chunk,
/// LZ4 frames that did not shrink): a range that claims more is refused before anything is
/// read into memory for it.
const MAX_RANGE_BYTES: u64 = 128 << 20;

/// The URL without its query (signed URLs carry their signature there).
pub fn shown(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

fn hash_of(v: &serde_json::Value, what: &str) -> std::result::Result<MerkleHash, String> {
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| format!("{what} is not a Xet hash"))
}

fn u64_of(v: &serde_json::Value, what: &str) -> std::result::Result<u64, String> {
    v.as_u64().ok_or_else(|| format!("{what} is not a number"))
}

impl Reconstruction {
    /// Reads a v2 (`xorbs`) or v1 (`fetch_info`) response; anything malformed is an error.
    pub fn parse(v: &serde_json::Value) -> std::result::Result<Reconstruction, String> {
        let mut terms = Vec::new();
        for t in v["terms"].as_array().ok_or("no terms")? {
            let start = u64_of(&t["range"]["start"], "a term's range start")?;
            let end = u64_of(&t["range"]["end"], "a term's range end")?;
            if start >= end || end > 1 << 20 {
                return Err(format!("a term's chunk range [{start}, {end}) is invalid"));
            }
            terms.push(Term {
                xorb: hash_of(&t["hash"], "a term's xorb")?,
                start: start as u32,
                end: end as u32,
                unpacked: u64_of(&t["unpacked_length"], "a term's unpacked_length")?,
            });
        }
        let mut fetches = Vec::new();
        let (map, v2) = match v.get("xorbs") {
            Some(m) => (m, true),
            None => (&v["fetch_info"], false),
        };
        for (xorb, entries) in map.as_object().ok_or("no xorbs")? {
            let xorb: MerkleHash = xorb.parse().map_err(|_| "a xorb key is not a Xet hash".to_string())?;
            for e in entries.as_array().ok_or("a xorb's entries are not a list")? {
                let url = e["url"].as_str().ok_or("a fetch has no url")?.to_string();
                let range = |r: &serde_json::Value| -> std::result::Result<XorbRange, String> {
                    let (a, b) = (u64_of(&r["chunks"]["start"], "chunks.start")?, u64_of(&r["chunks"]["end"], "chunks.end")?);
                    let (s, e) = if v2 {
                        (u64_of(&r["bytes"]["start"], "bytes.start")?, u64_of(&r["bytes"]["end"], "bytes.end")?)
                    } else {
                        (u64_of(&r["url_range"]["start"], "url_range.start")?, u64_of(&r["url_range"]["end"], "url_range.end")?)
                    };
                    if a >= b || s > e || b > 1 << 20 || e - s >= MAX_RANGE_BYTES {
                        return Err(format!("a fetch range (chunks {a}..{b}, bytes {s}-{e}) is invalid"));
                    }
                    Ok(((a as u32, b as u32), (s, e)))
                };
                let ranges = if v2 {
                    e["ranges"].as_array().ok_or("a fetch has no ranges")?.iter().map(range).collect::<std::result::Result<Vec<_>, _>>()?
                } else {
                    vec![range(&serde_json::json!({"chunks": e["range"], "url_range": e["url_range"]}))?]
                };
                // the ranges of one URL are parts of one xorb: together they are no larger than
                // a xorb can be (a fetch reads them into one buffer sized for them)
                if ranges.iter().map(|(_, (s, e))| e - s + 1).sum::<u64>() > MAX_RANGE_BYTES {
                    return Err(format!("the ranges of a fetch of xorb {xorb} add up to more than a xorb can hold"));
                }
                fetches.push(Fetch { xorb, url, ranges });
            }
        }
        let offset = v["offset_into_first_range"].as_u64().unwrap_or(0);
        Ok(Reconstruction { offset_into_first_range: offset, terms, fetches })
    }
}

/// Where each part of a `multipart/byteranges` answer lies in `body`, given the lengths asked
/// for in order: each part's data must be exactly that long, between its boundaries.
fn multipart_parts(body: &[u8], content_type: &str, lens: &[u64]) -> std::result::Result<Vec<Range<usize>>, String> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("multipart answer without a boundary")?;
    let delim = format!("--{boundary}").into_bytes();
    let find = |from: usize, needle: &[u8], within: usize| {
        let hay = &body[from..body.len().min(from + within)];
        hay.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
    };
    let mut parts = Vec::with_capacity(lens.len());
    let mut at = find(0, &delim, 4096).ok_or("multipart answer without its boundary")?;
    for (i, &len) in lens.iter().enumerate() {
        let after = at + delim.len();
        if body[after..].starts_with(b"--") {
            return Err(format!("{} ranges asked, {i} sent", lens.len()));
        }
        let head_end = find(after, b"\r\n\r\n", 8192).ok_or("multipart part without its headers' end")? + 4;
        let end = head_end.checked_add(len as usize).filter(|&e| e <= body.len()).ok_or(format!("part {} is short", i + 1))?;
        // the data is exactly as long as asked: the next boundary follows at once
        if !body[end..].starts_with(b"\r\n") || !body[end + 2..].starts_with(&delim) {
            return Err(format!("part {} is not {len} bytes long", i + 1));
        }
        parts.push(head_end..end);
        at = end + 2;
    }
    if !body[at + delim.len()..].starts_with(b"--") {
        return Err(format!("more than the {} ranges asked were sent", lens.len()));
    }
    Ok(parts)
}

/// A fetched answer: its body, and where each range asked for lies in it.
pub struct Fetched {
    pub body: Vec<u8>,
    pub parts: Vec<Range<usize>>,
}

impl Fetched {
    pub fn part(&self, i: usize) -> &[u8] {
        &self.body[self.parts[i].clone()]
    }
}

impl Cas {
    pub fn new(token: Token, refresh: Box<Refresh>, limits: &Limits, stall: Duration) -> Cas {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(limits.connect.min(Duration::from_secs(15)))
            .timeout_read(stall)
            .timeout_write(limits.activity.max(Duration::from_secs(60)))
            .redirects(0)
            .max_idle_connections_per_host(64)
            .user_agent(concat!("hfgit/", env!("CARGO_PKG_VERSION")))
            .build();
        Cas { agent, token: Mutex::new(token), refresh, max_attempts: 5 }
    }

    pub fn url(&self) -> String {
        self.token.lock().expect("token lock").cas_url.clone()
    }

    fn current(&self, force: bool) -> std::result::Result<Token, CasError> {
        let mut t = self.token.lock().expect("token lock");
        if force || t.stale() {
            match (self.refresh)() {
                Ok(new) => *t = new,
                // an unrefreshable token that is merely close to `exp` is still worth a try
                Err(_) if !force => {}
                Err(e) => return Err(CasError::Refused(401, format!("the Xet token could not be refreshed: {e}"))),
            }
        }
        Ok(t.clone())
    }

    /// One request to the CAS (`path` under its URL, or an absolute signed URL), retried on
    /// 429/5xx and dropped connections, with one token refresh on 401.
    fn request(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> std::result::Result<ureq::Response, CasError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let tok = self.current(false)?;
            let signed = path_or_url.starts_with("http://") || path_or_url.starts_with("https://");
            let url = if signed { path_or_url.to_string() } else { format!("{}{path_or_url}", tok.cas_url) };
            let mut req = self.agent.request(method, &url);
            if !signed {
                req = req.set("Authorization", &format!("Bearer {}", tok.access));
            }
            for (k, v) in headers {
                req = req.set(k, v);
            }
            let res = match body {
                Some(b) => req.set("Content-Type", "application/octet-stream").send_bytes(b),
                None => req.call(),
            };
            let wait = Duration::from_millis(250 << attempt.min(5));
            match res {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, _)) if !refreshed && !signed => {
                    refreshed = true;
                    self.current(true)?;
                    continue;
                }
                Err(ureq::Error::Status(code @ (429 | 500 | 502 | 503 | 504), r)) => {
                    attempt += 1;
                    if attempt >= self.max_attempts {
                        return Err(CasError::Refused(code, message(r)));
                    }
                    let wait = r.header("Retry-After").and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs).unwrap_or(wait);
                    std::thread::sleep(wait.min(Duration::from_secs(60)));
                }
                Err(ureq::Error::Status(code, r)) => return Err(CasError::Refused(code, message(r))),
                Err(ureq::Error::Transport(t)) => {
                    attempt += 1;
                    let timed_out = t.to_string().contains("timed out");
                    // a stalled CAS does not get the whole retry budget of stalls
                    if attempt >= self.max_attempts || (timed_out && attempt >= 2) {
                        return Err(CasError::Unreachable(format!("{} ({})", shown(&url), transport(&t))));
                    }
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// `HEAD /v1/xorbs/default/{hash}`.
    pub fn has_xorb(&self, hash: &MerkleHash) -> std::result::Result<bool, CasError> {
        match self.request("HEAD", &format!("/v1/xorbs/default/{hash}"), &[], None) {
            Ok(_) => Ok(true),
            Err(CasError::Refused(404, _)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/xorbs/default/{hash}` with the serialized xorb.
    pub fn post_xorb(&self, hash: &MerkleHash, bytes: &[u8]) -> std::result::Result<(), CasError> {
        self.request("POST", &format!("/v1/xorbs/default/{hash}"), &[], Some(bytes)).map(|_| ())
    }

    /// Registers the files of a shard: `/v2/shards`, read to its terminal event, or `/v1/shards`
    /// where there is no v2.
    pub fn post_shard(&self, bytes: &[u8]) -> std::result::Result<(), CasError> {
        match self.request("POST", "/v2/shards", &[], Some(bytes)) {
            Ok(r) => {
                let mut text = String::new();
                r.into_reader()
                    .take(16 << 20)
                    .read_to_string(&mut text)
                    .map_err(|e| CasError::Unreachable(format!("reading the shard upload's progress: {e}")))?;
                let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                let ev: serde_json::Value = serde_json::from_str(last).unwrap_or_default();
                match ev["type"].as_str() {
                    Some("result") => Ok(()),
                    Some("error") => Err(CasError::Refused(400, crate::net::remote::escape_text(ev["message"].as_str().unwrap_or("")))),
                    _ => Err(CasError::Unreachable("the shard upload's progress stream ended without a result".into())),
                }
            }
            Err(CasError::Refused(404, _)) => self.request("POST", "/v1/shards", &[], Some(bytes)).map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// The global dedup query for one chunk: a shard naming xorbs that hold it, or None.
    pub fn dedup(&self, chunk: &MerkleHash) -> std::result::Result<Option<Vec<u8>>, CasError> {
        match self.request("GET", &format!("/v1/chunks/default-merkledb/{chunk}"), &[], None) {
            Ok(r) => {
                let mut b = Vec::new();
                r.into_reader().take(64 << 20).read_to_end(&mut b).map_err(|e| CasError::Unreachable(e.to_string()))?;
                Ok(Some(b))
            }
            Err(CasError::Refused(404, _)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How to rebuild file `id`: v2, falling back to v1 where the CAS has no v2.
    pub fn reconstruction(&self, id: &MerkleHash) -> std::result::Result<Reconstruction, CasError> {
        let r = match self.request("GET", &format!("/v2/reconstructions/{id}"), &[], None) {
            Err(CasError::Refused(404 | 501, _)) => self.request("GET", &format!("/v1/reconstructions/{id}"), &[], None)?,
            r => r?,
        };
        let mut text = String::new();
        r.into_reader().take(256 << 20).read_to_string(&mut text).map_err(|e| CasError::Unreachable(e.to_string()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| CasError::Refused(200, format!("the reconstruction of {id} is not JSON: {e}")))?;
        Reconstruction::parse(&v).map_err(|m| CasError::Refused(200, format!("the reconstruction of {id} is malformed: {m}")))
    }

    /// Fetches every range of `f` in one request into one buffer sized for it; says where each
    /// range lies, each checked against the length asked for.
    pub fn fetch(&self, f: &Fetch) -> std::result::Result<Fetched, CasError> {
        let spec: Vec<String> = f.ranges.iter().map(|(_, (s, e))| format!("{s}-{e}")).collect();
        let r = self.request("GET", &f.url, &[("Range", format!("bytes={}", spec.join(",")))], None)?;
        let ctype = r.header("Content-Type").unwrap_or("").to_string();
        let lens: Vec<u64> = f.ranges.iter().map(|(_, (s, e))| e - s + 1).collect();
        let total: u64 = lens.iter().sum();
        let multipart = f.ranges.len() > 1 && ctype.starts_with("multipart/");
        // room for the parts' headers too, so the buffer is never regrown (and copied)
        let mut body = Vec::with_capacity(total as usize + if multipart { 512 * f.ranges.len() + 4096 } else { 0 });
        let started = Instant::now();
        r.into_reader()
            .take(total + (64 << 10) * f.ranges.len() as u64 + 4096)
            .read_to_end(&mut body)
            .map_err(|e| CasError::Unreachable(format!("{} ({e}, after {:.0?})", shown(&f.url), started.elapsed())))?;
        let parts = if multipart {
            multipart_parts(&body, &ctype, &lens).map_err(|m| CasError::Refused(206, format!("{}: {m}", shown(&f.url))))?
        } else {
            // one body: the ranges back to back
            if body.len() as u64 != total {
                return Err(CasError::Refused(206, format!("{}: {} bytes asked, {} sent", shown(&f.url), total, body.len())));
            }
            let mut at = 0usize;
            lens.iter()
                .map(|&n| {
                    at += n as usize;
                    at - n as usize..at
                })
                .collect()
        };
        Ok(Fetched { body, parts })
    }
}

fn message(r: ureq::Response) -> String {
    let mut s = String::new();
    let _ = r.into_reader().take(2048).read_to_string(&mut s);
    crate::net::remote::escape_text(s.trim())
}

fn transport(t: &ureq::Transport) -> String {
    // ureq's text names the URL with its query: keep only the kind and message
    let kind = format!("{:?}", t.kind());
    match t.message() {
        Some(m) => format!("{kind}: {}", m.split('?').next().unwrap_or(m)),
        None => kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_byteranges_split_into_their_parts() {
        let body = b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-2/10\r\n\r\nabc\r\n--b1\r\nContent-Range: bytes 5-6/10\r\n\r\nfg\r\n--b1--\r\n";
        let ct = "multipart/byteranges; boundary=b1";
        let parts = multipart_parts(body, ct, &[3, 2]).unwrap();
        assert_eq!(parts.iter().map(|r| &body[r.clone()]).collect::<Vec<_>>(), vec![&b"abc"[..], &b"fg"[..]]);
        // a part of another length, fewer or more parts than asked, no boundary: refused
        assert!(multipart_parts(body, ct, &[3, 3]).is_err());
        assert!(multipart_parts(body, ct, &[2, 2]).is_err());
        assert!(multipart_parts(body, ct, &[3, 2, 1]).is_err());
        assert!(multipart_parts(body, ct, &[3]).is_err());
        assert!(multipart_parts(b"--b1\r\n\r\nabc", ct, &[3]).is_err());
        assert!(multipart_parts(body, "multipart/byteranges", &[3, 2]).is_err());
    }

    #[test]
    fn reconstructions_parse_v2_and_refuse_nonsense() {
        // (the spec's own example string for bytes 0..32 drops the "10" of the third word)
        let h = "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918";
        let v = serde_json::json!({"offset_into_first_range": 0,
            "terms": [{"hash": h, "unpacked_length": 10, "range": {"start": 0, "end": 2}}],
            "xorbs": {h: [{"url": "http://x/y?sig=1", "ranges": [{"chunks": {"start": 0, "end": 2}, "bytes": {"start": 0, "end": 99}}]}]}});
        let r = Reconstruction::parse(&v).unwrap();
        assert_eq!(r.terms[0].end, 2);
        assert_eq!(r.fetches[0].ranges, vec![((0, 2), (0, 99))]);
        let mut bad = v.clone();
        bad["terms"][0]["range"]["end"] = serde_json::json!(0);
        assert!(Reconstruction::parse(&bad).is_err());
        let mut bad = v.clone();
        bad["terms"][0]["hash"] = serde_json::json!("../../etc");
        assert!(Reconstruction::parse(&bad).is_err());
        // a range bigger than any xorb (or one that would overflow) is refused before any read
        for end in [1u64 << 40, u64::MAX] {
            let mut bad = v.clone();
            bad["xorbs"][h][0]["ranges"][0]["bytes"]["end"] = serde_json::json!(end);
            assert!(Reconstruction::parse(&bad).is_err(), "{end}");
        }
        // so are many ranges of one URL that together are (each one alone would pass)
        let mut bad = v.clone();
        let many: Vec<_> = (0..3u64)
            .map(|i| serde_json::json!({"chunks": {"start": 2 * i, "end": 2 * i + 2}, "bytes": {"start": i * (60 << 20), "end": i * (60 << 20) + (60 << 20) - 1}}))
            .collect();
        bad["xorbs"][h][0]["ranges"] = serde_json::json!(many);
        assert!(Reconstruction::parse(&bad).unwrap_err().contains("add up to more"));
        bad["xorbs"][h][0]["ranges"] = serde_json::json!(&many[..2]);
        assert!(Reconstruction::parse(&bad).is_ok());
    }
}
