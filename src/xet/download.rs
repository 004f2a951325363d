//! Downloading a file from Xet storage (spec `download-protocol.md`): the reconstruction names
//! terms (chunk ranges of xorbs) and signed URLs; terms whose chunks are already on disk (in an
//! earlier version this repository pushed or fetched, per the local chunk index) are read from
//! there, each chunk re-hashed; the rest is fetched in parallel, one request per signed URL with
//! only the ranges needed, a bounded window ahead of the writer, and written in order. Every
//! chunk is hashed as it is written: the file hash must equal the file id, the SHA-256 the LFS
//! oid, and each term's decoded length what the reconstruction says; a file that fails any of
//! these is never kept.

use crate::error::{Context, Error, Result};
use crate::progress::Progress;
use crate::xet::cas::{Cas, CasError, Fetch, Fetched, Reconstruction};
use crate::xet::hash::{chunk_hash, file_hash, MerkleHash};
use crate::xet::index::{Entry, Index, Place};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

/// One file to download.
pub struct Target {
    pub path: String,
    pub file_id: MerkleHash,
    pub sha256: [u8; 32],
    pub size: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    /// Xorb bytes fetched from the network.
    pub fetched_bytes: u64,
    /// File bytes taken from chunks already on disk.
    pub reused_bytes: u64,
}

/// Why a download did not complete: the CAS could not be used (fall back to the LFS bridge), or
/// what it sent is wrong (also worth the bridge, but says so).
pub enum Failed {
    Cas(CasError),
    Other(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Failed {
        Failed::Other(e)
    }
}

impl From<CasError> for Failed {
    fn from(e: CasError) -> Failed {
        Failed::Cas(e)
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Cas(e) => write!(f, "{e}"),
            Failed::Other(e) => write!(f, "{e}"),
        }
    }
}

enum Source {
    /// Read from disk: (object path, offset, places of the chunks).
    Local(Vec<Place>),
    /// From fetch job `job`, range `range` of it, skipping `skip` chunks of that range.
    Remote { job: usize, range: usize, skip: u32 },
}

struct Job {
    fetch: Fetch,
    /// Bytes it asks for.
    bytes: u64,
    /// The last term that needs it: its data is dropped after that term is written.
    last_use: usize,
}

/// How far downloads fetch ahead of their writers: at most `window` fetches each, and `bytes`
/// of fetched xorb data held at once by every download that shares the budget (the data waits,
/// still compressed, until its writer decodes it). A fetch waits until what it asks for fits,
/// unless its writer is waiting for it: every download always moves, so the bound is the
/// budget plus one fetch per download.
pub struct Budget {
    left: Mutex<i64>,
    window: usize,
}

impl Budget {
    pub fn new(bytes: u64, window: usize) -> Budget {
        Budget { left: Mutex::new(bytes as i64), window: window.max(1) }
    }

    fn take(&self, n: u64, anyway: bool) -> bool {
        let mut left = self.left.lock().expect("budget");
        if anyway || *left >= n as i64 {
            *left -= n as i64;
            return true;
        }
        false
    }

    fn give(&self, n: u64) {
        *self.left.lock().expect("budget") += n as i64;
    }
}

/// A fetched job (or why it failed), and whether its bytes were taken from the budget.
type Slot = (std::result::Result<Arc<Fetched>, String>, bool);

/// Shared between the fetchers and the writer.
#[derive(Default)]
struct Progressed {
    /// Fetched jobs by number, until their last use.
    done: HashMap<usize, Slot>,
    /// One past the highest job the writer is done with.
    passed: usize,
    /// The job the writer is waiting for.
    waiting: Option<usize>,
}

struct Board {
    state: Mutex<Progressed>,
    cv: Condvar,
}

