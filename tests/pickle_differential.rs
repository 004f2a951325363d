//! hfgit's scanner against CPython's unpickler: every global CPython's `pickle.Unpickler` asks
//! for while loading a file must be in `hfgit scan --json`'s report, and a file asking for any
//! global off the allowlist must be reported dangerous. CPython runs with a `find_class` that
//! records each request and returns an inert stand-in, so nothing is executed (no torch needed,
//! only `python3` on PATH; without it the test fails).
//!
//! The corpus: crafted pickles (the ways the scanner and the loader used to read different
//! bytes, and more), and the fuzzers' corpora (tests/fuzz-corpus/{pickle,weights}.zip; zips are
//! loaded as torch.load does, one pickle per `.pkl` record).

use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The recording unpickler (tests/pickle_recorder.py).
const RECORDER: &str = include_str!("pickle_recorder.py");

fn hfgit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hfgit"))
}

/// Runs CPython and hfgit over `dir`'s files; returns the disagreements.
fn compare(dir: &Path) -> (usize, Vec<String>) {
    let mut files: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path().to_str().unwrap().to_string()).collect();
    files.sort();
    let py = Command::new("python3")
        .arg("-c")
        .arg(RECORDER)
        .args(&files)
        .output()
        .expect("python3 is required for the differential test (it must be on PATH)");
    assert!(py.status.success(), "the recorder failed: {}", String::from_utf8_lossy(&py.stderr));
    let cpython: HashMap<String, Value> = serde_json::from_slice(&py.stdout).unwrap();
    let out = hfgit().arg("scan").arg("--json").args(&files).output().unwrap();
    let j: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("hfgit scan --json: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut problems = Vec::new();
    let mut asked = 0;
    for f in j["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let reported: Vec<&str> = f["pickles"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["imports"].as_array().unwrap().iter().map(|i| i["import"].as_str().unwrap()))
            .collect();
        let c = &cpython[path];
        for g in c["globals"].as_array().unwrap() {
            asked += 1;
            let g: Vec<&str> = g.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            let (raw, mapped) = (format!("{}.{}", g[0], g[1]), format!("{}.{}", g[2], g[3]));
            let (found, module, name) = if reported.contains(&mapped.as_str()) {
                (true, g[2], g[3])
            } else if reported.contains(&raw.as_str()) {
                (true, g[0], g[1])
            } else {
                (false, g[2], g[3])
            };
            if !found {
                problems.push(format!("{path}: CPython imports {mapped} (raw {raw:?}); hfgit reports {reported:?} ({})", f["verdict"]));
            } else if !hfgit::weights::torch::weights_only_allowed(module, name) && f["verdict"] != "dangerous" {
                problems.push(format!("{path}: CPython imports {module}.{name}, off the allowlist, and hfgit says {}", f["verdict"]));
            }
        }
    }
    (asked, problems)
}

