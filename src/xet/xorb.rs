//! Xorbs (spec `xorb.md`): the serialized run of chunks that the CAS stores under its hash. Each
//! chunk is an 8-byte header (version 0, compressed size u24 LE, scheme, uncompressed size u24
//! LE) and its data, stored raw, as an LZ4 frame, or byte-grouped by 4 then LZ4-framed.
//!
//! [`XorbBuilder`] writes them byte for byte as xet-core uploads them: footer-less (the CAS
//! rebuilds the footer from the chunks), the scheme chosen by xet-core's byte-grouping predictor
//! from the first chunk of every 32 in each file's run, raw when compression does not shrink the
//! chunk. [`decode_chunks`] reads them back from untrusted bytes: every length is checked
//! against the format's bounds before anything is allocated, and nothing panics.

use std::io::{Read, Write};
use std::ops::Range;

use super::chunk::MAX_CHUNK;
use super::hash::{xorb_hash, MerkleHash};
use crate::{Error, Result};

/// The CAS refuses xorbs above this many bytes (chunk data before compression, as xet-core cuts).
pub const MAX_XORB_BYTES: usize = 64 << 20;
/// At most this many chunks in one xorb.
pub const MAX_XORB_CHUNKS: usize = 8 * 1024;
/// Length of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 8;
/// xet-core re-picks the compression scheme every this many chunks of one file.
const RETEST_INTERVAL: usize = 32;
/// A stored chunk may be at most this large (xet-core's bound: an incompressible LZ4 frame is a
/// little larger than its input).
const MAX_STORED: usize = 2 * MAX_CHUNK;
/// The first bytes of a xorb footer (xet-core's `XETBLOB` ident); a chunk header never starts so.
const FOOTER_IDENT: &[u8; 7] = b"XETBLOB";

/// How one chunk's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    None = 0,
    Lz4 = 1,
    /// Byte grouping by 4 (all first bytes of each 4, then all second bytes, …), then LZ4.
    ByteGrouping4Lz4 = 2,
}

impl Scheme {
    fn from_byte(b: u8) -> Option<Scheme> {
        match b {
            0 => Some(Scheme::None),
            1 => Some(Scheme::Lz4),
            2 => Some(Scheme::ByteGrouping4Lz4),
            _ => None,
        }
    }
}

/// One parsed chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub scheme: Scheme,
    /// Bytes of stored data after the header.
    pub stored_len: usize,
    /// Bytes of the chunk once decoded.
    pub len: usize,
}

impl ChunkHeader {
    /// The 8 header bytes.
    pub fn to_bytes(&self) -> [u8; CHUNK_HEADER_LEN] {
        let s = (self.stored_len as u32).to_le_bytes();
        let u = (self.len as u32).to_le_bytes();
        [0, s[0], s[1], s[2], self.scheme as u8, u[0], u[1], u[2]]
    }

    /// Parses and bounds-checks a header (`at` names its offset in errors).
    pub fn parse(bytes: &[u8], at: usize) -> Result<ChunkHeader> {
        let Some(b) = bytes.get(..CHUNK_HEADER_LEN) else {
            return Err(bad(at, format!("truncated chunk header ({} of 8 bytes)", bytes.len())));
        };
        if b.starts_with(FOOTER_IDENT) {
            return Err(bad(at, "a xorb footer where a chunk header should be".into()));
        }
        if b[0] != 0 {
            return Err(bad(at, format!("chunk header version {} (only 0 is known)", b[0])));
        }
        let scheme = Scheme::from_byte(b[4]).ok_or_else(|| bad(at, format!("unknown compression scheme {}", b[4])))?;
        let stored_len = u32::from_le_bytes([b[1], b[2], b[3], 0]) as usize;
        let len = u32::from_le_bytes([b[5], b[6], b[7], 0]) as usize;
        if len > MAX_CHUNK {
            return Err(bad(at, format!("chunk of {len} bytes (at most {MAX_CHUNK})")));
        }
        if stored_len > MAX_STORED {
            return Err(bad(at, format!("stored chunk of {stored_len} bytes (at most {MAX_STORED})")));
        }
        if scheme == Scheme::None && stored_len != len {
            return Err(bad(at, format!("uncompressed chunk stores {stored_len} bytes but says it has {len}")));
        }
        Ok(ChunkHeader { scheme, stored_len, len })
    }
}

