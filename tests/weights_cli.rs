//! Weights that know what they are, through the command line: `scan`, the automatic scans of
//! add/commit, push refusing dangerous pickles, `add --safetensors` checked with the Python
//! `safetensors` package, and `diff` / `log --stat`. Fixtures are real PyTorch checkpoints
//! (fixtures/make_fixtures.py); the Python checks need HFGIT_TEST_PYTHON (scripts/test.sh).

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name).to_str().unwrap().to_string()
}

fn reference(name: &str) -> serde_json::Map<String, Value> {
    let r: Value = serde_json::from_slice(&fs::read(fixture("reference.json")).unwrap()).unwrap();
    r["files"][name].as_object().unwrap().clone()
}

fn python() -> String {
    std::env::var("HFGIT_TEST_PYTHON").expect("HFGIT_TEST_PYTHON is not set: run the tests with scripts/test.sh")
}

#[test]
fn scan_flags_malicious_pickles_and_passes_real_checkpoints() {
    let env = Env::new();
    let cwd = env.dir.path();
    for (name, import) in [
        ("evil_os_system.pt", "posix.system"),
        ("evil_popen.pt", "subprocess.Popen"),
        ("evil_exec_p4.pkl", "builtins.exec"),
        ("evil_system_p2.bin", "posix.system"),
    ] {
        let r = env.hfgit(cwd, &["scan", &fixture(name)]).fails();
        assert!(r.stdout.contains(&format!("dangerous   {import}")), "{name}: {}", r.stdout);
        assert!(r.stderr.contains(import) && r.stderr.contains("would run code"), "{name}: {}", r.stderr);
        let j = env.hfgit(cwd, &["scan", "--json", &fixture(name)]).fails().json();
        let imports = &j["files"][0]["pickles"][0]["imports"];
        let hit = imports.as_array().unwrap().iter().find(|i| i["import"] == import).expect(import);
        assert_eq!(hit["verdict"], "dangerous");
        assert_eq!(j["files"][0]["verdict"], "dangerous");
    }
    // real checkpoints: exactly the imports a state dict needs, all safe
    for (name, storage) in [("mlp_f32.pt", "FloatStorage"), ("mlp_bf16.pt", "BFloat16Storage"), ("mlp_legacy.pt", "FloatStorage")] {
        let j = env.hfgit(cwd, &["scan", "--json", &fixture(name)]).ok().json();
        let f = &j["files"][0];
        assert_eq!(f["verdict"], "safe", "{name}");
        let mut got: Vec<String> = f["pickles"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["imports"].as_array().unwrap().iter().map(|i| i["import"].as_str().unwrap().to_string()))
            .collect();
        got.sort();
        got.dedup();
        let want = vec!["collections.OrderedDict".to_string(), format!("torch.{storage}"), "torch._utils._rebuild_tensor_v2".into()];
        assert_eq!(got, want, "{name}");
    }
    // a directory: every pickle-based file in it, one dangerous file fails the whole scan
    let r = env.hfgit(cwd, &["scan", &fixture("")]).fails();
    assert!(r.stderr.contains("5 of 19 files would run code"), "{}", r.stderr);
    // safetensors holds no pickle
    let r = env.hfgit(cwd, &["scan", &fixture("mlp_f32.safetensors")]).ok();
    assert!(r.stdout.contains("no pickle"), "{}", r.stdout);
}

