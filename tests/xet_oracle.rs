//! src/xet against xet-core itself (the `xet-core-structures` and `xet-data` crates, test-only
//! dependencies): over random, repetitive and weights-like data, every boundary, hash and byte
//! layout must equal what xet-core computes, and each side must read what the other writes.

use std::io::Cursor;

use hfgit::xet::chunk::{chunk_ends, chunk_reader, MAX_CHUNK, MIN_CHUNK};
use hfgit::xet::shard::{parse_shard, upload_shard, FileEntry, ShardChunk, Term, XorbEntry};
use hfgit::xet::xorb::{chunk_headers, decode_chunks, XorbBuilder};
use hfgit::xet::{chunk_hash, file_hash, verification_hash, xorb_hash, MerkleHash};
use sha2::Digest;
use xet_core_structures::merklehash as xm;
use xet_core_structures::metadata_shard::chunk_verification::range_hash_from_chunks;
use xet_core_structures::metadata_shard::file_structs::{
    FileDataSequenceEntry, FileDataSequenceHeader, FileMetadataExt, FileVerificationEntry, MDBFileInfo,
};
use xet_core_structures::metadata_shard::shard_in_memory::MDBInMemoryShard;
use xet_core_structures::metadata_shard::xorb_structs::{MDBXorbInfo, XorbChunkSequenceEntry, XorbChunkSequenceHeader};
use xet_core_structures::metadata_shard::MDBShardInfo;
use xet_core_structures::xorb_object::{deserialize_chunks, Chunk, RawXorbData, SerializedXorbObject};

fn theirs(h: &MerkleHash) -> xm::MerkleHash {
    (&h.0).into()
}

fn ours(h: &xm::MerkleHash) -> MerkleHash {
    MerkleHash(h.as_bytes().try_into().unwrap())
}

/// Deterministic noise (xorshift64*), so a failure can be reproduced.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// float32 little-endian values, roughly normal (sum of uniforms) around 0 with std 0.02, as
/// weights are.
fn weights(n: usize, seed: u64) -> Vec<u8> {
    let raw = noise(n * 16, seed);
    raw.chunks(16)
        .flat_map(|q| {
            let s: f32 = q.chunks(4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as f32 / u32::MAX as f32).sum();
            ((s - 2.0) * 0.035).to_le_bytes()
        })
        .collect()
}

/// The data sets every comparison runs over.
fn datasets() -> Vec<(String, Vec<u8>)> {
    let mut sets: Vec<(String, Vec<u8>)> = Vec::new();
    for len in [0, 1, MIN_CHUNK - 1, MIN_CHUNK, MIN_CHUNK + 1, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1, 3 * MAX_CHUNK + 5] {
        sets.push((format!("random {len}"), noise(len, len as u64 + 1)));
    }
    sets.push(("random 10 MiB".into(), noise(10 << 20, 42)));
    sets.push(("zeros 1 MiB".into(), vec![0; 1 << 20]));
    sets.push(("repeated text 3 MiB".into(), b"tensor.weight shape [4096, 4096] dtype F16\n".repeat(3 << 20 >> 6)));
    let block = noise(100_000, 7);
    sets.push(("one random block repeated".into(), block.repeat(30)));
    sets.push(("float32 weights 6 MiB".into(), weights(6 << 20 >> 2, 9)));
    sets
}

/// xet-core's chunker over the whole buffer at once.
fn xet_chunks(data: &[u8]) -> Vec<Chunk> {
    let mut chunker = xet_data::deduplication::Chunker::default();
    chunker.next_block(data, true)
}