fn bad(at: usize, what: String) -> Error {
    Error::failed(format!("malformed xorb data at byte {at}: {what}"))
}

/// Where one chunk sits in a built xorb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorbChunk {
    pub hash: MerkleHash,
    /// Offset of the chunk's header in the serialized xorb.
    pub offset: u32,
    /// Offset of the chunk's first byte in the xorb's decoded data.
    pub unpacked_offset: u32,
    /// Decoded length.
    pub len: u32,
}

/// A finished xorb: what to upload and what a shard says about it.
#[derive(Debug, Clone)]
pub struct Xorb {
    /// The serialized chunks (no footer), the body of `POST /v1/xorbs/default/{hash}`.
    pub bytes: Vec<u8>,
    pub hash: MerkleHash,
    pub chunks: Vec<XorbChunk>,
}

impl Xorb {
    /// Decoded bytes of all chunks.
    pub fn raw_len(&self) -> u64 {
        self.chunks.iter().map(|c| c.len as u64).sum()
    }
}

/// Packs chunks into one xorb, compressing as it goes.
#[derive(Debug, Default)]
pub struct XorbBuilder {
    bytes: Vec<u8>,
    chunks: Vec<XorbChunk>,
    raw: usize,
    /// The scheme of the current block and how many more chunks it covers.
    scheme: Option<Scheme>,
    block_left: usize,
}

impl XorbBuilder {
    pub fn new() -> XorbBuilder {
        XorbBuilder::default()
    }

    /// Marks that the next chunk begins another file's run of chunks (xet-core picks the
    /// compression scheme afresh there; without it the bytes still decode, but may differ from
    /// what xet-core writes).
    pub fn start_file(&mut self) {
        self.block_left = 0;
    }

    /// Whether a chunk of `len` bytes still fits (the limits xet-core cuts at).
    pub fn fits(&self, len: usize) -> bool {
        self.chunks.len() < MAX_XORB_CHUNKS && self.raw + len <= MAX_XORB_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Chunks so far.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Decoded bytes so far.
    pub fn raw_len(&self) -> usize {
        self.raw
    }

    /// Serialized bytes so far.
    pub fn stored_len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends one chunk (`hash` must be its [`super::hash::chunk_hash`]). Refuses an empty or
    /// oversized chunk and one that does not [`fits`](XorbBuilder::fits).
    pub fn push(&mut self, data: &[u8], hash: MerkleHash) -> Result<()> {
        if data.is_empty() || data.len() > MAX_CHUNK {
            return Err(Error::failed(format!("a xorb chunk has 1 to {MAX_CHUNK} bytes, not {}", data.len())));
        }
        if !self.fits(data.len()) {
            return Err(Error::failed(format!(
                "xorb full ({} chunks, {} bytes): start another before adding {} bytes",
                self.chunks.len(),
                self.raw,
                data.len()
            )));
        }
        if self.block_left == 0 || self.scheme.is_none() {
            self.scheme = Some(if bg4_recommended(data) { Scheme::ByteGrouping4Lz4 } else { Scheme::Lz4 });
            self.block_left = RETEST_INTERVAL;
        }
        self.block_left -= 1;
        let scheme = self.scheme.expect("set just above");
        let offset = self.bytes.len() as u32;
        let compressed = match scheme {
            Scheme::Lz4 => lz4_frame(data),
            Scheme::ByteGrouping4Lz4 => lz4_frame(&bg4_split(data)),
            Scheme::None => data.to_vec(),
        };
        let (scheme, stored) = if compressed.len() >= data.len() { (Scheme::None, data) } else { (scheme, &compressed[..]) };
        let header = ChunkHeader { scheme, stored_len: stored.len(), len: data.len() };
        self.bytes.extend_from_slice(&header.to_bytes());
        self.bytes.extend_from_slice(stored);
        self.chunks.push(XorbChunk { hash, offset, unpacked_offset: self.raw as u32, len: data.len() as u32 });
        self.raw += data.len();
        Ok(())
    }

    /// The serialized xorb, its hash and its chunk table.
    pub fn finish(self) -> Xorb {
        let leaves: Vec<(MerkleHash, u64)> = self.chunks.iter().map(|c| (c.hash, c.len as u64)).collect();
        Xorb { bytes: self.bytes, hash: xorb_hash(&leaves), chunks: self.chunks }
    }
}

/// LZ4 frame with lz4_flex's default frame settings, as xet-core writes them.
fn lz4_frame(data: &[u8]) -> Vec<u8> {
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 64));
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("finishing an LZ4 frame into a Vec cannot fail")
}

