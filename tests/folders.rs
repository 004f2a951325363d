//! Bringing a model in the way people have one (issue 15): a `save_pretrained` folder, a Hugging
//! Face cache snapshot, a Trainer checkpoint, sharded checkpoints, and files the Hub refuses
//! outside LFS. safetensors files are written and loaded with the Python `safetensors` package
//! (HFGIT_TEST_PYTHON, scripts/test.sh); checkpoints are PyTorch's (fixtures/make_fixtures.py).

mod common;
use common::lfs_server::{LfsServer, HF_TOKEN};
use common::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name).to_str().unwrap().to_string()
}

fn python() -> String {
    std::env::var("HFGIT_TEST_PYTHON").expect("HFGIT_TEST_PYTHON is not set: run the tests with scripts/test.sh")
}

/// Runs a Python snippet (with `sys.argv[1:]` = `args`) and returns its stdout.
fn py(code: &str, args: &[&str]) -> String {
    let o = Command::new(python()).arg("-c").arg(code).args(args).output().unwrap();
    assert!(o.status.success(), "python failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The files under `dir` (relative, sorted), `.git` left out.
fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// A folder shaped like what `save_pretrained` writes, with the safetensors file made by the
/// `safetensors` package, plus what must never be copied (a `.git`, the Hub client's cache).
fn save_pretrained_folder(env: &Env, name: &str) -> std::path::PathBuf {
    let dir = env.path(name);
    fs::create_dir_all(&dir).unwrap();
    py(
        "import sys, numpy as np\nfrom safetensors.numpy import save_file\n\
         save_file({'embed.weight': np.arange(12, dtype=np.float32).reshape(3, 4), 'head.bias': np.array([1, -2], dtype=np.int64)}, sys.argv[1], metadata={'format': 'pt'})",
        &[dir.join("model.safetensors").to_str().unwrap()],
    );
    fs::write(dir.join("config.json"), "{\"model_type\": \"mlp\", \"hidden_size\": 4}\n").unwrap();
    fs::write(dir.join("generation_config.json"), "{\"max_length\": 20}\n").unwrap();
    fs::write(dir.join("tokenizer.json"), "{\"version\": \"1.0\"}\n").unwrap();
    fs::write(dir.join("README.md"), "---\nlicense: mit\n---\n# my model\n").unwrap();
    fs::create_dir_all(dir.join(".git/objects")).unwrap();
    fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::create_dir_all(dir.join(".cache/huggingface/upload")).unwrap();
    fs::write(dir.join(".cache/huggingface/upload/model.safetensors.metadata"), "x\n").unwrap();
    dir
}

#[test]
fn a_save_pretrained_folder_lands_at_the_root_and_loads_by_name() {
    let env = Env::new();
    let repo = env.init("m");
    let dir = save_pretrained_folder(&env, "my_model");
    fs::create_dir_all(dir.join("sub/.hg")).unwrap();
    fs::write(dir.join("sub/.hg/store"), "hg\n").unwrap();
    fs::write(dir.join("sub/notes.txt"), "n\n").unwrap();
    symlink("README.md", dir.join("card.md")).unwrap(); // a link inside the folder stays a link

    let r = env.hfgit(&repo, &["add", "../my_model"]).ok();
    assert!(r.stderr.contains("as model.safetensors"), "{}", r.stderr);
    let mut want = vec![
        ".gitattributes",
        "README.md",
        "card.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "sub/notes.txt",
        "tokenizer.json",
    ];
    assert_eq!(files(&repo), want);
    // the folder's README replaced the one `init` wrote, as upload_folder would
    assert_eq!(fs::read_to_string(repo.join("README.md")).unwrap(), "---\nlicense: mit\n---\n# my model\n");
    assert_eq!(fs::read_link(repo.join("card.md")).unwrap(), Path::new("README.md"));
    assert_eq!(fs::read(repo.join("model.safetensors")).unwrap(), fs::read(dir.join("model.safetensors")).unwrap());
    let loaded = py(
        "import sys\nfrom safetensors.numpy import load_file\nt = load_file(sys.argv[1])\n\
         print(sorted(t), t['embed.weight'].tolist()[2], t['head.bias'].tolist())",
        &[repo.join("model.safetensors").to_str().unwrap()],
    );
    assert_eq!(loaded.trim(), "['embed.weight', 'head.bias'] [8.0, 9.0, 10.0, 11.0] [1, -2]");

    // --set edits the folder's config.json as it comes in
    let r = env.hfgit(&repo, &["add", "../my_model", "--include", "config.json", "--set", "hidden_size=6"]).ok();
    assert!(r.stderr.contains("wrote config.json"), "{}", r.stderr);
    let cfg: serde_json::Value = serde_json::from_slice(&fs::read(repo.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg, serde_json::json!({"model_type": "mlp", "hidden_size": 6}));
    assert_eq!(fs::read_to_string(dir.join("config.json")).unwrap(), "{\"model_type\": \"mlp\", \"hidden_size\": 4}\n");

    // --as SUBDIR, with --include / --exclude (relative to the folder, `*` crossing `/`)
    env.hfgit(&repo, &["add", "../my_model", "--as", "copy", "--include", "*.json", "--include", "sub/", "--exclude", "tok*"]).ok();
    let copy: Vec<String> = files(&repo).into_iter().filter_map(|f| f.strip_prefix("copy/").map(str::to_string)).collect();
    assert_eq!(copy, ["config.json", "generation_config.json", "sub/notes.txt"]);
    // `--as .` is the root
    fs::write(dir.join("config.json"), "{\"model_type\": \"mlp\", \"hidden_size\": 8}\n").unwrap();
    env.hfgit(&repo, &["add", "../my_model", "--as", ".", "--include", "config.json"]).ok();
    assert!(fs::read_to_string(repo.join("config.json")).unwrap().contains("8"));

    // --delete: repository files matching the glob that the folder no longer has
    env.hfgit(&repo, &["commit", "-m", "v1"]).ok();
    fs::remove_file(dir.join("tokenizer.json")).unwrap();
    fs::write(repo.join("local.txt"), "mine\n").unwrap();
    fs::write(repo.join(".gitignore"), "*.log\n").unwrap();
    fs::write(repo.join("train.log"), "ignored\n").unwrap();
    let r = env.hfgit(&repo, &["add", "../my_model", "--delete", "*.json"]).ok();
    assert!(r.stderr.contains("deleted tokenizer.json") && r.stderr.contains("deleted copy/config.json"), "{}", r.stderr);
    assert!(!repo.join("tokenizer.json").exists() && repo.join("local.txt").exists() && repo.join("config.json").exists());
    // everything the folder lacks goes (local.txt, .gitignore, copy/), but never .gitattributes
    // nor an ignored file (not the repository's)
    env.hfgit(&repo, &["add", "../my_model", "--delete", "*"]).ok();
    want.retain(|f| *f != "tokenizer.json");
    want.push("train.log");
    want.sort();
    assert_eq!(files(&repo), want);
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    let deleted: Vec<&str> =
        st["changes"].as_array().unwrap().iter().filter(|c| c["status"] == "deleted").map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(deleted, ["copy/config.json", "copy/generation_config.json", "copy/sub/notes.txt", "tokenizer.json"]);

    // globs without a folder, and bad globs, change nothing
    let before = snapshot(&repo);
    let r = env.hfgit(&repo, &["add", "../my_model/config.json", "--include", "*.json"]).fails();
    assert!(r.stderr.contains("--include") && r.stderr.contains("DIR"), "{}", r.stderr);
    let r = env.hfgit(&repo, &["add", "../my_model", "--exclude", "a[b"]).fails();
    assert!(r.stderr.contains("invalid --exclude pattern `a[b`"), "{}", r.stderr);
    // a name git refuses (`.GIT` is `.git` on a case-insensitive disk) stops the whole add first
    let hostile = env.path("hostile");
    fs::create_dir_all(hostile.join(".GIT/hooks")).unwrap();
    fs::write(hostile.join("a.txt"), "a\n").unwrap();
    fs::write(hostile.join(".GIT/hooks/post-checkout"), "#!/bin/sh\n").unwrap();
    let r = env.hfgit(&repo, &["add", "../hostile"]).fails();
    assert!(r.stderr.contains(".GIT/hooks/post-checkout") && r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
}

/// A cache laid out as huggingface_hub does: `blobs/<hash>` and `snapshots/<rev>/<name>`
/// symlinks into it (relative, `../../blobs/<hash>`).
#[test]
fn a_hub_cache_snapshot_is_stored_by_link_name_with_the_blobs_content() {
    let env = Env::new();
    let repo = env.init("m");
    let cache = env.path("hub/models--alice--mlp");
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let snap = cache.join("snapshots").join(rev);
    fs::create_dir_all(cache.join("blobs")).unwrap();
    fs::create_dir_all(snap.join("tok")).unwrap();
    let weights = fs::read(fixture("mlp_f32.safetensors")).unwrap();
    let contents: Vec<(&str, Vec<u8>)> =
        vec![("config.json", b"{\"hidden_size\": 128}\n".to_vec()), ("model.safetensors", weights), ("tok/vocab.txt", b"a\nb\n".to_vec())];
    for (name, content) in &contents {
        let hash = sha256_hex(content);
        fs::write(cache.join("blobs").join(&hash), content).unwrap();
        let up = "../".repeat(name.matches('/').count() + 2);
        symlink(format!("{up}blobs/{hash}"), snap.join(name)).unwrap();
    }
    // `hfgit add snapshots/REV/*`, as the shell expands it
    let mut args = vec!["add".to_string()];
    for n in ["config.json", "model.safetensors"] {
        args.push(snap.join(n).to_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.hfgit(&repo, &args).ok();
    for (name, content) in &contents[..2] {
        let meta = fs::symlink_metadata(repo.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is not a regular file");
        assert_eq!(&fs::read(repo.join(name)).unwrap(), content, "{name}");
    }
    // the snapshot folder itself: its links into blobs/ are content, not dangling links
    env.hfgit(&repo, &["add", snap.to_str().unwrap(), "--as", "snap"]).ok();
    for (name, content) in &contents {
        let p = repo.join("snap").join(name);
        assert!(fs::symlink_metadata(&p).unwrap().is_file(), "{name} is not a regular file");
        assert_eq!(&fs::read(&p).unwrap(), content, "{name}");
    }
    assert!(!files(&repo).iter().any(|f| f.len() == 64 || f.contains("blobs")), "{:?}", files(&repo));
    // a link in a snapshot that leaves blobs/ is not followed: it stays a link
    symlink("/etc/passwd", snap.join("escape")).unwrap();
    env.hfgit(&repo, &["add", snap.to_str().unwrap(), "--as", "snap2"]).ok();
    assert_eq!(fs::read_link(repo.join("snap2/escape")).unwrap(), Path::new("/etc/passwd"));
    let out = env.hfgit(&repo, &["commit", "-m", "snapshot", "--json"]).ok().json();
    assert!(out["changes"].as_array().unwrap().iter().any(|c| c["path"] == "snap/model.safetensors"));
}

#[test]
fn a_trainer_checkpoint_keeps_its_names_and_a_lone_state_dict_is_renamed() {
    let env = Env::new();
    let repo = env.init("m");
    let ckpt = env.path("checkpoint-500");
    fs::create_dir_all(&ckpt).unwrap();
    let model = fs::read(fixture("mlp_f32.pt")).unwrap();
    fs::write(ckpt.join("pytorch_model.bin"), &model).unwrap();
    // what the Trainer saves besides the model, made by PyTorch (fixtures/trainer/)
    for name in ["optimizer.pt", "scheduler.pt", "rng_state.pth"] {
        fs::copy(fixture(&format!("trainer/{name}")), ckpt.join(name)).unwrap();
    }
    let optimizer = fs::read(fixture("trainer/optimizer.pt")).unwrap();
    fs::write(ckpt.join("trainer_state.json"), "{\"global_step\": 500}\n").unwrap();
    fs::write(ckpt.join("training_args.bin"), data(4, 500)).unwrap();
    // `hfgit add checkpoint-500/*`
    let mut names: Vec<String> = fs::read_dir(&ckpt).unwrap().map(|e| e.unwrap().path().to_str().unwrap().to_string()).collect();
    names.sort();
    let mut args = vec!["add"];
    args.extend(names.iter().map(String::as_str));
    let r = env.hfgit(&repo, &args).ok();
    for name in ["optimizer.pt", "scheduler.pt", "rng_state.pth"] {
        assert!(r.stderr.contains(&format!("kept the name {name} (not renamed pytorch_model.bin: not a model state dict")), "{}", r.stderr);
    }
    let want = ["optimizer.pt", "pytorch_model.bin", "rng_state.pth", "scheduler.pt", "trainer_state.json", "training_args.bin"];
    assert_eq!(files(&repo), [&[".gitattributes", "README.md"][..], &want].concat());
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), model, "the model weights were replaced");
    assert_eq!(fs::read(repo.join("optimizer.pt")).unwrap(), optimizer);

    // a lone model state dict still becomes pytorch_model.bin; with another weights file it does not
    let repo2 = env.init("m2");
    fs::copy(fixture("mlp_f32.pt"), env.path("model.pt")).unwrap();
    env.hfgit(&repo2, &["add", "../model.pt"]).ok();
    assert_eq!(fs::read(repo2.join("pytorch_model.bin")).unwrap(), model);
    let repo3 = env.init("m3");
    fs::copy(fixture("mlp_f32_step.pt"), env.path("ema.pt")).unwrap();
    let r = env.hfgit(&repo3, &["add", "../model.pt", "../ema.pt"]).ok();
    assert!(r.stderr.contains("kept the name model.pt") && r.stderr.contains("other weights files"), "{}", r.stderr);
    assert!(repo3.join("model.pt").exists() && repo3.join("ema.pt").exists() && !repo3.join("pytorch_model.bin").exists());

    // a rename that would replace a different pytorch_model.bin stops, changing nothing
    let before = snapshot(&repo2);
    let r = env.hfgit(&repo2, &["add", "../ema.pt"]).fails();
    assert!(
        r.stderr.contains("different pytorch_model.bin") && r.stderr.contains("--as ema.pt") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&repo2), before);
    // the same content again is no conflict; --force replaces; --as keeps both
    env.hfgit(&repo2, &["add", "../model.pt"]).ok();
    env.hfgit(&repo2, &["add", "../ema.pt", "--as", "ema.pt"]).ok();
    assert_eq!(fs::read(repo2.join("pytorch_model.bin")).unwrap(), model);
    env.hfgit(&repo2, &["add", "../ema.pt", "--force"]).ok();
    assert_eq!(fs::read(repo2.join("pytorch_model.bin")).unwrap(), fs::read(fixture("mlp_f32_step.pt")).unwrap());
}

#[test]
fn config_from_a_file_reports_the_keys_it_overrides_and_set_wins() {
    let env = Env::new();
    let repo = env.init("m");
    env.hfgit(&repo, &["add", "--set", "lr=0.1", "--set", "opt.name=adam", "--set", "keep=1"]).ok();
    fs::write(env.path("cfg.json"), r#"{"lr": 0.2, "opt": {"name": "sgd", "beta": 0.9}, "epochs": 3}"#).unwrap();
    let r = env.hfgit(&repo, &["add", "--config", "../cfg.json", "--set", "epochs=5"]).ok();
    assert!(r.stderr.contains("--config changes lr from 0.1 to 0.2"), "{}", r.stderr);
    assert!(r.stderr.contains("--config changes opt.name from \"adam\" to \"sgd\""), "{}", r.stderr);
    assert!(r.stderr.contains("epochs is 5 from --set (--set wins over --config's 3)"), "{}", r.stderr);
    assert!(!r.stderr.contains("keep"), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&fs::read(repo.join("config.json")).unwrap()).unwrap();
    assert_eq!(v, serde_json::json!({"lr": 0.2, "opt": {"name": "sgd", "beta": 0.9}, "keep": 1, "epochs": 5}));
}

#[test]
fn files_the_hub_refuses_outside_lfs_go_to_lfs_at_commit_and_the_hub_accepts_the_push() {
    let env = Env::new();
    let server = LfsServer::start();
    let repo = env.init("m");
    let gguf = data(15, 2 * 1024 * 1024); // binary, no rule matches *.gguf
    let mut text = Vec::new();
    while text.len() < 11 * 1024 * 1024 {
        text.extend_from_slice(b"{\"token\": \"abc\"},\n");
    }
    let small_binary = data(16, 1024 * 1024); // exactly 1 MiB: the Hub takes it as a plain file
    fs::write(repo.join("model.gguf"), &gguf).unwrap();
    fs::write(repo.join("tokenizer.json"), &text).unwrap();
    fs::write(repo.join("small.dat"), &small_binary).unwrap();
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert!(st["changes"].as_array().unwrap().iter().any(|c| c["path"] == "model.gguf"), "{st}");
    let r = env.hfgit(&repo, &["commit", "-m", "gguf", "--json"]).ok();
    let out = r.json();
    assert_eq!(out["rules_added"], serde_json::json!(["model.gguf", "tokenizer.json"]));
    assert_eq!(out["binary_rules_added"], serde_json::json!(["model.gguf"]));
    assert!(r.stderr.contains("model.gguf is a binary file over 1 MiB, which the Hub refuses outside LFS"), "{}", r.stderr);
    let attrs = fs::read_to_string(repo.join(".gitattributes")).unwrap();
    assert!(
        attrs.ends_with("/model.gguf filter=lfs diff=lfs merge=lfs -text\n/tokenizer.json filter=lfs diff=lfs merge=lfs -text\n"),
        "{attrs}"
    );
    for (path, content) in [("model.gguf", &gguf), ("tokenizer.json", &text)] {
        assert_eq!(env.git(&repo, &["show", &format!("HEAD:{path}")]).ok().stdout, pointer_text(content), "{path}");
    }
    assert_eq!(env.git(&repo, &["cat-file", "-s", "HEAD:small.dat"]).ok().stdout.trim(), (1024 * 1024).to_string());
    assert_eq!(env.hfgit(&repo, &["status", "--json"]).ok().json()["changes"], serde_json::json!([]));

    // the Hub test server (its pre-receive hook has the Hub's rules) takes the push
    let mut c = env.hfgit_cmd(&repo, &["push", "alice/gguf-hub", "--create"]);
    c.env("HF_ENDPOINT", &server.url).env("HF_TOKEN", HF_TOKEN);
    let o = c.output().unwrap();
    assert!(o.status.success(), "push failed: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(server.get("alice~gguf-hub.git", &sha256_hex(&gguf)).as_deref(), Some(&gguf[..]));
    assert_eq!(server.get("alice~gguf-hub.git", &sha256_hex(&text)).as_deref(), Some(&text[..]));

    // a binary committed plain before (by plain git) and unchanged is left as it is, even
    // when its stat data moved; changed, it goes to LFS
    let repo2 = env.init("m2");
    let legacy = data(17, 1_500_000);
    fs::write(repo2.join("legacy.dat"), &legacy).unwrap();
    env.git(&repo2, &["add", "-A"]).ok();
    env.git(&repo2, &["commit", "-qm", "by plain git"]).ok();
    env.command("touch", &repo2).args(["-d", "@1600000000", "legacy.dat"]).status().unwrap();
    assert_eq!(env.hfgit(&repo2, &["status", "--json"]).ok().json()["changes"], serde_json::json!([]));
    let mut changed = legacy.clone();
    changed[0] ^= 1;
    fs::write(repo2.join("legacy.dat"), &changed).unwrap();
    let out = env.hfgit(&repo2, &["commit", "-m", "changed", "--json"]).ok().json();
    assert_eq!(out["binary_rules_added"], serde_json::json!(["legacy.dat"]));
    assert_eq!(env.git(&repo2, &["show", "HEAD:legacy.dat"]).ok().stdout, pointer_text(&changed));
}

fn reference(name: &str) -> serde_json::Value {
    let r: serde_json::Value = serde_json::from_slice(&fs::read(fixture("reference.json")).unwrap()).unwrap();
    r["files"][name].clone()
}

/// Loads safetensors files with the `safetensors` package: per file, its metadata and each
/// tensor's dtype, shape and SHA-256 of its C-order bytes (as reference.json holds them).
fn load_safetensors(paths: &[&Path]) -> serde_json::Value {
    let code = "import sys, json, hashlib\nfrom safetensors import safe_open\nfrom safetensors.numpy import load_file\n\
        out = {}\nfor p in sys.argv[1:]:\n    with safe_open(p, 'np') as f: meta = f.metadata()\n\
        \x20   t = load_file(p)\n\
        \x20   out[p] = {'metadata': meta, 'tensors': {k: {'shape': list(v.shape), 'sha256': hashlib.sha256(v.tobytes()).hexdigest()} for k, v in t.items()}}\n\
        print(json.dumps(out))";
    let args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    serde_json::from_str(&py(code, &args)).unwrap()
}

#[test]
fn a_sharded_checkpoint_converts_to_sharded_safetensors_that_load_tensor_for_tensor() {
    let env = Env::new();
    let repo = env.init("m");
    let r = env.hfgit(&repo, &["add", &fixture("sharded"), "--safetensors"]).ok();
    assert!(r.stderr.contains("wrote model.safetensors.index.json"), "{}", r.stderr);
    let index: serde_json::Value = serde_json::from_slice(&fs::read(repo.join("model.safetensors.index.json")).unwrap()).unwrap();
    let input: serde_json::Value = serde_json::from_slice(&fs::read(fixture("sharded/pytorch_model.bin.index.json")).unwrap()).unwrap();
    assert_eq!(index["metadata"]["total_size"], input["metadata"]["total_size"]);
    // every tensor is mapped, to the shard of the same number
    let want: serde_json::Map<String, serde_json::Value> = input["weight_map"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().replace("pytorch_model", "model").replace(".bin", ".safetensors").into()))
        .collect();
    assert_eq!(index["weight_map"], serde_json::Value::Object(want));
    for k in 1..=3 {
        let out = repo.join(format!("model-0000{k}-of-00003.safetensors"));
        let loaded = load_safetensors(&[&out]);
        let got = &loaded[out.to_str().unwrap()];
        assert_eq!(got["metadata"], serde_json::json!({"format": "pt"}));
        let reference = reference(&format!("sharded/pytorch_model-0000{k}-of-00003.bin"));
        let mut names: Vec<&String> = got["tensors"].as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, reference.as_object().unwrap().keys().collect::<Vec<_>>(), "shard {k}");
        for (name, t) in reference.as_object().unwrap() {
            assert_eq!(got["tensors"][name]["sha256"], t["sha256"], "{name}");
            assert_eq!(got["tensors"][name]["shape"], t["shape"], "{name}");
        }
    }
    // the index file itself names the same conversion
    let repo2 = env.init("m2");
    env.hfgit(&repo2, &["add", &fixture("sharded/pytorch_model.bin.index.json"), "--safetensors", "--as", "st"]).ok();
    assert_eq!(
        fs::read(repo2.join("st/model.safetensors.index.json")).unwrap(),
        fs::read(repo.join("model.safetensors.index.json")).unwrap()
    );
    for k in 1..=3 {
        let name = format!("model-0000{k}-of-00003.safetensors");
        assert_eq!(fs::read(repo2.join("st").join(&name)).unwrap(), fs::read(repo.join(&name)).unwrap());
    }

    // an index that lies about its shards, or names a path, changes nothing
    let bad = env.path("bad");
    fs::create_dir_all(&bad).unwrap();
    for k in 1..=3 {
        let name = format!("pytorch_model-0000{k}-of-00003.bin");
        fs::copy(fixture(&format!("sharded/{name}")), bad.join(name)).unwrap();
    }
    let before = snapshot(&repo2);
    let cases = [
        (r#"{"embed.weight": "pytorch_model-00002-of-00003.bin"}"#, "does not hold it"),
        (r#"{"embed.weight": "../pytorch_model-00001-of-00003.bin"}"#, "not a file name beside the index"),
        (r#"{"layers.0.bias": "pytorch_model-00002-of-00003.bin"}"#, "holds layers.0.weight, which"),
    ];
    for (map, why) in cases {
        fs::write(bad.join("pytorch_model.bin.index.json"), format!("{{\"metadata\": {{}}, \"weight_map\": {map}}}")).unwrap();
        let r = env.hfgit(&repo2, &["add", bad.to_str().unwrap(), "--safetensors"]).fails();
        assert!(r.stderr.contains(why), "{why}: {}", r.stderr);
        assert_eq!(snapshot(&repo2), before, "{why}");
    }
    let r = env.hfgit(&repo2, &["add", &fixture("mlp_f32.pt"), "--safetensors", "--max-shard-size", "5TB"]).fails();
    assert!(r.stderr.contains("`5TB` is not a size"), "{}", r.stderr);
    let r = env.hfgit(&repo2, &["add", &fixture("mlp_f32.pt"), "--max-shard-size", "5GB"]).fails();
    assert!(r.stderr.contains("add --safetensors"), "{}", r.stderr);
    let r = env.hfgit(&repo2, &["add", env.path("").to_str().unwrap(), "--safetensors"]).fails();
    assert!(r.stderr.contains("pytorch_model.bin.index.json"), "{}", r.stderr);
    assert_eq!(snapshot(&repo2), before);
}

#[test]
fn max_shard_size_splits_a_single_checkpoint_as_huggingface_hub_does() {
    let env = Env::new();
    let repo = env.init("m");
    env.hfgit(&repo, &["add", &fixture("mlp_f32.pt"), "--safetensors", "--max-shard-size", "200KB"]).ok();
    let index: serde_json::Value = serde_json::from_slice(&fs::read(repo.join("model.safetensors.index.json")).unwrap()).unwrap();
    // huggingface_hub's own split of the same tensors, in the checkpoint's order
    let theirs = py(
        "import json, sys\nimport numpy as np\nfrom safetensors.numpy import load_file\n\
         from huggingface_hub.serialization import split_state_dict_into_shards_factory\n\
         t = load_file(sys.argv[1])\nsd = {k: t[k] for k in ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']}\n\
         s = split_state_dict_into_shards_factory(sd, get_storage_size=lambda a: a.nbytes, filename_pattern='model{suffix}.safetensors', max_shard_size='200KB')\n\
         print(json.dumps({'metadata': s.metadata, 'weight_map': s.tensor_to_filename}))",
        &[&fixture("mlp_f32.safetensors")],
    );
    assert_eq!(index, serde_json::from_str::<serde_json::Value>(&theirs).unwrap());
    let shards = [repo.join("model-00001-of-00002.safetensors"), repo.join("model-00002-of-00002.safetensors")];
    let loaded = load_safetensors(&[&shards[0], &shards[1]]);
    let reference = reference("mlp_f32.pt");
    for (name, t) in reference.as_object().unwrap() {
        let file = index["weight_map"][name].as_str().unwrap();
        assert_eq!(loaded[repo.join(file).to_str().unwrap()]["tensors"][name]["sha256"], t["sha256"], "{name}");
    }
    assert!(!repo.join("model.safetensors").exists());
    // under the default 5GB it stays one file
    let repo2 = env.init("m2");
    env.hfgit(&repo2, &["add", &fixture("mlp_f32.pt"), "--safetensors"]).ok();
    assert_eq!(files(&repo2), [".gitattributes", "README.md", "model.safetensors"]);
}

#[test]
fn tied_weights_are_written_once_with_the_alias_in_the_metadata() {
    let env = Env::new();
    let repo = env.init("m");
    let r = env.hfgit(&repo, &["add", &fixture("sharded/tied.pt"), "--safetensors"]).ok();
    assert!(r.stderr.contains("tied: lm_head.weight is the same tensor as embed.weight"), "{}", r.stderr);
    let out = repo.join("model.safetensors");
    let loaded = load_safetensors(&[&out]);
    let got = &loaded[out.to_str().unwrap()];
    assert_eq!(got["metadata"], serde_json::json!({"format": "pt", "lm_head.weight": "embed.weight"}));
    let reference = reference("sharded/tied.pt");
    let mut names: Vec<&String> = got["tensors"].as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["embed.weight", "norm.weight"]);
    assert_eq!(got["tensors"]["embed.weight"]["sha256"], reference["lm_head.weight"]["sha256"]);
    assert_eq!(got["tensors"]["norm.weight"]["sha256"], reference["norm.weight"]["sha256"]);
    // written once: the file holds 24x8 + 8 floats, not 2x24x8 + 8
    assert!(fs::metadata(&out).unwrap().len() < (24 * 8 * 2) * 4, "the tied tensor was written twice");
}
