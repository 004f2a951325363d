//! Lists the imports each pickle in a file would perform when loaded, and judges the file the
//! way a careful publisher needs: *safe* only when every pickle a loader would read was parsed
//! to its STOP and every import is on the allowlist (the globals PyTorch's `weights_only`
//! unpickler allows, [`weights_only_allowed`]); *dangerous* otherwise — an import off the
//! allowlist, a pickle that could not be parsed to its end or was too large or complex to
//! scan, an archive that cannot be read unambiguously. Nothing is executed.
//!
//! What is read is what the loaders read ([`super::trace`] for the parsing):
//! - a file starting with `PK\3\4` is a zip, read as PyTorch's reader reads it
//!   ([`super::zipscan`]); every entry whose lower-cased name ends in `.pkl` is scanned;
//! - any other file is a stream of pickles (the legacy torch format is five of them, joblib and
//!   numpy read several): every pickle up to the end of the file, or the five of a legacy torch
//!   checkpoint, whatever their first byte and length. The file holds no pickle when CPython's
//!   unpickler would stop before doing anything but build plain data; bytes after the last
//!   pickle that likewise load nothing are trailing data.
//!
//! Cost: one streaming pass over the file; memory bounded by [`super::trace`]'s constants.

use super::pickle::{self, Import, Node};
use super::torch::{weights_only_allowed, MAX_PICKLE};
use super::trace::{self, Stream, TraceError, Traced};
use super::zipscan;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Safe,
    Dangerous,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Dangerous => "dangerous",
        }
    }
}

/// How loading `import` is judged: safe only when PyTorch's `weights_only` loader allows it.
pub fn verdict(import: &Import) -> Verdict {
    if !import.is_unknown() && weights_only_allowed(&import.module, &import.name) {
        Verdict::Safe
    } else {
        Verdict::Dangerous
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub import: String,
    pub verdict: Verdict,
}

/// One pickle inside a file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PickleReport {
    /// Where the pickle is: a zip entry name, or "pickle N at byte B" in a stream.
    pub location: String,
    pub imports: Vec<Finding>,
    /// Set when the pickle could not be parsed to its STOP (with the offset); what came before
    /// is still listed. Makes the file dangerous.
    pub error: Option<String>,
    /// Set when hfgit could not see all of the pickle (a resource bound, an unreadable entry).
    pub incomplete: bool,
}