/// Group sizes of byte grouping: the first `len % 4` groups hold one byte more.
fn group_sizes(len: usize) -> [usize; 4] {
    let (q, r) = (len / 4, len % 4);
    [q + (r > 0) as usize, q + (r > 1) as usize, q + (r > 2) as usize, q]
}

/// Byte grouping by 4: byte `i` goes to group `i % 4`; the groups are concatenated.
fn bg4_split(data: &[u8]) -> Vec<u8> {
    let sizes = group_sizes(data.len());
    let mut out = vec![0u8; data.len()];
    let mut starts = [0, sizes[0], sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2]];
    for quad in data.chunks(4) {
        for (g, &b) in quad.iter().enumerate() {
            out[starts[g]] = b;
            starts[g] += 1;
        }
    }
    out
}

/// The inverse of [`bg4_split`].
fn bg4_regroup(grouped: &[u8]) -> Vec<u8> {
    let sizes = group_sizes(grouped.len());
    let mut starts = [0, sizes[0], sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2]];
    let mut out = vec![0u8; grouped.len()];
    for (i, b) in out.iter_mut().enumerate() {
        let g = i % 4;
        *b = grouped[starts[g]];
        starts[g] += 1;
    }
    out
}

/// xet-core's byte-grouping predictor: a histogram of bit counts per byte position mod 4; byte
/// grouping is recommended when one position's histogram diverges (KL > 0.02) from the
/// smoothed overall one. The arithmetic follows xet-core's exactly (including its NaN cases),
/// so the same chunks get the same scheme.
fn bg4_recommended(data: &[u8]) -> bool {
    let mut hist = [[0u32; 9]; 4];
    for (i, &x) in data.iter().enumerate() {
        hist[i % 4][x.count_ones() as usize] += 1;
    }
    let mut base = [1u32; 9];
    let mut totals = [0u32; 4];
    for (h, total) in hist.iter().zip(&mut totals) {
        for (&c, b) in h.iter().zip(&mut base) {
            *b += c;
            *total += c;
        }
    }
    let base_total: u32 = totals.iter().sum();
    let mut max_kl = 0f64;
    for (h, &total) in hist.iter().zip(&totals) {
        let mut kl = 0.;
        for (&c, &b) in h.iter().zip(&base) {
            let p = c as f64 / total as f64;
            let q = b as f64 / base_total as f64;
            kl += p * (p / q).ln();
        }
        max_kl = max_kl.max(kl);
    }
    max_kl > 0.02
}

/// Decodes one stored chunk whose header was already checked; the result has exactly
/// `header.len` bytes or this fails.
fn decode_one(header: &ChunkHeader, stored: &[u8], at: usize) -> Result<Vec<u8>> {
    let unframe = |data: &[u8]| -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(header.len);
        // one byte more than promised is enough to see that the frame lies about its length
        lz4_flex::frame::FrameDecoder::new(data)
            .take(header.len as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| bad(at, format!("LZ4 frame does not decode: {e}")))?;
        Ok(out)
    };
    let out = match header.scheme {
        Scheme::None => stored.to_vec(),
        Scheme::Lz4 => unframe(stored)?,
        Scheme::ByteGrouping4Lz4 => bg4_regroup(&unframe(stored)?),
    };
    if out.len() != header.len {
        return Err(bad(at, format!("chunk decodes to {} bytes but its header says {}", out.len(), header.len)));
    }
    Ok(out)
}

