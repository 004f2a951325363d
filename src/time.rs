//! Dates as git and HTTP APIs write them: git's internal `@<secs> +HHMM` and ISO 8601 / RFC
//! 3339 (commit dates, LFS action expiry). Pure parsing, no I/O.

use crate::error::{Error, Result};

/// Parses git's internal date (`@1700000000 +0100` or `1700000000 +0100`) and ISO 8601
/// (`2023-11-14T22:13:20Z`, `2023-11-14 22:13:20 +01:00`) into (seconds since the epoch, offset
/// in minutes east of UTC).
pub fn parse_date(s: &str) -> Result<(i64, i32)> {
    let s = s.trim();
    let bad = || Error::BadInput(format!("invalid date `{s}`: use `@<unix seconds> +HHMM` or ISO 8601"));
    let unix = s.strip_prefix('@').unwrap_or(s);
    let mut parts = unix.split_whitespace();
    if let Some(Ok(secs)) = parts.next().map(str::parse::<i64>) {
        let offset = match parts.next() {
            Some(tz) => parse_offset(tz).ok_or_else(bad)?,
            None => 0,
        };
        return Ok((secs, offset));
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
    Ok((secs, offset))
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