#[test]
fn chunk_boundaries_and_hashes_equal_xet_core() {
    for (name, data) in datasets() {
        let want = xet_chunks(&data);
        let want_ends: Vec<usize> = want
            .iter()
            .scan(0, |end, c| {
                *end += c.data.len();
                Some(*end)
            })
            .collect();
        assert_eq!(chunk_ends(&data), want_ends, "{name}: boundaries");
        let mut got = Vec::new();
        chunk_reader(&data[..], |c, h| got.push((c.len(), h))).unwrap();
        assert_eq!(got.len(), want.len(), "{name}: chunk count");
        for (i, ((len, h), w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(*len, w.data.len(), "{name}: chunk {i} length");
            assert_eq!(*h, ours(&w.hash), "{name}: chunk {i} hash");
            assert_eq!(h.to_string(), w.hash.hex(), "{name}: chunk {i} hash string");
        }
    }
}

#[test]
fn chunking_in_streamed_pieces_equals_xet_core() {
    // xet-core's own streaming path fed in odd pieces, against ours over the whole buffer
    let data = noise(3 << 20, 11);
    let mut chunker = xet_data::deduplication::Chunker::default();
    let mut theirs = Vec::new();
    let pieces: Vec<&[u8]> = data.chunks(77_777).collect();
    for (i, piece) in pieces.iter().enumerate() {
        theirs.extend(chunker.next_block(piece, i + 1 == pieces.len()));
    }
    let ends: Vec<usize> = theirs
        .iter()
        .scan(0, |e, c| {
            *e += c.data.len();
            Some(*e)
        })
        .collect();
    assert_eq!(chunk_ends(&data), ends);
}

#[test]
fn xorb_file_and_verification_hashes_equal_xet_core() {
    for (name, data) in datasets() {
        let chunks = xet_chunks(&data);
        let theirs_list: Vec<(xm::MerkleHash, u64)> = chunks.iter().map(|c| (c.hash, c.data.len() as u64)).collect();
        let ours_list: Vec<(MerkleHash, u64)> = theirs_list.iter().map(|(h, n)| (ours(h), *n)).collect();
        assert_eq!(xorb_hash(&ours_list), ours(&xm::xorb_hash(&theirs_list)), "{name}: xorb hash");
        assert_eq!(file_hash(&ours_list), ours(&xm::file_hash(&theirs_list)), "{name}: file hash");
        let hashes: Vec<MerkleHash> = ours_list.iter().map(|(h, _)| *h).collect();
        let n = hashes.len();
        for range in [0..n, 0..n.min(1), n / 3..n / 2 + 1, n.saturating_sub(2)..n] {
            if range.is_empty() || range.end > n {
                continue;
            }
            let t: Vec<xm::MerkleHash> = hashes[range.clone()].iter().map(theirs).collect();
            assert_eq!(verification_hash(&hashes[range.clone()]), ours(&range_hash_from_chunks(&t)), "{name}: verification {range:?}");
        }
    }
    // many leaves: several tree levels
    let leaves: Vec<(MerkleHash, u64)> = (0..5000u32).map(|i| (chunk_hash(&i.to_le_bytes()), 1000 + i as u64)).collect();
    let t: Vec<(xm::MerkleHash, u64)> = leaves.iter().map(|(h, n)| (theirs(h), *n)).collect();
    assert_eq!(xorb_hash(&leaves), ours(&xm::xorb_hash(&t)));
    assert_eq!(file_hash(&leaves), ours(&xm::file_hash(&t)));
}

#[test]
fn hash_strings_parse_like_xet_core() {
    let h = chunk_hash(b"some chunk");
    let text = h.to_string();
    assert_eq!(text, theirs(&h).hex());
    assert_eq!(ours(&xm::MerkleHash::from_hex(&text).unwrap()), h);
    assert_eq!(text.parse::<MerkleHash>().unwrap(), h);
    // the metadata extension's SHA-256: xet-core's from_be_bytes
    let digest: [u8; 32] = sha2::Sha256::digest(b"lfs object").into();
    assert_eq!(MerkleHash::from_sha256(digest), ours(&xm::MerkleHash::from_be_bytes(digest)));
    assert_eq!(MerkleHash::from_sha256(digest).to_string(), hex(&digest));
    // key chunks for the global dedup query, as xet-core picks them
    let mut keys = 0;
    for i in 0..20_000u32 {
        let h = chunk_hash(&i.to_le_bytes());
        assert_eq!(h.is_global_dedup_key(), xet_core_structures::metadata_shard::hash_is_global_dedup_eligible(&theirs(&h)));
        keys += h.is_global_dedup_key() as u32;
    }
    assert!((5..60).contains(&keys), "about 1 in 1024 of 20000: {keys}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Our xorb over `files` (each a run of chunks; the builder is told where each file starts).
fn our_xorb(files: &[&[Chunk]]) -> hfgit::xet::Xorb {
    let mut b = XorbBuilder::new();
    for f in files {
        b.start_file();
        for c in *f {
            b.push(&c.data, ours(&c.hash)).unwrap();
        }
    }
    b.finish()
}

fn their_xorb(files: &[&[Chunk]], footer: bool) -> SerializedXorbObject {
    let all: Vec<Chunk> = files.iter().flat_map(|f| f.iter().cloned()).collect();
    let mut starts = Vec::new();
    let mut n = 0;
    for f in files {
        if !f.is_empty() {
            starts.push(n);
        }
        n += f.len();
    }
    SerializedXorbObject::from_xorb(RawXorbData::from_chunks(&all, starts), footer, "auto", 32).unwrap()
}

#[test]
fn xorb_bytes_equal_xet_core_and_each_reads_the_other() {
    let sets = datasets();
    for (name, data) in sets.iter().filter(|(_, d)| !d.is_empty()) {
        let chunks = xet_chunks(data);
        let mine = our_xorb(&[&chunks]);
        let want = their_xorb(&[&chunks], false);
        assert_eq!(mine.hash, ours(&want.hash), "{name}: xorb hash");
        assert!(
            mine.bytes == want.serialized_data,
            "{name}: xorb bytes differ ({} vs {} bytes)",
            mine.bytes.len(),
            want.serialized_data.len()
        );
        // xet-core reads ours
        let (decoded, offsets) = deserialize_chunks(&mut Cursor::new(&mine.bytes)).unwrap();
        assert!(decoded == *data, "{name}: xet-core decodes our xorb");
        assert_eq!(offsets.len(), chunks.len() + 1);
        // we read theirs, with its footer
        let with_footer = their_xorb(&[&chunks], true);
        assert_eq!(chunk_headers(&with_footer.serialized_data).unwrap().len(), chunks.len(), "{name}: stop at the footer");
        assert!(decode_chunks(&with_footer.serialized_data, 0..chunks.len()).unwrap() == *data, "{name}: we decode theirs");
        // chunk table: offsets of headers and of decoded bytes
        let mut raw = 0u32;
        for (i, c) in mine.chunks.iter().enumerate() {
            assert_eq!(c.unpacked_offset, raw);
            assert_eq!(c.len as usize, chunks[i].data.len());
            raw += c.len;
        }
        let last = chunks.len() - 1;
        let tail = decode_chunks(&mine.bytes[mine.chunks[last].offset as usize..], 0..1).unwrap();
        assert!(tail == chunks[last].data, "{name}: ranged decode of the last chunk");
    }
    // several files in one xorb: the compression scheme restarts at each file, as in xet-core
    let text = xet_chunks(&b"config text that compresses well; ".repeat(200_000));
    let floats = xet_chunks(&weights(3 << 20 >> 2, 5));
    let rand = xet_chunks(&noise(1 << 20, 3));
    let files: [&[Chunk]; 3] = [&text, &floats, &rand];
    let mine = our_xorb(&files);
    let want = their_xorb(&files, false);
    assert!(mine.bytes == want.serialized_data, "three files: xorb bytes differ");
    let schemes: std::collections::BTreeSet<u8> = chunk_headers(&mine.bytes).unwrap().iter().map(|(_, h)| h.scheme as u8).collect();
    assert_eq!(schemes.len(), 3, "all three schemes used: {schemes:?}");
}

/// The footer-less shard xet-core uploads for these files and xorbs.
fn their_upload_shard(files: &[FileEntry], xorbs: &[XorbEntry]) -> Vec<u8> {
    let mut mdb = MDBInMemoryShard::default();
    for x in xorbs {
        let chunks = x.chunks.iter().map(|c| XorbChunkSequenceEntry::new(theirs(&c.hash), c.len, c.unpacked_offset)).collect();
        mdb.add_xorb_block(MDBXorbInfo { metadata: XorbChunkSequenceHeader::new(theirs(&x.hash), x.chunks.len(), x.raw_len), chunks })
            .unwrap();
    }
    for f in files {
        let info = MDBFileInfo {
            metadata: FileDataSequenceHeader::new(theirs(&f.hash), f.terms.len(), true, f.sha256.is_some()),
            segments: f
                .terms
                .iter()
                .map(|t| FileDataSequenceEntry::new(theirs(&t.xorb), t.unpacked_len, t.chunks.start, t.chunks.end))
                .collect(),
            verification: f.terms.iter().map(|t| FileVerificationEntry::new(theirs(&t.verification))).collect(),
            metadata_ext: f.sha256.map(|s| FileMetadataExt::new(xm::MerkleHash::from_be_bytes(s))),
        };
        mdb.add_file_reconstruction_info(info).unwrap();
    }
    let mut buf = Vec::new();
    let info = MDBShardInfo::serialize_from(&mut buf, &mdb, None).unwrap();
    // what xet-core sends: everything before the lookup tables, footer size 0
    buf.truncate(info.metadata.file_lookup_offset as usize);
    buf[40..48].copy_from_slice(&0u64.to_le_bytes());
    buf
}

/// Files made of terms over the xorbs of a few data sets, with real hashes.
fn shard_fixture() -> (Vec<FileEntry>, Vec<XorbEntry>) {
    let mut files = Vec::new();
    let mut xorbs = Vec::new();
    for (i, (_, data)) in datasets().into_iter().filter(|(_, d)| d.len() > MAX_CHUNK).enumerate() {
        let chunks = xet_chunks(&data);
        let x = our_xorb(&[&chunks]);
        let hashes: Vec<MerkleHash> = x.chunks.iter().map(|c| c.hash).collect();
        let leaves: Vec<(MerkleHash, u64)> = x.chunks.iter().map(|c| (c.hash, c.len as u64)).collect();
        let n = hashes.len() as u32;
        let split = n / 2;
        let term = |r: std::ops::Range<u32>| {
            let t = Term::from_chunks(x.hash, r.start, &leaves[r.start as usize..r.end as usize]);
            assert_eq!(t.verification, verification_hash(&hashes[r.start as usize..r.end as usize]));
            assert_eq!(t.chunks, r);
            t
        };
        let terms = if split > 0 { vec![term(0..split), term(split..n)] } else { vec![term(0..n)] };
        let sha = (i % 2 == 0).then(|| sha2::Sha256::digest(&data).into());
        files.push(FileEntry { hash: file_hash(&leaves), terms, sha256: sha });
        xorbs.push(XorbEntry::from(&x));
    }
    (files, xorbs)
}

#[test]
fn upload_shard_bytes_equal_xet_core_and_each_reads_the_other() {
    let (files, xorbs) = shard_fixture();
    assert!(files.len() >= 4);
    let mine = upload_shard(&files, &xorbs);
    let want = their_upload_shard(&files, &xorbs);
    assert_eq!(mine.len(), want.len());
    assert!(mine == want, "shard bytes differ at byte {:?}", mine.iter().zip(&want).position(|(a, b)| a != b));
    // xet-core reads ours
    let parsed = MDBInMemoryShard::from_reader(&mut Cursor::new(&mine)).unwrap();
    assert_eq!(parsed.file_content.len(), files.len());
    assert_eq!(parsed.xorb_content.len(), xorbs.len());
    for f in &files {
        let info = &parsed.file_content[&theirs(&f.hash)];
        assert_eq!(info.segments.len(), f.terms.len());
        assert_eq!(info.metadata_ext.as_ref().map(|e| e.sha256.hex()), f.sha256.map(|s| hex(&s)), "SHA-256 prints as the digest");
    }
    // we read xet-core's full shard (footer and lookup tables)
    let mut mdb_bytes = Vec::new();
    let mdb = MDBInMemoryShard::from_reader(&mut Cursor::new(&want)).unwrap();
    MDBShardInfo::serialize_from(&mut mdb_bytes, &mdb, None).unwrap();
    let back = parse_shard(&mdb_bytes).unwrap();
    let mut sorted = files.clone();
    sorted.sort_by_key(|a| a.hash);
    assert_eq!(back.files, sorted);
    assert_eq!(back.xorbs.len(), xorbs.len());
    assert_eq!(back.chunk_key, None);
}

#[test]
fn we_read_a_keyed_global_dedup_shard_as_xet_core_exports_it() {
    let (files, xorbs) = shard_fixture();
    let mdb = MDBInMemoryShard::from_reader(&mut Cursor::new(upload_shard(&files, &xorbs))).unwrap();
    let mut full = Vec::new();
    MDBShardInfo::serialize_from(&mut full, &mdb, None).unwrap();
    let key = chunk_hash(b"the server's key");
    let mut keyed = Vec::new();
    MDBShardInfo::export_as_keyed_shard_streaming(
        &mut Cursor::new(&full),
        &mut keyed,
        theirs(&key),
        std::time::Duration::from_secs(3600),
        false,
        true,
        true,
    )
    .unwrap();
    let shard = parse_shard(&keyed).unwrap();
    assert!(shard.files.is_empty(), "a dedup answer carries no files");
    assert_eq!(shard.chunk_key, Some(key.0));
    assert!(shard.key_expiry > 0);
    assert_eq!(shard.xorbs.len(), xorbs.len());
    let x = &xorbs[1];
    let c: &ShardChunk = &x.chunks[x.chunks.len() / 2];
    assert_ne!(shard.xorbs.iter().find(|s| s.hash == x.hash).unwrap().chunks[x.chunks.len() / 2].hash, c.hash, "stored keyed");
    assert_eq!(shard.find_chunk(&c.hash), Some((x.hash, (x.chunks.len() / 2) as u32)));
}
