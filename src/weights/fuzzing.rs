//! The invariants the fuzz targets check, shared with the regression tests that replay the
//! fuzzers' interesting inputs (tests/fuzz-regressions). Each function panics when hfgit
//! misbehaves on the input; returning normally (errors included) is success.

use super::tensor::read_tensor;
use super::{diff, pickle, safetensors, scan, Weights};
use std::io::{Cursor, Write};
use std::process::Command;

/// Pickle interpreter and scanner: any bytes give a result or an error.
pub fn pickle_bytes(data: &[u8]) {
    let _ = pickle::parse(data);
    let _ = scan::scan(Cursor::new(data), "input");
}

/// Weights readers: whatever they locate must be readable, a file must equal itself, and a
/// conversion to safetensors must read back with the same tensors.
pub fn weights_bytes(data: &[u8]) {
    let mut f = tempfile::tempfile().expect("temp file");
    f.write_all(data).expect("write temp file");
    let Ok(w) = Weights::from_file(f) else { return };
    let total: u64 = w.tensors.iter().map(|t| t.byte_len()).sum();
    if total > 64 << 20 {
        return; // within the reader's plausibility bound, but slow to read in a fuzz loop
    }
    for t in &w.tensors {
        let mut n = 0u64;
        read_tensor(&w.file, t, &mut |b| {
            n += b.len() as u64;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("tensor {:?} was located but cannot be read: {e}", t.name));
        assert_eq!(n, t.byte_len(), "tensor {:?}", t.name);
    }
    let d = diff::diff(&w, &w, &crate::progress::Silent).expect("a file compared with itself");
    assert!(d.changes.is_empty(), "a file differs from itself: {:?}", d.changes);
    let mut out = tempfile::tempfile().expect("temp file");
    if safetensors::write(&w.file, &w.tensors, &mut out, &mut |_| {}).is_ok() {
        let back = safetensors::read(&out).expect("hfgit reads the safetensors it wrote");
        assert_eq!(back.tensors.len(), w.tensors.len());
    }
}

/// Differential mode: hfgit's scan against CPython's recording unpickler (`python3`, run out of
/// process: tests/pickle_recorder.py). Panics when CPython asks for a global hfgit's report
/// lacks, or for one off the allowlist while hfgit says safe.
pub fn pickle_differential(data: &[u8]) {
    const RECORDER: &str = include_str!("../../tests/pickle_recorder.py");
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(data).expect("write temp file");
    let path = f.path().to_str().expect("temp path").to_string();
    let out = Command::new("python3").arg("-c").arg(RECORDER).arg(&path).output().expect("python3 is required");
    assert!(out.status.success(), "the recorder failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("recorder output");
    let report = scan::scan(Cursor::new(data), "input").expect("scan of in-memory bytes");
    let reported: Vec<&str> = report.pickles.iter().flat_map(|p| p.imports.iter().map(|i| i.import.as_str())).collect();
    for g in v[&path]["globals"].as_array().into_iter().flatten() {
        let g: Vec<&str> = g.as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
        let (raw, mapped) = (format!("{}.{}", g[0], g[1]), format!("{}.{}", g[2], g[3]));
        let (module, name) = if reported.contains(&mapped.as_str()) {
            (g[2], g[3])
        } else if reported.contains(&raw.as_str()) {
            (g[0], g[1])
        } else {
            panic!("CPython imports {mapped} (raw {raw:?}); hfgit reports {reported:?}");
        };
        if !super::torch::weights_only_allowed(module, name) {
            assert_eq!(report.verdict(), scan::Verdict::Dangerous, "CPython imports {module}.{name} and hfgit says safe");
        }
    }
}
