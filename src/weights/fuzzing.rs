//! The invariants the fuzz targets check, shared with the regression tests that replay the
//! fuzzers' interesting inputs (tests/fuzz-regressions). Each function panics when hfgit
//! misbehaves on the input; returning normally (errors included) is success.

use super::tensor::read_tensor;
use super::{diff, pickle, safetensors, scan, Weights};
use std::io::{Cursor, Write};

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