/// Protocol-0 and binary fragments.
fn bu(s: &str) -> Vec<u8> {
    let mut v = vec![0x8c, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let call = b"(S'id'\ntR.".to_vec();
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        // the classics
        ("os_system_p0", cat(&[b"cos\nsystem\n", &call])),
        ("timeit", cat(&[b"ctimeit\ntimeit\n", &call])),
        ("cprofile", cat(&[b"ccProfile\nrun\n", &call])),
        ("pydoc_pipepager", cat(&[b"cpydoc\npipepager\n", &call])),
        // what the old parser refused, hiding what follows
        ("setitem_on_list", cat(&[b"(I5\nlI0\nI1\nscos\nsystem\n", &call])),
        ("append_on_bytearray", cat(&[b"\x80\x05\x96\x00\x00\x00\x00\x00\x00\x00\x00K\x01acos\nsystem\n", &call])),
        ("surrogate_binunicode", cat(&[b"\x80\x04\x8c\x03\xed\xa0\x80", b"0cos\nsystem\n", &call])),
        ("unicode_not_utf8", cat(&[b"V\xff\xfe\n0cos\nsystem\n", &call])),
        ("int_base0_hex", cat(&[b"I0x10\n0cos\nsystem\n", &call])),
        ("int_underscore", cat(&[b"I1_000\n0L0x10L\n0cos\nsystem\n", &call])),
        ("int_octal_strtol", cat(&[b"I010\n0cos\nsystem\n", &call])),
        ("put_get_spaces", cat(&[b"\x80\x04", &bu("os"), b"p 1_0 \n0", &bu("system"), b"p007\n0g10\ng7\n\x93)R."])),
        ("string_escapes", cat(&[b"\x80\x04S'p\\x6fsix'\nS\"sys\\164em\"\n\x93)R."])),
        ("raw_unicode_escape", cat(&[b"\x80\x04Vp\\u006fsix\nVsystem\n\x93)R."])),
        ("second_pickle_p0", cat(&[b"\x80\x02N.", b"cos\nsystem\n", &call])),
        ("third_pickle", cat(&[b"\x80\x02N.", b"\x80\x03K\x01.", b"\x80\x04", &bu("os"), &bu("system"), b"\x93)R."])),
        ("memoize_after_put", cat(&[b"\x80\x04", &bu("x"), b"q\x00", &bu("os"), b"\x94", &bu("system"), b"0h\x01h\x00\x94h\x01\x93)R."])),
        ("frame", cat(&[b"\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00", &bu("os"), &bu("system"), b"\x93)R."])),
        ("float_forms", cat(&[b"F1e5\n0Finf\n0F-.5\n0F1.\n0cos\nsystem\n", &call])),
        ("float_space_stops", cat(&[b"F 1\ncos\nsystem\n", &call])),
        ("float_overflow_stops", cat(&[b"F1e999\ncos\nsystem\n", &call])),
        ("inst", b"(S'id'\nios\nsystem\n.".to_vec()),
        ("obj", b"(cos\nsystem\nS'id'\no.".to_vec()),
        ("newobj_ex", cat(&[b"\x80\x04", &bu("builtins"), &bu("object"), b"\x93)}\x92", &bu("os"), &bu("system"), b"\x93)R."])),
        ("build_and_setitems_on_object", cat(&[b"\x80\x02ccollections\nOrderedDict\n)R}b(K\x01K\x02ucsubprocess\nPopen\n", &call])),
        ("additems", cat(&[b"\x80\x04\x8f(K\x01\x90", &bu("os"), &bu("system"), b"\x93)R."])),
        ("persistent_id", cat(&[b"Pkey\n0\x80\x02N\x85Q0cos\nsystem\n", &call])),
        ("builtin_mapping_p2", b"\x80\x02c__builtin__\nset\n)R.".to_vec()),
        ("builtin_eval_p0", b"c__builtin__\neval\n(S'1'\ntR.".to_vec()),
        ("commands_p2", b"\x80\x02ccommands\ngetoutput\n(S'id'\ntR.".to_vec()),
        ("global_not_utf8", cat(&[b"cos\xff\nsystem\n", &call])),
        ("string_octal_wrap", cat(&[b"S'\\400'\n0cos\nsystem\n", &call])),
        ("string_trailing_backslash", cat(&[b"S'\\'\ncos\nsystem\n", &call])),
        ("dup_after_mark", cat(&[b"N(2cos\nsystem\n", &call])),
        ("short_binstring_latin1", cat(&[b"U\x02\xe9\xe9cos\nsystem\n", &call])),
        ("long1_and_long4", cat(&[b"\x80\x02\x8a\x02\xff\x7f0\x8b\x01\x00\x00\x00\x010cos\nsystem\n", &call])),
        ("stack_global_from_tuple", cat(&[b"\x80\x04)", &bu("system"), b"\x93."])),
        ("safe_state_dict_like", b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00wctorch\nFloatStorage\nu.".to_vec()),
        ("legacy_like", {
            let mut v = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
            v.extend_from_slice(b"\x80\x02M\xe9\x03.\x80\x02}.");
            v.extend_from_slice(b"cposix\nsystem\n(S'id'\ntR.");
            v.extend_from_slice(b"\x80\x02].");
            v
        }),
        ("dict_unhashable_key", cat(&[b"(]K\x01dcos\nsystem\n", &call])),
        ("setitem_on_tuple_stops", cat(&[b")K\x01K\x02scos\nsystem\n", &call])),
        ("get_missing_stops", cat(&[b"g3\ncos\nsystem\n", &call])),
        ("pop_mark", cat(&[b"(NN1cos\nsystem\n", &call])),
    ]
}

#[test]
fn every_global_cpython_asks_for_is_reported_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in corpus() {
        fs::write(dir.path().join(format!("{name}.pkl")), bytes).unwrap();
    }
    let (asked, problems) = compare(dir.path());
    assert!(asked >= 30, "CPython asked for only {asked} globals: is the recorder working?");
    assert!(problems.is_empty(), "{} disagreements:\n{}", problems.len(), problems.join("\n"));
    // the fuzzers' differential mode agrees on them too (one python3 run per input)
    for (_, bytes) in corpus().iter().take(8) {
        hfgit::weights::fuzzing::pickle_differential(bytes);
    }
}

#[test]
fn the_fuzz_corpora_agree_with_cpython() {
    for corpus in ["pickle", "weights"] {
        replay(corpus);
    }
}

fn replay(corpus: &str) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fuzz-corpus/{corpus}.zip"));
    let mut zip = zip::ZipArchive::new(fs::File::open(corpus).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for i in 0..zip.len() {
        let mut e = zip.by_index(i).unwrap();
        if !e.is_file() {
            continue;
        }
        let mut out = fs::File::create(dir.path().join(format!("c{i:05}.pt"))).unwrap();
        std::io::copy(&mut e, &mut out).unwrap();
        n += 1;
    }
    assert!(n > 0);
    let (_, problems) = compare(dir.path());
    assert!(problems.is_empty(), "{} disagreements over {n} files:\n{}", problems.len(), problems.join("\n"));
}
