//! `.netrc`: logins and passwords by host, as curl (and so git over HTTP) and git-lfs read them.
//! The file is `$NETRC` when set, else `~/.netrc`. Tokens are separated by white space (a
//! double-quoted token may hold spaces, with `\` escapes); `machine NAME` starts an entry,
//! `default` is the entry for every other host (it must come last), `login`, `password` and
//! `account` fill the current entry, and `macdef NAME` skips the macro up to the next empty line.
//! Hosts are compared without the port and ignoring case, as git-lfs compares them.

use crate::net::credentials::Secret;
use std::path::PathBuf;

/// One `machine` (or `default`) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Machine {
    /// None for `default`.
    name: Option<String>,
    login: Option<String>,
    password: Option<String>,
}

/// The file hfgit reads: `$NETRC`, else `$HOME/.netrc`.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".netrc"))
}

/// The login and password for `host` (a host name, with or without `:port`), and for `login`
/// when the URL names a user: the first matching `machine` entry, else `default`.
pub fn lookup(host: &str, login: Option<&str>) -> Option<(String, Secret)> {
    let text = std::fs::read_to_string(path()?).ok()?;
    find(&parse(&text), host, login)
}

fn find(machines: &[Machine], host: &str, login: Option<&str>) -> Option<(String, Secret)> {
    let host = strip_port(host);
    let fits = |m: &Machine| login.is_none_or(|l| m.login.as_deref() == Some(l));
    let hit = machines
        .iter()
        .find(|m| m.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(host)) && fits(m))
        .or_else(|| machines.iter().find(|m| m.name.is_none() && fits(m)))?;
    Some((hit.login.clone()?, Secret::new(hit.password.clone()?)))
}

/// `host:port`, `[v6]:port` or a bare host → the host.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn parse(text: &str) -> Vec<Machine> {
    let mut out: Vec<Machine> = Vec::new();
    let mut toks = Tokens { rest: text };
    while let Some(t) = toks.next() {
        match t.as_str() {
            "machine" => match toks.next() {
                Some(name) => out.push(Machine { name: Some(name), login: None, password: None }),
                None => break,
            },
            "default" => out.push(Machine { name: None, login: None, password: None }),
            "login" | "password" | "account" => {
                let Some(v) = toks.next() else { break };
                if let Some(m) = out.last_mut() {
                    match t.as_str() {
                        "login" => m.login = Some(v),
                        "password" => m.password = Some(v),
                        _ => {}
                    }
                }
            }
            "macdef" => {
                toks.next();
                toks.skip_macro();
            }
            _ => {} // unknown words are ignored, as curl ignores them
        }
    }
    out
}

struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    fn next(&mut self) -> Option<String> {
        self.rest = self.rest.trim_start();
        if self.rest.is_empty() {
            return None;
        }
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.rest = &quoted[i + 1..];
                        return Some(out);
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, 'r')) => out.push('\r'),
                        Some((_, e)) => out.push(e),
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            self.rest = "";
            return Some(out);
        }
        let end = self.rest.find(char::is_whitespace).unwrap_or(self.rest.len());
        let (tok, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(tok.to_string())
    }

    /// Skips a `macdef` body: everything up to and including the next empty line.
    fn skip_macro(&mut self) {
        // the rest of the macdef line
        self.rest = self.rest.split_once('\n').map_or("", |(_, r)| r);
        loop {
            match self.rest.split_once('\n') {
                Some((line, r)) => {
                    self.rest = r;
                    if line.trim().is_empty() {
                        return;
                    }
                }
                None => {
                    self.rest = "";
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str, host: &str, login: Option<&str>) -> Option<(String, String)> {
        find(&parse(text), host, login).map(|(l, p)| (l, p.expose().to_string()))
    }

    #[test]
    fn machines_default_quotes_and_macros_as_curl_reads_them() {
        let text = "machine git.example.com login alice password s3cret\n\
                    machine other.example.com\n  login bob\n  password \"two words \\\"q\\\"\"\n\
                    macdef init\nmachine evil.example.com login x password y\n\n\
                    machine shared.example.com login carol password c1\n\
                    machine shared.example.com login dave password d1\n\
                    default login anon password guest\n";
        assert_eq!(get(text, "git.example.com", None), Some(("alice".into(), "s3cret".into())));
        assert_eq!(get(text, "GIT.example.com:8443", None), Some(("alice".into(), "s3cret".into())));
        assert_eq!(get(text, "other.example.com", None), Some(("bob".into(), "two words \"q\"".into())));
        // inside a macro: not an entry
        assert_eq!(get(text, "evil.example.com", None), Some(("anon".into(), "guest".into())));
        // a login named in the URL picks its entry
        assert_eq!(get(text, "shared.example.com", Some("dave")), Some(("dave".into(), "d1".into())));
        assert_eq!(get(text, "shared.example.com", None), Some(("carol".into(), "c1".into())));
        assert_eq!(get(text, "nowhere.example.com", None), Some(("anon".into(), "guest".into())));
        assert_eq!(get("machine a login u\n", "a", None), None, "no password: nothing to send");
        assert_eq!(get("", "a", None), None);
        assert_eq!(get("machine ::1 login v6 password p", "[::1]:8080", None), Some(("v6".into(), "p".into())));
    }
}
