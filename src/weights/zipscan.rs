//! The zip archive as PyTorch's reader sees it, read by hand for the scanner.
//!
//! `torch.load` opens a checkpoint starting with `PK\3\4` with `PyTorchStreamReader`
//! (caffe2/serialize/inline_container.cc), which uses miniz: the end-of-central-directory record
//! is the last `PK\5\6` in the file's final 64 KiB, the records live in `<dir>/` where `<dir>` is
//! the first central-directory entry's name up to its first `/`, names are looked up
//! ASCII-case-insensitively among the raw central-directory names (the Unicode Path extra field is
//! ignored), entries are stored or deflated, and extra fields are not otherwise checked. The zip
//! crate differs on each point, so the scanner reads the archive itself; whatever two readers
//! could read differently (names equal but for case, local and central headers that disagree,
//! overlapping entries) is reported as a problem, which makes the file dangerous.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

/// One central-directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    /// The raw name (what miniz matches), shown lossily.
    pub name: String,
    pub raw_name: Vec<u8>,
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub comp: u64,
    pub size: u64,
    pub local: u64,
}

/// Where an entry's data is (as miniz finds it: after the local header, sized by the central
/// one), and how the local header disagrees with the central one if it does (a problem, but the
/// data is still scanned).
pub struct Located {
    pub start: u64,
    pub disagreement: Option<String>,
}

/// The most central-directory name bytes remembered for the duplicate check.
const MAX_NAME_BYTES: usize = 64 << 20;

pub const NO_CENTRAL_DIRECTORY: &str = "truncated zip archive: no central directory";

fn u16at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}
fn u64at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

fn read_at<R: Read + Seek>(f: &mut R, len: u64, at: u64, n: usize) -> io::Result<Vec<u8>> {
    if at >= len {
        return Ok(Vec::new()); // past the end
    }
    f.seek(SeekFrom::Start(at))?;
    let mut b = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut b)?;
    Ok(b)
}

/// The central directory, and the problems that make the archive ambiguous. `Err` when the
/// archive cannot be read at all (the reason, for the report).
/// The entries and the problems found, or why the archive cannot be read.
pub type Central = Result<(Vec<Entry>, Vec<String>), String>;

pub fn central<R: Read + Seek>(f: &mut R, len: u64) -> io::Result<Central> {
    if len < 22 {
        return Ok(Err(NO_CENTRAL_DIRECTORY.into()));
    }
    let tail_len = len.min(0xffff + 22);
    let tail = read_at(f, len, len - tail_len, tail_len as usize)?;
    let Some(p) = (0..=tail.len() - 22).rev().find(|&i| tail[i..i + 4] == *b"PK\x05\x06") else {
        return Ok(Err(NO_CENTRAL_DIRECTORY.into()));
    };
    let eocd = &tail[p..];
    let eocd_at = len - tail_len + p as u64;
    let (disk, cd_disk) = (u16at(eocd, 4), u16at(eocd, 6));
    let mut count = u16at(eocd, 10) as u64;
    let mut cd_size = u32at(eocd, 12) as u64;
    let mut cd_off = u32at(eocd, 16) as u64;
    let mut problems = Vec::new();
    if eocd_at >= 20 {
        let loc = read_at(f, len, eocd_at - 20, 20)?;
        if loc[..4] == *b"PK\x06\x07" {
            let at = u64at(&loc, 8);
            let rec = read_at(f, len, at, 56)?;
            if rec.len() < 56 || rec[..4] != *b"PK\x06\x06" {
                return Ok(Err("corrupt zip archive: bad zip64 end of central directory".into()));
            }
            count = u64at(&rec, 32);
            cd_size = u64at(&rec, 40);
            cd_off = u64at(&rec, 48);
        }
    }
    if disk != 0 || cd_disk != 0 {
        return Ok(Err("zip archive spans several disks".into()));
    }
    if cd_off.checked_add(cd_size).is_none_or(|e| e > len) {
        return Ok(Err("truncated zip archive: the central directory is past the end of the file".into()));
    }
    if count.checked_mul(46).is_none_or(|n| n > cd_size) {
        return Ok(Err("corrupt zip archive: more entries than the central directory holds".into()));
    }
    f.seek(SeekFrom::Start(cd_off))?;
    let mut cd = io::BufReader::new(f.take(cd_size));
    let mut entries = Vec::new();
    let mut names = HashSet::new();
    let mut name_bytes = 0usize;
    for index in 0..count as usize {
        let mut h = [0u8; 46];
        if cd.read_exact(&mut h).is_err() || h[..4] != *b"PK\x01\x02" {
            // what came before is still scanned
            problems.push(format!("corrupt zip archive: central directory entry {index} is damaged"));
            break;
        }
        let (nl, el, cl) = (u16at(&h, 28) as usize, u16at(&h, 30) as usize, u16at(&h, 32) as usize);
        let mut var = vec![0u8; nl + el + cl];
        if cd.read_exact(&mut var).is_err() {
            // what came before is still scanned
            problems.push(format!("corrupt zip archive: central directory entry {index} is damaged"));
            break;
        }
        let raw_name = var[..nl].to_vec();
        let extra = &var[nl..nl + el];
        let mut e = Entry {
            index,
            name: String::from_utf8_lossy(&raw_name).into_owned(),
            raw_name,
            flags: u16at(&h, 8),
            method: u16at(&h, 10),
            crc: u32at(&h, 16),
            comp: u32at(&h, 20) as u64,
            size: u32at(&h, 24) as u64,
            local: u32at(&h, 42) as u64,
        };
        let needs64 = e.comp == 0xffff_ffff || e.size == 0xffff_ffff || e.local == 0xffff_ffff;
        if needs64 && zip64_extra(extra, &mut e).is_none() {
            problems.push(format!("corrupt zip archive: entry {:?} lacks its zip64 sizes", e.name));
            break;
        }
        let lower = e.raw_name.to_ascii_lowercase();
        name_bytes += lower.len();
        if name_bytes > MAX_NAME_BYTES {
            return Ok(Err(format!("zip archive with more than {} MiB of entry names", MAX_NAME_BYTES >> 20)));
        }
        if !names.insert(lower) {
            problems.push(format!(
                "duplicate entry name {:?} (zip readers may pick different entries; names are compared case-insensitively)",
                e.name
            ));
        }
        entries.push(e);
    }
    // entries whose data overlap: one compressed stream read many times, or bytes two entries
    // share; checked on the central directory's (lower) bounds
    let mut spans: Vec<(u64, u64, usize)> =
        entries.iter().map(|e| (e.local, e.local.saturating_add(30 + e.raw_name.len() as u64).saturating_add(e.comp), e.index)).collect();
    spans.sort();
    if let Some(w) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
        problems.push(format!("entries {:?} and {:?} overlap", entries[w[0].2].name, entries[w[1].2].name));
    }
    Ok(Ok((entries, problems)))
}

