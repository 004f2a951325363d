//! Shards (spec `shard.md`): the little-endian records that register files (their terms,
//! verification hashes and SHA-256) and describe xorbs (their chunk lists) to the CAS.
//!
//! [`upload_shard`] writes the footer-less form `POST /v1/shards` takes, byte for byte as
//! xet-core writes it (files and xorbs in xet-core's hash order). [`parse_shard`] reads any shard
//! from untrusted bytes, footer or not — in particular the answer to the global dedup query —
//! bounding every count by the bytes that are really there.

use std::ops::Range;

use super::hash::MerkleHash;
use super::xorb::Xorb;
use crate::{Error, Result};

/// The 32-byte magic at the start of every shard.
const HEADER_TAG: [u8; 32] = [
    b'H', b'F', b'R', b'e', b'p', b'o', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165,
    189, 217, 92, 205, 209, 74, 169,
];
const HEADER_VERSION: u64 = 2;
const FOOTER_VERSION: u64 = 1;
const HEADER_LEN: usize = 48;
const FOOTER_LEN: usize = 200;
/// Every record after the header is 48 bytes.
const ENTRY: usize = 48;
const FLAG_VERIFICATION: u32 = 1 << 31;
const FLAG_METADATA_EXT: u32 = 1 << 30;
/// A section ends with a record whose hash is all ones.
const BOOKEND_HASH: [u8; 32] = [0xff; 32];

/// One term of a file: a run of chunks of one xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub xorb: MerkleHash,
    /// Decoded bytes of the run.
    pub unpacked_len: u32,
    /// Chunk indices in the xorb, end exclusive.
    pub chunks: Range<u32>,
    /// [`super::hash::verification_hash`] of the run's chunk hashes (zero when a parsed shard
    /// carries none).
    pub verification: MerkleHash,
}

impl Term {
    /// The term over chunks `start..start + chunks.len()` of `xorb`, given those chunks'
    /// `(hash, length)`: its length and verification hash computed from them.
    pub fn from_chunks(xorb: MerkleHash, start: u32, chunks: &[(MerkleHash, u64)]) -> Term {
        let hashes: Vec<MerkleHash> = chunks.iter().map(|(h, _)| *h).collect();
        Term {
            xorb,
            unpacked_len: chunks.iter().map(|(_, n)| *n as u32).sum(),
            chunks: start..start + chunks.len() as u32,
            verification: super::hash::verification_hash(&hashes),
        }
    }
}

/// How one file is rebuilt, and its SHA-256 (required by the Hub for git-backed repos).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The Xet file id ([`super::hash::file_hash`]).
    pub hash: MerkleHash,
    pub terms: Vec<Term>,
    /// The ordinary SHA-256 digest of the content (the LFS oid); stored word-reversed, see
    /// [`MerkleHash::from_sha256`].
    pub sha256: Option<[u8; 32]>,
}

impl FileEntry {
    /// Bytes this file takes in an upload shard.
    pub fn shard_len(&self) -> usize {
        ENTRY * (1 + 2 * self.terms.len() + self.sha256.is_some() as usize)
    }
}

/// One chunk of a xorb as a shard lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardChunk {
    /// The chunk hash (keyed with the shard's key in a global dedup answer).
    pub hash: MerkleHash,
    /// Offset of the chunk in the xorb's decoded data.
    pub unpacked_offset: u32,
    pub len: u32,
}

/// A xorb and its chunks, as a shard describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbEntry {
    pub hash: MerkleHash,
    pub chunks: Vec<ShardChunk>,
    /// Total decoded bytes.
    pub raw_len: u32,
    /// The serialized length; xet-core uploads 0 here, and so does [`XorbEntry::from`].
    pub stored_len: u32,
}

impl XorbEntry {
    /// Bytes this xorb takes in a shard.
    pub fn shard_len(&self) -> usize {
        ENTRY * (1 + self.chunks.len())
    }
}

impl From<&Xorb> for XorbEntry {
    fn from(x: &Xorb) -> XorbEntry {
        XorbEntry {
            hash: x.hash,
            chunks: x.chunks.iter().map(|c| ShardChunk { hash: c.hash, unpacked_offset: c.unpacked_offset, len: c.len }).collect(),
            raw_len: x.raw_len() as u32,
            stored_len: 0,
        }
    }
}