#[test]
fn add_and_commit_report_pickle_imports_and_push_refuses_dangerous_ones() {
    let env = Env::new();
    let repo = env.init("m");
    let r = env.hfgit(&repo, &["add", &fixture("mlp_f32.pt")]).ok();
    assert!(r.stderr.contains("scanned pytorch_model.bin: 3 imports, all safe"), "{}", r.stderr);
    let r = env.hfgit(&repo, &["add", &fixture("evil_popen.pt"), "--as", "extra/hook.bin"]).ok();
    assert!(r.stderr.contains("extra/hook.bin would run code when loaded: subprocess.Popen"), "{}", r.stderr);
    let r = env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    assert!(r.stderr.contains("extra/hook.bin would run code") && r.stderr.contains("--allow-unsafe-pickle"), "{}", r.stderr);
    // the push is refused before the remote is even created
    let remote = env.path("remote.git");
    let r = env.hfgit(&repo, &["push", remote.to_str().unwrap(), "--create"]).fails();
    assert!(r.stderr.contains("extra/hook.bin imports subprocess.Popen"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:") && r.stderr.contains("--allow-unsafe-pickle"), "{}", r.stderr);
    assert!(!remote.exists(), "the remote was created for a refused push");
    // with an existing remote the branch is not moved either
    env.git(env.dir.path(), &["init", "--bare", "-q", remote.to_str().unwrap()]).ok();
    env.hfgit(&repo, &["push", remote.to_str().unwrap()]).fails();
    assert!(env.git(&remote, &["rev-parse", "--verify", "-q", "refs/heads/main"]).code != 0);
    assert!(!remote.join("lfs/objects").exists(), "LFS objects were sent for a refused push");
    // allowed explicitly: pushed, with the warning
    let r = env.hfgit(&repo, &["push", remote.to_str().unwrap(), "--allow-unsafe-pickle"]).ok();
    assert!(r.stderr.contains("extra/hook.bin would run code"), "{}", r.stderr);
    let head = env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout;
    assert_eq!(env.git(&remote, &["rev-parse", "main"]).ok().stdout, head);
}

#[test]
fn push_scans_plain_pickle_blobs_too() {
    let env = Env::new();
    let repo = env.init("m");
    // no LFS rule for *.pkl: the pickle is committed as a plain blob
    fs::write(repo.join(".gitattributes"), "").unwrap();
    fs::copy(fixture("evil_exec_p4.pkl"), repo.join("state.pkl")).unwrap();
    env.hfgit(&repo, &["commit", "-m", "plain pickle"]).ok();
    let blob = env.git(&repo, &["cat-file", "-p", "HEAD:state.pkl"]).ok().stdout;
    assert!(!blob.starts_with("version https://git-lfs"), "expected a plain blob");
    let remote = env.path("r.git");
    let r = env.hfgit(&repo, &["push", remote.to_str().unwrap(), "--create"]).fails();
    assert!(r.stderr.contains("state.pkl imports builtins.exec"), "{}", r.stderr);
}

/// Loads a safetensors file with the Python package; prints name, dtype, shape, sha256 of the
/// C-order bytes per tensor, and the metadata, as JSON.
const PY_LOAD: &str = r#"
import hashlib, json, sys
import numpy
import safetensors, safetensors.numpy
path = sys.argv[1]
out = {}
try:
    arrays = safetensors.numpy.load_file(path)
    kinds = {"float32": "F32", "float64": "F64", "float16": "F16", "int64": "I64", "int32": "I32",
             "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
    for k, a in arrays.items():
        out[k] = {"dtype": kinds[str(a.dtype)], "shape": list(a.shape),
                  "sha256": hashlib.sha256(numpy.ascontiguousarray(a).tobytes()).hexdigest()}
    how = "numpy"
except Exception as e:  # numpy has no bfloat16: use the package's own deserializer
    if "bfloat16" not in str(e).lower() and "bf16" not in str(e).lower():
        raise
    for k, t in safetensors.deserialize(open(path, "rb").read()):
        out[k] = {"dtype": t["dtype"].upper().replace("BFLOAT16", "BF16"), "shape": list(t["shape"]),
                  "sha256": hashlib.sha256(bytes(t["data"])).hexdigest()}
    how = "deserialize"
with safetensors.safe_open(path, "np") as f:
    meta = f.metadata()
print(json.dumps({"tensors": out, "metadata": meta, "how": how}))
"#;

fn python_load(env: &Env, path: &Path) -> Value {
    let o = env.command(&python(), env.dir.path()).args(["-c", PY_LOAD, path.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "python safetensors failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn add_safetensors_converts_checkpoints_that_the_python_package_loads_unchanged() {
    let env = Env::new();
    let repo = env.init("m");
    for (fixture_name, dest, how) in [
        ("mlp_f32.pt", "model.safetensors", "numpy"),
        ("views_p4.pt", "views.safetensors", "numpy"),
        ("mlp_legacy.pt", "legacy.safetensors", "numpy"),
        ("mlp_bf16.pt", "bf16.safetensors", "deserialize"),
    ] {
        let mut args = vec!["add", "--safetensors"];
        let src = fixture(fixture_name);
        args.push(&src);
        if dest != "model.safetensors" {
            args.extend(["--as", dest]);
        }
        let r = env.hfgit(&repo, &args).ok();
        assert!(r.stderr.contains(&format!("to {dest}")), "{}", r.stderr);
        let path = repo.join(dest);
        let loaded = python_load(&env, &path);
        assert_eq!(loaded["how"], how, "{fixture_name}");
        assert_eq!(loaded["metadata"], serde_json::json!({"format": "pt"}), "{fixture_name}");
        let want = reference(fixture_name);
        assert_eq!(loaded["tensors"].as_object().unwrap(), &want, "{fixture_name}: every tensor equal to PyTorch's");
        // the header: data_offsets tile the buffer exactly, data 8-byte aligned, writer order
        let bytes = fs::read(&path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + n) % 8, 0);
        let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let mut spans: Vec<(u64, u64)> = header
            .iter()
            .filter(|(k, _)| *k != "__metadata__")
            .map(|(_, v)| (v["data_offsets"][0].as_u64().unwrap(), v["data_offsets"][1].as_u64().unwrap()))
            .collect();
        let in_header_order = spans.clone();
        spans.sort();
        assert_eq!(spans, in_header_order, "tensors are written in header order");
        let mut at = 0;
        for (b, e) in spans {
            assert_eq!(b, at);
            at = e;
        }
        assert_eq!(8 + n as u64 + at, bytes.len() as u64, "{fixture_name}: data covered exactly");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode_bits() & 0o777, 0o644);
    }
    // the result is committed as LFS like any weights file, and no pickle was brought in
    env.hfgit(&repo, &["commit", "-m", "safetensors"]).ok();
    let files = env.git(&repo, &["ls-files"]).ok().stdout;
    assert!(!files.contains("pytorch_model.bin"), "{files}");
    let blob = env.git(&repo, &["cat-file", "-p", "HEAD:model.safetensors"]).ok().stdout;
    assert!(blob.starts_with("version https://git-lfs.github.com/spec/v1\n"), "{blob}");
}

trait ModeBits {
    fn mode_bits(&self) -> u32;
}
impl ModeBits for fs::Permissions {
    fn mode_bits(&self) -> u32 {
        std::os::unix::fs::PermissionsExt::mode(self)
    }
}

#[test]
fn add_safetensors_refuses_what_it_cannot_convert_and_changes_nothing() {
    let env = Env::new();
    let repo = env.init("m");
    let before = snapshot(&repo);
    let evil = fixture("evil_os_system.pt");
    let r = env.hfgit(&repo, &["add", "--safetensors", &evil]).fails();
    assert!(r.stderr.contains("posix.system") && r.stderr.contains("weights-only"), "{}", r.stderr);
    let junk = env.path("junk.pt");
    fs::write(&junk, b"not a checkpoint at all").unwrap();
    let r = env.hfgit(&repo, &["add", "--safetensors", junk.to_str().unwrap()]).fails();
    assert!(r.stderr.contains("not a PyTorch checkpoint"), "{}", r.stderr);
    let st = fixture("mlp_f32.safetensors");
    let r = env.hfgit(&repo, &["add", "--safetensors", &st]).fails();
    assert!(r.stderr.contains("already safetensors"), "{}", r.stderr);
    // a good file and a bad one together: nothing is written
    let good = fixture("mlp_f32.pt");
    env.hfgit(&repo, &["add", "--safetensors", &good, junk.to_str().unwrap()]).fails();
    assert_eq!(snapshot(&repo), before);
}

fn tensor<'a>(changes: &'a Value, name: &str) -> &'a Value {
    changes.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name} in {changes}"))
}

