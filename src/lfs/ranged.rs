//! One large object downloaded over several connections at once: the object is cut into pieces,
//! each fetched with `Range` and written in place into the `.part` file (`pwrite`), several at a
//! time, so a server or CDN that caps each connection is not the limit. The connections come
//! from the transfer's shared [`Slots`] (`lfs.concurrenttransfers` for objects and ranges
//! together). What each piece has received is recorded next to the `.part` file, so a killed
//! download resumes piece by piece. A hasher follows the pieces, hashing the file from its start
//! as each stretch completes (from the page cache, just written), so the object is verified as
//! soon as its last piece lands, and becomes an object only if it verifies.
//!
//! A server that ignores `Range` (answers 200 with the whole body) or refuses it (416) is told
//! apart on the first piece; the caller then downloads in one stream as before.

use crate::error::{Context, Error, Result};
use crate::lfs::pointer::Pointer;
use crate::progress::Progress;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Connections a transfer may have open at once, shared by whole-object jobs and the extra
/// ranges of large objects.
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    pub fn new(n: usize) -> Slots {
        Slots { free: Mutex::new(n.max(1)), freed: Condvar::new() }
    }

    /// Waits for a connection.
    pub fn take(&self) {
        let mut free = self.free.lock().expect("slots lock");
        while *free == 0 {
            free = self.freed.wait(free).expect("slots lock");
        }
        *free -= 1;
    }

    /// A connection if one is free now.
    pub fn try_take(&self) -> bool {
        let mut free = self.free.lock().expect("slots lock");
        let ok = *free > 0;
        if ok {
            *free -= 1;
        }
        ok
    }

    pub fn give(&self) {
        *self.free.lock().expect("slots lock") += 1;
        self.freed.notify_one();
    }
}

/// What the server answered to one range request.
pub enum Answer {
    /// 206 with the asked range: its body.
    Partial(Box<dyn Read + Send>),
    /// The server does not do ranges (200 with the whole body, or 416).
    NoRanges,
    /// Worth another try after the wait (the server's, else the backoff's).
    Retry(Option<Duration>, String),
    /// Not worth another try.
    Fatal(String),
}

/// How a ranged download ended.
pub enum Outcome {
    /// The `.part` file is complete and verified.
    Done,
    /// The server does not do ranges: nothing was kept; download in one stream.
    NoRanges,
}

/// The piece plan and what each piece has received, next to the `.part` file.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Plan {
    oid: String,
    size: u64,
    piece: u64,
    done: Vec<u64>,
}

/// The file that records a ranged download's progress.
pub fn plan_path(part: &Path) -> PathBuf {
    part.with_extension("part.ranges")
}

/// Piece size for `size` over up to `ranges` connections: four pieces per connection (so a slow
/// one does not hold back the end), from 4 MiB to 64 MiB.
fn piece_size(size: u64, ranges: usize) -> u64 {
    (size / (ranges as u64 * 4)).clamp(4 << 20, 64 << 20)
}

fn load_plan(part: &Path, p: &Pointer, ranges: usize) -> Plan {
    let fresh = |done_prefix: u64| {
        let piece = piece_size(p.size, ranges);
        let n = p.size.div_ceil(piece);
        // a single-stream partial download already holds a prefix: keep it
        let done = (0..n).map(|i| done_prefix.saturating_sub(i * piece).min(piece.min(p.size - i * piece))).collect();
        Plan { oid: p.oid.to_hex(), size: p.size, piece, done }
    };
    let part_len = fs::metadata(part).map(|m| m.len()).ok();
    match fs::read(plan_path(part)).ok().and_then(|b| serde_json::from_slice::<Plan>(&b).ok()) {
        Some(plan)
            if plan.oid == p.oid.to_hex()
                && plan.size == p.size
                && plan.piece > 0
                && plan.done.len() as u64 == p.size.div_ceil(plan.piece)
                && part_len == Some(p.size) =>
        {
            plan
        }
        _ => fresh(part_len.filter(|l| *l < p.size).unwrap_or(0)),
    }
}

