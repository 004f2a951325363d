//! Content-defined chunking (spec `chunking.md`): gearhash over the bytes, a boundary where the
//! top 16 bits of the rolling hash are zero, no boundary before 8 KiB, a forced one at 128 KiB.
//! Boundaries equal xet-core's for the same bytes however they arrive in reads.
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

/// The gear hash depends on the last 64 bytes only: each byte is shifted out after 64 more.
const WINDOW: usize = 64;

/// `TARGET_CHUNK - 1` shifted to the top bits: 16 one-bits, `0xFFFF_0000_0000_0000`.
const MASK: u64 = ((TARGET_CHUNK - 1) as u64) << ((TARGET_CHUNK - 1) as u64).leading_zeros();

/// How much [`chunk_reader`] reads at a time (memory use is about this plus one chunk).
const READ_BLOCK: usize = 2 << 20;

/// The end offsets of the chunks of `data` (the last one is `data.len()`; none for empty data).
pub fn chunk_ends(data: &[u8]) -> Vec<usize> {
    let mut candidates = Vec::new();
    find_candidates(data, 0, MASK, &mut candidates);
    let mut ends = Vec::with_capacity(data.len() / TARGET_CHUNK + 1);
    let (mut start, mut next) = (0, 0);
    while let Some(end) = next_cut(&candidates, &mut next, start, data.len(), true) {
        ends.push(end);
        start = end;
    }
    ends
}

/// Where the chunk starting at `start` ends, given every cut candidate (sorted, see
/// [`find_candidates`]) of the data up to `filled`: the first candidate at least `MIN_CHUNK` and
/// at most `MAX_CHUNK` bytes in, else `MAX_CHUNK` bytes in, else (at the end of the data) the
/// end. `None`: the data ends here, or more of it is needed to know. `next` is where the search
/// in `candidates` resumes (candidates before the chunk's minimum are never cuts again).
fn next_cut(candidates: &[usize], next: &mut usize, start: usize, filled: usize, at_end: bool) -> Option<usize> {
    while *next < candidates.len() && candidates[*next] < start + MIN_CHUNK {
        *next += 1;
    }
    match candidates.get(*next) {
        Some(&c) if c <= start + MAX_CHUNK => Some(c),
        _ if filled >= start + MAX_CHUNK => Some(start + MAX_CHUNK),
        _ if at_end && filled > start => Some(filled),
        _ => None,
    }
}

/// Appends the cut candidates of `data[from..]`, in order: the end offset `i + 1` of every byte
/// `i` whose gear hash, taken over the 64 bytes ending at it, has no bit of `mask` set.
///
/// The gear hash shifts each byte out after 64 more, so this is a property of those 64 bytes
/// alone, the same wherever a chunk started: a chunk's cut (the spec's, where hashing restarts at
/// each cut) is exactly its first candidate between its minimum and maximum size. (Bytes fewer than 64 from the start of
/// `data` are hashed from what there is; they are never that far into a chunk.) That lets the
/// search run over four distant parts of the data at once: with AVX2, one 64-bit lane each.
fn find_candidates(data: &[u8], from: usize, mask: u64, out: &mut Vec<usize>) {
    let first = out.len();
    let lane = (data.len() - from) / 4;
    #[cfg(target_arch = "x86_64")]
    if lane >= WINDOW && std::is_x86_feature_detected!("avx2") {
        let starts = [from, from + lane, from + 2 * lane, from + 3 * lane];
        // SAFETY: AVX2 was detected on this CPU just above.
        unsafe { avx2::candidates(data, starts, lane, mask, out) };
        out[first..].sort_unstable();
        // the bytes that did not divide into four lanes
        scalar_candidates(data, from + 4 * lane, mask, out);
        return;
    }
    scalar_candidates(data, from, mask, out);
}

