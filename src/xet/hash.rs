//! The Xet hashes (spec `hashing.md`): chunk hashes, the aggregated merkle tree that gives xorb
//! and file hashes, term verification hashes, and the hash string form. Pure functions, no I/O.
//!
//! A [`MerkleHash`] holds the 32 bytes BLAKE3 returns, in that order; only the string form is
//! unusual: each 8-byte word is read as a little-endian u64 and printed as 16 hex digits, so the
//! bytes `00 01 … 07` print as `0706050403020100` (spec `api.md`, "converting hashes to strings").

use std::fmt;
use std::str::FromStr;

/// BLAKE3 key of chunk hashes (spec: DATA_KEY).
const DATA_KEY: [u8; 32] = [
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147,
    173, 242, 41,
];

/// BLAKE3 key of inner merkle nodes (spec: INTERNAL_NODE_KEY).
const INTERNAL_NODE_KEY: [u8; 32] = [
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74,
    83, 113, 63,
];

/// BLAKE3 key of term verification hashes (spec: VERIFICATION_KEY).
const VERIFICATION_KEY: [u8; 32] = [
    127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40,
    251, 148, 195,
];

/// Mean fan-out of the aggregated merkle tree: a group ends after a child whose hash is 0 mod 4.
const BRANCHING: u64 = 4;
/// Fewest and most children of one inner node (xet-core's `aggregated_hashes.rs`).
const MIN_GROUP: usize = 2;
const MAX_GROUP: usize = 2 * BRANCHING as usize + 1;

/// A 32-byte Xet hash (chunk, xorb, file or verification hash). Ordered as xet-core orders
/// them (word by word as little-endian u64s), which is the order of files and xorbs in a shard.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MerkleHash(pub [u8; 32]);

impl Ord for MerkleHash {
    fn cmp(&self, other: &MerkleHash) -> std::cmp::Ordering {
        (0..4).map(|i| self.word(i).cmp(&other.word(i))).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl PartialOrd for MerkleHash {
    fn partial_cmp(&self, other: &MerkleHash) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl MerkleHash {
    /// The all-zero hash: xet-core's hash of an empty xorb or file.
    pub const ZERO: MerkleHash = MerkleHash([0; 32]);

    /// The `i`-th 8-byte word as a little-endian u64 (what the string form prints).
    pub fn word(&self, i: usize) -> u64 {
        u64::from_le_bytes(self.0[i * 8..i * 8 + 8].try_into().expect("a word is 8 of the 32 bytes"))
    }

    /// The hash whose string form is the ordinary hex digest `sha256` (each 8-byte word
    /// reversed): how a shard's metadata extension stores a file's SHA-256 (xet-core builds it
    /// with `from_be_bytes`; writing the raw digest registers a wrong oid).
    pub fn from_sha256(sha256: [u8; 32]) -> MerkleHash {
        let mut out = sha256;
        for word in out.chunks_mut(8) {
            word.reverse();
        }
        MerkleHash(out)
    }

    /// The inverse of [`MerkleHash::from_sha256`].
    pub fn to_sha256(&self) -> [u8; 32] {
        MerkleHash::from_sha256(self.0).0
    }

    /// Whether a chunk with this hash is a "key chunk" the global dedup query may be asked
    /// about (its last word is 0 mod 1024; a file's first chunk is one too, whatever its hash).
    pub fn is_global_dedup_key(&self) -> bool {
        self.word(3).is_multiple_of(1024)
    }

    /// BLAKE3 keyed with `key` over these 32 bytes (xet-core's `hmac`; the file hash uses a zero
    /// key, global dedup answers use the shard's key).
    pub fn keyed(&self, key: &[u8; 32]) -> MerkleHash {
        MerkleHash(*blake3::keyed_hash(key, &self.0).as_bytes())
    }
}

impl fmt::Display for MerkleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in 0..4 {
            write!(f, "{:016x}", self.word(i))?;
        }
        Ok(())
    }
}

impl fmt::Debug for MerkleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerkleHash({self})")
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Xet hash (64 hex digits): {0:?}")]
pub struct BadHash(pub String);

impl FromStr for MerkleHash {
    type Err = BadHash;