/// Downloads `p` into `part` with up to `ranges` connections (the first is the caller's own,
/// already taken from `slots`). `get(start, end)` asks for bytes `start..end` (end exclusive).
/// With `stage`, the verified bytes are also written there in order (the work-tree copy of a
/// clone), from the page cache as they are hashed; it is removed unless the download succeeds.
#[allow(clippy::too_many_arguments)] // the transfer's own settings, each used once
pub fn download(
    part: &Path,
    p: &Pointer,
    ranges: usize,
    slots: &Slots,
    max_attempts: u32,
    backoff: &(dyn Fn(u32) -> Duration + Sync),
    get: &(dyn Fn(u64, u64) -> Answer + Sync),
    progress: &dyn Progress,
    stage: Option<&Path>,
) -> Result<Outcome> {
    let plan = load_plan(part, p, ranges);
    let file = OpenOptions::new().create(true).write(true).read(true).truncate(false).open(part).context("opening the partial download")?;
    file.set_len(p.size).context("sizing the partial download")?;
    let piece = plan.piece;
    let len_of = |i: usize| piece.min(p.size - i as u64 * piece);
    let done: Vec<AtomicU64> = plan.done.iter().map(|d| AtomicU64::new(*d)).collect();
    let already: u64 = plan.done.iter().sum();
    progress.bytes(already);
    let queue: Mutex<Vec<usize>> = Mutex::new((0..done.len()).rev().filter(|i| done[*i].load(Ordering::Relaxed) < len_of(*i)).collect());
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let no_ranges = AtomicBool::new(false);
    let ranges_ok = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let saving = Mutex::new(());
    let save = || {
        // one writer of the temp file at a time
        let _one = saving.lock().expect("save lock");
        let plan = Plan { oid: p.oid.to_hex(), size: p.size, piece, done: done.iter().map(|d| d.load(Ordering::Relaxed)).collect() };
        let tmp = plan_path(part).with_extension("ranges.tmp");
        if fs::write(&tmp, serde_json::to_vec(&plan).expect("a plan serialises")).is_ok() {
            let _ = fs::rename(&tmp, plan_path(part));
        }
    };
    save();

    // One piece, with retries; false when the download must stop.
    let fetch_piece = |i: usize| -> bool {
        let start = i as u64 * piece;
        let end = start + len_of(i);
        let mut attempt = 0;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let from = start + done[i].load(Ordering::Relaxed);
            if from >= end {
                return true;
            }
            let wait = match get(from, end) {
                Answer::Partial(mut body) => {
                    ranges_ok.store(true, Ordering::Relaxed);
                    let mut buf = vec![0u8; 1 << 20];
                    let mut at = from;
                    let (mut since_save, mut saved_at) = (0u64, std::time::Instant::now());
                    let err = loop {
                        match body.read(&mut buf) {
                            Ok(0) if at == end => break None,
                            Ok(0) => break Some(format!("a range ended after {} of {} bytes", at - from, end - from)),
                            Ok(k) if at + k as u64 > end => {
                                break Some(format!("a range body is longer than the {} bytes asked", end - from))
                            }
                            Ok(k) => {
                                if let Err(e) = file.write_all_at(&buf[..k], at) {
                                    *failed.lock().expect("lock") = Some(format!("writing the partial download: {e}"));
                                    stop.store(true, Ordering::Relaxed);
                                    return false;
                                }
                                at += k as u64;
                                since_save += k as u64;
                                done[i].store(at - start, Ordering::Release);
                                progress.bytes(k as u64);
                                // a killed download loses at most 16 MiB or a quarter second per piece
                                if since_save >= 16 << 20 || saved_at.elapsed() >= Duration::from_millis(250) {
                                    save();
                                    (since_save, saved_at) = (0, std::time::Instant::now());
                                }
                            }
                            Err(e) => break Some(format!("connection lost in a range after {} bytes: {e}", at - from)),
                        }
                    };
                    match err {
                        None => {
                            save();
                            return true;
                        }
                        Some(m) => Some((backoff(attempt), m)),
                    }
                }
                Answer::NoRanges => {
                    no_ranges.store(true, Ordering::Relaxed);
                    stop.store(true, Ordering::Relaxed);
                    return false;
                }
                Answer::Retry(w, m) => Some((w.unwrap_or_else(|| backoff(attempt)), m)),
                Answer::Fatal(m) => {
                    *failed.lock().expect("lock") = Some(m);
                    stop.store(true, Ordering::Relaxed);
                    return false;
                }
            };
            let (w, m) = wait.expect("every arm that goes on has a wait");
            attempt += 1;
            if attempt >= max_attempts {
                *failed.lock().expect("lock") = Some(format!("a range failed after {attempt} attempts: {m}"));
                stop.store(true, Ordering::Relaxed);
                return false;
            }
            std::thread::sleep(w);
        }
    };
    let worker = || loop {
        // the queue's lock is held only to take a piece, never while fetching it
        let next = queue.lock().expect("queue lock").pop();
        match next {
            Some(i) if fetch_piece(i) => {}
            _ => break,
        }
    };

    let stage_file = match stage {
        Some(st) => Some(File::create(st).context("staging the work-tree copy")?),
        None => None,
    };
    let (first_done, workers_done) = (AtomicBool::new(false), AtomicBool::new(false));
    let hashed = std::thread::scope(|s| {
        let hasher = s.spawn(|| {
            let r = hash_in_order(&file, piece, p.size, &done, &workers_done, stage_file.as_ref());
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            r
        });
        std::thread::scope(|w| {
            // The caller's own connection takes the first piece; the others join as soon as
            // its answer is a 206 (the server does ranges), not when the piece is complete.
            w.spawn(|| {
                worker();
                first_done.store(true, Ordering::Relaxed);
            });
            while !ranges_ok.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) && !first_done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
            }
            let mut helpers = 0;
            // recruit free connections while pieces remain, up to `ranges` in all
            while ranges_ok.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) && helpers + 1 < ranges {
                if queue.lock().expect("queue lock").is_empty() {
                    break;
                }
                if slots.try_take() {
                    helpers += 1;
                    w.spawn(|| {
                        worker();
                        slots.give();
                    });
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        workers_done.store(true, Ordering::Release);
        hasher.join().expect("the hasher does not panic")
    });
    let drop_stage = || {
        if let Some(st) = stage {
            let _ = fs::remove_file(st);
        }
    };
    if no_ranges.load(Ordering::Relaxed) {
        drop(file);
        drop_stage();
        let _ = fs::remove_file(plan_path(part));
        let _ = fs::remove_file(part);
        return Ok(Outcome::NoRanges);
    }
    let failed = failed.into_inner().expect("lock");
    let hashed = match (failed, hashed) {
        (None, Ok(Some(h))) => h,
        (failed, hashed) => {
            save();
            drop_stage();
            let m = failed.or_else(|| hashed.err().map(|e| format!("reading the partial download: {e}")));
            return Err(Error::failed(m.unwrap_or_else(|| "the ranged download ended incomplete".into())));
        }
    };
    let (got, n) = hashed;
    let _ = fs::remove_file(plan_path(part));
    if got != p.oid || n != p.size {
        drop_stage();
        let _ = fs::remove_file(part);
        return Err(Error::failed(format!(
            "the server sent content that does not match the object: expected OID {}, got {got} after {n} bytes (ranged download)",
            p.oid
        )));
    }
    Ok(Outcome::Done)
}