/// [`find_candidates`] one byte at a time (gearhash's own match search).
fn scalar_candidates(data: &[u8], from: usize, mask: u64, out: &mut Vec<usize>) {
    let mut hasher = gearhash::Hasher::default();
    hasher.update(&data[from.saturating_sub(WINDOW)..from]);
    let mut at = from;
    while let Some(n) = hasher.next_match(&data[at..], mask) {
        at += n;
        out.push(at);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::WINDOW;
    use std::arch::x86_64::*;

    /// The candidates of the `lane` bytes from each of `starts` (four parts of `data`), each part
    /// hashed in its own 64-bit lane of one AVX2 register; appended part by part in match order
    /// (the caller sorts them).
    ///
    /// # Safety
    /// The CPU must support AVX2; `starts[k] + lane <= data.len()` for each `k`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn candidates(data: &[u8], starts: [usize; 4], lane: usize, mask: u64, out: &mut Vec<usize>) {
        let table = &gearhash::DEFAULT_TABLE;
        let parts = starts.map(|s| &data[s..s + lane]);
        let warm = starts.map(|s| {
            let mut hasher = gearhash::Hasher::default();
            hasher.update(&data[s.saturating_sub(WINDOW)..s]);
            hasher.get_hash() as i64
        });
        let mut h = _mm256_set_epi64x(warm[3], warm[2], warm[1], warm[0]);
        let m = _mm256_set1_epi64x(mask as i64);
        let zero = _mm256_setzero_si256();
        // One step: every lane takes its byte `j`; the lanes whose hash now matches are set.
        macro_rules! step {
            ($j:expr) => {{
                let j = $j;
                // SAFETY: callers keep `j < lane`, the length of every part.
                let b =
                    unsafe { [parts[0].get_unchecked(j), parts[1].get_unchecked(j), parts[2].get_unchecked(j), parts[3].get_unchecked(j)] };
                let g = _mm256_set_epi64x(
                    table[*b[3] as usize] as i64,
                    table[*b[2] as usize] as i64,
                    table[*b[1] as usize] as i64,
                    table[*b[0] as usize] as i64,
                );
                h = _mm256_add_epi64(_mm256_add_epi64(h, h), g);
                _mm256_cmpeq_epi64(_mm256_and_si256(h, m), zero)
            }};
        }
        let mut i = 0;
        while i < lane {
            // four steps at a time, testing once; on a match, step again one at a time from
            // the state before the four
            while i + 4 <= lane {
                let before = h;
                let hit = _mm256_or_si256(_mm256_or_si256(step!(i), step!(i + 1)), _mm256_or_si256(step!(i + 2), step!(i + 3)));
                if _mm256_testz_si256(hit, hit) == 0 {
                    h = before;
                    break;
                }
                i += 4;
            }
            for _ in 0..4.min(lane - i) {
                let hit = step!(i);
                i += 1;
                let lanes = _mm256_movemask_pd(_mm256_castsi256_pd(hit));
                for (k, start) in starts.iter().enumerate() {
                    if lanes & (1 << k) != 0 {
                        out.push(start + i);
                    }
                }
            }
        }
    }
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
    // buf[..filled] holds data, starting with the open chunk; `candidates` are the cut
    // candidates of all of it, as offsets into buf
    let mut filled = 0;
    let mut candidates = Vec::new();
    let mut total = 0u64;
    loop {
        let n = read_full(&mut reader, &mut buf[filled..])?;
        find_candidates(&buf[..filled + n], filled, MASK, &mut candidates);
        filled += n;
        total += n as u64;
        let (mut start, mut next) = (0, 0);
        while let Some(end) = next_cut(&candidates, &mut next, start, filled, n == 0) {
            f(&buf[start..end], chunk_hash(&buf[start..end]))?;
            start = end;
        }
        if n == 0 {
            return Ok(total);
        }
        // keep the open chunk (under MAX_CHUNK bytes) at the front, read more behind it
        buf.copy_within(start..filled, 0);
        filled -= start;
        candidates.retain_mut(|c| match c.checked_sub(start) {
            Some(moved) => {
                *c = moved;
                true
            }
            None => false,
        });
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

    /// The candidates one byte at a time with a full 64-byte window (short windows at the
    /// start): the reference the lane search must equal.
    fn slow_candidates(data: &[u8], from: usize, mask: u64) -> Vec<usize> {
        (from..data.len())
            .filter(|&i| {
                let window = &data[i.saturating_sub(WINDOW - 1)..=i];
                let h = window.iter().fold(0u64, |h, &b| (h << 1).wrapping_add(gearhash::DEFAULT_TABLE[b as usize]));
                h & mask == 0
            })
            .map(|i| i + 1)
            .collect()
    }

    #[test]
    fn the_lane_search_finds_every_candidate_in_order() {
        // masks of few bits match often: runs of matches, matches in several lanes at one
        // step, matches on the lane edges
        for (mask, len) in [(0xF000_0000_0000_0000, 5000), (0xC000_0000_0000_0000, 3000), (0xFF00_0000_0000_0000, 70_001), (MASK, 1 << 20)]
        {
            let data = noise(len, mask >> 60);
            for from in [0, 1, 63, 64, 65, 1000, len / 3, len - 300, len - 1, len] {
                let mut got = vec![usize::MAX]; // what was there before stays first
                find_candidates(&data, from, mask, &mut got);
                let mut want = vec![usize::MAX];
                want.extend(slow_candidates(&data, from, mask));
                assert_eq!(got, want, "mask {mask:x} len {len} from {from}");
                let mut scalar = vec![usize::MAX];
                scalar_candidates(&data, from, mask, &mut scalar);
                assert_eq!(scalar, want, "scalar: mask {mask:x} len {len} from {from}");
            }
        }
        // no matches at all (zeros never match the full mask)
        let mut got = Vec::new();
        find_candidates(&[0u8; 100_000], 0, MASK, &mut got);
        assert!(got.is_empty());
    }

    #[test]
    fn the_reader_equals_the_spec_across_its_read_blocks() {
        // lengths around the block the reader refills, where the open chunk moves to the front
        let block = READ_BLOCK + MAX_CHUNK;
        for len in [block - 1, block, block + 1, block + MIN_CHUNK, 2 * block + 77, 5 << 20] {
            let data = noise(len, len as u64);
            let mut ends = Vec::new();
            let mut at = 0;
            chunk_reader(&data[..], |c, _| {
                at += c.len();
                ends.push(at);
            })
            .unwrap();
            assert_eq!(ends, slow_ends(&data), "len {len}");
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