/// Calls `f(index, decoded chunk)` for the chunks `range` of `bytes`, which begin at a chunk
/// header (a whole xorb, or a ranged fetch that starts at its first wanted chunk; indices count
/// from there). Bytes after the last wanted chunk are not read (a footer may follow).
pub fn for_each_chunk(bytes: &[u8], range: Range<usize>, mut f: impl FnMut(usize, &[u8]) -> Result<()>) -> Result<()> {
    if range.start > range.end || range.end > MAX_XORB_CHUNKS {
        return Err(Error::failed(format!("bad xorb chunk range {}..{} (a xorb has at most {MAX_XORB_CHUNKS})", range.start, range.end)));
    }
    let mut at = 0usize;
    for index in 0..range.end {
        if at == bytes.len() {
            return Err(bad(at, format!("xorb data ends after {index} chunks, {} wanted", range.end)));
        }
        let header = ChunkHeader::parse(&bytes[at..], at)?;
        let data_at = at + CHUNK_HEADER_LEN;
        let Some(stored) = bytes.get(data_at..data_at + header.stored_len) else {
            return Err(bad(at, format!("chunk {index} needs {} bytes, {} remain", header.stored_len, bytes.len() - data_at)));
        };
        if index >= range.start {
            f(index, &decode_one(&header, stored, at)?)?;
        }
        at = data_at + header.stored_len;
    }
    Ok(())
}

