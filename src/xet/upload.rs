//! Pushing files to Xet storage (spec `upload-protocol.md`): each file is chunked and hashed in
//! one streaming read; a chunk already known (earlier in this push, in the local chunk index of
//! versions this repository pushed or fetched before, or through the global dedup query for key
//! chunks) is referenced where it is; the rest is packed into xorbs that upload on background
//! threads as they fill (a xorb the CAS already has is not sent again, so a killed push re-run
//! sends only what is missing); then shards register the files, each with its SHA-256, after
//! every xorb they name is stored. [`plan`] runs the same chunking and local dedup without any
//! network, to tell before a push how many bytes it will send.

use crate::error::{Context, Error, Result};
use crate::progress::Progress;
use crate::xet::cas::Cas;
use crate::xet::hash::{file_hash, verification_hash, MerkleHash};
use crate::xet::index::{Entry, Index, Place};
use crate::xet::shard::{FileEntry, Term, XorbEntry};
use crate::xet::xorb::{Xorb, XorbBuilder};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;

/// One file to upload: an LFS object on disk.
pub struct Source {
    /// The path in the repository (for messages).
    pub path: String,
    pub file: PathBuf,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// What a push (or its plan) moved.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub files: u64,
    /// Bytes of the files.
    pub bytes: u64,
    /// Bytes of chunks that were new (packed into xorbs), before compression.
    pub new_bytes: u64,
    /// Bytes of chunks referenced where they already are.
    pub deduplicated_bytes: u64,
    /// Serialized xorb bytes sent to the CAS.
    pub sent_bytes: u64,
    /// `new_bytes` minus the serialized size of the xorbs that hold them.
    pub compression_saved: u64,
    pub xorbs_sent: u64,
    /// Xorbs the CAS already had (a re-run after an interruption).
    pub xorbs_present: u64,
    pub shards: u64,
    /// Per file: its path, size and the bytes of its chunks that were new.
    pub per_file: Vec<FileBytes>,
}

/// One file of a push: of `size` bytes, `new_bytes` were in chunks not found anywhere.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FileBytes {
    pub path: String,
    pub size: u64,
    pub new_bytes: u64,
}

/// Where a chunk of a file is: in a sealed xorb (known hash) or in the n-th xorb of this push.
#[derive(Clone, Copy, PartialEq, Debug)]
enum XorbRef {
    Sealed(MerkleHash),
    Session(usize),
}

#[derive(Clone, Copy)]
struct Piece {
    xorb: XorbRef,
    index: u32,
    hash: MerkleHash,
    len: u32,
}

/// Key chunks (spec `deduplication.md`): a file's first chunk, or a hash whose last 8 bytes as
/// u64 are 0 mod 1024.
fn is_key_chunk(first: bool, h: &MerkleHash) -> bool {
    first || h.word(3).is_multiple_of(1024)
}

/// A global dedup answer: its chunk key (if any) and its chunks (as the answer spells them) →
/// (xorb, index).
struct Answer {
    key: Option<[u8; 32]>,
    chunks: HashMap<MerkleHash, (MerkleHash, u32)>,
}

struct Packer {
    known: HashMap<MerkleHash, (XorbRef, u32)>,
    answers: Vec<Answer>,
    current: XorbBuilder,
    sealed: Vec<MerkleHash>,
    records: Vec<XorbEntry>,
    send: Option<mpsc::SyncSender<Xorb>>,
    report: Report,
    /// Serialized bytes of the xorbs sealed so far.
    planned: u64,
}

impl Packer {
    fn new(known: HashMap<MerkleHash, (XorbRef, u32)>, send: Option<mpsc::SyncSender<Xorb>>) -> Packer {
        Packer {
            known,
            answers: Vec::new(),
            current: XorbBuilder::new(),
            sealed: Vec::new(),
            records: Vec::new(),
            send,
            report: Report::default(),
            planned: 0,
        }
    }

    fn seal(&mut self) -> Result<()> {
        if self.current.is_empty() {
            return Ok(());
        }
        let x = std::mem::take(&mut self.current).finish();
        self.sealed.push(x.hash);
        for (i, c) in x.chunks.iter().enumerate() {
            // chunks of this xorb are now addressable by hash
            self.known.insert(c.hash, (XorbRef::Sealed(x.hash), i as u32));
        }
        self.report.compression_saved += x.raw_len().saturating_sub(x.bytes.len() as u64);
        self.planned += x.bytes.len() as u64;
        self.records.push(XorbEntry::from(&x));
        if let Some(tx) = &self.send {
            tx.send(x).map_err(|_| Error::failed("the xorb upload stopped early"))?;
        }
        Ok(())
    }

