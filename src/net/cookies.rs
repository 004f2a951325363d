//! Cookies from `http.cookieFile` / `http.<url>.cookieFile`, as git (through curl) and git-lfs
//! send them: the file is in the Netscape format curl writes (`domain`, include-subdomains,
//! `path`, secure, expiry, `name`, `value`, tab-separated; `#HttpOnly_` before a domain marks an
//! HTTP-only cookie, other `#` lines are comments). A cookie goes only to a URL whose host and
//! path it matches, over https when it is marked secure, and not after it expired. Read-only:
//! hfgit never writes the file (git does only with `http.saveCookies`).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    domain: String,
    subdomains: bool,
    path: String,
    secure: bool,
    /// Seconds since the epoch; 0 = a session cookie.
    expires: i64,
    name: String,
    value: String,
}

/// The cookie-file settings of one git config: `http.cookieFile` and every
/// `http.<url>.cookieFile`, resolved per request URL with git's URL matching.
#[derive(Debug, Clone, Default)]
pub struct CookieConfig {
    global: Option<PathBuf>,
    by_url: Vec<(url::Url, PathBuf)>,
}

impl CookieConfig {
    pub fn from_config(cfg: &git2::Config) -> CookieConfig {
        let mut out = CookieConfig::default();
        let Ok(mut entries) = cfg.entries(Some(r"^http\..*cookiefile$")) else { return out };
        while let Some(Ok(e)) = entries.next() {
            let (Some(name), Some(value)) = (e.name(), e.value()) else { continue };
            let path = expand_home(value);
            let Some(middle) = name.strip_prefix("http.").and_then(|n| n.get(..n.len().saturating_sub(".cookiefile".len()))) else {
                continue;
            };
            if name.eq_ignore_ascii_case("http.cookiefile") {
                out.global = Some(path); // the last one wins, as in git
            } else if let Ok(u) = url::Url::parse(middle) {
                out.by_url.push((u, path));
            }
        }
        out
    }

    /// The cookie file for `url`: the most specific matching `http.<url>.cookieFile`, else
    /// `http.cookieFile`.
    pub fn file_for(&self, url: &str) -> Option<&PathBuf> {
        let target = url::Url::parse(url).ok()?;
        self.by_url
            .iter()
            .filter(|(u, _)| url_matches(u, &target))
            .max_by_key(|(u, _)| u.path().trim_end_matches('/').len())
            .map(|(_, p)| p)
            .or(self.global.as_ref())
    }

    /// The `Cookie` header value for a request to `url`, if any cookie of its file applies.
    pub fn header_for(&self, url: &str) -> Option<String> {
        let file = self.file_for(url)?;
        let text = std::fs::read_to_string(file).ok()?;
        header(&parse(&text), url)
    }
}

/// git's `http.<url>.*` matching: same scheme, host (a `*.` label matches one label) and port;
/// the configured path is a prefix of the request's on a `/` boundary; a configured user must
/// be the request's.
fn url_matches(config: &url::Url, target: &url::Url) -> bool {
    let host_ok = match (config.host_str(), target.host_str()) {
        (Some(c), Some(t)) => {
            let (c, t) = (c.to_ascii_lowercase(), t.to_ascii_lowercase());
            let (cl, tl): (Vec<&str>, Vec<&str>) = (c.split('.').collect(), t.split('.').collect());
            cl.len() == tl.len() && cl.iter().zip(&tl).all(|(a, b)| *a == "*" || a == b)
        }
        _ => false,
    };
    let path_ok = {
        let cp = config.path().trim_end_matches('/');
        let tp = target.path();
        cp.is_empty() || tp == cp || tp.starts_with(&format!("{cp}/"))
    };
    let user_ok = config.username().is_empty() || config.username() == target.username();
    config.scheme() == target.scheme() && host_ok && config.port_or_known_default() == target.port_or_known_default() && path_ok && user_ok
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)).unwrap_or_else(|| PathBuf::from(p)),
        None => PathBuf::from(p),
    }
}

