//! The local chunk index: for each file version this repository pushed or fetched through Xet,
//! how it is made of chunks and where those chunks live in the CAS, so the next push of that
//! path deduplicates without reading the old version again, and the next download reuses the
//! chunks already on disk. It is a cache: deleting `.git/lfs/xet/` loses nothing (pushes then
//! send those chunks again, unless global dedup finds them; downloads fetch them).
//!
//! Layout: `.git/lfs/xet/files/<2 hex>/<sha256 of the file>` (one entry per LFS object), written
//! atomically (temp file + rename), little-endian binary:
//!
//! | field | size |
//! | --- | --- |
//! | magic `HFXI` + version 1 (u32) | 8 |
//! | Xet file id | 32 |
//! | term count T (u32), then T × (xorb hash 32, first chunk u32, end chunk u32) | 4 + 40 T |
//! | chunk count C (u32), then C × (chunk hash 32, length u32) | 4 + 36 C |
//!
//! The chunks are the file's chunks in order; the terms cover them in order (the sum of the
//! terms' chunk counts is C). A 10 GiB file (about 160 000 chunks) takes about 6 MB.
//!
//! `.git/lfs/xet/xorbs/<2 hex>/<xorb hash>`: the chunks of each xorb this repository stored in
//! the CAS, written as soon as it is stored (same layout, the xorb hash as id, one term), so a
//! push killed before it registered its files knows, when run again, what is already there.

use crate::error::{Context, Error, Result};
use crate::xet::hash::MerkleHash;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"HFXI";
const VERSION: u32 = 1;
/// Entries larger than this are not read (a hostile or damaged file cannot make us allocate).
const MAX_ENTRY: u64 = 256 << 20;

/// One file version: its Xet id, terms and chunks.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub file_id: MerkleHash,
    /// `(xorb, first chunk, end chunk)`, in file order.
    pub terms: Vec<(MerkleHash, u32, u32)>,
    /// `(chunk hash, length)`, in file order.
    pub chunks: Vec<(MerkleHash, u32)>,
}

/// Where a known chunk is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Place {
    pub hash: MerkleHash,
    pub xorb: MerkleHash,
    pub index: u32,
    pub len: u32,
    /// The LFS object holding it, and where in that file.
    pub oid: [u8; 32],
    pub offset: u64,
}

pub struct Index {
    root: PathBuf,
    xorbs: PathBuf,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Entry {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.terms.len() * 40 + self.chunks.len() * 36);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.file_id.0);
        out.extend_from_slice(&(self.terms.len() as u32).to_le_bytes());
        for (x, a, b) in &self.terms {
            out.extend_from_slice(&x.0);
            out.extend_from_slice(&a.to_le_bytes());
            out.extend_from_slice(&b.to_le_bytes());
        }
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for (h, n) in &self.chunks {
            out.extend_from_slice(&h.0);
            out.extend_from_slice(&n.to_le_bytes());
        }
        out
    }

    /// Reads an entry; anything inconsistent is None (the cache entry is ignored).
    fn parse(b: &[u8]) -> Option<Entry> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(at..at + n)?;
            at += n;
            Some(s)
        };
        if take(4)? != MAGIC || u32::from_le_bytes(take(4)?.try_into().ok()?) != VERSION {
            return None;
        }
        let hash = |s: &[u8]| MerkleHash(s.try_into().expect("32 bytes"));
        let u32_at = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes"));
        let file_id = hash(take(32)?);
        let t = u32_at(take(4)?) as usize;
        let mut terms = Vec::with_capacity(t.min(1 << 20));
        for _ in 0..t {
            let x = hash(take(32)?);
            let (a, e) = (u32_at(take(4)?), u32_at(take(4)?));
            if a >= e {
                return None;
            }
            terms.push((x, a, e));
        }
        let c = u32_at(take(4)?) as usize;
        let mut chunks = Vec::with_capacity(c.min(1 << 22));
        for _ in 0..c {
            let h = hash(take(32)?);
            chunks.push((h, u32_at(take(4)?)));
        }
        let covered: u64 = terms.iter().map(|(_, a, e)| (e - a) as u64).sum();
        (covered == chunks.len() as u64 && at == b.len()).then_some(Entry { file_id, terms, chunks })
    }

    /// Every chunk with its place, in file order.
    pub fn places(&self, oid: [u8; 32]) -> Vec<(MerkleHash, Place)> {
        let mut out = Vec::with_capacity(self.chunks.len());
        let mut c = 0usize;
        let mut offset = 0u64;
        for (xorb, a, e) in &self.terms {
            for index in *a..*e {
                let (h, len) = self.chunks[c];
                out.push((h, Place { hash: h, xorb: *xorb, index, len, oid, offset }));
                offset += len as u64;
                c += 1;
            }
        }
        out
    }

    pub fn size(&self) -> u64 {
        self.chunks.iter().map(|(_, n)| *n as u64).sum()
    }
}

impl Index {
    /// The index of the repository whose git directory is `git_dir`.
    pub fn for_git_dir(git_dir: &Path) -> Index {
        let xet = git_dir.join("lfs").join("xet");
        Index { root: xet.join("files"), xorbs: xet.join("xorbs") }
    }

