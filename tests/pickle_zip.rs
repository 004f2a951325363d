//! Zip checkpoints built byte by byte, read as PyTorch's reader reads them (miniz, see
//! src/weights/zipscan.rs): names matched ASCII-case-insensitively among the raw central names,
//! the Unicode Path field ignored, extra fields not checked; duplicates, local/central
//! disagreements and truncated archives are dangerous. (The cost bounds: tests/pickle_bounds.rs.)

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output};

const EVIL: &[u8] = b"\x80\x02cposix\nsystem\n(S'id'\ntR.";
const SAFE: &[u8] = b"\x80\x02ccollections\nOrderedDict\n)R.";

#[path = "common/zipbuild.rs"]
mod zipbuild;
use zipbuild::{ent, zip, Ent};

fn deflated(name: &str, plain: &[u8]) -> Ent {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(plain).unwrap();
    let data = z.finish().unwrap();
    Ent { method: 8, size: plain.len() as u32, ..ent(name, &data) }
}

fn scan(bytes: &[u8]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pt");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hfgit")).args(["scan", "--json"]).arg(&path).output().unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, j["files"][0].clone())
}

#[track_caller]
fn dangerous(bytes: &[u8], why: &str) -> Value {
    let (out, f) = scan(bytes);
    assert_eq!(out.status.code(), Some(1), "{f}");
    assert_eq!(f["verdict"], "dangerous", "{f}");
    let text = f.to_string();
    assert!(text.contains(why), "{why:?} not in {text}");
    f
}

#[test]
fn zip_confusions_are_dangerous() {
    // a well-formed archive with a safe pickle is safe
    let (out, f) = scan(&zip(&[ent("archive/data.pkl", SAFE), ent("archive/version", b"3\n")]));
    assert!(out.status.success(), "{f}");
    assert_eq!((f["verdict"].as_str(), f["format"].as_str()), (Some("safe"), Some("torch zip")));
    // the name in another case: PyTorch finds it all the same
    dangerous(&zip(&[ent("archive/DATA.PKL", EVIL)]), "posix.system");
    // duplicate names, case-insensitively: which one a reader takes is not defined
    let f = dangerous(&zip(&[ent("archive/data.pkl", SAFE), ent("archive/Data.pkl", SAFE)]), "duplicate entry name");
    assert_eq!(f["pickles"].as_array().unwrap().len(), 2);
    // a Unicode Path extra field renaming the entry: miniz ignores it
    let mut upath = vec![0x75, 0x70];
    let alias = b"archive/data.txt";
    upath.extend_from_slice(&((5 + alias.len()) as u16).to_le_bytes());
    upath.push(1);
    upath.extend_from_slice(&[0; 4]);
    upath.extend_from_slice(alias);
    dangerous(&zip(&[Ent { central_extra: upath, ..ent("archive/data.pkl", EVIL) }]), "posix.system");
    // a malformed extra field (its length runs past the end): miniz reads on
    let bad_extra = vec![0x99, 0x99, 0xff, 0x00, 1, 2];
    dangerous(&zip(&[Ent { central_extra: bad_extra, ..ent("archive/data.pkl", EVIL) }]), "posix.system");
    // local and central names disagree
    dangerous(
        &zip(&[Ent { local_name: Some(b"archive/data.txt".to_vec()), ..ent("archive/data.pkl", SAFE) }]),
        "its local header names it",
    );
    // deflated entries are read too
    dangerous(&zip(&[deflated("archive/data.pkl", EVIL)]), "posix.system");
    // truncated: an error naming the cause, never "no pickle"
    let whole = zip(&[ent("archive/data.pkl", SAFE), ent("archive/data/0", &[0; 4096])]);
    let (out, f) = scan(&whole[..whole.len() / 2]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(f["verdict"], "dangerous", "{f}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated zip archive: no central directory"), "{out:?}");
}

#[test]
fn real_pytorch_checkpoints_scan_safe() {
    // torch.save output: zip and legacy, protocols 2-5, bf16, views (fixtures/make_fixtures.py)
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for name in
        ["mlp_f32.pt", "mlp_bf16.pt", "mlp_f32_step.pt", "mlp_legacy.pt", "small_p3.pt", "small_p5.pt", "views_p4.pt", "views_legacy.pt"]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_hfgit")).args(["scan", "--json"]).arg(dir.join(name)).output().unwrap();
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        let f = &j["files"][0];
        assert!(out.status.success(), "{name}: {f}");
        assert_eq!(f["verdict"], "safe", "{name}: {f}");
        let legacy = name.contains("legacy");
        assert_eq!(f["format"], if legacy { "torch legacy" } else { "torch zip" }, "{name}");
        assert_eq!(f["pickles"].as_array().unwrap().len(), if legacy { 5 } else { 1 }, "{name}: {f}");
    }
}
