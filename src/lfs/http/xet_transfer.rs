//! The `xet` transfer of the Hub, beside `basic` and `multipart`: uploads the Hub answers with
//! `"transfer": "xet"` go to its CAS through `crate::xet` (chunked, deduplicated, packed into
//! xorbs, registered with shards); downloads of Hub repositories look up each pointer's Xet file
//! id (`paths-info`'s `xetHash`, matched to the pointer's oid) and rebuild the file from the CAS,
//! reusing chunks on disk; anything the CAS cannot serve (unreachable, stalled, or wrong) goes
//! through the LFS bridge (`basic`) instead.
//!
//! Settings: `hfgit.xet` (default true) turns both off; `hfgit.xetStallTimeout` (seconds, default
//! 20) is how long a CAS request may deliver nothing before the download falls back.

use super::*;
use crate::xet::cas::{Cas, Token};

/// Fetched (still compressed) xorb bytes a clone or pull holds at once across its parallel
/// downloads: two whole xorbs; each download may go one fetch over, so that it always moves.
const XET_FETCH_BUDGET: u64 = 128 << 20;

/// The Xet side of one push or download, for the summary.
#[derive(Debug, Default, Clone)]
pub struct XetSummary {
    pub upload: Option<crate::xet::upload::Report>,
    pub downloaded_files: u64,
    pub fetched_bytes: u64,
    pub reused_bytes: u64,
    /// Files that went through the LFS bridge after the CAS failed them.
    pub fallbacks: u64,
}