#[test]
fn diff_shows_config_keys_and_tensor_changes_and_log_stat_summarises_them() {
    let env = Env::new();
    let repo = env.init("m");
    env.hfgit(&repo, &["add", &fixture("mlp_f32.pt"), "--set", "lr=0.1", "--set", "optimizer.name=sgd", "--set", "dropout=0.5"]).ok();
    env.hfgit(&repo, &["commit", "-m", "base"]).ok();
    fs::copy(fixture("mlp_f32_step.pt"), repo.join("pytorch_model.bin")).unwrap();
    env.hfgit(&repo, &["add", "--set", "lr=0.05", "--set", "optimizer.momentum=0.9"]).ok();
    let mut cfg: serde_json::Map<String, Value> = serde_json::from_slice(&fs::read(repo.join("config.json")).unwrap()).unwrap();
    cfg.remove("dropout");
    fs::write(repo.join("config.json"), serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    fs::write(repo.join("notes.txt"), "hello\n").unwrap();

    let check = |j: &Value| {
        let files = j["files"].as_array().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(names, ["config.json", "notes.txt", "pytorch_model.bin"]);
        let c = &files[0]["config"];
        assert_eq!(c["added"], serde_json::json!({"optimizer.momentum": 0.9}));
        assert_eq!(c["removed"], serde_json::json!({"dropout": 0.5}));
        assert_eq!(c["changed"], serde_json::json!([{"key": "lr", "old": 0.1, "new": 0.05}]));
        assert_eq!(files[1]["status"], "added");
        let t = &files[2]["tensors"];
        assert_eq!(t["unchanged"], 1, "fc1.bias is unchanged");
        let fc1 = tensor(&t["changes"], "fc1.weight");
        assert_eq!(fc1["change"], "changed");
        assert_eq!(fc1["changed_values"], 6);
        assert_eq!(fc1["numel"], 100352);
        assert!((fc1["max_abs_diff"].as_f64().unwrap() - 1.5).abs() < 1e-6, "{fc1}");
        let fc2b = tensor(&t["changes"], "fc2.bias");
        assert_eq!(fc2b["changed_values"], 10);
        assert!((fc2b["max_abs_diff"].as_f64().unwrap() - 0.01).abs() < 1e-6, "{fc2b}");
        let fc2w = tensor(&t["changes"], "fc2.weight");
        assert_eq!(
            (&fc2w["change"], &fc2w["old_dtype"], &fc2w["new_dtype"]),
            (&Value::from("retyped"), &Value::from("F32"), &Value::from("F16"))
        );
        let fc3 = tensor(&t["changes"], "fc3.bias");
        assert_eq!((&fc3["change"], &fc3["new_shape"]), (&Value::from("added"), &serde_json::json!([4])));
        assert_eq!(t["changes"].as_array().unwrap().len(), 4);
    };
    // HEAD against the work tree
    check(&env.hfgit(&repo, &["diff", "--json"]).ok().json());
    let text = env.hfgit(&repo, &["diff"]).ok().stdout;
    assert!(text.contains("pytorch_model.bin (modified): 2 changed, 1 added, 1 retyped, 1 unchanged tensors, max |Δ| 1.5"), "{text}");
    assert!(text.contains("  ~ fc1.weight  F32 [128, 784]  6 of 100352 values changed, max |Δ| 1.5"), "{text}");
    assert!(text.contains("  ~ lr: 0.1 -> 0.05"), "{text}");
    assert!(text.contains("notes.txt (added)"), "{text}");
    // two commits
    env.hfgit(&repo, &["commit", "-m", "step"]).ok();
    check(&env.hfgit(&repo, &["diff", "HEAD~1", "HEAD", "--json"]).ok().json());
    assert_eq!(env.hfgit(&repo, &["diff", "--json"]).ok().json()["files"], serde_json::json!([]));
    let log = env.hfgit(&repo, &["log", "--stat"]).ok().stdout;
    assert!(log.contains("    pytorch_model.bin (modified): 2 changed, 1 added, 1 retyped, 1 unchanged tensors, max |Δ| 1.5\n"), "{log}");
    assert!(log.contains("    config.json (modified): 1 added, 1 removed, 1 changed keys\n"), "{log}");
    assert!(log.contains("    pytorch_model.bin (added): 4 added, 0 unchanged tensors\n"), "{log}");
    assert!(!log.contains("notes.txt ("), "log --stat lists only weights and config: {log}");
    let j = env.hfgit(&repo, &["log", "--stat", "--json", "-n", "1"]).ok().json();
    assert_eq!(tensor(&j[0]["stat"][1]["tensors"]["changes"], "fc1.weight")["changed_values"], 6);
    // a bad revision is a usage error, not a panic
    let r = env.hfgit(&repo, &["diff", "nope"]).fails();
    assert!(r.stderr.contains("unknown revision `nope`"), "{}", r.stderr);
}

#[test]
fn diff_without_local_content_says_how_to_get_it() {
    let env = Env::new();
    let repo = env.init("m");
    env.hfgit(&repo, &["add", &fixture("mlp_f32.pt")]).ok();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    fs::copy(fixture("mlp_f32_step.pt"), repo.join("pytorch_model.bin")).unwrap();
    env.hfgit(&repo, &["commit", "-m", "two"]).ok();
    let remote = env.path("r.git");
    env.hfgit(&repo, &["push", remote.to_str().unwrap(), "--create"]).ok();
    env.hfgit(env.dir.path(), &["clone", remote.to_str().unwrap(), "c", "--no-lfs"]).ok();
    let c = env.path("c");
    let j = env.hfgit(&c, &["diff", "HEAD~1", "HEAD", "--json"]).ok().json();
    let note = j["files"][0]["note"].as_str().unwrap();
    let fetch_old = "hfgit fetch origin 'HEAD~1' --include 'pytorch_model.bin'";
    let fetch_head = "hfgit fetch --include 'pytorch_model.bin'";
    assert!(note.contains("not in the local store") && (note.contains(fetch_old) || note.contains(fetch_head)), "{note}");
    // following the hint, for both revisions, makes the diff a tensor diff
    env.hfgit(&c, &["fetch", "--include", "pytorch_model.bin"]).ok();
    env.hfgit(&c, &["fetch", "origin", "HEAD~1", "--include", "pytorch_model.bin"]).ok();
    let j = env.hfgit(&c, &["diff", "HEAD~1", "HEAD", "--json"]).ok().json();
    assert!(j["files"][0]["note"].is_null(), "{j}");
    assert!(!j["files"][0]["tensors"]["changes"].as_array().unwrap().is_empty(), "{j}");
}

#[test]
fn raw_weights_named_bin_are_not_mistaken_for_pickles() {
    // 1 in 256 random .bin files starts with the PROTO byte 0x80; none of them is a pickle
    let env = Env::new();
    let repo = env.init("m");
    let mut raw = vec![0x80u8, 0xba];
    raw.extend(data(7, 1 << 20));
    fs::write(repo.join("shard-070.bin"), &raw).unwrap();
    let mut raw2 = vec![0x80u8, 0x02, 0xff];
    raw2.extend(data(8, 4096));
    fs::write(repo.join("shard-071.bin"), &raw2).unwrap();
    let r = env.hfgit(&repo, &["commit", "-m", "raw"]).ok();
    assert!(!r.stderr.contains("shard-07"), "{}", r.stderr);
    let remote = env.path("r.git");
    let r = env.hfgit(&repo, &["push", remote.to_str().unwrap(), "--create"]).ok();
    assert!(!r.stderr.contains("pickle"), "{}", r.stderr);
    let r = env.hfgit(&repo, &["scan"]).ok();
    assert_eq!(r.stdout, "shard-070.bin: no pickle\nshard-071.bin: no pickle\n");
    // every possible first byte, followed by random data: nothing is dangerous
    let dir = env.path("random");
    fs::create_dir(&dir).unwrap();
    for b in 0..=255u8 {
        let mut d = data(1000 + b as u64, 4096);
        d[0] = b;
        fs::write(dir.join(format!("r{b:03}.bin")), d).unwrap();
    }
    let j = env.hfgit(env.dir.path(), &["scan", "--json", dir.to_str().unwrap()]).ok().json();
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 256);
    for f in files {
        assert_ne!(f["verdict"], "dangerous", "{f}");
    }
}

