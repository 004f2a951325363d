//! Hostile and broken weights files: each gives a clear error naming the problem, never a
//! panic, a hang or an unbounded allocation. Checkpoints are built here with the zip format
//! torch.save uses and hand-written pickles; tests/fuzz-regressions holds inputs the fuzzers
//! (fuzz/, cargo fuzz) found interesting, replayed through the same invariants they check.

use hfgit::weights::{fuzzing, FormatError, Weights};
use std::io::Write;
use std::path::Path;

/// A protocol-2 pickle of `{"w": _rebuild_tensor_v2(storage, offset, shape, stride, False, {})}`
/// whose storage is `('storage', torch.FloatStorage, key, 'cpu', numel)`.
fn state_dict_pickle(key: &str, numel: u64, offset: u64, shape: &[u64], stride: &[u64]) -> Vec<u8> {
    fn text(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: u64) {
        p.extend_from_slice(&[0x8a, 8]); // LONG1, 8 bytes
        p.extend_from_slice(&v.to_le_bytes());
    }
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"ccollections\nOrderedDict\n)R(");
    text(&mut p, "w");
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
    p.push(b'(');
    text(&mut p, "storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\n");
    text(&mut p, key);
    text(&mut p, "cpu");
    int(&mut p, numel);
    p.extend_from_slice(b"tQ");
    int(&mut p, offset);
    p.push(b'(');
    for d in shape {
        int(&mut p, *d);
    }
    p.push(b't');
    p.push(b'(');
    for s in stride {
        int(&mut p, *s);
    }
    p.push(b't');
    p.extend_from_slice(&[0x89]); // requires_grad False
    p.extend_from_slice(b"ccollections\nOrderedDict\n)R");
    p.extend_from_slice(b"tRu.");
    p
}

/// A torch.save-style zip: `archive/data.pkl` and `archive/data/<key>` records, stored.
fn checkpoint(entries: &[(&str, &[u8])]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    {
        let mut z = zip::ZipWriter::new(&mut f);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            z.start_file(*name, opts).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    f
}

#[track_caller]
fn error_of(f: std::fs::File) -> String {
    match Weights::from_file(f) {
        Ok(w) => panic!("accepted: {:?}", w.tensors),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_error(f: std::fs::File, want: &str) {
    let e = error_of(f);
    assert!(e.contains(want), "error {e:?} does not mention {want:?}");
}

#[test]
fn a_well_formed_hand_built_checkpoint_is_read() {
    // the builder itself is right: a 2x3 tensor at offset 1 of a 7-float storage
    let pkl = state_dict_pickle("0", 7, 1, &[2, 3], &[3, 1]);
    let w = Weights::from_file(checkpoint(&[("archive/data.pkl", &pkl), ("archive/data/0", &[0u8; 28])])).unwrap();
    assert_eq!(w.tensors.len(), 1);
    assert_eq!((w.tensors[0].name.as_str(), &w.tensors[0].shape), ("w", &vec![2, 3]));
}

#[test]
fn broken_archives_and_pickles_are_named() {
    let good = state_dict_pickle("0", 4, 0, &[4], &[1]);
    let storage = [0u8; 16];
    // a truncated zip (a real checkpoint cut in half)
    let real = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mlp_f32.pt")).unwrap();
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&real[..real.len() / 2]).unwrap();
    assert_error(f, "not a valid zip archive");
    // an unknown opcode in data.pkl
    let mut bad = good.clone();
    bad.insert(2, 0xff);
    assert_error(checkpoint(&[("archive/data.pkl", &bad), ("archive/data/0", &storage)]), "unknown pickle opcode 0xff");
    // a pickle cut short
    assert_error(checkpoint(&[("archive/data.pkl", &good[..good.len() - 3]), ("archive/data/0", &storage)]), "pickle ends unexpectedly");
    // a storage key pointing outside the archive, or at a record that does not exist
    let escape = state_dict_pickle("../../../etc/passwd", 4, 0, &[4], &[1]);
    assert_error(checkpoint(&[("archive/data.pkl", &escape), ("archive/data/0", &storage)]), "has no record");
    let missing = state_dict_pickle("7", 4, 0, &[4], &[1]);
    assert_error(checkpoint(&[("archive/data.pkl", &missing), ("archive/data/0", &storage)]), "storage \"7\" has no record");
    // an entry outside the archive directory
    assert_error(
        checkpoint(&[("archive/data.pkl", &good), ("archive/data/0", &storage), ("other/x", b"")]),
        "outside the archive directory",
    );
    // no data.pkl at all
    assert_error(checkpoint(&[("archive/data/0", &storage)]), "has no archive/data.pkl");
}

#[test]
fn sizes_shapes_and_strides_are_checked_before_anything_is_allocated() {
    let storage = [0u8; 16];
    let with = |pkl: Vec<u8>| checkpoint(&[("archive/data.pkl", &pkl), ("archive/data/0", &storage)]);
    // shape whose element count overflows u64
    assert_error(with(state_dict_pickle("0", 4, 0, &[1 << 40, 1 << 40], &[1, 1])), "overflows");
    // strides reaching past the storage
    assert_error(with(state_dict_pickle("0", 4, 0, &[2, 2], &[4, 1])), "needs 24 bytes of its storage, which has 16");
    // offset past the storage
    assert_error(with(state_dict_pickle("0", 4, 9, &[1], &[1])), "needs 40 bytes");
    // a storage declaring more elements than its record holds
    assert_error(with(state_dict_pickle("0", 1 << 30, 0, &[4], &[1])), "declares 1073741824 elements");
    // stride 0 repeating 16 bytes into 2^40 elements: refused, not read for hours
    assert_error(with(state_dict_pickle("0", 4, 0, &[1 << 20, 1 << 20], &[0, 0])), "implausible");
}

#[test]
fn hostile_safetensors_headers_are_refused() {
    let file = |bytes: &[u8]| {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    };
    // a header length of 2^60 (never allocated)
    let mut huge = (1u64 << 60).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    // recognised by content only when plausible: this one is not safetensors and not a pickle
    assert_error(file(&huge), "not a PyTorch checkpoint");
    assert!(matches!(hfgit::weights::safetensors::read(&file(&huge)), Err(FormatError::Bad(e)) if e.contains("exceeds")));
    // a header running past the end of the file
    let mut past = 1000u64.to_le_bytes().to_vec();
    past.extend_from_slice(b"{\"a\":1}");
    assert_error(file(&past), "past the end");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 100 000 nested lists: the interpreter is iterative, the tensor walk bounded
    let mut p = vec![0x80, 2];
    p.extend(std::iter::repeat_n(b']', 100_000));
    p.extend(std::iter::repeat_n(b'a', 99_999));
    p.push(b'.');
    assert_error(checkpoint(&[("archive/data.pkl", &p)]), "nested more than 64 deep");
}

/// The fuzzers' minimised corpora (`cargo fuzz cmin`), kept as zip archives: every input that
/// reached new code in the pickle interpreter, scanner and readers is replayed on each test run.
#[test]
fn fuzz_corpora_replay_cleanly() {
    for (name, check) in [("pickle", fuzzing::pickle_bytes as fn(&[u8])), ("weights", fuzzing::weights_bytes)] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fuzz-corpus/{name}.zip"));
        let mut z = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert!(z.len() > 100, "{name}: only {} inputs", z.len());
        for i in 0..z.len() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut z.by_index(i).unwrap(), &mut data).unwrap();
            check(&data);
        }
    }
}

#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        fuzzing::pickle_bytes(&data);
        fuzzing::weights_bytes(&data);
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