/// Bytes of the upload shard [`upload_shard`] writes for these files and xorbs (split shards
/// above the CAS's limit with it).
pub fn upload_shard_len(files: &[FileEntry], xorbs: &[XorbEntry]) -> usize {
    HEADER_LEN + ENTRY * 2 + files.iter().map(FileEntry::shard_len).sum::<usize>() + xorbs.iter().map(XorbEntry::shard_len).sum::<usize>()
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bookend(out: &mut Vec<u8>) {
    out.extend_from_slice(&BOOKEND_HASH);
    out.extend_from_slice(&[0; 16]);
}

/// The footer-less shard for `POST /v1/shards`: every file (with a verification entry per
/// term, and its SHA-256 when given) and every new xorb with its chunk list, each set in
/// xet-core's hash order (a file or xorb given twice is written once).
pub fn upload_shard(files: &[FileEntry], xorbs: &[XorbEntry]) -> Vec<u8> {
    let mut files: Vec<&FileEntry> = files.iter().collect();
    files.sort_by_key(|a| a.hash);
    files.dedup_by(|a, b| a.hash == b.hash);
    let mut xorbs: Vec<&XorbEntry> = xorbs.iter().collect();
    xorbs.sort_by_key(|a| a.hash);
    xorbs.dedup_by(|a, b| a.hash == b.hash);

    let mut out = Vec::with_capacity(upload_shard_len(&[], &[]) + files.iter().map(|f| f.shard_len()).sum::<usize>());
    out.extend_from_slice(&HEADER_TAG);
    put_u64(&mut out, HEADER_VERSION);
    put_u64(&mut out, 0); // footer size: none on upload
    for f in files {
        out.extend_from_slice(&f.hash.0);
        let flags = FLAG_VERIFICATION | if f.sha256.is_some() { FLAG_METADATA_EXT } else { 0 };
        put_u32(&mut out, flags);
        put_u32(&mut out, f.terms.len() as u32);
        put_u64(&mut out, 0);
        for t in &f.terms {
            out.extend_from_slice(&t.xorb.0);
            put_u32(&mut out, 0);
            put_u32(&mut out, t.unpacked_len);
            put_u32(&mut out, t.chunks.start);
            put_u32(&mut out, t.chunks.end);
        }
        for t in &f.terms {
            out.extend_from_slice(&t.verification.0);
            out.extend_from_slice(&[0; 16]);
        }
        if let Some(sha) = f.sha256 {
            out.extend_from_slice(&MerkleHash::from_sha256(sha).0);
            out.extend_from_slice(&[0; 16]);
        }
    }
    put_bookend(&mut out);
    for x in xorbs {
        out.extend_from_slice(&x.hash.0);
        put_u32(&mut out, 0);
        put_u32(&mut out, x.chunks.len() as u32);
        put_u32(&mut out, x.raw_len);
        put_u32(&mut out, x.stored_len);
        for c in &x.chunks {
            out.extend_from_slice(&c.hash.0);
            put_u32(&mut out, c.unpacked_offset);
            put_u32(&mut out, c.len);
            put_u64(&mut out, 0);
        }
    }
    put_bookend(&mut out);
    out
}

/// What a shard says, as [`parse_shard`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub files: Vec<FileEntry>,
    pub xorbs: Vec<XorbEntry>,
    /// The key a global dedup answer applies to its chunk hashes (`None`: plain hashes).
    pub chunk_key: Option<[u8; 32]>,
    /// Unix time after which a dedup answer should no longer be used (0: none given).
    pub key_expiry: u64,
}

impl Shard {
    /// `chunk_hash` as this shard's chunk lists spell it (keyed when the shard has a key).
    pub fn lookup_hash(&self, chunk_hash: &MerkleHash) -> MerkleHash {
        match &self.chunk_key {
            Some(key) => chunk_hash.keyed(key),
            None => *chunk_hash,
        }
    }

    /// Where the chunk `chunk_hash` (plain) sits: the xorb and the chunk's index in it.
    pub fn find_chunk(&self, chunk_hash: &MerkleHash) -> Option<(MerkleHash, u32)> {
        let wanted = self.lookup_hash(chunk_hash);
        self.xorbs.iter().find_map(|x| x.chunks.iter().position(|c| c.hash == wanted).map(|i| (x.hash, i as u32)))
    }
}

