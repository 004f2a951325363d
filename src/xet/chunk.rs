//! Content-defined chunking (spec `chunking.md`): gearhash over the bytes, a boundary where the
//! top 16 bits of the rolling hash are zero, no boundary before 8 KiB, a forced one at 128 KiB.
//! Boundaries equal xet-core's for the same bytes however they are split into pieces.
//!
//! Owns the boundary search and the streaming read-chunk-hash loop ([`chunk_reader`]); knows
//! nothing about xorbs or files.

use std::io::{self, Read};

use super::hash::{chunk_hash, MerkleHash};

/// The chunk size the boundary test aims at (its mask has log2 of this many bits).
pub const TARGET_CHUNK: usize = 64 * 1024;
/// No boundary is taken before a chunk has this many bytes (except at the end of the data).
pub const MIN_CHUNK: usize = TARGET_CHUNK / 8;
/// A boundary is forced when a chunk reaches this many bytes.
pub const MAX_CHUNK: usize = TARGET_CHUNK * 2;

/// The gear hash depends on the last 64 bytes only, so up to `MIN_CHUNK - WINDOW - 1` bytes at
/// the start of each chunk need not be hashed at all (the spec's minimum-size skip).
const WINDOW: usize = 64;

/// `TARGET_CHUNK - 1` shifted to the top bits: 16 one-bits, `0xFFFF_0000_0000_0000`.
const MASK: u64 = ((TARGET_CHUNK - 1) as u64) << ((TARGET_CHUNK - 1) as u64).leading_zeros();

/// How much [`chunk_reader`] reads at a time (memory use is about this plus one chunk).
const READ_BLOCK: usize = 2 << 20;

/// The streaming boundary finder: feed it the data in pieces of any size; it remembers how far
/// into the current chunk it is.
#[derive(Debug)]
pub struct Chunker {
    hasher: gearhash::Hasher<'static>,
    /// Bytes of the current chunk already fed without a boundary.
    pending: usize,
}

impl Default for Chunker {
    fn default() -> Self {
        Chunker::new()
    }
}

impl Chunker {
    pub fn new() -> Chunker {
        Chunker { hasher: gearhash::Hasher::default(), pending: 0 }
    }

    /// Bytes of the current chunk fed so far without a boundary.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Continues the current chunk with `data`. `Some(n)`: the chunk ends after `data[..n]` and
    /// the next call must start with `data[n..]`; `None`: all of `data` belongs to the current
    /// chunk (at the end of the input, whatever is pending is the last chunk).
    pub fn next_boundary(&mut self, data: &[u8]) -> Option<usize> {
        if data.is_empty() {
            return None;
        }
        let before = self.pending;
        // The first bytes of a chunk cannot reach a testable position through the hash window.
        let mut at = if before + WINDOW < MIN_CHUNK { (MIN_CHUNK - before - WINDOW - 1).min(data.len()) } else { 0 };
        let end = data.len().min(at + MAX_CHUNK - before);
        let mut cut = false;
        while let Some(n) = self.hasher.next_match(&data[at..end], MASK) {
            at += n;
            if at + before >= MIN_CHUNK {
                cut = true;
                break;
            }
        }
        if !cut {
            at = end;
        }
        if at + before >= MAX_CHUNK {
            at = MAX_CHUNK - before;
            cut = true;
        }
        if cut {
            self.hasher.set_hash(0);
            self.pending = 0;
            Some(at)
        } else {
            self.pending += at;
            None
        }
    }
}

/// The end offsets of the chunks of `data` (the last one is `data.len()`; none for empty data).
pub fn chunk_ends(data: &[u8]) -> Vec<usize> {
    let mut chunker = Chunker::new();
    let mut ends = Vec::with_capacity(data.len() / TARGET_CHUNK + 1);
    let mut start = 0;
    while let Some(n) = chunker.next_boundary(&data[start..]) {
        start += n;
        ends.push(start);
    }
    if start < data.len() {
        ends.push(data.len());
    }
    ends
}

/// Reads `reader` to its end in large blocks and calls `f` with each chunk and its hash, in
/// order; returns the number of bytes read. Memory stays at about 2 MiB whatever the size.
pub fn chunk_reader<R: Read>(reader: R, mut f: impl FnMut(&[u8], MerkleHash)) -> io::Result<u64> {
    try_chunk_reader(reader, |chunk, hash| {
        f(chunk, hash);
        Ok(())
    })
}