    /// Parses the string form (64 hex digits, either case, as xet-core accepts).
    fn from_str(s: &str) -> Result<MerkleHash, BadHash> {
        let bad = || BadHash(s.chars().take(80).collect());
        if s.len() != 64 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for i in 0..4 {
            let word = u64::from_str_radix(&s[i * 16..i * 16 + 16], 16).map_err(|_| bad())?;
            out[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        Ok(MerkleHash(out))
    }
}

/// The hash of one chunk's bytes.
pub fn chunk_hash(data: &[u8]) -> MerkleHash {
    MerkleHash(*blake3::keyed_hash(&DATA_KEY, data).as_bytes())
}

/// Where the next group of `nodes` ends: after the first child from the third on whose hash is
/// 0 mod [`BRANCHING`], at most [`MAX_GROUP`] children, all of them when there are two or fewer.
fn next_cut(nodes: &[(MerkleHash, u64)]) -> usize {
    if nodes.len() <= MIN_GROUP {
        return nodes.len();
    }
    let end = MAX_GROUP.min(nodes.len());
    (MIN_GROUP..end).find(|&i| nodes[i].0.word(3).is_multiple_of(BRANCHING)).map_or(end, |i| i + 1)
}

/// One inner node: BLAKE3 (internal key) over `"{hash} : {len}\n"` per child, and the children's
/// total length.
fn inner_node(children: &[(MerkleHash, u64)]) -> (MerkleHash, u64) {
    use std::fmt::Write;
    let mut text = String::with_capacity(children.len() * 88);
    let mut total = 0u64;
    for (hash, len) in children {
        writeln!(text, "{hash} : {len}").expect("writing to a String cannot fail");
        total = total.wrapping_add(*len);
    }
    (MerkleHash(*blake3::keyed_hash(&INTERNAL_NODE_KEY, text.as_bytes()).as_bytes()), total)
}

/// The root of the aggregated merkle tree over `(chunk hash, chunk length)` leaves; zero when
/// there are none.
fn merkle_root(leaves: &[(MerkleHash, u64)]) -> MerkleHash {
    if leaves.is_empty() {
        return MerkleHash::ZERO;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / 2 + 1);
        let mut rest = &level[..];
        while !rest.is_empty() {
            let cut = next_cut(rest);
            next.push(inner_node(&rest[..cut]));
            rest = &rest[cut..];
        }
        level = next;
    }
    level[0].0
}

/// The hash of a xorb from its chunks' `(hash, uncompressed length)` in order (zero when empty).
pub fn xorb_hash(chunks: &[(MerkleHash, u64)]) -> MerkleHash {
    merkle_root(chunks)
}

/// The Xet file id: the merkle root of all the file's chunks, keyed again with 32 zero bytes.
/// An empty file's hash is zero (xet-core's rule, not the key applied to zero).
pub fn file_hash(chunks: &[(MerkleHash, u64)]) -> MerkleHash {
    if chunks.is_empty() {
        return MerkleHash::ZERO;
    }
    merkle_root(chunks).keyed(&[0; 32])
}

/// The verification hash of one term: BLAKE3 (verification key) over the raw bytes of the
/// chunk hashes of the term's range, in order.
pub fn verification_hash(chunks: &[MerkleHash]) -> MerkleHash {
    let mut hasher = blake3::Hasher::new_keyed(&VERIFICATION_KEY);
    for hash in chunks {
        hasher.update(&hash.0);
    }
    MerkleHash(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_prints_each_word_little_endian() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let hash = MerkleHash(bytes);
        let text = hash.to_string();
        assert_eq!(&text[..16], "0706050403020100");
        assert_eq!(&text[48..], "1f1e1d1c1b1a1918");
        assert_eq!(text.parse::<MerkleHash>().unwrap(), hash);
        assert_eq!(text.to_uppercase().parse::<MerkleHash>().unwrap(), hash);
        for bad in ["", "00", &text[1..], &format!("{text}0"), &text.replacen('0', "g", 1), &format!("+{}", &text[1..])] {
            assert!(bad.parse::<MerkleHash>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn order_is_by_little_endian_words() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[0] = 2; // word 0 = 2
        b[7] = 1; // word 0 = 1 << 56
        assert!(MerkleHash(a) < MerkleHash(b));
        assert!(a > b, "plain byte order would disagree");
    }

    #[test]
    fn sha256_is_stored_word_reversed_so_it_prints_as_the_digest() {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(b"hello").into();
        let stored = MerkleHash::from_sha256(digest);
        assert_eq!(stored.to_string(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_ne!(stored.0, digest);
        assert_eq!(stored.to_sha256(), digest);
    }

    #[test]
    fn spec_sample_internal_node_text() {
        // the spec's example: one node over four children, hashed as the text it shows
        let children: Vec<(MerkleHash, u64)> = [
            ("1f6a2b8e9d3c4075a2e8c5fd4f0b763e6f3c1d7a9b2e6487de3f91ab7c6d5401", 10000),
            ("7c94fe2a38bdcf9b4d2a6f7e1e08ac35bc24a7903d6f5a0e7d1c2b93e5f748de", 20000),
            ("cfd18a92e0743bb09e56dbf76ea2c34d99b5a0cf271f8d429b6cd148203df061", 25000),
            ("e38d7c09a21b4cf8d0f92b3a85e6df19f7c20435e0b1c78a9d635f7b8c2e4da1", 64000),
        ]
        .iter()
        .map(|(h, n)| (h.parse().unwrap(), *n))
        .collect();
        let text: String = children.iter().map(|(h, n)| format!("{h} : {n}\n")).collect();
        let (node, total) = inner_node(&children);
        assert_eq!(node.0, *blake3::keyed_hash(&INTERNAL_NODE_KEY, text.as_bytes()).as_bytes());
        assert_eq!(total, 119000);
    }

    #[test]
    fn empty_and_single_chunk_rules() {
        assert_eq!(xorb_hash(&[]), MerkleHash::ZERO);
        assert_eq!(file_hash(&[]), MerkleHash::ZERO);
        let one = [(chunk_hash(b"x"), 1)];
        // a single leaf is its own root; the file hash keys it once more
        assert_eq!(xorb_hash(&one), one[0].0);
        assert_eq!(file_hash(&one), one[0].0.keyed(&[0; 32]));
        assert_ne!(file_hash(&one), xorb_hash(&one));
    }

    #[test]
    fn groups_have_two_to_nine_children() {
        let leaves: Vec<(MerkleHash, u64)> = (0..1000u32).map(|i| (chunk_hash(&i.to_le_bytes()), 4)).collect();
        let mut rest = &leaves[..];
        while !rest.is_empty() {
            let cut = next_cut(rest);
            assert!(cut <= MAX_GROUP && (cut >= MIN_GROUP || cut == rest.len()), "group of {cut}");
            rest = &rest[cut..];
        }
    }
}
