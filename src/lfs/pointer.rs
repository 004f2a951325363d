//! Git LFS pointer files: canonical encoding and parsing with the exact acceptance rules of the
//! reference git-lfs (`lfs/pointer.go`, `lfs/scanner.go`). Pure: no I/O.

use crate::lfs::oid::Oid;
use std::fmt;

/// The only version string hfgit writes.
pub const VERSION: &str = "https://git-lfs.github.com/spec/v1";
/// Versions git-lfs still accepts when reading.
const ACCEPTED_VERSIONS: [&str; 3] = ["https://git-lfs.github.com/spec/v1", "https://hawser.github.com/spec/v1", "http://git-media.io/v/2"];
/// Blobs of this size or larger are never pointers (`BlobSizeCutoff` in git-lfs).
pub const MAX_POINTER_SIZE: u64 = 1024;

/// A parsed pointer. `extensions` keeps `ext-N-name sha256:…` lines so a non-canonical check
/// can re-encode them; hfgit never writes extensions itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    pub oid: Oid,
    pub size: u64,
    pub extensions: Vec<(String, String)>,
}

/// Why some bytes are not a valid pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0} bytes is too large for a pointer (pointers are under 1024 bytes)")]
    TooLarge(usize),
    #[error("no git-lfs header")]
    NoHeader,
    #[error("line {0} has no space between key and value")]
    NoSpace(usize),
    #[error("expected key `{expected}`, found `{found}`")]
    BadKey { expected: &'static str, found: String },
    #[error("extra line after `size`")]
    ExtraLine,
    #[error("missing `{0}` line")]
    Missing(&'static str),
    #[error("unknown pointer version `{0}`")]
    BadVersion(String),
    #[error("invalid oid `{0}` (expected sha256: and 64 lowercase hex digits)")]
    BadOid(String),
    #[error("invalid size `{0}`")]
    BadSize(String),
    #[error("invalid extension `{0}`")]
    BadExtension(String),
}

impl Pointer {
    pub fn new(oid: Oid, size: u64) -> Pointer {
        Pointer { oid, size, extensions: Vec::new() }
    }

    /// The canonical bytes: three LF-terminated lines, or nothing at all for size 0.
    pub fn encode(&self) -> Vec<u8> {
        if self.size == 0 && self.extensions.is_empty() {
            return Vec::new();
        }
        let mut s = format!("version {VERSION}\n");
        for (k, v) in &self.extensions {
            s.push_str(&format!("{k} {v}\n"));
        }
        s.push_str(&format!("oid sha256:{}\nsize {}\n", self.oid, self.size));
        s.into_bytes()
    }

    /// Parses like git-lfs: at most 1023 bytes, the header substring, lines split at the first
    /// space, keys in the order version, (ext-N-*), oid, size, nothing after size.
    pub fn parse(bytes: &[u8]) -> Result<Pointer, ParseError> {
        if bytes.len() as u64 >= MAX_POINTER_SIZE {
            return Err(ParseError::TooLarge(bytes.len()));
        }
        if bytes.is_empty() {
            return Ok(Pointer::new(Oid::EMPTY, 0));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NoHeader)?;
        if !["git-media", "hawser", "git-lfs"].iter().any(|h| text.contains(h)) {
            return Err(ParseError::NoHeader);
        }
        let mut lines = Vec::new();
        for (i, line) in text.trim().split('\n').enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let (k, v) = line.split_once(' ').ok_or(ParseError::NoSpace(i + 1))?;
            lines.push((k, v.trim()));
        }
        let mut it = lines.into_iter().peekable();
        let (k, version) = it.next().ok_or(ParseError::Missing("version"))?;
        if k != "version" {
            return Err(ParseError::BadKey { expected: "version", found: k.into() });
        }
        if !ACCEPTED_VERSIONS.contains(&version) {
            return Err(ParseError::BadVersion(version.into()));
        }
        let mut extensions: Vec<(String, String)> = Vec::new();
        while let Some((k, v)) = it.peek().copied() {
            if !k.starts_with("ext-") {
                break;
            }
            it.next();
            let parts: Vec<&str> = k.splitn(3, '-').collect();
            let valid = parts.len() == 3
                && parts[1].len() == 1
                && parts[1].as_bytes()[0].is_ascii_digit()
                && !parts[2].is_empty()
                && parts[2].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
            let ext_oid_ok = v.strip_prefix("sha256:").and_then(Oid::from_hex).is_some();
            if !valid || !ext_oid_ok || extensions.iter().any(|(e, _)| e[4..5] == k[4..5]) {
                return Err(ParseError::BadExtension(k.into()));
            }
            extensions.push((k.into(), v.into()));
        }
        let (k, oid) = it.next().ok_or(ParseError::Missing("oid"))?;
        if k != "oid" {
            return Err(ParseError::BadKey { expected: "oid", found: k.into() });
        }
        let oid = oid.strip_prefix("sha256:").and_then(Oid::from_hex).ok_or_else(|| ParseError::BadOid(oid.into()))?;
        let (k, size) = it.next().ok_or(ParseError::Missing("size"))?;
        if k != "size" {
            return Err(ParseError::BadKey { expected: "size", found: k.into() });
        }
        let size_n: i64 = size.parse().map_err(|_| ParseError::BadSize(size.into()))?;
        if size_n < 0 {
            return Err(ParseError::BadSize(size.into()));
        }
        if it.next().is_some() {
            return Err(ParseError::ExtraLine);
        }
        extensions.sort();
        Ok(Pointer { oid, size: size_n as u64, extensions })
    }

    /// True when `bytes` are exactly the canonical encoding of this pointer.
    /// True for text that is shaped like a pointer (small, with a pointer's `version` or `oid
    /// sha256:` line) yet does not parse as one: a pointer a merge wrote conflict markers into,
    /// or a damaged one. Committing it would store that text as the file's content.
    pub fn looks_like_broken_pointer(bytes: &[u8]) -> bool {
        if bytes.is_empty() || bytes.len() as u64 >= MAX_POINTER_SIZE || Pointer::parse(bytes).is_ok() {
            return false;
        }
        let Ok(text) = std::str::from_utf8(bytes) else { return false };
        text.lines()
            .map(|l| l.trim_end_matches('\r'))
            .any(|l| ACCEPTED_VERSIONS.iter().any(|v| l.starts_with("version ") && l.contains(v)) || l.starts_with("oid sha256:"))
    }

    pub fn is_canonical(&self, bytes: &[u8]) -> bool {
        self.encode() == bytes
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{} ({} bytes)", self.oid, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    fn canonical() -> String {
        format!("version {VERSION}\noid sha256:{OID}\nsize 12345\n")
    }

    #[test]
    fn encodes_canonically() {
        let p = Pointer::new(Oid::from_hex(OID).unwrap(), 12345);
        assert_eq!(String::from_utf8(p.encode()).unwrap(), canonical());
        assert_eq!(Pointer::new(Oid::EMPTY, 0).encode(), b"");
    }

    #[test]
    fn parses_canonical_and_tolerated_forms() {
        let p = Pointer::parse(canonical().as_bytes()).unwrap();
        assert_eq!(p.size, 12345);
        assert!(p.is_canonical(canonical().as_bytes()));
        // CRLF, missing final LF, blank lines: accepted, not canonical (TestDecodeCanonical)
        for variant in [canonical().replace('\n', "\r\n"), canonical().trim_end().to_string(), format!("\n{}\n\n", canonical())] {
            let q = Pointer::parse(variant.as_bytes()).unwrap();
            assert_eq!(q, p);
            assert!(!q.is_canonical(variant.as_bytes()));
        }
        assert_eq!(Pointer::parse(b"").unwrap().size, 0);
    }

    #[test]
    fn rejects_what_git_lfs_rejects() {
        let v = format!("version {VERSION}");
        let bad = [
            format!("{v}\noid sha256:{}\nsize 1\n", OID.to_uppercase()),
            format!("{v}\noid sha1:{OID}\nsize 1\n"),
            format!("{v}\noid sha256:{OID}\n"),
            format!("oid sha256:{OID}\nsize 1\n"),
            format!("{v}\nsize 1\noid sha256:{OID}\n"),
            format!("{v}\noid=sha256:{OID}\nsize 1\n"),
            format!("{v}\noid sha256:{OID}\nsize 1\nfoo bar\n"),
            format!("{v}\noid sha256:{OID}\nsize -1\n"),
            format!("{v}\noid sha256:{OID}\nsize abc\n"),
            format!("version https://example.com/v9\noid sha256:{OID}\nsize 1\n"),
            format!("{v}\next-10-foo sha256:{OID}\noid sha256:{OID}\nsize 1\n"),
            format!("{v}\next-1-foo sha256:{OID}\next-1-bar sha256:{OID}\noid sha256:{OID}\nsize 1\n"),
            "hello world\n".to_string(),
        ];
        for b in bad {
            assert!(Pointer::parse(b.as_bytes()).is_err(), "accepted: {b:?}");
        }
        let mut big = canonical().into_bytes();
        big.resize(1024, b'\n');
        assert_eq!(Pointer::parse(&big), Err(ParseError::TooLarge(1024)));
    }

    #[test]
    fn broken_pointers_are_recognised() {
        let conflict = format!("<<<<<<< HEAD\n{}=======\n{}>>>>>>> other\n", canonical(), canonical().replace("12345", "7"));
        assert!(Pointer::looks_like_broken_pointer(conflict.as_bytes()));
        assert!(Pointer::looks_like_broken_pointer(format!("version {VERSION}\noid sha256:{OID}\n").as_bytes()));
        assert!(!Pointer::looks_like_broken_pointer(canonical().as_bytes()));
        assert!(!Pointer::looks_like_broken_pointer(b"hello world\n"));
        assert!(!Pointer::looks_like_broken_pointer(b""));
        assert!(!Pointer::looks_like_broken_pointer(&[0xff, 0xfe, b'o']));
    }

    #[test]
    fn extensions_are_kept_for_the_canonical_check() {
        let s = format!("version {VERSION}\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 5\n");
        let p = Pointer::parse(s.as_bytes()).unwrap();
        assert_eq!(p.extensions.len(), 1);
        assert!(p.is_canonical(s.as_bytes()));
    }
}