fn zip64_extra(mut extra: &[u8], e: &mut Entry) -> Option<()> {
    while extra.len() >= 4 {
        let (id, n) = (u16at(extra, 0), u16at(extra, 2) as usize);
        let body = extra.get(4..4 + n)?;
        if id == 1 {
            let mut i = 0;
            let mut next = || {
                let v = body.get(i..i + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
                i += 8;
                v
            };
            if e.size == 0xffff_ffff {
                e.size = next()?;
            }
            if e.comp == 0xffff_ffff {
                e.comp = next()?;
            }
            if e.local == 0xffff_ffff {
                e.local = next()?;
            }
            return Some(());
        }
        extra = &extra[4 + n..];
    }
    None
}

/// Checks an entry's local header against its central one; where its data start.
pub fn locate<R: Read + Seek>(f: &mut R, len: u64, e: &Entry) -> io::Result<Result<Located, String>> {
    let h = read_at(f, len, e.local, 30)?;
    if h.len() < 30 || h[..4] != *b"PK\x03\x04" {
        return Ok(Err(format!("entry {:?}: no local header at offset {}", e.name, e.local)));
    }
    let (nl, el) = (u16at(&h, 26) as u64, u16at(&h, 28) as u64);
    let name = read_at(f, len, e.local.saturating_add(30), nl as usize)?;
    let sized = |v: u32, c: u64| v == 0xffff_ffff || v as u64 == c;
    let disagreement = if name != e.raw_name {
        Some(format!(
            "entry {:?}: its local header names it {:?} (readers disagree on which name counts)",
            e.name,
            String::from_utf8_lossy(&name)
        ))
    } else if u16at(&h, 8) != e.method {
        Some(format!("entry {:?}: local and central headers disagree on its compression", e.name))
    } else if e.flags & 8 == 0 && (u32at(&h, 14) != e.crc || !sized(u32at(&h, 18), e.comp) || !sized(u32at(&h, 22), e.size)) {
        Some(format!("entry {:?}: local and central headers disagree on its size or checksum", e.name))
    } else {
        None
    };
    let start = e.local.saturating_add(30 + nl + el);
    if start.checked_add(e.comp).is_none_or(|end| end > len) {
        return Ok(Err(format!("truncated zip archive: entry {:?} extends past the end of the file", e.name)));
    }
    Ok(Ok(Located { start, disagreement }))
}
