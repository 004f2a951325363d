//! Who a commit is by: `--author`, then `GIT_AUTHOR_*` / `GIT_COMMITTER_*` (with `*_DATE`), then
//! git config `user.name` / `user.email`.

use crate::error::{Error, Result};
use git2::{Repository, Signature, Time};

/// Parses `Name <email>`.
pub fn parse_name_email(s: &str) -> Result<(String, String)> {
    let bad = || Error::BadInput(format!("invalid identity `{s}`: expected `Name <email>`"));
    let (name, rest) = s.split_once('<').ok_or_else(bad)?;
    let email = rest.strip_suffix('>').ok_or_else(bad)?;
    let name = name.trim();
    if name.is_empty() || email.contains(['<', '>']) {
        return Err(bad());
    }
    Ok((name.to_string(), email.trim().to_string()))
}

/// Parses a commit date (see [`crate::time::parse_date`]) into git's form.
pub fn parse_date(s: &str) -> Result<Time> {
    let (secs, offset) = crate::time::parse_date(s)?;
    Ok(Time::new(secs, offset))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Author and committer signatures for a new commit.
pub fn signatures(repo: &Repository, author_flag: Option<&str>) -> Result<(Signature<'static>, Signature<'static>)> {
    let cfg = repo.config().ok();
    let cfg_get = |k: &str| cfg.as_ref().and_then(|c| c.get_string(k).ok()).filter(|v| !v.is_empty());
    let (flag_name, flag_email) = match author_flag {
        Some(a) => {
            let (n, e) = parse_name_email(a)?;
            (Some(n), Some(e))
        }
        None => (None, None),
    };
    let missing = || {
        Error::with_hint(
            "no identity for the commit",
            "pass --author \"Name <email>\", or run `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`",
        )
    };
    let a_name = flag_name.or_else(|| env("GIT_AUTHOR_NAME")).or_else(|| cfg_get("user.name")).ok_or_else(missing)?;
    let a_email = flag_email.or_else(|| env("GIT_AUTHOR_EMAIL")).or_else(|| cfg_get("user.email")).ok_or_else(missing)?;
    let c_name = env("GIT_COMMITTER_NAME").or_else(|| cfg_get("user.name")).unwrap_or_else(|| a_name.clone());
    let c_email = env("GIT_COMMITTER_EMAIL").or_else(|| cfg_get("user.email")).unwrap_or_else(|| a_email.clone());
    let make = |name: &str, email: &str, date_var: &str| -> Result<Signature<'static>> {
        let sig = match env(date_var) {
            Some(d) => Signature::new(name, email, &parse_date(&d)?),
            None => Signature::now(name, email),
        };
        sig.map_err(|e| Error::BadInput(format!("invalid identity `{name} <{email}>`: {}", e.message())))
    };
    Ok((make(&a_name, &a_email, "GIT_AUTHOR_DATE")?, make(&c_name, &c_email, "GIT_COMMITTER_DATE")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = parse_date("@1700000000 +0100").unwrap();
        assert_eq!((t.seconds(), t.offset_minutes()), (1700000000, 60));
        let t = parse_date("2023-11-14T22:13:20Z").unwrap();
        assert_eq!(t.seconds(), 1700000000);
        let t = parse_date("2023-11-14 23:13:20 +01:00").unwrap();
        assert_eq!((t.seconds(), t.offset_minutes()), (1700000000, 60));
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn identities() {
        assert_eq!(parse_name_email("A B <a@b.c>").unwrap(), ("A B".into(), "a@b.c".into()));
        assert!(parse_name_email("nobody").is_err());
        assert!(parse_name_email("<a@b>").is_err());
    }
}