/// A bounds-checked reader over shard bytes; every error names the offset.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where the records end (the footer's start, or the end).
    end: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.end - self.at < n {
            return Err(bad(self.at, format!("{what} needs {n} bytes, {} remain", self.end - self.at)));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    /// One 48-byte record: its hash and the 16 bytes after it.
    fn record(&mut self, what: &str) -> Result<(MerkleHash, [u8; 16])> {
        let r = self.take(ENTRY, what)?;
        Ok((MerkleHash(r[..32].try_into().expect("32 of 48")), r[32..].try_into().expect("16 of 48")))
    }

    /// Checks that `count` more records can be there before anything is allocated for them.
    fn room_for(&self, count: usize, what: &str) -> Result<()> {
        if count.checked_mul(ENTRY).is_none_or(|n| n > self.end - self.at) {
            return Err(bad(self.at, format!("{count} {what} claimed, only {} bytes remain", self.end - self.at)));
        }
        Ok(())
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

fn bad(at: usize, what: String) -> Error {
    Error::failed(format!("malformed Xet shard at byte {at}: {what}"))
}

/// Reads a shard (with or without its footer) from untrusted bytes.
pub fn parse_shard(bytes: &[u8]) -> Result<Shard> {
    if bytes.len() < HEADER_LEN {
        return Err(bad(0, format!("{} bytes is shorter than a shard header", bytes.len())));
    }
    if bytes[..32] != HEADER_TAG {
        return Err(bad(0, "not a shard (wrong magic)".into()));
    }
    let version = u64_at(bytes, 32);
    if version != HEADER_VERSION {
        return Err(bad(32, format!("header version {version} (only {HEADER_VERSION} is known)")));
    }
    let footer_size = u64_at(bytes, 40);
    let (end, chunk_key, key_expiry) = match footer_size {
        0 => (bytes.len(), None, 0),
        n if n == FOOTER_LEN as u64 && bytes.len() >= HEADER_LEN + FOOTER_LEN => {
            let at = bytes.len() - FOOTER_LEN;
            let f = &bytes[at..];
            if u64_at(f, 0) != FOOTER_VERSION {
                return Err(bad(at, format!("footer version {} (only {FOOTER_VERSION} is known)", u64_at(f, 0))));
            }
            let key: [u8; 32] = f[72..104].try_into().expect("32 bytes");
            (at, (key != [0; 32]).then_some(key), u64_at(f, 112))
        }
        n => return Err(bad(40, format!("footer size {n} (a footer has {FOOTER_LEN} bytes) in a shard of {}", bytes.len()))),
    };
    let mut c = Cursor { bytes, at: HEADER_LEN, end };

    let mut files = Vec::new();
    loop {
        let (hash, rest) = c.record("a file header")?;
        if hash.0 == BOOKEND_HASH {
            break;
        }
        let flags = u32_at(&rest, 0);
        let n = u32_at(&rest, 4) as usize;
        let with_verification = flags & FLAG_VERIFICATION != 0;
        let with_ext = flags & FLAG_METADATA_EXT != 0;
        c.room_for(n * (1 + with_verification as usize) + with_ext as usize, "file records")?;
        let mut terms = Vec::with_capacity(n);
        for _ in 0..n {
            let (xorb, r) = c.record("a term")?;
            let (start, end) = (u32_at(&r, 8), u32_at(&r, 12));
            if start >= end {
                return Err(bad(c.at - ENTRY, format!("term with chunk range {start}..{end}")));
            }
            terms.push(Term { xorb, unpacked_len: u32_at(&r, 4), chunks: start..end, verification: MerkleHash::ZERO });
        }
        if with_verification {
            for t in &mut terms {
                t.verification = c.record("a verification entry")?.0;
            }
        }
        let sha256 = if with_ext { Some(c.record("a metadata extension")?.0.to_sha256()) } else { None };
        files.push(FileEntry { hash, terms, sha256 });
    }

    let mut xorbs = Vec::new();
    loop {
        let (hash, rest) = c.record("a xorb header")?;
        if hash.0 == BOOKEND_HASH {
            break;
        }
        let n = u32_at(&rest, 4) as usize;
        c.room_for(n, "chunk records")?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            let (chunk, r) = c.record("a chunk record")?;
            chunks.push(ShardChunk { hash: chunk, unpacked_offset: u32_at(&r, 0), len: u32_at(&r, 4) });
        }
        xorbs.push(XorbEntry { hash, chunks, raw_len: u32_at(&rest, 8), stored_len: u32_at(&rest, 12) });
    }
    if footer_size == 0 && c.at != bytes.len() {
        return Err(bad(c.at, format!("{} bytes after the last section of a footer-less shard", bytes.len() - c.at)));
    }
    Ok(Shard { files, xorbs, chunk_key, key_expiry })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::hash::{chunk_hash, verification_hash};

    fn sample() -> (Vec<FileEntry>, Vec<XorbEntry>) {
        let chunks: Vec<ShardChunk> =
            (0..3u32).map(|i| ShardChunk { hash: chunk_hash(&i.to_le_bytes()), unpacked_offset: i * 100, len: 100 }).collect();
        let xorb = XorbEntry { hash: chunk_hash(b"xorb"), chunks: chunks.clone(), raw_len: 300, stored_len: 0 };
        let hashes: Vec<MerkleHash> = chunks.iter().map(|c| c.hash).collect();
        let leaves: Vec<(MerkleHash, u64)> = chunks.iter().map(|c| (c.hash, c.len as u64)).collect();
        let made = Term::from_chunks(xorb.hash, 2, &leaves[2..3]);
        assert_eq!(made, Term { xorb: xorb.hash, unpacked_len: 100, chunks: 2..3, verification: verification_hash(&hashes[2..3]) });
        let file = |name: &[u8], sha: Option<[u8; 32]>| FileEntry {
            hash: chunk_hash(name),
            terms: vec![
                Term { xorb: xorb.hash, unpacked_len: 200, chunks: 0..2, verification: verification_hash(&hashes[0..2]) },
                Term { xorb: xorb.hash, unpacked_len: 100, chunks: 2..3, verification: verification_hash(&hashes[2..3]) },
            ],
            sha256: sha,
        };
        (vec![file(b"a", Some([7; 32])), file(b"b", None)], vec![xorb])
    }

    #[test]
    fn upload_shard_round_trips_and_has_the_stated_length() {
        let (files, xorbs) = sample();
        let bytes = upload_shard(&files, &xorbs);
        assert_eq!(bytes.len(), upload_shard_len(&files, &xorbs));
        assert_eq!(u64_at(&bytes, 40), 0, "no footer on upload");
        let parsed = parse_shard(&bytes).unwrap();
        let mut want = files.clone();
        want.sort_by_key(|a| a.hash);
        assert_eq!(parsed.files, want);
        assert_eq!(parsed.xorbs, xorbs);
        assert_eq!(parsed.chunk_key, None);
        assert_eq!(parsed.find_chunk(&xorbs[0].chunks[2].hash), Some((xorbs[0].hash, 2)));
        // the SHA-256 is stored word-reversed
        let a = bytes.windows(32).position(|w| w == MerkleHash::from_sha256([7; 32]).0);
        assert!(a.is_some());
    }

    #[test]
    fn hostile_shards_are_errors() {
        let (files, xorbs) = sample();
        let good = upload_shard(&files, &xorbs);
        for cut in 0..good.len() {
            assert!(parse_shard(&good[..cut]).is_err(), "cut at {cut}");
        }
        let err = |b: &[u8]| parse_shard(b).unwrap_err().to_string();
        let mut b = good.clone();
        b[0] ^= 1;
        assert!(err(&b).contains("magic"));
        let mut b = good.clone();
        b[32] = 3;
        assert!(err(&b).contains("header version 3"));
        let mut b = good.clone();
        b[40] = 1;
        assert!(err(&b).contains("footer size 1"));
        // a file claiming 2^32-1 terms
        let mut b = good.clone();
        b[HEADER_LEN + 36..HEADER_LEN + 40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(err(&b).contains("4294967295 file records claimed") || err(&b).contains("file records claimed"), "{}", err(&b));
        // a term with an empty chunk range
        let mut b = good.clone();
        b[HEADER_LEN + ENTRY + 40..HEADER_LEN + ENTRY + 44].copy_from_slice(&9u32.to_le_bytes());
        assert!(err(&b).contains("chunk range 9..2"));
        let mut b = good.clone();
        b.extend_from_slice(&[0; 5]);
        assert!(err(&b).contains("5 bytes after"));
        // a footer size that points before the header
        let mut b = good.clone();
        b[40..48].copy_from_slice(&(FOOTER_LEN as u64).to_le_bytes());
        b.truncate(HEADER_LEN + FOOTER_LEN - 1);
        assert!(err(&b).contains("footer size 200"));
    }

    #[test]
    fn mutated_shards_never_panic() {
        let (files, xorbs) = sample();
        let good = upload_shard(&files, &xorbs);
        let mut seed = 0x0fed_cba9_8765_4321u64;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = good.clone();
            let at = HEADER_LEN + (seed % (good.len() - HEADER_LEN) as u64) as usize;
            b[at] ^= (seed >> 40) as u8 | 1;
            if let Ok(s) = parse_shard(&b) {
                // whatever it read, each record it returns was really there
                let records: usize =
                    s.files.iter().map(|f| 1 + f.terms.len()).sum::<usize>() + s.xorbs.iter().map(|x| 1 + x.chunks.len()).sum::<usize>();
                assert!(HEADER_LEN + ENTRY * (records + 2) <= b.len());
            }
        }
    }
}