    /// Records the chunks of a xorb this repository stored in the CAS, as soon as it is stored:
    /// a push killed before its shards still knows, when run again, which chunks are there
    /// (however global dedup answers change the packing). Same layout as a file entry, with the
    /// xorb hash as id and one term.
    pub fn put_xorb(&self, xorb: &MerkleHash, chunks: &[(MerkleHash, u32)]) -> Result<()> {
        let name = xorb.to_string();
        let e = Entry { file_id: *xorb, terms: vec![(*xorb, 0, chunks.len() as u32)], chunks: chunks.to_vec() };
        write_atomically(&self.xorbs.join(&name[..2]).join(&name), &e.to_bytes())
    }

    /// Chunk hash → (xorb, index) for every xorb recorded by [`Index::put_xorb`].
    pub fn stored_xorb_chunks(&self) -> HashMap<MerkleHash, (MerkleHash, u32)> {
        let mut out = HashMap::new();
        for path in entry_files(&self.xorbs) {
            let Some(e) = read_entry(&path) else { continue };
            if e.terms.len() != 1
                || e.terms[0].0 != e.file_id
                || e.file_id.to_string() != path.file_name().unwrap_or_default().to_string_lossy()
            {
                continue;
            }
            for (i, (h, _)) in e.chunks.iter().enumerate() {
                out.entry(*h).or_insert((e.file_id, i as u32));
            }
        }
        out
    }

    fn path(&self, oid: &[u8; 32]) -> PathBuf {
        let h = hex(oid);
        self.root.join(&h[..2]).join(h)
    }

    pub fn get(&self, oid: &[u8; 32]) -> Option<Entry> {
        read_entry(&self.path(oid))
    }

    /// Records `e` for object `oid` (atomically; an existing entry is replaced).
    pub fn put(&self, oid: &[u8; 32], e: &Entry) -> Result<()> {
        write_atomically(&self.path(oid), &e.to_bytes())
    }

    /// Every entry whose object satisfies `present`, as chunk hash → place (the first place
    /// seen wins).
    pub fn known_chunks(&self, present: &dyn Fn(&[u8; 32]) -> bool) -> HashMap<MerkleHash, Place> {
        let mut out = HashMap::new();
        for (oid, e) in self.entries() {
            if !present(&oid) {
                continue;
            }
            for (h, p) in e.places(oid) {
                out.entry(h).or_insert(p);
            }
        }
        out
    }

    /// Every readable entry with its oid.
    pub fn entries(&self) -> Vec<([u8; 32], Entry)> {
        entry_files(&self.root)
            .into_iter()
            .filter_map(|p| {
                let oid = parse_oid(&p.file_name()?.to_string_lossy())?;
                Some((oid, read_entry(&p)?))
            })
            .collect()
    }
}

/// The files two levels under `dir` (`<2 hex>/<name>`).
fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(dirs) = fs::read_dir(dir) else { return out };
    for d in dirs.flatten() {
        let Ok(files) = fs::read_dir(d.path()) else { continue };
        out.extend(files.flatten().map(|f| f.path()));
    }
    out
}

/// An entry, if `p` is a plain file of sane size that parses.
fn read_entry(p: &Path) -> Option<Entry> {
    let meta = fs::symlink_metadata(p).ok()?;
    if !meta.is_file() || meta.len() > MAX_ENTRY {
        return None;
    }
    Entry::parse(&fs::read(p).ok()?)
}

fn write_atomically(p: &Path, bytes: &[u8]) -> Result<()> {
    let dir = p.parent().expect("an entry path has a parent");
    fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new().prefix(".hfgit-xet-").tempfile_in(dir).context(format!("writing in {}", dir.display()))?;
    tmp.write_all(bytes).context(format!("writing the chunk index entry {}", p.display()))?;
    tmp.persist(p).map_err(|e| Error::failed(format!("writing the chunk index entry {}: {}", p.display(), e.error)))?;
    Ok(())
}

fn parse_oid(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damaged_ones_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let idx = Index::for_git_dir(dir.path());
        let h = |n: u8| MerkleHash([n; 32]);
        let e = Entry { file_id: h(9), terms: vec![(h(1), 0, 2), (h(2), 5, 6)], chunks: vec![(h(3), 10), (h(4), 20), (h(5), 30)] };
        let oid = [7u8; 32];
        idx.put(&oid, &e).unwrap();
        assert_eq!(idx.get(&oid), Some(e.clone()));
        let places = e.places(oid);
        assert_eq!(places[2].1, Place { hash: h(5), xorb: h(2), index: 5, len: 30, oid, offset: 30 });
        let known = idx.known_chunks(&|_| true);
        assert_eq!(known[&h(4)].index, 1);
        assert!(idx.known_chunks(&|_| false).is_empty());
        // truncated, or terms that do not cover the chunks: ignored
        let p = idx.path(&oid);
        let b = fs::read(&p).unwrap();
        fs::write(&p, &b[..b.len() - 1]).unwrap();
        assert_eq!(idx.get(&oid), None);
        let bad = Entry { terms: vec![(h(1), 0, 1)], ..e };
        fs::write(&p, bad.to_bytes()).unwrap();
        assert_eq!(idx.get(&oid), None);
    }
}
