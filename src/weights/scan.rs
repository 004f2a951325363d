//! Lists the imports each pickle in a file would perform when loaded, and judges them the way
//! the Hub's scanner (picklescan) does: the globals a weights-only loader needs are *safe*;
//! code execution, file, process and network access, and anything that cannot be resolved
//! without running the pickle are *dangerous*; everything else is *suspicious*.
//!
//! A torch zip has its `*.pkl` entries scanned; other files are scanned as a stream of
//! pickles (the legacy torch format is five of them). Nothing is executed.

use super::pickle::{self, Import, PickleError, Trace};
use super::torch::{is_zip, weights_only_allowed, MAX_PICKLE};

/// How much of a file is parsed first to tell whether it is a pickle.
const PROBE: u64 = 64 << 10;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Safe,
    Suspicious,
    Dangerous,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Suspicious => "suspicious",
            Verdict::Dangerous => "dangerous",
        }
    }
}

/// Modules whose every global is dangerous (and their submodules).
const DANGEROUS_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "socket",
    "shutil",
    "runpy",
    "pickle",
    "_pickle",
    "pip",
    "pty",
    "webbrowser",
    "ctypes",
    "commands",
    "importlib",
    "inspect",
    "code",
    "codeop",
    "multiprocessing",
    "asyncio",
    "bdb",
    "pdb",
    "marshal",
    "httplib",
    "http",
    "urllib",
    "requests",
    "aiohttp",
    "ftplib",
    "smtplib",
    "telnetlib",
    "cloudpickle",
    "dill",
    "joblib",
    "torch.hub",
    "torch.jit",
    "torch._dynamo",
    "torch._inductor",
    "numpy.f2py",
    "_posixsubprocess",
    "signal",
    "tempfile",
    "glob",
    "zipimport",
    "builtins.__import__",
];

/// Individual dangerous globals in otherwise ordinary modules.
const DANGEROUS_GLOBALS: &[(&str, &[&str])] = &[
    (
        "builtins",
        &[
            "eval",
            "exec",
            "execfile",
            "compile",
            "open",
            "input",
            "breakpoint",
            "getattr",
            "setattr",
            "delattr",
            "__import__",
            "globals",
            "locals",
            "vars",
            "apply",
            "memoryview",
        ],
    ),
    ("functools", &["partial", "reduce"]),
    ("operator", &["attrgetter", "itemgetter", "methodcaller", "getitem"]),
    ("pkgutil", &["resolve_name", "get_importer"]),
    ("types", &["CodeType", "FunctionType", "MethodType", "ModuleType"]),
    ("torch.serialization", &["load", "_load"]),
    ("torch", &["load", "from_file"]),
    ("torch.storage", &["_load_from_bytes"]),
    ("numpy", &["load", "fromfile", "loadtxt"]),
    ("numpy.testing._private.utils", &["runstring"]),
    ("io", &["FileIO", "open"]),
    ("_io", &["FileIO", "open"]),
];

/// How loading `import` would be judged.
pub fn verdict(import: &Import) -> Verdict {
    if import.is_unknown() {
        return Verdict::Dangerous;
    }
    // Python 2 pickles name builtins `__builtin__`
    let module = match import.module.as_str() {
        "__builtin__" | "__builtins__" => "builtins",
        m => m,
    };
    let in_module = |m: &str| module == m || module.starts_with(&format!("{m}."));
    if DANGEROUS_MODULES.iter().any(|m| in_module(m)) {
        return Verdict::Dangerous;
    }
    for (m, names) in DANGEROUS_GLOBALS {
        if module == *m && names.contains(&import.name.as_str()) {
            return Verdict::Dangerous;
        }
    }
    // dotted names (`os.system` passed as name) reach attributes of attributes
    if import.name.contains('.') {
        return Verdict::Dangerous;
    }
    if module != "_codecs" && module != "builtins" && weights_only_allowed(module, &import.name) {
        return Verdict::Safe;
    }
    Verdict::Suspicious
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub import: String,
    pub verdict: Verdict,
}