/// [`chunk_reader`] whose callback may fail; the first error stops the reading and is returned.
pub fn try_chunk_reader<R: Read, E: From<io::Error>>(
    mut reader: R,
    mut f: impl FnMut(&[u8], MerkleHash) -> Result<(), E>,
) -> Result<u64, E> {
    let mut buf = vec![0u8; READ_BLOCK + MAX_CHUNK];
    let mut chunker = Chunker::new();
    // buf[..filled] holds data; buf[..scanned] has been fed to the chunker (it is the pending
    // start of the current chunk)
    let mut filled = 0;
    let mut scanned = 0;
    let mut total = 0u64;
    loop {
        let n = read_full(&mut reader, &mut buf[filled..])?;
        filled += n;
        total += n as u64;
        let mut start = 0;
        while let Some(len) = chunker.next_boundary(&buf[scanned..filled]) {
            let end = scanned + len;
            f(&buf[start..end], chunk_hash(&buf[start..end]))?;
            start = end;
            scanned = end;
        }
        if n == 0 {
            if start < filled {
                f(&buf[start..filled], chunk_hash(&buf[start..filled]))?;
            }
            return Ok(total);
        }
        // keep the open chunk (under MAX_CHUNK bytes) at the front, read more behind it
        buf.copy_within(start..filled, 0);
        filled -= start;
        scanned = filled;
    }
}

/// Reads until `buf` is full or the reader ends; retries interrupted reads.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's pseudocode, byte by byte: the reference the fast path must equal.
    fn slow_ends(data: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let (mut h, mut start) = (0u64, 0usize);
        for (i, &b) in data.iter().enumerate() {
            h = (h << 1).wrapping_add(gearhash::DEFAULT_TABLE[b as usize]);
            let size = i + 1 - start;
            if size >= MIN_CHUNK && (size >= MAX_CHUNK || h & MASK == 0) {
                ends.push(i + 1);
                start = i + 1;
                h = 0;
            }
        }
        if start < data.len() {
            ends.push(data.len());
        }
        ends
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn mask_is_the_top_16_bits() {
        assert_eq!(MASK, 0xFFFF_0000_0000_0000);
    }

    #[test]
    fn fast_path_equals_the_spec_pseudocode() {
        for (len, seed) in [(0, 1), (1, 2), (MIN_CHUNK - 1, 3), (MIN_CHUNK, 4), (MAX_CHUNK + 1, 5), (3 << 20, 6)] {
            let data = noise(len, seed);
            assert_eq!(chunk_ends(&data), slow_ends(&data), "len {len}");
        }
        // no boundary ever matches in zeros: every chunk is forced at the maximum
        let zeros = vec![0u8; 5 * MAX_CHUNK + 7];
        let ends = chunk_ends(&zeros);
        assert_eq!(ends, slow_ends(&zeros));
        assert_eq!(ends[0], MAX_CHUNK);
    }

    #[test]
    fn pieces_of_any_size_give_the_same_boundaries() {
        let data = noise(2 << 20, 7);
        let whole = chunk_ends(&data);
        for piece in [1usize, 63, 4096, 70_000] {
            let mut chunker = Chunker::new();
            let mut ends = Vec::new();
            let (mut start, mut pos) = (0usize, 0usize);
            while pos < data.len() {
                let stop = (pos + piece).min(data.len());
                while let Some(n) = chunker.next_boundary(&data[pos..stop]) {
                    pos += n;
                    ends.push(pos);
                    start = pos;
                }
                pos = stop;
            }
            if start < data.len() {
                ends.push(data.len());
            }
            assert_eq!(ends, whole, "pieces of {piece}");
        }
    }

    #[test]
    fn reader_sees_every_chunk_once_with_its_hash() {
        let data = noise(READ_BLOCK * 2 + 12345, 8);
        let mut seen = Vec::new();
        let mut joined = Vec::new();
        let total = chunk_reader(&data[..], |c, h| {
            assert_eq!(h, chunk_hash(c));
            joined.extend_from_slice(c);
            seen.push(joined.len());
        })
        .unwrap();
        assert_eq!(total, data.len() as u64);
        assert_eq!(seen, chunk_ends(&data));
        assert!(joined == data);
        let mut calls = 0;
        assert_eq!(chunk_reader(&[][..], |_, _| calls += 1).unwrap(), 0);
        assert_eq!(calls, 0);
    }
}