/// The decoded bytes of chunks `range` of `bytes` (see [`for_each_chunk`]), concatenated.
pub fn decode_chunks(bytes: &[u8], range: Range<usize>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for_each_chunk(bytes, range, |_, chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(out)
}

/// The headers of every chunk of a whole serialized xorb with their offsets, up to its end or
/// its footer (xet-core's `XETBLOB`).
pub fn chunk_headers(bytes: &[u8]) -> Result<Vec<(usize, ChunkHeader)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() && !bytes[at..].starts_with(FOOTER_IDENT) {
        if out.len() == MAX_XORB_CHUNKS {
            return Err(bad(at, format!("more than {MAX_XORB_CHUNKS} chunks")));
        }
        let header = ChunkHeader::parse(&bytes[at..], at)?;
        let end = at + CHUNK_HEADER_LEN + header.stored_len;
        if end > bytes.len() {
            return Err(bad(
                at,
                format!("chunk {} needs {} bytes, {} remain", out.len(), header.stored_len, bytes.len() - at - CHUNK_HEADER_LEN),
            ));
        }
        out.push((at, header));
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::hash::chunk_hash;

    fn build(chunks: &[&[u8]]) -> Xorb {
        let mut b = XorbBuilder::new();
        for c in chunks {
            b.push(c, chunk_hash(c)).unwrap();
        }
        b.finish()
    }

    #[test]
    fn byte_grouping_round_trips_every_remainder() {
        for len in 0..13 {
            let data: Vec<u8> = (0..len as u8).collect();
            let grouped = bg4_split(&data);
            assert_eq!(bg4_regroup(&grouped), data, "len {len}");
        }
        assert_eq!(bg4_split(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), [1, 5, 9, 2, 6, 3, 7, 4, 8]);
    }

    #[test]
    fn schemes_round_trip_and_raw_when_compression_does_not_help() {
        let text = b"weights weights weights weights ".repeat(1000);
        let floats: Vec<u8> = (0..20_000).flat_map(|i| (1.0f32 + i as f32 * 1e-4).to_le_bytes()).collect();
        let noise: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let x = build(&[&text, &floats, &noise, b"x"]);
        let heads = chunk_headers(&x.bytes).unwrap();
        assert_eq!(heads.len(), 4);
        assert_eq!(heads[0].1.scheme, Scheme::Lz4);
        assert!(heads[0].1.stored_len < text.len() / 10);
        assert_eq!(heads[3].1.scheme, Scheme::None, "one byte does not compress");
        assert_eq!(decode_chunks(&x.bytes, 0..4).unwrap(), [&text[..], &floats, &noise, b"x"].concat());
        assert_eq!(decode_chunks(&x.bytes, 1..2).unwrap(), floats);
        // a ranged fetch starting at chunk 2 decodes from there
        let from2 = &x.bytes[x.chunks[2].offset as usize..];
        assert_eq!(decode_chunks(from2, 0..2).unwrap(), [&noise[..], b"x"].concat());
        assert_eq!(x.chunks[3].unpacked_offset as usize, text.len() + floats.len() + noise.len());
        assert_eq!(x.raw_len(), (text.len() + floats.len() + noise.len() + 1) as u64);
    }

    #[test]
    fn full_builder_refuses_more() {
        let mut b = XorbBuilder::new();
        let chunk = vec![7u8; MAX_CHUNK];
        while b.fits(MAX_CHUNK) {
            b.push(&chunk, chunk_hash(&chunk)).unwrap();
        }
        assert_eq!(b.raw_len(), MAX_XORB_BYTES);
        assert!(b.push(b"y", chunk_hash(b"y")).is_err());
        assert!(XorbBuilder::new().push(b"", chunk_hash(b"")).is_err());
        assert!(XorbBuilder::new().push(&vec![0; MAX_CHUNK + 1], MerkleHash::ZERO).is_err());
    }

    #[test]
    fn hostile_xorb_bytes_are_errors() {
        let x = build(&[&b"abc".repeat(5000), b"tail bytes"]);
        let msg = |bytes: &[u8], range: Range<usize>| decode_chunks(bytes, range).unwrap_err().to_string();
        // every truncation of a valid xorb fails, none panics
        for cut in 0..x.bytes.len() {
            assert!(decode_chunks(&x.bytes[..cut], 0..2).is_err(), "cut at {cut}");
        }
        assert!(msg(&x.bytes, 0..3).contains("ends after 2 chunks"));
        let mut h = x.bytes.clone();
        h[0] = 1;
        assert!(msg(&h, 0..1).contains("version 1"));
        let mut h = x.bytes.clone();
        h[4] = 9;
        assert!(msg(&h, 0..1).contains("scheme 9"));
        let mut h = x.bytes.clone();
        h[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
        assert!(msg(&h, 0..1).contains("at most 131072"));
        let mut h = x.bytes.clone();
        h[1..4].copy_from_slice(&[0xff, 0xff, 0xff]);
        assert!(msg(&h, 0..1).contains("stored chunk of 16777215"));
        // a header that lies about the decoded size
        let mut h = x.bytes.clone();
        h[5] ^= 1;
        assert!(msg(&h, 0..1).contains("header says"), "{}", msg(&h, 0..1));
        // garbage where the LZ4 frame should be
        let mut h = x.bytes.clone();
        for b in &mut h[8..20] {
            *b = 0xAA;
        }
        assert!(msg(&h, 0..1).contains("LZ4"));
        // raw chunk whose sizes disagree
        let raw = [0u8, 5, 0, 0, 0, 4, 0, 0, 1, 2, 3, 4, 5];
        assert!(msg(&raw, 0..1).contains("stores 5 bytes but says it has 4"));
        assert!(msg(b"XETBLOB\0", 0..1).contains("footer"));
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert!(decode_chunks(&x.bytes, reversed).is_err());
        assert!(decode_chunks(&x.bytes, 0..MAX_XORB_CHUNKS + 1).is_err());
        assert_eq!(decode_chunks(&x.bytes, 1..1).unwrap(), b"");
    }

    #[test]
    fn mutated_xorbs_never_panic() {
        let floats: Vec<u8> = (0..5000).flat_map(|i| (i as f32 * 0.01).to_le_bytes()).collect();
        let x = build(&[&b"abc".repeat(3000), &floats, b"raw"]);
        let mut seed = 0x1234_5678_9abc_def1u64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut h = x.bytes.clone();
            let at = (seed % h.len() as u64) as usize;
            h[at] ^= (seed >> 32) as u8 | 1;
            // either an error or chunks that honour their headers; never a panic
            if let Ok(data) = decode_chunks(&h, 0..3) {
                assert!(data.len() <= 3 * MAX_CHUNK);
            }
            let _ = chunk_headers(&h);
        }
    }
}