/// One pickle inside a file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PickleReport {
    /// Where the pickle is: a zip entry name, or "pickle N" in a stream.
    pub location: String,
    pub imports: Vec<Finding>,
    /// Set when the pickle could not be read to its end; what came before is still listed.
    /// Python's unpickler stops at the same point, so this alone is not dangerous…
    pub error: Option<String>,
    /// …unless hfgit could not see all of the pickle (over its size bound, unreadable entry):
    /// then imports past that point are unknown, and the pickle counts as dangerous.
    pub incomplete: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    /// False when the file holds no pickle at all (safetensors, raw data).
    pub is_pickle: bool,
    pub pickles: Vec<PickleReport>,
}

impl FileReport {
    /// The worst verdict; a pickle that could not be scanned whole counts as dangerous.
    pub fn verdict(&self) -> Verdict {
        let mut v = Verdict::Safe;
        for p in &self.pickles {
            if p.incomplete {
                return Verdict::Dangerous;
            }
            for f in &p.imports {
                v = v.max(f.verdict);
            }
        }
        v
    }

    /// Imports with the given verdict, "import (in location)" once each.
    pub fn imports_with(&self, verdict: Verdict) -> Vec<String> {
        let mut out: Vec<String> =
            self.pickles.iter().flat_map(|p| p.imports.iter().filter(|f| f.verdict == verdict).map(|f| f.import.clone())).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Why the file is dangerous, in one line.
    pub fn danger_summary(&self) -> String {
        let mut parts = self.imports_with(Verdict::Dangerous);
        for p in self.pickles.iter().filter(|p| p.incomplete) {
            parts.push(format!("pickle {} not scanned whole ({})", p.location, p.error.as_deref().unwrap_or("?")));
        }
        parts.join(", ")
    }
}

fn findings(imports: Vec<Import>) -> Vec<Finding> {
    let mut f: Vec<Finding> = imports.into_iter().map(|i| Finding { verdict: verdict(&i), import: i.to_string() }).collect();
    f.sort_by(|a, b| a.import.cmp(&b.import));
    f.dedup_by(|a, b| a.import == b.import);
    f
}

fn report(location: String, (trace, result): (Trace, Result<usize, PickleError>), truncated: bool) -> (PickleReport, Option<usize>) {
    let imports = trace.imports;
    let (error, incomplete, len) = match result {
        Ok(len) => (None, false, Some(len)),
        Err(PickleError::Truncated(_)) if truncated => (Some(format!("larger than the {} MiB hfgit scans", MAX_PICKLE >> 20)), true, None),
        Err(e) => (Some(e.to_string()), false, None),
    };
    (PickleReport { location, imports: findings(imports), error, incomplete }, len)
}

pub fn scan_file(path: &Path, display: &str) -> io::Result<FileReport> {
    scan(File::open(path)?, display)
}

/// Scans a file's content; `display` names it in the report.
pub fn scan<R: Read + Seek>(mut file: R, display: &str) -> io::Result<FileReport> {
    let mut magic = Vec::new();
    (&mut file).take(4).read_to_end(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let mut rep = FileReport { path: display.to_string(), is_pickle: false, pickles: Vec::new() };
    if is_zip(&magic) {
        scan_zip(file, &mut rep);
        return Ok(rep);
    }
    // Any file may be a pickle (protocols 0 and 1 have no header). Parse a first slice; read on
    // up to the bound only when the pickle continues past it.
    let mut head = Vec::new();
    (&mut file).take(PROBE).read_to_end(&mut head)?;
    let mut first = pickle::trace(&head);
    let mut truncated = false;
    if matches!(first.1, Err(PickleError::Truncated(_))) && head.len() as u64 == PROBE {
        (&mut file).take(MAX_PICKLE + 1 - PROBE).read_to_end(&mut head)?;
        truncated = head.len() as u64 > MAX_PICKLE;
        head.truncate(MAX_PICKLE as usize);
        first = pickle::trace(&head);
    }
    // Not a pickle: it breaks (where hfgit could see) before calling anything or importing a
    // named global. (Random bytes often start with an extension-registry opcode; alone, with
    // the registry empty as it is by default, that loads nothing.)
    let named_import = first.0.imports.iter().any(|i| !i.is_unknown());
    if first.1.is_err() && first.0.calls == 0 && !named_import && !truncated {
        return Ok(rep);
    }
    rep.is_pickle = true;
    let data = &head[..];
    let mut first = Some(first);
    let mut pos = 0;
    let mut n = 1;
    // the first pickle, then any that follow it (a stream of protocol ≥ 2 pickles, as the legacy
    // torch format writes)
    while n == 1 || (pos < data.len() && data[pos] == 0x80) {
        let traced = first.take().unwrap_or_else(|| pickle::trace(&data[pos..]));
        let (r, len) = report(format!("pickle {n}"), traced, truncated);
        let failed_later = r.error.is_some() && n > 1;
        if failed_later {
            break; // bytes after the pickles (legacy storages) are not pickles
        }
        rep.pickles.push(r);
        match len {
            Some(len) => pos += len,
            None => break,
        }
        n += 1;
    }
    Ok(rep)
}

fn scan_zip<R: Read + Seek>(file: R, rep: &mut FileReport) {
    let mut zip = match zip::ZipArchive::new(file) {
        Ok(z) => z,
        Err(_) => return, // not a zip torch or Python could open: no pickle to load
    };
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                rep.is_pickle = true;
                rep.pickles.push(PickleReport {
                    location: format!("zip entry {i}"),
                    imports: Vec::new(),
                    error: Some(e.to_string()),
                    incomplete: true,
                });
                continue;
            }
        };
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("zip entry {i}"));
        if !(name.ends_with(".pkl") || name.ends_with(".pickle")) {
            continue;
        }
        rep.is_pickle = true;
        let mut data = Vec::new();
        if let Err(e) = (&mut entry).take(MAX_PICKLE + 1).read_to_end(&mut data) {
            rep.pickles.push(PickleReport { location: name, imports: Vec::new(), error: Some(e.to_string()), incomplete: true });
            continue;
        }
        let truncated = data.len() as u64 > MAX_PICKLE;
        data.truncate(MAX_PICKLE as usize);
        rep.pickles.push(report(name, pickle::trace(&data), truncated).0);
    }
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
        // random weights that happen to start with 0x80: no import before they break
        let mut raw = vec![0x80u8, 0xba];
        raw.extend((0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
        let r = scan_bytes(&raw);
        assert!(!r.is_pickle, "{r:?}");
        // a valid PROTO header followed by garbage: not loadable, nothing imported
        assert!(!scan_bytes(&[0x80, 2, 0xff, 0, 0]).is_pickle);
        // an extension-registry opcode, then garbage: loads nothing
        assert!(!scan_bytes(&[0x82, 0x11, 0xff, 0xff]).is_pickle);
        // … but followed by a call it is a dangerous pickle
        let r = scan_bytes(&[0x82, 0x11, b')', b'R', 0xff]);
        assert_eq!((r.is_pickle, r.verdict()), (true, Verdict::Dangerous));
        // a pickle importing nothing is a safe pickle
        let r = scan_bytes(&[0x80, 2, b'N', b'.']);
        assert!(r.is_pickle);
        assert_eq!(r.verdict(), Verdict::Safe);
    }

    #[test]
    fn verdicts_follow_the_hub() {
        assert_eq!(verdict(&imp("collections", "OrderedDict")), Verdict::Safe);
        assert_eq!(verdict(&imp("torch._utils", "_rebuild_tensor_v2")), Verdict::Safe);
        assert_eq!(verdict(&imp("torch", "BFloat16Storage")), Verdict::Safe);
        assert_eq!(verdict(&imp("os", "system")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("os.path", "join")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("posix", "system")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("__builtin__", "eval")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("builtins", "exec")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("subprocess", "Popen")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("importlib", "import_module")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("torch.storage", "_load_from_bytes")), Verdict::Dangerous);
        assert_eq!(verdict(&Import::unknown("x")), Verdict::Dangerous);
        assert_eq!(verdict(&imp("numpy.core.multiarray", "_reconstruct")), Verdict::Suspicious);
        assert_eq!(verdict(&imp("_codecs", "encode")), Verdict::Suspicious);
        assert_eq!(verdict(&imp("mypkg", "Model")), Verdict::Suspicious);
        // a name reaching through attributes
        assert_eq!(verdict(&imp("torch", "os.system")), Verdict::Dangerous);
    }
}
