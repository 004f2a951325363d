//! The scanner's cost bounds (docs/cli.md, `hfgit scan`): adversarial zips — a 100 KiB one
//! inflating to a 100 MiB pickle that fills the stack, a 2 MiB one with many such entries and
//! thousands of entries sharing one's data — scan in under 100 MiB of memory and a few seconds.
//! Alone in its test binary: the peak RSS measured is that of this process's children.

use serde_json::Value;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

struct Ent {
    name: Vec<u8>,
    local_name: Option<Vec<u8>>,
    data: Vec<u8>,
    method: u16,
    size: u32,
    central_extra: Vec<u8>,
    /// Central entry pointing at another entry's local header.
    local_of: Option<usize>,
}

fn ent(name: &str, data: &[u8]) -> Ent {
    Ent {
        name: name.into(),
        local_name: None,
        data: data.to_vec(),
        method: 0,
        size: data.len() as u32,
        central_extra: Vec::new(),
        local_of: None,
    }
}

/// A deflated entry of a 100 MiB pickle: PROTO 2, None, then DUP to the end.
fn bomb(name: &str) -> Ent {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&[0x80, 2, b'N']).unwrap();
    let chunk = vec![b'2'; 1 << 20];
    let mut left = (100usize << 20) - 3;
    while left > 0 {
        let n = left.min(chunk.len());
        z.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    let data = z.finish().unwrap();
    Ent { method: 8, size: 100 << 20, ..ent(name, &data) }
}

fn zip(entries: &[Ent]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        if e.local_of.is_some() {
            continue;
        }
        let name = e.local_name.as_ref().unwrap_or(&e.name);
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0; 8]); // time, date, crc
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);
    }
    let cd = out.len() as u32;
    for (i, e) in entries.iter().enumerate() {
        let src = e.local_of.map_or(e, |j| &entries[j]);
        out.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
        out.extend_from_slice(&src.method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(src.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&src.size.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(e.central_extra.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 10]); // comment length, disk, attributes
        out.extend_from_slice(&offsets[e.local_of.unwrap_or(i)].to_le_bytes());
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.central_extra);
    }
    let cd_len = out.len() as u32 - cd;
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// Peak resident memory of the children waited for so far, in bytes.
fn children_max_rss() -> u64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss as u64 * 1024
}

#[test]
fn adversarial_zips_scan_in_bounded_memory_and_time() {
    // ~100 KiB: one deflated data.pkl of 100 MiB that DUPs a None over and over (built in
    // chunks: this process stays small, so its children's peak is theirs)
    let small = zip(&[bomb("archive/data.pkl")]);
    // ~2 MiB: twenty such entries, then thousands of central entries all pointing at the first
    let mut many: Vec<Ent> = (0..21).map(|i| bomb(&format!("archive/x{i}.pkl"))).collect();
    for i in 0..2000 {
        many.push(Ent { local_of: Some(0), ..ent(&format!("archive/y{i}.pkl"), b"") });
    }
    let large = zip(&many);
    drop(many);
    eprintln!("adversarial zips: {} and {} bytes", small.len(), large.len());
    assert!(small.len() < 200 << 10 && large.len() > 2 << 20, "{} {}", small.len(), large.len());
    let dir = tempfile::tempdir().unwrap();
    let paths = [("small", &small), ("large", &large)].map(|(what, b)| {
        let p = dir.path().join(format!("{what}.pt"));
        std::fs::write(&p, b).unwrap();
        (what, p)
    });
    drop((small, large));
    for (what, path) in paths {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_hfgit")).args(["scan", "--json"]).arg(&path).output().unwrap();
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        let f = &j["files"][0];
        assert_eq!((out.status.code(), f["verdict"].as_str()), (Some(1), Some("dangerous")), "{f}");
        assert!(f.to_string().contains("not scanned whole"), "{f}");
        let took = t.elapsed();
        let rss = children_max_rss();
        eprintln!(
            "{what}: {took:?}, peak RSS of scans so far {} MiB; {} problems",
            rss >> 20,
            f["problems"].as_array().map_or(0, Vec::len)
        );
        assert!(took < Duration::from_secs(20), "{what}: {took:?}");
        assert!(rss < 100 << 20, "{what}: peak RSS {rss} bytes");
    }
}
