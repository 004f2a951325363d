//! The scanner's cost bounds (docs/cli.md, `hfgit scan`): adversarial zips — a 100 KiB one
//! inflating to a 100 MiB pickle that fills the stack, a 2 MiB one with many such entries and
//! thousands of entries sharing one's data — scan in under 100 MiB of memory and a few seconds.
//! Alone in its test binary: the peak RSS measured is that of this process's children.

use serde_json::Value;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/zipbuild.rs"]
mod zipbuild;
use zipbuild::{ent, zip, Ent};

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