/// `(API base, "models" | "datasets" | "spaces", repo id)` of a Hub LFS endpoint
/// (`{base}/{datasets/}{owner}/{name}.git/info/lfs`).
fn hub_repo(endpoint: &str) -> Option<(String, &'static str, String)> {
    let rest = endpoint.strip_suffix("/info/lfs")?;
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let base = crate::net::remote::hub_endpoint();
    let path = rest.strip_prefix(&base)?.trim_start_matches('/');
    let (kind, id) = match path.split_once('/') {
        Some(("datasets", id)) => ("datasets", id),
        Some(("spaces", id)) => ("spaces", id),
        Some(("kernels", id)) => ("kernels", id),
        _ => ("models", path),
    };
    (id.split('/').count() == 2 && id.split('/').all(|s| !s.is_empty() && s != "." && s != "..")).then(|| (base, kind, id.to_string()))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl HttpLfs {
    pub(super) fn xet_enabled(&self) -> bool {
        self.hub && self.xet
    }

    /// The Hub token as the token routes want it: Bearer, never Basic.
    fn hub_bearer(&self) -> Option<String> {
        match &self.auth.lock().expect("auth lock").auth {
            Auth::Bearer(t) => Some(format!("Bearer {}", t.expose())),
            Auth::Basic { password, .. } => Some(format!("Bearer {}", password.expose())),
            Auth::None => credentials::hf_token().map(|t| format!("Bearer {}", t.expose())),
        }
    }

    /// A `Refresh` for `url` (a token route answering `{accessToken, exp, casUrl}`).
    fn token_route(&self, url: String) -> Box<crate::xet::cas::Refresh> {
        let agent = self.agent.clone();
        // the route comes from the server's batch answer: the Hub token goes only to the LFS
        // API's own origin, like every other credential of ours
        if !self.same_origin(&url) {
            let shown = redact(&url);
            return Box::new(move || {
                Err(Error::failed(format!("refusing to send the Hub token to {shown}: the Xet token route is not on the LFS API's host")))
            });
        }
        let bearer = self.hub_bearer();
        Box::new(move || {
            let mut req = agent.get(&url);
            if let Some(b) = &bearer {
                req = req.set("Authorization", b);
            }
            let resp = match call(req, Body::None) {
                Ok(r) if r.status() == 200 => r,
                Ok(r) => return Err(Error::failed(format!("the Hub refused a Xet token ({}): {}", redact(&url), server_message(r)))),
                Err(e) => return Err(Error::failed(format!("asking the Hub for a Xet token ({}): {e}", redact(&url)))),
            };
            let v: serde_json::Value = resp.into_json().map_err(|e| Error::failed(format!("the Hub's Xet token is not JSON: {e}")))?;
            Token::from_json(&v).ok_or_else(|| Error::failed("the Hub's Xet token answer lacks accessToken, exp or casUrl"))
        })
    }

    /// Uploads what the Hub asked for over `xet`; every object either moves or is a failure.
    pub(super) fn xet_upload(&self, local: &Store, jobs: Vec<Job>, progress: &dyn Progress, report: &mut TransferReport) {
        let Some(first) = jobs.first() else { return };
        let h = |k: &str| first.action.header.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        let token =
            match (h("X-Xet-Access-Token"), h("X-Xet-Token-Expiration").and_then(|e| e.trim().parse::<u64>().ok()), h("X-Xet-Cas-Url")) {
                (Some(access), Some(exp), Some(cas_url)) => Token { access, exp, cas_url: cas_url.trim_end_matches('/').to_string() },
                _ => {
                    for j in jobs {
                        report.failures.push(TransferFailure::new(
                            j.path,
                            j.pointer.oid,
                            "the Hub chose the xet transfer without X-Xet-Cas-Url, X-Xet-Access-Token and X-Xet-Token-Expiration",
                        ));
                    }
                    return;
                }
            };
        let cas = Cas::new(token, self.token_route(first.action.href.clone()), &self.limits, self.xet_stall);
        let sources: Vec<crate::xet::upload::Source> = jobs
            .iter()
            .map(|j| crate::xet::upload::Source {
                path: j.path.clone(),
                file: local.object_path(&j.pointer.oid),
                sha256: *j.pointer.oid.as_bytes(),
                size: j.pointer.size,
            })
            .collect();
        let index = crate::xet::index::Index::for_git_dir(local.root().parent().unwrap_or(local.root()));
        let present = |oid: &[u8; 32]| local.object_path(&Oid::from_bytes(*oid)).exists();
        match crate::xet::upload::upload(&cas, &sources, &index, &present, self.concurrency.min(4), progress) {
            Ok(r) => {
                for j in &jobs {
                    report.transferred_objects += 1;
                    report.transferred_bytes += j.pointer.size;
                    progress.item_done();
                }
                report.xet.get_or_insert_with(Default::default).upload = Some(r);
            }
            Err(e) => {
                for j in jobs {
                    report.failures.push(TransferFailure::new(j.path, j.pointer.oid, e.to_string()));
                }
            }
        }
    }

    /// Downloads what the Hub keeps in Xet; returns the objects left for the LFS bridge (no
    /// Xet id, or the CAS failed them).
    pub(super) fn xet_download(
        &self,
        local: &Store,
        objects: Vec<(String, Pointer)>,
        progress: &dyn Progress,
        report: &mut TransferReport,
    ) -> Vec<(String, Pointer)> {
        let Some((base, kind, id)) = hub_repo(&self.endpoint) else { return objects };
        let rev = self.ref_name.as_deref().map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_string()).unwrap_or_else(|| "main".into());
        let ids = match self.xet_file_ids(&base, kind, &id, &rev, &objects) {
            Some(ids) if !ids.is_empty() => ids,
            _ => return objects,
        };
        let refresh = self.token_route(format!("{base}/api/{kind}/{id}/xet-read-token/{}", enc(&rev)));
        let token = match refresh() {
            Ok(t) => t,
            Err(_) => return objects, // no Xet token: the bridge still serves every object
        };
        let cas = Cas::new(token, refresh, &self.limits, self.xet_stall);
        let index = crate::xet::index::Index::for_git_dir(local.root().parent().unwrap_or(local.root()));
        let (xet, rest): (Vec<_>, Vec<_>) = objects.into_iter().partition(|(_, p)| ids.contains_key(&p.oid));
        let mut left = rest;
        let summary = Mutex::new(XetSummary::default());
        let cas_down = std::sync::atomic::AtomicBool::new(false);
        let budget = crate::xet::download::Budget::new(XET_FETCH_BUDGET, 4);
        let results = crate::parallel::largest_first(
            xet,
            |(_, p)| p.size,
            self.concurrency.clamp(1, 4),
            |(path, p)| {
                if local.contains(p) {
                    return true;
                }
                if cas_down.load(std::sync::atomic::Ordering::SeqCst) {
                    return false;
                }
                let fp = crate::progress::FileProgress::new(progress, path, p.size);
                let t = crate::xet::download::Target { path: path.clone(), file_id: ids[&p.oid], sha256: *p.oid.as_bytes(), size: p.size };
                let Ok(mut tmp) = local.temp_file() else { return false };
                let object = |oid: &[u8; 32]| Some(local.object_path(&Oid::from_bytes(*oid))).filter(|p| p.exists());
                match crate::xet::download::download(&cas, &t, tmp.as_file_mut(), &index, &object, &budget, &fp) {
                    Ok(r) => {
                        if local.persist(tmp, &p.oid).is_err() {
                            return false;
                        }
                        let mut s = summary.lock().expect("summary");
                        s.downloaded_files += 1;
                        s.fetched_bytes += r.fetched_bytes;
                        s.reused_bytes += r.reused_bytes;
                        progress.item_done();
                        true
                    }
                    Err(crate::xet::download::Failed::Cas(crate::xet::cas::CasError::Unreachable(_))) => {
                        // unreachable or stalled: the rest go through the bridge at once
                        cas_down.store(true, std::sync::atomic::Ordering::SeqCst);
                        false
                    }
                    Err(_) => false,
                }
            },
        );
        let mut s = summary.into_inner().expect("summary");
        for ((path, p), ok) in results {
            if ok {
                report.transferred_objects += 1;
                report.transferred_bytes += p.size;
            } else {
                s.fallbacks += 1;
                left.push((path, p));
            }
        }
        let x = report.xet.get_or_insert_with(Default::default);
        x.downloaded_files += s.downloaded_files;
        x.fetched_bytes += s.fetched_bytes;
        x.reused_bytes += s.reused_bytes;
        x.fallbacks += s.fallbacks;
        left
    }

    /// oid → Xet file id for the objects the Hub says are in Xet at `rev` (`paths-info`), only
    /// where its `lfs.oid` is the pointer's oid.
    fn xet_file_ids(
        &self,
        base: &str,
        kind: &str,
        id: &str,
        rev: &str,
        objects: &[(String, Pointer)],
    ) -> Option<HashMap<Oid, crate::xet::MerkleHash>> {
        let url = format!("{base}/api/{kind}/{id}/paths-info/{}", enc(rev));
        let mut out = HashMap::new();
        for chunk in objects.chunks(BATCH_SIZE) {
            let form: Vec<String> = chunk.iter().map(|(p, _)| format!("paths={}", enc(p))).chain(["expand=false".to_string()]).collect();
            let mut req = self.agent.post(&url).set("Content-Type", "application/x-www-form-urlencoded");
            if let Some(b) = self.hub_bearer() {
                req = req.set("Authorization", &b);
            }
            let resp = match req.send_string(&form.join("&")) {
                Ok(r) => r,
                Err(_) => return None,
            };
            let v: serde_json::Value = resp.into_json().ok()?;
            for e in v.as_array()? {
                let (Some(oid), Some(xet)) =
                    (e["lfs"]["oid"].as_str().and_then(Oid::from_hex), e["xetHash"].as_str().and_then(|h| h.parse().ok()))
                else {
                    continue;
                };
                if chunk.iter().any(|(path, p)| p.oid == oid && e["path"].as_str() == Some(path.as_str())) {
                    out.insert(oid, xet);
                }
            }
        }
        Some(out)
    }
}