/// Bytes `0..` of the download that are in the file: every piece complete before the first one
/// that is not, plus what that one has received.
fn contiguous(done: &[AtomicU64], piece: u64, size: u64, from_piece: usize) -> u64 {
    let mut at = from_piece as u64 * piece;
    for d in &done[from_piece..] {
        let have = d.load(Ordering::Acquire);
        at += have;
        if have < piece.min(size - (at - have)) {
            break;
        }
    }
    at
}

/// Hashes the file from its start as the pieces arrive (each byte once it and all before it are
/// in), copying them to `copy` when given, so the whole object is verified moments after its
/// last piece lands, without a second pass over it. `None` when the workers ended before the
/// file was complete.
fn hash_in_order(
    file: &File,
    piece: u64,
    size: u64,
    done: &[AtomicU64],
    workers_done: &AtomicBool,
    copy: Option<&File>,
) -> std::io::Result<Option<(crate::lfs::oid::Oid, u64)>> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let mut hasher = Sha256::new();
    let mut at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let ended = workers_done.load(Ordering::Acquire);
        let have = contiguous(done, piece, size, (at / piece) as usize);
        if at < have {
            let n = buf.len().min((have - at) as usize);
            file.read_exact_at(&mut buf[..n], at)?;
            hasher.update(&buf[..n]);
            if let Some(mut c) = copy {
                c.write_all(&buf[..n])?;
            }
            at += n as u64;
        } else if at == size {
            return Ok(Some((crate::lfs::oid::Oid::from_bytes(hasher.finalize().into()), at)));
        } else if ended {
            return Ok(None);
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `Content-Range: bytes START-LAST/TOTAL` says exactly `start..end` of `total`.
pub fn content_range_is(value: Option<&str>, start: u64, end: u64, total: u64) -> bool {
    value.is_some_and(|v| v.trim() == format!("bytes {start}-{}/{total}", end - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lfs::oid::Oid;

    #[test]
    fn pieces_cover_the_object_and_keep_a_single_stream_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("x.part");
        let p = Pointer::new(Oid::from_bytes([7; 32]), 100 << 20);
        fs::write(&part, vec![0u8; 9 << 20]).unwrap();
        let plan = load_plan(&part, &p, 8);
        assert_eq!(plan.piece, 4 << 20);
        assert_eq!(plan.done.len(), 25);
        assert_eq!(&plan.done[..3], &[4 << 20, 4 << 20, 1 << 20]);
        assert!(plan.done[3..].iter().all(|d| *d == 0));
        assert!(content_range_is(Some("bytes 0-99/100"), 0, 100, 100));
        assert!(!content_range_is(Some("bytes 0-98/100"), 0, 100, 100));
        assert!(!content_range_is(None, 0, 100, 100));
    }

    #[test]
    fn the_hasher_follows_the_complete_prefix_and_copies_it_in_order() {
        let piece = 10u64;
        let done: Vec<AtomicU64> = [10, 4, 10, 0].iter().map(|d| AtomicU64::new(*d)).collect();
        assert_eq!(contiguous(&done, piece, 35, 0), 14);
        done[1].store(10, Ordering::Relaxed);
        assert_eq!(contiguous(&done, piece, 35, 1), 30, "a complete piece after the gap counts once the gap fills");
        done[3].store(5, Ordering::Relaxed);
        assert_eq!(contiguous(&done, piece, 35, 2), 35, "the last piece is shorter");

        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..35u8).collect();
        fs::write(dir.path().join("part"), &content).unwrap();
        let file = File::open(dir.path().join("part")).unwrap();
        let copy = File::create(dir.path().join("copy")).unwrap();
        let workers_done = AtomicBool::new(true);
        let (oid, n) = hash_in_order(&file, piece, 35, &done, &workers_done, Some(&copy)).unwrap().unwrap();
        assert_eq!((oid.to_hex(), n), (format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&content)), 35));
        assert_eq!(fs::read(dir.path().join("copy")).unwrap(), content);
        done[2].store(3, Ordering::Relaxed);
        assert!(hash_in_order(&file, piece, 35, &done, &workers_done, None).unwrap().is_none(), "incomplete when the workers ended");
    }
}