fn parse(text: &str) -> Vec<Cookie> {
    text.lines()
        .filter_map(|line| {
            let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
            if line.starts_with('#') || line.trim().is_empty() {
                return None;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 7 {
                return None;
            }
            Some(Cookie {
                domain: f[0].trim_start_matches('.').to_ascii_lowercase(),
                subdomains: f[1].eq_ignore_ascii_case("TRUE") || f[0].starts_with('.'),
                path: f[2].to_string(),
                secure: f[3].eq_ignore_ascii_case("TRUE"),
                expires: f[4].trim().parse().unwrap_or(0),
                name: f[5].to_string(),
                value: f[6].trim_end_matches('\r').to_string(),
            })
        })
        .collect()
}

fn header(cookies: &[Cookie], url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let path = u.path();
    let pairs: Vec<String> = cookies
        .iter()
        .filter(|c| host == c.domain || (c.subdomains && host.ends_with(&format!(".{}", c.domain))))
        .filter(|c| {
            let cp = c.path.trim_end_matches('/');
            cp.is_empty() || path == cp || path.starts_with(&format!("{cp}/"))
        })
        .filter(|c| !c.secure || u.scheme() == "https")
        .filter(|c| c.expires == 0 || c.expires > now)
        // no line breaks or separators of their own: a cookie cannot add a header
        .filter(|c| !c.name.is_empty() && !format!("{}{}", c.name, c.value).contains(['\r', '\n', ';', '\0']))
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_go_only_where_they_match() {
        let text = "# Netscape HTTP Cookie File\n\
                    git.example.com\tFALSE\t/\tFALSE\t0\tsession\tabc\n\
                    #HttpOnly_.example.com\tTRUE\t/org\tFALSE\t4102444800\tsso\txyz\n\
                    git.example.com\tFALSE\t/\tTRUE\t0\tsecure\tonly-https\n\
                    git.example.com\tFALSE\t/\tFALSE\t1000\told\texpired\n\
                    other.example.org\tFALSE\t/\tFALSE\t0\tforeign\tno\n\
                    git.example.com\tFALSE\t/\tFALSE\t0\tevil\tx; admin=1\n";
        let c = parse(text);
        assert_eq!(header(&c, "http://git.example.com/a.git/info/refs").as_deref(), Some("session=abc"));
        assert_eq!(header(&c, "https://git.example.com/org/m.git").as_deref(), Some("session=abc; sso=xyz; secure=only-https"));
        assert_eq!(header(&c, "http://lfs.example.com/org/x").as_deref(), Some("sso=xyz"), "subdomain cookie");
        assert_eq!(header(&c, "http://lfs.example.com/orgs").as_deref(), None, "path on a / boundary");
        assert_eq!(header(&c, "http://evil-example.com/").as_deref(), None);
        assert_eq!(header(&c, "http://127.0.0.1/"), None);
    }

    #[test]
    fn the_most_specific_url_setting_wins() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let cfg = CookieConfig {
            global: Some("g".into()),
            by_url: vec![(u("https://git.example.com"), "host".into()), (u("https://git.example.com/org/"), "org".into())],
        };
        assert_eq!(cfg.file_for("https://git.example.com/org/m.git/info/lfs").unwrap(), &PathBuf::from("org"));
        assert_eq!(cfg.file_for("https://git.example.com/other/m.git").unwrap(), &PathBuf::from("host"));
        assert_eq!(cfg.file_for("https://git.example.com/organic").unwrap(), &PathBuf::from("host"));
        assert_eq!(cfg.file_for("http://git.example.com/org/m.git").unwrap(), &PathBuf::from("g"), "scheme differs");
        assert_eq!(cfg.file_for("https://git.example.com:8443/org").unwrap(), &PathBuf::from("g"), "port differs");
        assert!(url_matches(&u("https://*.example.com"), &u("https://git.example.com/x")));
        assert!(!url_matches(&u("https://*.example.com"), &u("https://a.b.example.com/x")));
    }
}