impl PickleReport {
    fn failed(location: String, error: String) -> PickleReport {
        PickleReport { location, imports: Vec::new(), error: Some(error), incomplete: true }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    /// False when the file holds no pickle any loader would run (safetensors, raw data).
    pub is_pickle: bool,
    /// What the content is: "torch zip", "zip", "torch legacy", "pickle", "safetensors",
    /// "gguf", "numpy", "tar", "data".
    pub format: &'static str,
    pub pickles: Vec<PickleReport>,
    /// Why the file as a whole cannot be read unambiguously (archive problems).
    pub problems: Vec<String>,
    /// Why the file holds no pickle (where CPython's unpickler would stop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FileReport {
    /// Safe only when nothing is off the allowlist, every pickle was read whole and the file
    /// has no problem.
    pub fn verdict(&self) -> Verdict {
        if !self.problems.is_empty() || self.pickles.iter().any(|p| p.error.is_some() || p.incomplete) {
            return Verdict::Dangerous;
        }
        if self.pickles.iter().flat_map(|p| &p.imports).any(|f| f.verdict == Verdict::Dangerous) {
            return Verdict::Dangerous;
        }
        Verdict::Safe
    }

    /// Imports with the given verdict, once each.
    pub fn imports_with(&self, verdict: Verdict) -> Vec<String> {
        let mut out: Vec<String> =
            self.pickles.iter().flat_map(|p| p.imports.iter().filter(|f| f.verdict == verdict).map(|f| f.import.clone())).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Why the file is dangerous, in one line: the imports off the allowlist, then pickles that
    /// could not be scanned, then archive problems.
    pub fn danger_summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for imp in self.imports_with(Verdict::Dangerous) {
            let places: Vec<&str> =
                self.pickles.iter().filter(|p| p.imports.iter().any(|f| f.import == imp)).map(|p| p.location.as_str()).collect();
            parts.push(format!("{imp} (in {})", places.join(", ")));
        }
        for p in self.pickles.iter().filter(|p| p.error.is_some()) {
            parts.push(format!("{} cannot be scanned: {}", p.location, p.error.as_deref().unwrap_or("?")));
        }
        parts.extend(self.problems.iter().cloned());
        parts.join(", ")
    }
}

fn findings(imports: Vec<Import>) -> Vec<Finding> {
    let mut f: Vec<Finding> = imports.into_iter().map(|i| Finding { verdict: verdict(&i), import: i.to_string() }).collect();
    f.sort_by(|a, b| a.import.cmp(&b.import));
    f.dedup_by(|a, b| a.import == b.import);
    f
}

fn report(location: String, traced: Traced, result: Result<(), TraceError>) -> PickleReport {
    let (error, incomplete) = match result {
        Ok(()) => (None, false),
        Err(e @ (TraceError::Io(_) | TraceError::Limit { .. })) => (Some(format!("not scanned whole: {e}")), true),
        Err(e) => (Some(e.to_string()), false),
    };
    PickleReport { location, imports: findings(traced.imports), error, incomplete }
}

pub fn scan_file(path: &Path, display: &str) -> io::Result<FileReport> {
    scan(File::open(path)?, display)
}

/// Scans a file's content; `display` names it in the report.
pub fn scan<R: Read + Seek>(mut file: R, display: &str) -> io::Result<FileReport> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    (&mut file).take(512).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    let mut rep =
        FileReport { path: display.to_string(), is_pickle: false, format: "data", pickles: Vec::new(), problems: Vec::new(), note: None };
    if head.starts_with(b"PK\x03\x04") {
        scan_zip(&mut file, len, &mut rep)?;
        return Ok(rep);
    }
    rep.format = sniff(&head);
    if rep.format == "tar" {
        // torch.load tries its legacy tar format first on anything tarfile opens
        rep.is_pickle = true;
        rep.problems.push("a tar archive: torch.load reads its legacy tar checkpoints, which hfgit does not scan".into());
        return Ok(rep);
    }
    let mut s = Stream::new(&mut file, 0, len);
    if rep.format == "numpy" && !numpy_pickle(&mut s)? {
        return Ok(rep);
    }
    let mut n = 1;
    let mut legacy = false;
    loop {
        let at = s.pos();
        if n > 1 && s.at_end()? {
            break;
        }
        let (traced, result) = trace::trace(&mut s);
        // quiet: nothing imported (persistent ids go to the loader's own function, and nothing else
        // is callable), or nothing but data built (a lone extension-code lookup fails in CPython)
        let failed_quietly = matches!(result, Err(TraceError::Bad { .. })) && (traced.imports.is_empty() || traced.effects == 0);
        if failed_quietly && !legacy {
            // CPython's unpickler stops here having run nothing: not a pickle, or trailing data.
            // Random bytes often start like one.
            if n == 1 {
                rep.note = result.err().map(|e| format!("not a pickle: {e}"));
            }
            break;
        }
        if n == 1 {
            rep.is_pickle = true;
            if rep.format == "data" {
                rep.format = "pickle";
            }
            legacy = result.is_ok() && is_legacy_magic(&head, s.pos());
            if legacy {
                rep.format = "torch legacy";
            }
        }
        let ended = result.is_err();
        let location = if n == 1 { "pickle 1".to_string() } else { format!("pickle {n} at byte {at}") };
        rep.pickles.push(report(location, traced, result));
        if ended || (legacy && n == 5) {
            break;
        }
        n += 1;
    }
    Ok(rep)
}