    /// Places one chunk: where it already is, or into the current xorb.
    fn place(&mut self, data: &[u8], hash: MerkleHash) -> Result<Piece> {
        if !self.known.contains_key(&hash) {
            let found = self.answers.iter().find_map(|a| a.chunks.get(&a.key.map_or(hash, |k| hash.keyed(&k))).copied());
            if let Some((x, i)) = found {
                self.known.insert(hash, (XorbRef::Sealed(x), i));
            }
        }
        if let Some((x, i)) = self.known.get(&hash) {
            self.report.deduplicated_bytes += data.len() as u64;
            return Ok(Piece { xorb: *x, index: *i, hash, len: data.len() as u32 });
        }
        if !self.current.fits(data.len()) {
            self.seal()?;
        }
        let index = self.current.len() as u32;
        self.current.push(data, hash)?;
        let at = XorbRef::Session(self.sealed.len());
        self.known.insert(hash, (at, index));
        self.report.new_bytes += data.len() as u64;
        Ok(Piece { xorb: at, index, hash, len: data.len() as u32 })
    }
}

/// Chunks one file and places its chunks; `global` is asked about key chunks not known locally
/// (a global dedup answer: a shard), at most once per 4 MiB of file, as the spec advises.
fn pack_file(
    p: &mut Packer,
    src: &Source,
    progress: &dyn Progress,
    global: &mut dyn FnMut(&MerkleHash) -> Option<Vec<u8>>,
) -> Result<Vec<Piece>> {
    let f = std::fs::File::open(&src.file).context(format!("reading {} ({})", src.path, src.file.display()))?;
    let mut pieces = Vec::new();
    let before_new = p.report.new_bytes;
    let mut next_query = 0u64;
    let mut at = 0u64;
    p.current.start_file();
    let mut failure: Option<Error> = None;
    let read = crate::xet::chunk::try_chunk_reader(f, |data, hash| -> std::io::Result<()> {
        let mut step = || -> Result<()> {
            if at >= next_query && !p.known.contains_key(&hash) && is_key_chunk(pieces.is_empty(), &hash) {
                next_query = at + (4 << 20);
                if let Some(shard) = global(&hash) {
                    // a stranger's bytes: an unreadable answer only loses the saving
                    if let Ok(sh) = crate::xet::shard::parse_shard(&shard) {
                        let mut chunks = HashMap::new();
                        for x in &sh.xorbs {
                            for (i, c) in x.chunks.iter().enumerate() {
                                chunks.insert(c.hash, (x.hash, i as u32));
                            }
                        }
                        p.answers.push(Answer { key: sh.chunk_key, chunks });
                    }
                }
            }
            at += data.len() as u64;
            pieces.push(p.place(data, hash)?);
            progress.bytes(data.len() as u64);
            Ok(())
        };
        step().map_err(|e| {
            failure = Some(e);
            std::io::Error::other("stopped")
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let n = read.context(format!("reading {} ({})", src.path, src.file.display()))?;
    if n != src.size {
        return Err(Error::failed(format!("{} is {n} bytes on disk, its pointer says {}: run `hfgit fsck`", src.path, src.size)));
    }
    p.report.files += 1;
    p.report.bytes += n;
    p.report.per_file.push(FileBytes { path: src.path.clone(), size: n, new_bytes: p.report.new_bytes - before_new });
    Ok(pieces)
}

/// Groups a file's pieces into terms (runs of consecutive chunks of one xorb).
fn terms(pieces: &[Piece], sealed: &[MerkleHash]) -> Vec<Term> {
    let resolve = |r: XorbRef| match r {
        XorbRef::Sealed(h) => h,
        XorbRef::Session(n) => sealed[n],
    };
    let mut out: Vec<Term> = Vec::new();
    let mut run: Vec<MerkleHash> = Vec::new();
    let mut prev: Option<Piece> = None;
    for pc in pieces {
        let extends = prev.is_some_and(|q| q.xorb == pc.xorb && q.index + 1 == pc.index);
        if !extends {
            if let Some(t) = out.last_mut() {
                t.verification = verification_hash(&run);
            }
            run.clear();
            out.push(Term { xorb: resolve(pc.xorb), chunks: pc.index..pc.index, unpacked_len: 0, verification: MerkleHash::ZERO });
        }
        let t = out.last_mut().expect("a term was just pushed");
        t.chunks.end = pc.index + 1;
        t.unpacked_len += pc.len;
        run.push(pc.hash);
        prev = Some(*pc);
    }
    if let Some(t) = out.last_mut() {
        t.verification = verification_hash(&run);
    }
    out
}

/// Shards above this are split (spec: 64 MiB).
const MAX_SHARD: usize = 64 << 20;

/// Upload shards of at most `max` bytes: files in order, then the new xorbs' lists, each shard
/// filled before the next begins (any shard may name any xorb: all are stored before the first
/// shard is sent).
fn split_shards(files: &[FileEntry], xorbs: &[XorbEntry], max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let (mut fs, mut xs): (Vec<FileEntry>, Vec<XorbEntry>) = (Vec::new(), Vec::new());
    let empty = crate::xet::shard::upload_shard_len(&[], &[]);
    let mut len = empty;
    let items = files.iter().map(|f| (Some(f), None)).chain(xorbs.iter().map(|x| (None, Some(x))));
    for (f, x) in items {
        let n = f.map_or(0, FileEntry::shard_len) + x.map_or(0, XorbEntry::shard_len);
        if len + n > max && len > empty {
            out.push(crate::xet::shard::upload_shard(&fs, &xs));
            fs.clear();
            xs.clear();
            len = empty;
        }
        fs.extend(f.cloned());
        xs.extend(x.cloned());
        len += n;
    }
    if len > empty || out.is_empty() {
        out.push(crate::xet::shard::upload_shard(&fs, &xs));
    }
    out
}

/// What the packer starts from: the chunks of files and xorbs this repository stored before.
fn seed(known: &HashMap<MerkleHash, Place>, index: &Index) -> HashMap<MerkleHash, (XorbRef, u32)> {
    let mut out: HashMap<MerkleHash, (XorbRef, u32)> =
        index.stored_xorb_chunks().into_iter().map(|(h, (x, i))| (h, (XorbRef::Sealed(x), i))).collect();
    out.extend(known.iter().map(|(h, p)| (*h, (XorbRef::Sealed(p.xorb), p.index))));
    out
}

/// What pushing `files` would send, from the local chunk index alone (no network): per file,
/// the bytes of chunks not known.
pub fn plan(files: &[Source], index: &Index, present: &dyn Fn(&[u8; 32]) -> bool) -> Result<Report> {
    let known = index.known_chunks(present);
    let mut p = Packer::new(seed(&known, index), None);
    for src in files {
        pack_file(&mut p, src, &crate::progress::Silent, &mut |_| None)?;
    }
    p.seal()?;
    p.report.sent_bytes = p.planned;
    Ok(p.report)
}

/// Uploads `files` to the CAS and registers them. `present` says which LFS objects are on disk
/// (their index entries can be deduplicated against).
pub fn upload(
    cas: &Cas,
    files: &[Source],
    index: &Index,
    present: &dyn Fn(&[u8; 32]) -> bool,
    threads: usize,
    progress: &dyn Progress,
) -> Result<Report> {
    let known = index.known_chunks(present);
    let (tx, rx) = mpsc::sync_channel::<Xorb>(1);
    let rx = Mutex::new(rx);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let counts = Mutex::new((0u64, 0u64, 0u64)); // sent, present, sent bytes
    let (report, records, per_file, sealed) = std::thread::scope(|s| -> Result<_> {
        for _ in 0..threads.clamp(1, 8) {
            s.spawn(|| loop {
                let next = rx.lock().expect("xorb queue").recv();
                let Ok(x) = next else { return };
                if failed.lock().expect("failure slot").is_some() {
                    continue; // drain: the push is failing anyway
                }
                let r = match cas.has_xorb(&x.hash) {
                    Ok(true) => {
                        counts.lock().expect("counts").1 += 1;
                        Ok(())
                    }
                    Ok(false) => cas.post_xorb(&x.hash, &x.bytes).map(|_| {
                        let mut c = counts.lock().expect("counts");
                        c.0 += 1;
                        c.2 += x.bytes.len() as u64;
                    }),
                    Err(e) => Err(e),
                };
                match r {
                    // remembered at once (a cache: a failed write costs only dedup later)
                    Ok(()) => {
                        let _ = index.put_xorb(&x.hash, &x.chunks.iter().map(|c| (c.hash, c.len)).collect::<Vec<_>>());
                    }
                    Err(e) => {
                        failed.lock().expect("failure slot").get_or_insert(e.into_error(&format!("uploading xorb {}", x.hash)));
                    }
                }
            });
        }
        let mut p = Packer::new(seed(&known, index), Some(tx));
        // the global dedup query is an optimisation: an error only loses the saving
        let mut global = |h: &MerkleHash| cas.dedup(h).ok().flatten();
        let mut per_file = Vec::new();
        let result = (|| -> Result<()> {
            for src in files {
                let pieces = pack_file(&mut p, src, progress, &mut global)?;
                per_file.push(pieces);
                if let Some(e) = failed.lock().expect("failure slot").take() {
                    return Err(e);
                }
            }
            p.seal()
        })();
        // the packer's end of the queue closes when it goes: the upload threads finish
        result?;
        Ok((p.report, p.records, per_file, p.sealed))
    })?;
    if let Some(e) = failed.into_inner().expect("failure slot") {
        return Err(e);
    }
    let (sent, already, sent_bytes) = counts.into_inner().expect("counts");
    let mut report = report;
    report.xorbs_sent = sent;
    report.xorbs_present = already;
    report.sent_bytes = sent_bytes;
    // every xorb is stored: register the files
    let mut shard_files = Vec::new();
    let mut entries = Vec::new();
    for (src, pieces) in files.iter().zip(&per_file) {
        let chunks: Vec<(MerkleHash, u64)> = pieces.iter().map(|p| (p.hash, p.len as u64)).collect();
        let id = file_hash(&chunks);
        let t = terms(pieces, &sealed);
        let e = Entry {
            file_id: id,
            terms: t.iter().map(|t| (t.xorb, t.chunks.start, t.chunks.end)).collect(),
            chunks: pieces.iter().map(|p| (p.hash, p.len)).collect(),
        };
        entries.push((src.sha256, e));
        shard_files.push(FileEntry { hash: id, sha256: Some(src.sha256), terms: t });
    }
    for shard in split_shards(&shard_files, &records, MAX_SHARD) {
        cas.post_shard(&shard).map_err(|e| e.into_error("registering the files with the Xet storage (shard upload)"))?;
        report.shards += 1;
    }
    for (oid, e) in entries {
        // a cache: failing to write it costs only dedup next time
        let _ = index.put(&oid, &e);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: u8, terms: usize) -> FileEntry {
        let t = Term { xorb: MerkleHash([n; 32]), chunks: 0..1, unpacked_len: 1, verification: MerkleHash::ZERO };
        FileEntry { hash: MerkleHash([n; 32]), terms: vec![t; terms], sha256: Some([n; 32]) }
    }

    #[test]
    fn shards_split_above_the_limit_and_keep_every_file_and_xorb() {
        let files: Vec<FileEntry> = (1..=20).map(|n| file(n, 50)).collect();
        let xorbs: Vec<XorbEntry> =
            (1..=5).map(|n| XorbEntry { hash: MerkleHash([100 + n; 32]), chunks: Vec::new(), raw_len: 0, stored_len: 0 }).collect();
        let one = files[0].shard_len();
        let max = crate::xet::shard::upload_shard_len(&[], &[]) + one * 3;
        let shards = split_shards(&files, &xorbs, max);
        assert!(shards.len() >= 7, "{} shards", shards.len());
        let mut seen_files = 0;
        let mut seen_xorbs = 0;
        for s in &shards {
            assert!(s.len() <= max, "a shard of {} bytes, limit {max}", s.len());
            let parsed = crate::xet::shard::parse_shard(s).unwrap();
            seen_files += parsed.files.len();
            seen_xorbs += parsed.xorbs.len();
        }
        assert_eq!((seen_files, seen_xorbs), (20, 5));
        // under the limit: one shard
        assert_eq!(split_shards(&files[..2], &xorbs, MAX_SHARD).len(), 1);
    }
}