#[test]
fn conversion_and_diff_show_progress_on_a_terminal_only() {
    let env = Env::new();
    let repo = env.init("m");
    let src = fixture("mlp_f32.pt");
    let piped = env.hfgit(&repo, &["add", "--safetensors", &src, "--as", "a.safetensors"]).ok();
    assert!(!piped.stderr.contains("Converting") && !piped.stderr.contains('\r'), "{}", piped.stderr);
    // `script` gives hfgit a pseudo-terminal
    let cmd = format!("{} add --safetensors {src} --as b.safetensors", env!("CARGO_BIN_EXE_hfgit"));
    let out = env.command("script", &repo).args(["-qec", &cmd, "/dev/null"]).output().expect("script (util-linux) is required");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Converting [") && text.contains("397.54 KiB"), "no progress on a terminal: {text:?}");
    env.hfgit(&repo, &["add", &fixture("mlp_f32.pt")]).ok();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    fs::copy(fixture("mlp_f32_step.pt"), repo.join("pytorch_model.bin")).unwrap();
    let cmd = format!("{} diff", env!("CARGO_BIN_EXE_hfgit"));
    let out = env.command("script", &repo).args(["-qec", &cmd, "/dev/null"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Comparing pytorch_model.bin ["), "no progress for the diff: {text:?}");
    let piped = env.hfgit(&repo, &["diff"]).ok();
    assert!(!piped.stderr.contains("Comparing"), "{}", piped.stderr);
}

#[test]
fn add_and_commit_scan_a_pickle_by_its_content_whatever_its_name() {
    let env = Env::new();
    let repo = env.init("m");
    // a protocol-4 pickle that runs code, under a name no extension rule would pick
    fs::copy(fixture("evil_exec_p4.pkl"), env.path("notes.txt")).unwrap();
    let r = env.hfgit(&repo, &["add", "../notes.txt", "--as", "notes.txt"]).ok();
    assert!(r.stderr.contains("notes.txt would run code"), "add did not scan by content: {}", r.stderr);
    let r = env.hfgit(&repo, &["commit", "-m", "disguised"]).ok();
    assert!(r.stderr.contains("notes.txt would run code") && r.stderr.contains("--allow-unsafe-pickle"), "{}", r.stderr);
}