/// Reads a `.npy` header; true when the array holds objects, whose pickle follows (what
/// `numpy.load(allow_pickle=True)` unpickles).
fn numpy_pickle<R: Read>(s: &mut Stream<R>) -> io::Result<bool> {
    let Ok(magic) = s.bytes(8) else { return Ok(false) };
    let header_len = match magic[6] {
        1 => s.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
        _ => s.bytes(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
    };
    let Ok(header) = header_len.and_then(|n| s.bytes(n)) else { return Ok(false) };
    let text = String::from_utf8_lossy(&header);
    // 'descr': '|O' for an object array (a structured dtype with an object field too)
    Ok(text.contains("'O'") || text.contains("|O") || text.contains("'O\""))
}

/// What the first bytes say the file is.
fn sniff(head: &[u8]) -> &'static str {
    if super::safetensors::sniff(head) {
        "safetensors"
    } else if head.starts_with(b"GGUF") {
        "gguf"
    } else if head.starts_with(b"\x93NUMPY") {
        "numpy"
    } else if is_tar(head) {
        "tar"
    } else {
        "data"
    }
}

/// Whether Python's tarfile takes the block for a tar header: its checksum field (octal) is
/// the sum of the block's bytes with that field counted as spaces.
fn is_tar(head: &[u8]) -> bool {
    if head.len() < 512 || head.iter().all(|&b| b == 0) {
        return false;
    }
    let field = &head[148..156];
    let field = &field[..field.iter().position(|&b| b == 0).unwrap_or(8)];
    let Ok(text) = std::str::from_utf8(field) else { return false };
    let text = text.trim();
    let Ok(want) = i64::from_str_radix(if text.is_empty() { "0" } else { text }, 8) else { return false };
    let unsigned: i64 = head[..512].iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { b as i64 }).sum();
    let signed: i64 = head[..512].iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { b as i8 as i64 }).sum();
    want == unsigned || want == signed
}

/// Whether the first pickle (`head[..end]`) is torch's legacy magic number.
fn is_legacy_magic(head: &[u8], end: u64) -> bool {
    const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    if end as usize > head.len() {
        return false;
    }
    match pickle::parse(&head[..end as usize]) {
        Ok(p) => match p.node(p.root) {
            Node::BigInt(b) => {
                let mut b = b.clone();
                while b.len() > MAGIC.len() && b.last() == Some(&0) {
                    b.pop();
                }
                b == MAGIC || b == b"119547037146038801333356"
            }
            _ => false,
        },
        Err(_) => false,
    }
}