/// Downloads `t` into `out` (an empty temp file). `object` gives the on-disk path of a local
/// LFS object if it is present.
pub fn download(
    cas: &Cas,
    t: &Target,
    out: &mut File,
    index: &Index,
    object: &dyn Fn(&[u8; 32]) -> Option<PathBuf>,
    budget: &Budget,
    progress: &dyn Progress,
) -> std::result::Result<Report, Failed> {
    let rec: Reconstruction = cas.reconstruction(&t.file_id)?;
    if rec.offset_into_first_range != 0 {
        return Err(Failed::Other(Error::failed(format!(
            "the reconstruction of {} starts inside a chunk for a whole-file request",
            t.path
        ))));
    }
    let known: HashMap<(MerkleHash, u32), Place> =
        index.known_chunks(&|oid| object(oid).is_some()).into_values().map(|p| ((p.xorb, p.index), p)).collect();
    // what each term comes from: chunks on disk, or range `ri` of signed URL `fi`
    enum Plan {
        Local(Vec<Place>),
        Remote(usize, usize),
    }
    let mut plans = Vec::with_capacity(rec.terms.len());
    for term in &rec.terms {
        let local: Option<Vec<Place>> = (term.start..term.end).map(|i| known.get(&(term.xorb, i)).copied()).collect();
        if let Some(places) = local {
            plans.push(Plan::Local(places));
            continue;
        }
        let found = rec.fetches.iter().enumerate().find_map(|(fi, f)| {
            (f.xorb == term.xorb).then_some(())?;
            f.ranges.iter().position(|((a, b), _)| *a <= term.start && term.end <= *b).map(|ri| (fi, ri))
        });
        let Some((fi, ri)) = found else {
            return Err(Failed::Other(Error::failed(format!(
                "the reconstruction of {} has no URL for chunks {}..{} of xorb {}",
                t.path, term.start, term.end, term.xorb
            ))));
        };
        plans.push(Plan::Remote(fi, ri));
    }
    // one request per signed URL, asking (in the URL's order) only for the ranges some term
    // needs; jobs in the order the writer first needs them
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of_url: HashMap<usize, usize> = HashMap::new();
    let mut wanted: Vec<std::collections::BTreeSet<usize>> = Vec::new();
    for (ti, plan) in plans.iter().enumerate() {
        if let Plan::Remote(fi, ri) = plan {
            let j = *job_of_url.entry(*fi).or_insert_with(|| {
                let f = &rec.fetches[*fi];
                jobs.push(Job { fetch: Fetch { xorb: f.xorb, url: f.url.clone(), ranges: Vec::new() }, bytes: 0, last_use: ti });
                wanted.push(Default::default());
                jobs.len() - 1
            });
            jobs[j].last_use = ti;
            wanted[j].insert(*ri);
        }
    }
    for (j, set) in wanted.iter().enumerate() {
        let fi = *job_of_url.iter().find(|(_, v)| **v == j).expect("every job has its URL").0;
        jobs[j].fetch.ranges = set.iter().map(|ri| rec.fetches[fi].ranges[*ri]).collect();
        jobs[j].bytes = jobs[j].fetch.ranges.iter().map(|(_, (s, e))| e - s + 1).sum();
    }
    let sources: Vec<Source> = plans
        .into_iter()
        .zip(&rec.terms)
        .map(|(plan, term)| match plan {
            Plan::Local(places) => Source::Local(places),
            Plan::Remote(fi, ri) => {
                let job = job_of_url[&fi];
                let range = wanted[job].iter().position(|r| *r == ri).expect("the range was wanted");
                let first_chunk = jobs[job].fetch.ranges[range].0 .0;
                Source::Remote { job, range, skip: term.start - first_chunk }
            }
        })
        .collect();
    let board = Board { state: Mutex::new(Progressed::default()), cv: Condvar::new() };
    let next = Mutex::new(0usize);
    let fetched = Mutex::new(0u64);
    let window = budget.window;
    let result = std::thread::scope(|s| -> std::result::Result<(Report, Vec<(MerkleHash, u64)>), Failed> {
        for _ in 0..window.min(jobs.len()) {
            s.spawn(|| loop {
                let j = {
                    let mut n = next.lock().expect("next job");
                    if *n >= jobs.len() {
                        return;
                    }
                    *n += 1;
                    *n - 1
                };
                // at most `window` jobs past the writer, within the budget; the job the writer
                // waits for goes at once (the budget of other downloads frees without a signal
                // here, hence the timeout)
                let took = {
                    let mut g = board.state.lock().expect("board");
                    loop {
                        if g.done.values().any(|(r, _)| r.is_err()) {
                            break false;
                        }
                        let needed = g.waiting == Some(j);
                        if (needed || j < g.passed + window) && budget.take(jobs[j].bytes, needed) {
                            break true;
                        }
                        g = board.cv.wait_timeout(g, std::time::Duration::from_millis(20)).expect("board").0;
                    }
                };
                let f = &jobs[j].fetch;
                let r = cas.fetch(f).map_err(|e| format!("fetching xorb {}: {e}", f.xorb));
                if let Ok(got) = &r {
                    *fetched.lock().expect("fetched") += got.parts.iter().map(|p| p.len() as u64).sum::<u64>();
                }
                let mut g = board.state.lock().expect("board");
                g.done.insert(j, (r.map(Arc::new), took));
                board.cv.notify_all();
            });
        }
        let r = write_terms(t, &rec, &sources, &jobs, &board, budget, out, object, progress);
        // let fetchers blocked on the window finish
        {
            let mut g = board.state.lock().expect("board");
            g.passed = usize::MAX / 2;
            board.cv.notify_all();
        }
        if r.is_err() {
            *next.lock().expect("next job") = jobs.len();
        }
        r
    });
    // what a failed download still holds goes back to the budget
    for (j, (_, took)) in board.state.into_inner().expect("board").done {
        if took {
            budget.give(jobs[j].bytes);
        }
    }
    let (mut report, chunks) = result?;
    report.fetched_bytes = fetched.into_inner().expect("fetched");
    // remember how this version is made, for the next push and download (a cache: a failed
    // write costs only dedup later)
    let entry = Entry {
        file_id: t.file_id,
        terms: rec.terms.iter().map(|x| (x.xorb, x.start, x.end)).collect(),
        chunks: chunks.iter().map(|(h, n)| (*h, *n as u32)).collect(),
    };
    let _ = index.put(&t.sha256, &entry);
    Ok(report)
}

