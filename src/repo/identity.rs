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

/// Parses git's internal date (`@1700000000 +0100` or `1700000000 +0100`) and ISO 8601
/// (`2023-11-14T22:13:20Z`, `2023-11-14 22:13:20 +01:00`).
pub fn parse_date(s: &str) -> Result<Time> {
    let s = s.trim();
    let bad = || Error::BadInput(format!("invalid date `{s}`: use `@<unix seconds> +HHMM` or ISO 8601"));
    let unix = s.strip_prefix('@').unwrap_or(s);
    let mut parts = unix.split_whitespace();
    if let Some(Ok(secs)) = parts.next().map(str::parse::<i64>) {
        let offset = match parts.next() {
            Some(tz) => parse_offset(tz).ok_or_else(bad)?,
            None => 0,
        };
        return Ok(Time::new(secs, offset));
    }
    // ISO 8601: YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM| ±HHMM]
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = s[19..].trim_start();
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
    }
    let offset = if rest.is_empty() || rest == "Z" { 0 } else { parse_offset(rest).ok_or_else(bad)? };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + se - offset as i64 * 60;
    Ok(Time::new(secs, offset))
}

fn parse_offset(tz: &str) -> Option<i32> {
    let (sign, digits) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    Some(sign * (h * 60 + m))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
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