fn scan_zip<R: Read + Seek>(file: &mut R, len: u64, rep: &mut FileReport) -> io::Result<()> {
    rep.format = "zip";
    let (entries, problems) = match zipscan::central(file, len)? {
        Ok(c) => c,
        Err(why) => {
            rep.is_pickle = true;
            rep.problems.push(why);
            return Ok(());
        }
    };
    rep.problems.extend(problems);
    if let Some(first) = entries.first() {
        if let Some(dir) = first.raw_name.split(|&b| b == b'/').next().filter(|_| first.raw_name.contains(&b'/')) {
            let data_pkl = [dir, b"/data.pkl"].concat().to_ascii_lowercase();
            if entries.iter().any(|e| e.raw_name.to_ascii_lowercase() == data_pkl) {
                rep.format = "torch zip";
            }
        }
    }
    let mut budget = MAX_PICKLE;
    for e in entries.iter().filter(|e| {
        let n = e.raw_name.to_ascii_lowercase();
        n.ends_with(b".pkl") || n.ends_with(b".npy")
    }) {
        let npy = e.raw_name.to_ascii_lowercase().ends_with(b".npy");
        rep.is_pickle = true;
        let loc = match zipscan::locate(file, len, e)? {
            Ok(l) => l,
            Err(why) => {
                rep.problems.push(why);
                continue;
            }
        };
        rep.problems.extend(loc.disagreement.clone());
        if e.flags & 1 != 0 {
            rep.pickles.push(PickleReport::failed(e.name.clone(), "the entry is encrypted".into()));
            continue;
        }
        if e.size > budget {
            rep.pickles.push(PickleReport::failed(
                e.name.clone(),
                format!("{} bytes uncompressed, past the {} MiB of pickles hfgit scans per file", e.size, MAX_PICKLE >> 20),
            ));
            continue;
        }
        budget -= e.size;
        file.seek(SeekFrom::Start(loc.start))?;
        let raw = (&mut *file).take(e.comp);
        let (traced, result) = match e.method {
            0 if e.comp == e.size => entry_trace(Stream::new(raw, 0, e.size), npy)?,
            8 => entry_trace(Stream::new(flate2::read::DeflateDecoder::new(raw), 0, e.size), npy)?,
            0 => {
                rep.problems.push(format!("entry {:?} is stored with two different sizes", e.name));
                continue;
            }
            m => {
                rep.pickles.push(PickleReport::failed(e.name.clone(), format!("compression method {m}, which hfgit cannot read")));
                continue;
            }
        };
        let Some((traced, result)) = (match (traced, result) {
            (Some(t), r) => Some((t, r)),
            (None, _) => None,
        }) else {
            continue; // an array without objects: no pickle
        };
        rep.pickles.push(report(e.name.clone(), traced, result));
    }
    if rep.pickles.is_empty() && rep.problems.is_empty() {
        rep.is_pickle = false;
    }
    Ok(())
}