#[allow(clippy::too_many_arguments)] // the one call site passes the download's parts as they are
fn write_terms(
    t: &Target,
    rec: &Reconstruction,
    sources: &[Source],
    jobs: &[Job],
    board: &Board,
    budget: &Budget,
    out: &mut File,
    object: &dyn Fn(&[u8; 32]) -> Option<PathBuf>,
    progress: &dyn Progress,
) -> std::result::Result<(Report, Vec<(MerkleHash, u64)>), Failed> {
    let mut report = Report::default();
    let mut sha = Sha256::new();
    let mut chunks: Vec<(MerkleHash, u64)> = Vec::new();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
    let mut open: HashMap<[u8; 32], File> = HashMap::new();
    let mut written = 0u64;
    for (ti, (term, src)) in rec.terms.iter().zip(sources).enumerate() {
        let mut term_len = 0u64;
        let mut put = |data: &[u8], chunks: &mut Vec<(MerkleHash, u64)>| -> Result<()> {
            let h = chunk_hash(data);
            chunks.push((h, data.len() as u64));
            sha.update(data);
            w.write_all(data).context(format!("writing {}", t.path))?;
            progress.bytes(data.len() as u64);
            term_len += data.len() as u64;
            Ok(())
        };
        match src {
            Source::Local(places) => {
                for p in places {
                    let f = match open.entry(p.oid) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            let path = object(&p.oid).ok_or_else(|| Error::failed("a local object the chunk index names is gone"))?;
                            v.insert(File::open(&path).context(format!("reading {}", path.display()))?)
                        }
                    };
                    let mut buf = vec![0u8; p.len as usize];
                    f.seek(SeekFrom::Start(p.offset)).and_then(|_| f.read_exact(&mut buf)).context("reading a local chunk")?;
                    // the index is a cache: a chunk on disk counts only if it still hashes right
                    if chunk_hash(&buf) != p.hash {
                        return Err(Failed::Other(Error::failed(format!(
                            "a chunk of a local object ({}) no longer matches the chunk index; delete .git/lfs/xet and retry",
                            t.path
                        ))));
                    }
                    put(&buf, &mut chunks)?;
                    report.reused_bytes += p.len as u64;
                }
            }
            Source::Remote { job, range, skip } => {
                let data = {
                    let mut g = board.state.lock().expect("board");
                    loop {
                        if let Some((r, _)) = g.done.get(job) {
                            break r.clone();
                        }
                        g.waiting = Some(*job);
                        board.cv.notify_all();
                        g = board.cv.wait(g).expect("board");
                    }
                };
                let fetched = data.map_err(|m| Failed::Cas(CasError::Unreachable(m)))?;
                let want = (term.end - term.start) as usize;
                // decoded chunk by chunk as it is written: nothing but the fetched bytes is held
                crate::xet::xorb::for_each_chunk(fetched.part(*range), *skip as usize..*skip as usize + want, |_, c| put(c, &mut chunks))
                    .map_err(|e| Failed::Other(Error::failed(format!("xorb {} for {}: {e}", term.xorb, t.path))))?;
                if jobs[*job].last_use == ti {
                    let mut g = board.state.lock().expect("board");
                    if let Some((_, true)) = g.done.remove(job) {
                        budget.give(jobs[*job].bytes);
                    }
                    g.passed = g.passed.max(job + 1);
                    board.cv.notify_all();
                }
            }
        }
        if term_len != term.unpacked {
            return Err(Failed::Other(Error::failed(format!(
                "a term of {} (xorb {}, chunks {}..{}) decoded to {term_len} bytes, the reconstruction says {}",
                t.path, term.xorb, term.start, term.end, term.unpacked
            ))));
        }
        written += term_len;
    }
    w.flush().context(format!("writing {}", t.path))?;
    drop(w);
    if written != t.size {
        return Err(Failed::Other(Error::failed(format!(
            "{} rebuilt from Xet storage is {written} bytes, its pointer says {}",
            t.path, t.size
        ))));
    }
    let id = file_hash(&chunks);
    if id != t.file_id {
        return Err(Failed::Other(Error::failed(format!("{} rebuilt from Xet storage has file hash {id}, not {}", t.path, t.file_id))));
    }
    let digest: [u8; 32] = sha.finalize().into();
    if digest != t.sha256 {
        return Err(Failed::Other(Error::failed(format!("{} rebuilt from Xet storage does not match its SHA-256", t.path))));
    }
    Ok((report, chunks))
}