/// Traces an entry's pickle; for a `.npy` entry, the pickle after its header, if it has one.
fn entry_trace<R: Read>(mut s: Stream<R>, npy: bool) -> io::Result<(Option<Traced>, Result<(), TraceError>)> {
    if npy && !numpy_pickle(&mut s)? {
        return Ok((None, Ok(())));
    }
    let (t, r) = trace::trace(&mut s);
    Ok((Some(t), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(m: &str, n: &str) -> Import {
        Import { module: m.into(), name: n.into() }
    }

    fn scan_bytes(b: &[u8]) -> FileReport {
        scan(std::io::Cursor::new(b), "x").unwrap()
    }

    #[test]
    fn what_counts_as_a_pickle() {
        // protocol 0, no header: the classic `cos\nsystem\n(S'…'\ntR.`
        let r = scan_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.");
        assert!(r.is_pickle);
        assert_eq!(r.verdict(), Verdict::Dangerous);
        assert_eq!(r.imports_with(Verdict::Dangerous), ["os.system"]);
        // cut short after the call: Python has already run it
        let r = scan_bytes(b"cos\nsystem\n(S'echo pwned'\ntR\xff\xff");
        assert_eq!(r.verdict(), Verdict::Dangerous);
        // random bytes that build data, a persistent id and an extension lookup, then break,
        // having imported nothing: CPython ran nothing (seen in random test shards)
        for raw in [&b"\x88Q5\xbe\xecY\x0c\x07"[..], b"\x88\x82\x775", b"N\x88Q0Q\x1c"] {
            let r = scan_bytes(raw);
            assert!(!r.is_pickle, "{raw:?}: {:?}", r.pickles);
        }
        // random weights that happen to start with 0x80: no import before they break
        let mut raw = vec![0x80u8, 0xba];
        raw.extend((0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
        let r = scan_bytes(&raw);
        assert!(!r.is_pickle, "{r:?}");
        // a valid PROTO header followed by garbage: not loadable, nothing imported
        assert!(!scan_bytes(&[0x80, 2, 0xff, 0, 0]).is_pickle);
        // an extension-registry opcode: an import hfgit cannot resolve
        let r = scan_bytes(&[0x82, 0x11, b')', b'R', 0xff]);
        assert_eq!((r.is_pickle, r.verdict()), (true, Verdict::Dangerous));
        // a pickle importing nothing is a safe pickle
        let r = scan_bytes(&[0x80, 2, b'N', b'.']);
        assert!(r.is_pickle);
        assert_eq!(r.verdict(), Verdict::Safe);
        // an allowed import in a pickle that breaks: not parsed to its STOP, so dangerous
        let r = scan_bytes(b"\x80\x02ccollections\nOrderedDict\n)R\xff");
        assert_eq!(r.verdict(), Verdict::Dangerous);
        assert!(r.danger_summary().contains("cannot be scanned: at byte"), "{}", r.danger_summary());
    }

    #[test]
    fn every_pickle_of_a_stream_is_read() {
        // a second, protocol-0 pickle after a harmless one
        let r = scan_bytes(b"\x80\x02N.cos\nsystem\n.");
        assert_eq!(r.imports_with(Verdict::Dangerous), ["os.system"]);
        // trailing bytes that load nothing are not a pickle
        let r = scan_bytes(b"\x80\x02N.\xff\xff\xff");
        assert_eq!((r.pickles.len(), r.verdict()), (1, Verdict::Safe));
        // a second pickle that imports and then breaks
        let r = scan_bytes(b"\x80\x02N.ccollections\nOrderedDict\n\xff");
        assert_eq!(r.verdict(), Verdict::Dangerous);
    }

    #[test]
    fn legacy_checkpoints_are_read_whole_and_numpy_object_arrays_scanned() {
        // magic, protocol, system info, then an object pickle of more than 64 KiB whose import
        // comes last, then the storage keys, then storage bytes that are not pickles
        let mut f = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.\x80\x02}.".to_vec();
        f.extend_from_slice(b"\x80\x02B");
        f.extend_from_slice(&(100_000u32).to_le_bytes());
        f.extend(std::iter::repeat_n(b'x', 100_000));
        f.extend_from_slice(b"0cposix\nsystem\n(S'id'\ntR.\x80\x02].");
        f.extend_from_slice(b"cbuiltins\nexec\n.");
        let r = scan_bytes(&f);
        assert_eq!(r.format, "torch legacy");
        assert_eq!(r.pickles.len(), 5);
        assert_eq!(r.imports_with(Verdict::Dangerous), ["posix.system"]);
        // numpy: an object array's pickle follows the header
        let header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }          \n";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header);
        npy.extend_from_slice(b"\x80\x02cos\nsystem\n.");
        let r = scan_bytes(&npy);
        assert_eq!((r.format, r.verdict()), ("numpy", Verdict::Dangerous));
        assert_eq!(r.imports_with(Verdict::Dangerous), ["os.system"]);
        assert!(super::super::is_pickle_content(&npy));
    }

    #[test]
    fn the_allowlist_decides() {
        assert_eq!(verdict(&imp("collections", "OrderedDict")), Verdict::Safe);
        assert_eq!(verdict(&imp("torch._utils", "_rebuild_tensor_v2")), Verdict::Safe);
        assert_eq!(verdict(&imp("torch", "BFloat16Storage")), Verdict::Safe);
        assert_eq!(verdict(&imp("torch", "bfloat16")), Verdict::Safe);
        assert_eq!(verdict(&imp("_codecs", "encode")), Verdict::Safe);
        assert_eq!(verdict(&imp("builtins", "set")), Verdict::Safe);
        for (m, n) in [
            ("os", "system"),
            ("timeit", "timeit"),
            ("cProfile", "run"),
            ("pydoc", "pipepager"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("mypkg", "Model"),
            ("torch", "os.system"),
            ("torch", "load"),
            ("builtins", "getattr"),
            ("collections", "defaultdict"),
        ] {
            assert_eq!(verdict(&imp(m, n)), Verdict::Dangerous, "{m}.{n}");
        }
        assert_eq!(verdict(&Import::unknown("x")), Verdict::Dangerous);
    }
}
