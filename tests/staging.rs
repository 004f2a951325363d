//! The staging repository: init, add, commit, status, log, fsck — and interop with the real
//! git and git-lfs in both directions.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const HUB_PATTERNS: usize = 35;

#[test]
fn init_makes_main_with_hub_gitattributes_and_rerun_loses_nothing() {
    let env = Env::new();
    let repo = env.init("m");
    let head = fs::read_to_string(repo.join(".git/HEAD")).unwrap();
    assert_eq!(head.trim(), "ref: refs/heads/main");
    let attrs = fs::read_to_string(repo.join(".gitattributes")).unwrap();
    assert_eq!(attrs.lines().count(), HUB_PATTERNS);
    for p in ["*.bin", "*.pt", "*.safetensors", "saved_model/**/*", "*tfevents*", "*.lfs.*"] {
        assert!(attrs.contains(&format!("{p} filter=lfs diff=lfs merge=lfs -text\n")), "{p} missing");
    }
    // user edits, a commit, then init again: nothing changes
    fs::write(repo.join(".gitattributes"), "*.custom filter=lfs diff=lfs merge=lfs -text\n").unwrap();
    fs::write(repo.join("notes.txt"), "hello\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    let before = snapshot(&repo);
    let head_before = env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout;
    let r = env.hfgit(env.dir.path(), &["init", "m"]).ok();
    assert!(r.stderr.contains("Reinitialized"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout, head_before);
}

#[test]
fn init_remote_stores_the_resolved_url() {
    let env = Env::new();
    env.hfgit(env.dir.path(), &["init", "a", "--remote", "./remotes/a.git"]).ok();
    let url = env.git(&env.path("a"), &["config", "remote.origin.url"]).ok().stdout;
    assert_eq!(url.trim(), env.path("remotes/a.git").to_str().unwrap());
    env.hfgit(env.dir.path(), &["init", "b", "--remote", "alice/mnist-mlp"]).ok();
    let url = env.git(&env.path("b"), &["config", "remote.origin.url"]).ok().stdout;
    assert_eq!(url.trim(), "https://huggingface.co/alice/mnist-mlp");
    let mut c = env.hfgit_cmd(env.dir.path(), &["init", "c", "--remote", "datasets/alice/d"]);
    c.env("HF_ENDPOINT", "http://127.0.0.1:1/");
    assert!(c.status().unwrap().success());
    let url = env.git(&env.path("c"), &["config", "remote.origin.url"]).ok().stdout;
    assert_eq!(url.trim(), "http://127.0.0.1:1/datasets/alice/d");
    // a different remote on re-init is refused, and the old one kept
    let r = env.hfgit(env.dir.path(), &["init", "a", "--remote", "bob/x"]).fails();
    assert!(r.stderr.contains("already"), "{}", r.stderr);
    let url = env.git(&env.path("a"), &["config", "remote.origin.url"]).ok().stdout;
    assert_eq!(url.trim(), env.path("remotes/a.git").to_str().unwrap());
}

#[test]
fn add_copies_weights_under_conventional_names_and_merges_config() {
    let env = Env::new();
    let repo = env.init("m");
    // a real state dict (fixtures/make_fixtures.py): only a model's weights are renamed
    let w = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mlp_f32.pt")).unwrap();
    fs::write(env.path("model.pt"), &w).unwrap();
    fs::write(env.path("opt.pth"), data(2, 10)).unwrap();
    fs::write(env.path("tok.json"), b"{}").unwrap();
    fs::write(env.path("extra.json"), r#"{"hidden_size": 64, "arch": {"layers": 2}, "name": "mlp"}"#).unwrap();
    fs::write(repo.join("config.json"), "{\"keep\": \"me\", \"arch\": {\"act\": \"relu\"}}").unwrap();
    env.hfgit(
        &repo,
        &[
            "add",
            "../model.pt",
            "../tok.json",
            "--config",
            "../extra.json",
            "--set",
            "hidden_size=128",
            "--set",
            "arch.dropout=0.5",
            "--set",
            "label=cat",
            "--set",
            "sizes=[1,2]",
        ],
    )
    .ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w);
    assert!(repo.join("tok.json").exists());
    let cfg = fs::read_to_string(repo.join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"keep": "me", "arch": {"act": "relu", "layers": 2, "dropout": 0.5}, "hidden_size": 128, "name": "mlp", "label": "cat", "sizes": [1, 2]})
    );
    assert!(cfg.starts_with("{\n  \"keep\": \"me\",\n"), "not pretty or order lost: {cfg}");
    assert!(cfg.ends_with("}\n"));
    env.hfgit(&repo, &["add", "../opt.pth", "--as", "weights/optimizer.pt"]).ok();
    assert_eq!(fs::read(repo.join("weights/optimizer.pt")).unwrap(), data(2, 10));
    // a directory is copied recursively (its contents, here under --as)
    fs::create_dir_all(env.path("tokenizer/sub")).unwrap();
    fs::write(env.path("tokenizer/sub/vocab.txt"), "a\nb\n").unwrap();
    env.hfgit(&repo, &["add", "../tokenizer", "--as", "tokenizer"]).ok();
    assert_eq!(fs::read_to_string(repo.join("tokenizer/sub/vocab.txt")).unwrap(), "a\nb\n");
}

#[test]
fn add_with_bad_input_changes_nothing_and_says_why() {
    let env = Env::new();
    let repo = env.init("m");
    fs::write(env.path("model.pt"), data(1, 100)).unwrap();
    fs::write(env.path("list.json"), "[1, 2]").unwrap();
    fs::write(env.path("broken.json"), "{\"a\": ").unwrap();
    fs::write(repo.join("config.json"), "{\"a\": 1}\n").unwrap();
    let before = snapshot(&repo);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["add", "../model.pt", "../missing.pt"], "missing.pt"),
        (vec!["add", "../model.pt", "--set", "novalue"], "no `=`"),
        (vec!["add", "../model.pt", "--config", "../list.json"], "JSON object"),
        (vec!["add", "../model.pt", "--config", "../broken.json"], "not valid JSON"),
        (vec!["add", "../model.pt", "--as", "../escape.bin"], "outside the work tree"),
        (vec!["add", "../model.pt", "--as", ".git/x"], "inside .git"),
        (vec!["add", "../model.pt", "--set", "a.b=2"], "not an object"),
    ];
    for (args, why) in cases {
        let r = env.hfgit(&repo, &args).fails();
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
        assert_eq!(snapshot(&repo), before, "{args:?} changed the work tree");
    }
    assert!(!env.path("escape.bin").exists());
}

#[test]
fn commit_records_new_modified_deleted_and_honours_gitignore() {
    let env = Env::new();
    let repo = env.init("m");
    fs::write(repo.join(".gitignore"), "*.log\ncache/\n").unwrap();
    fs::write(repo.join("a.txt"), "a\n").unwrap();
    fs::write(repo.join("b.txt"), "b\n").unwrap();
    fs::write(repo.join("train.log"), "noise\n").unwrap();
    fs::create_dir(repo.join("cache")).unwrap();
    fs::write(repo.join("cache/x"), "x").unwrap();
    let r = env.hfgit(&repo, &["commit", "-m", "first"]).ok();
    let id = r.stdout.trim();
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout.trim(), id);
    let files = env.git(&repo, &["ls-tree", "-r", "--name-only", "HEAD"]).ok().stdout;
    assert_eq!(files, ".gitattributes\n.gitignore\nREADME.md\na.txt\nb.txt\n");
    fs::write(repo.join("a.txt"), "a2\n").unwrap();
    fs::remove_file(repo.join("b.txt")).unwrap();
    fs::write(repo.join("c.txt"), "c\n").unwrap();
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    let got: Vec<(String, String)> = st["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, vec![("a.txt".into(), "modified".into()), ("b.txt".into(), "deleted".into()), ("c.txt".into(), "added".into())]);
    env.hfgit(&repo, &["commit", "-m", "second"]).ok();
    let files = env.git(&repo, &["ls-tree", "-r", "--name-only", "HEAD"]).ok().stdout;
    assert_eq!(files, ".gitattributes\n.gitignore\nREADME.md\na.txt\nc.txt\n");
    assert_eq!(env.git(&repo, &["show", "HEAD:a.txt"]).ok().stdout, "a2\n");
    assert_eq!(
        env.git(&repo, &["log", "--format=%an|%ae|%cn|%at|%s"]).ok().stdout,
        "Test Author|author@example.com|Test Committer|1700000000|second\nTest Author|author@example.com|Test Committer|1700000000|first\n"
    );
    // nothing left to commit
    let r = env.hfgit(&repo, &["commit", "-m", "third"]).fails();
    assert!(r.stderr.contains("nothing to commit"), "{}", r.stderr);
    env.hfgit(&repo, &["commit", "-m", "empty", "--allow-empty"]).ok();
    // --author overrides
    fs::write(repo.join("d.txt"), "d\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "by", "--author", "Ada L <ada@example.org>"]).ok();
    assert_eq!(env.git(&repo, &["log", "-1", "--format=%an <%ae>"]).ok().stdout.trim(), "Ada L <ada@example.org>");
}

#[test]
fn lfs_files_become_canonical_pointers_and_objects_in_git_lfs_layout() {
    require_git_lfs();
    let env = Env::new();
    let repo = env.init("m");
    env.git(&repo, &["config", "hfgit.lfsThreshold", "1m"]).ok();
    let weights = data(7, 300_000);
    let big = data(8, 1_500_000);
    fs::write(repo.join("pytorch_model.bin"), &weights).unwrap();
    fs::write(repo.join("big data.raw"), &big).unwrap(); // unmatched, over the threshold
    fs::write(repo.join("small.raw"), data(9, 1000)).unwrap(); // unmatched, under it
    fs::write(repo.join("empty.bin"), b"").unwrap(); // matched by *.bin, but empty
    fs::write(repo.join("exec.pt"), data(10, 5000)).unwrap();
    let mut perm = fs::metadata(repo.join("exec.pt")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    fs::set_permissions(repo.join("exec.pt"), perm).unwrap();
    std::os::unix::fs::symlink("big data.raw", repo.join("link.raw")).unwrap();
    let out = env.hfgit(&repo, &["commit", "-m", "weights", "--json"]).ok().json();
    assert_eq!(out["rules_added"], serde_json::json!(["big data.raw"]));

    for (path, content) in [("pytorch_model.bin", &weights), ("big data.raw", &big)] {
        let blob = env.git(&repo, &["show", &format!("HEAD:{path}")]).ok().stdout;
        assert_eq!(blob, pointer_text(content), "{path}");
        // git-lfs agrees byte for byte and finds it canonical
        fs::write(env.path("ptr"), &blob).unwrap();
        env.git(&repo, &["lfs", "pointer", "--check", "--strict", "--file", env.path("ptr").to_str().unwrap()]).ok();
        let theirs = env.git(&repo, &["lfs", "pointer", &format!("--file={}", repo.join(path).display())]).ok().stdout;
        assert_eq!(theirs, blob);
        let obj = object_path(&repo.join(".git"), &sha256_hex(content));
        assert_eq!(&fs::read(&obj).unwrap(), content);
    }
    let attrs = fs::read_to_string(repo.join(".gitattributes")).unwrap();
    assert!(attrs.ends_with("/big[[:space:]]data.raw filter=lfs diff=lfs merge=lfs -text\n"), "{attrs}");
    assert_eq!(env.git(&repo, &["show", "HEAD:.gitattributes"]).ok().stdout, attrs);
    assert_eq!(env.git(&repo, &["cat-file", "-s", "HEAD:small.raw"]).ok().stdout.trim(), "1000");
    assert_eq!(env.git(&repo, &["cat-file", "-s", "HEAD:empty.bin"]).ok().stdout.trim(), "0");
    let tree = env.git(&repo, &["ls-tree", "HEAD"]).ok().stdout;
    assert!(tree.lines().any(|l| l.starts_with("120000 ") && l.ends_with("\tlink.raw")), "{tree}");
    assert!(tree.lines().any(|l| l.starts_with("100755 ") && l.ends_with("\texec.pt")), "{tree}");
    assert_eq!(env.git(&repo, &["cat-file", "-p", "HEAD:link.raw"]).ok().stdout, "big data.raw");
    // nothing is left in lfs/tmp; a second commit does not rewrite objects
    assert_eq!(fs::read_dir(repo.join(".git/lfs/tmp")).unwrap().count(), 0);
    let obj = object_path(&repo.join(".git"), &sha256_hex(&weights));
    let ino = fs::metadata(&obj).unwrap().ino();
    fs::write(repo.join("copy.bin"), &weights).unwrap();
    env.hfgit(&repo, &["commit", "-m", "same content again"]).ok();
    assert_eq!(fs::metadata(&obj).unwrap().ino(), ino);

    // the real git-lfs sees exactly these LFS files
    let ls = env.git(&repo, &["lfs", "ls-files", "-l"]).ok().stdout;
    let mut lines: Vec<&str> = ls.lines().collect();
    lines.sort();
    let mut want = vec![
        format!("{} * big data.raw", sha256_hex(&big)),
        format!("{} * copy.bin", sha256_hex(&weights)),
        format!("{} * exec.pt", sha256_hex(&data(10, 5000))),
        format!("{} * pytorch_model.bin", sha256_hex(&weights)),
    ];
    want.sort();
    assert_eq!(lines, want);
    env.git(&repo, &["lfs", "fsck"]).ok();
}

#[test]
fn git_status_is_clean_after_commit_with_and_without_git_lfs() {
    for env in [Env::new(), Env::with_git_lfs()] {
        let repo = env.init("m");
        fs::write(env.path("pytorch_model.bin"), data(3, 200_000)).unwrap();
        env.hfgit(&repo, &["add", "../pytorch_model.bin", "--set", "hidden_size=128"]).ok();
        env.hfgit(&repo, &["commit", "-m", "c1"]).ok();
        assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
        // a modified weights file, committed right away (same second): still clean
        fs::write(repo.join("pytorch_model.bin"), data(4, 200_000)).unwrap();
        env.hfgit(&repo, &["commit", "-m", "c2"]).ok();
        assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
        assert_eq!(env.hfgit(&repo, &["status", "--json"]).ok().json()["changes"], serde_json::json!([]));
    }
}

#[test]
fn a_config_only_commit_does_not_read_the_weights_again() {
    let env = Env::new();
    let repo = env.init("m");
    let weights = data(5, 4_000_000);
    fs::write(env.path("pytorch_model.bin"), &weights).unwrap();
    env.hfgit(&repo, &["add", "../pytorch_model.bin", "--set", "hidden_size=128"]).ok();
    env.hfgit(&repo, &["commit", "-m", "c1"]).ok();
    env.hfgit(&repo, &["add", "--set", "hidden_size=256"]).ok();
    let cfg_len = fs::metadata(repo.join("config.json")).unwrap().len();
    let second = env.hfgit(&repo, &["commit", "-m", "c2", "--json"]).ok().json();
    let hashed = second["bytes_hashed"].as_u64().unwrap();
    assert!(hashed < weights.len() as u64 / 100, "weights were read again: {hashed} bytes hashed");
    assert!(hashed >= cfg_len, "config.json was not read: {hashed}");
    assert_eq!(second["lfs_objects_stored"], 0);
    let changes: Vec<&str> = second["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(changes, vec!["config.json"]);
    // and a weights change is still noticed by a later commit
    fs::write(repo.join("pytorch_model.bin"), data(6, 4_000_000)).unwrap();
    let third = env.hfgit(&repo, &["commit", "-m", "c3", "--json"]).ok().json();
    assert_eq!(third["lfs_objects_stored"], 1);
}

/// Bytes of the work tree's plain files (what a commit right after `init` + `add` must still read).
fn plain_bytes(repo: &Path, lfs: &[&str]) -> u64 {
    let files = fs::read_dir(repo).unwrap().map(|e| e.unwrap()).filter(|e| e.file_type().unwrap().is_file());
    files.filter(|e| !lfs.contains(&e.file_name().to_str().unwrap())).map(|e| e.metadata().unwrap().len()).sum()
}

#[test]
fn add_hashes_and_stores_weights_as_it_copies_so_commit_reads_none_of_them() {
    let env = Env::with_git_lfs();
    let repo = env.init("m");
    let (weights, shard) = (data(11, 3_000_000), data(12, 200_000));
    let src = env.path("model.safetensors");
    fs::write(&src, &weights).unwrap();
    fs::write(env.path("extra.bin"), &shard).unwrap();
    let written = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options().write(true).open(&src).unwrap().set_modified(written).unwrap();
    env.hfgit(&repo, &["add", "../model.safetensors", "../extra.bin"]).ok();
    // the objects are in the store before any commit, and the copies kept their source's mtime
    for content in [&weights, &shard] {
        assert_eq!(&fs::read(object_path(&repo.join(".git"), &sha256_hex(content))).unwrap(), content);
    }
    assert_eq!(fs::metadata(repo.join("model.safetensors")).unwrap().modified().unwrap(), written);
    assert_eq!(fs::read_dir(repo.join(".git/lfs/tmp")).unwrap().count(), 0);
    let lfs = ["model.safetensors", "extra.bin"];
    let status = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(status["bytes_hashed"], plain_bytes(&repo, &lfs), "status read the weights: {status}");
    let out = env.hfgit(&repo, &["commit", "-m", "weights", "--json"]).ok().json();
    assert_eq!(out["bytes_hashed"], plain_bytes(&repo, &lfs), "commit read the weights again: {out}");
    assert_eq!(out["lfs_objects_stored"], 0, "{out}");
    for (path, content) in [("model.safetensors", &weights), ("extra.bin", &shard)] {
        assert_eq!(env.git(&repo, &["show", &format!("HEAD:{path}")]).ok().stdout, pointer_text(content), "{path}");
    }
    assert!(!repo.join(".git/hfgit-added.json").exists(), "the add cache outlived the commit");
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
    assert!(env.git(&repo, &["lfs", "fsck"]).ok().stdout.contains("Git LFS fsck OK"));
    let ls = env.git(&repo, &["lfs", "ls-files", "-l"]).ok().stdout;
    assert!(ls.contains(&format!("{} * model.safetensors", sha256_hex(&weights))), "{ls}");
}

/// Bytes of the plain (not LFS) files under `dir`, outside `.git`.
fn plain_bytes_under(dir: &Path, lfs: &[String]) -> u64 {
    let mut total = 0;
    for e in fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let (path, kind) = (e.path(), e.file_type().unwrap());
        if e.file_name() == ".git" {
            continue;
        }
        if kind.is_dir() {
            total += plain_bytes_under(&path, lfs);
        } else if kind.is_file() && !lfs.iter().any(|l| path.ends_with(l)) {
            total += e.metadata().unwrap().len();
        }
    }
    total
}

#[test]
fn a_folder_of_many_weights_is_copied_on_all_cores_and_every_file_recorded() {
    let env = Env::with_git_lfs();
    let repo = env.init("m");
    let src = env.path("ckpt");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    let mut lfs: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..24u64 {
        let rel = match i % 3 {
            0 => format!("shard-{i:02}.safetensors"),
            1 => format!("sub/part-{i:02}.bin"),
            _ => format!("sub/deeper/w-{i:02}.bin"),
        };
        lfs.push((rel, data(200 + i, 100_000 + i as usize * 37_003)));
    }
    // several staging blocks, a block and a byte, and one content twice
    lfs.push(("big.safetensors".into(), data(300, 2 * (8 << 20) + 4097)));
    lfs.push(("edge.bin".into(), data(301, (8 << 20) + 1)));
    lfs.push(("sub/same-as-shard-00.bin".into(), lfs[0].1.clone()));
    for (rel, content) in &lfs {
        fs::write(src.join(rel), content).unwrap();
    }
    fs::write(src.join("notes.txt"), "plain text, stored in git\n").unwrap();
    fs::write(src.join("sub/tokenizer.json"), "{\"vocab\": {}}\n").unwrap();
    let out = env.hfgit(&repo, &["add", "../ckpt"]).ok();
    assert_eq!(out.stderr.matches("added ").count(), lfs.len() + 2, "{}", out.stderr);
    for (rel, content) in &lfs {
        assert_eq!(&fs::read(repo.join(rel)).unwrap(), content, "{rel} in the work tree");
        assert_eq!(&fs::read(object_path(&repo.join(".git"), &sha256_hex(content))).unwrap(), content, "{rel} in the store");
    }
    assert_eq!(fs::read_to_string(repo.join("sub/tokenizer.json")).unwrap(), "{\"vocab\": {}}\n");
    assert_eq!(fs::read_dir(repo.join(".git/lfs/tmp")).unwrap().count(), 0, "temp files left behind");
    // every file's pointer was recorded: the commit reads only the plain files
    let names: Vec<String> = lfs.iter().map(|(r, _)| r.clone()).collect();
    let commit = env.hfgit(&repo, &["commit", "-m", "ckpt", "--json"]).ok().json();
    assert_eq!(commit["bytes_hashed"], plain_bytes_under(&repo, &names), "commit read weights again: {commit}");
    assert_eq!(commit["lfs_objects_stored"], 0, "{commit}");
    for (rel, content) in &lfs {
        assert_eq!(env.git(&repo, &["show", &format!("HEAD:{rel}")]).ok().stdout, pointer_text(content), "{rel}");
    }
    assert!(env.git(&repo, &["lfs", "fsck"]).ok().stdout.contains("Git LFS fsck OK"));
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
}

#[test]
fn a_destination_blocked_late_in_a_folder_stops_the_add_before_any_file_is_written() {
    let env = Env::new();
    let repo = env.init("m");
    let outside = env.path("elsewhere");
    fs::create_dir_all(&outside).unwrap();
    // the work tree's `sub` leads out of it
    std::os::unix::fs::symlink(&outside, repo.join("sub")).unwrap();
    let src = env.path("ckpt");
    fs::create_dir_all(src.join("sub")).unwrap();
    let first = data(400, 300_000);
    fs::write(src.join("a.safetensors"), &first).unwrap();
    fs::write(src.join("sub/x.safetensors"), data(401, 300_000)).unwrap();
    let err = env.hfgit(&repo, &["add", "../ckpt"]).fails();
    assert!(err.stderr.contains("`sub` is a symbolic link"), "{}", err.stderr);
    // nothing of the folder was written: not the file sorted before the blocked one, not its object
    assert!(!repo.join("a.safetensors").exists(), "a file was copied before the blocked one was checked");
    assert!(!object_path(&repo.join(".git"), &sha256_hex(&first)).exists());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "a file was written through the link");
}

/// A 16 MiB tmpfs mounted at `dir` (needs root, as the XFS tests do); unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: std::path::PathBuf) -> SmallDisk {
        fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"]).arg(&dir).output().unwrap();
        assert!(out.status.success(), "mounting a tmpfs (this test needs root): {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_add_cleanly_and_loses_nothing() {
    let env = Env::new();
    let disk = SmallDisk::mount(env.path("small"));
    env.hfgit(&disk.0, &["init", "m"]).ok();
    let repo = disk.0.join("m");
    let kept = data(500, 2_000_000);
    fs::write(repo.join("model.safetensors"), &kept).unwrap();
    env.hfgit(&repo, &["commit", "-m", "small model"]).ok();
    let before = snapshot(&repo);
    let objects = || snapshot(&repo.join(".git/lfs/objects"));
    let stored = objects();
    // a model that does not fit twice (work tree and store), nor once
    fs::write(env.path("model.safetensors"), data(501, 24 << 20)).unwrap();
    let err = env.hfgit(&repo, &["add", "../../model.safetensors"]).fails();
    assert!(err.stderr.contains("No space left on device"), "{}", err.stderr);
    assert!(err.stderr.contains("hint: the disk (or your quota) is full") && err.stderr.contains("hfgit prune"), "{}", err.stderr);
    assert!(err.stderr.contains("model.safetensors"), "the error names the file: {}", err.stderr);
    // the committed file, the store and the index are as they were, and no temp file is left
    assert_eq!(fs::read(repo.join("model.safetensors")).unwrap(), kept);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(objects(), stored);
    assert!(!repo.join(".git/hfgit-added.json").exists());
    assert_eq!(fs::read_dir(repo.join(".git/lfs/tmp")).map(|d| d.count()).unwrap_or(0), 0);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
}

#[test]
fn a_file_changed_between_add_and_commit_is_hashed_again() {
    let env = Env::with_git_lfs();
    let repo = env.init("m");
    let (v1, v2, v3) = (data(13, 2_000_000), data(14, 2_000_000), data(15, 2_000_000));
    fs::write(env.path("model.safetensors"), &v1).unwrap();
    env.hfgit(&repo, &["add", "../model.safetensors"]).ok();
    // rewritten in place with the same size, and its modification time put back: the change
    // time and the content differ from what add recorded
    let weights = repo.join("model.safetensors");
    let mtime = fs::metadata(&weights).unwrap().modified().unwrap();
    fs::write(&weights, &v2).unwrap();
    fs::File::options().write(true).open(&weights).unwrap().set_modified(mtime).unwrap();
    let status = env.hfgit(&repo, &["status", "--json"]).ok().json();
    let entry = status["changes"].as_array().unwrap().iter().find(|c| c["path"] == "model.safetensors").unwrap().clone();
    assert_eq!(entry["oid"], sha256_hex(&v2), "{status}");
    let out = env.hfgit(&repo, &["commit", "-m", "v2", "--json"]).ok().json();
    assert!(out["bytes_hashed"].as_u64().unwrap() >= v2.len() as u64, "{out}");
    assert_eq!(out["lfs_objects_stored"], 1, "{out}");
    assert_eq!(env.git(&repo, &["show", "HEAD:model.safetensors"]).ok().stdout, pointer_text(&v2));
    assert_eq!(fs::read(object_path(&repo.join(".git"), &sha256_hex(&v2))).unwrap(), v2);
    // a file replaced by another add is recorded anew
    fs::write(env.path("model.safetensors"), &v3).unwrap();
    env.hfgit(&repo, &["add", "../model.safetensors"]).ok();
    let out = env.hfgit(&repo, &["commit", "-m", "v3", "--json"]).ok().json();
    assert!(out["bytes_hashed"].as_u64().unwrap() < v3.len() as u64, "{out}");
    assert_eq!(env.git(&repo, &["show", "HEAD:model.safetensors"]).ok().stdout, pointer_text(&v3));
    // an object pruned between add and commit is stored again from the work tree
    fs::write(env.path("other.safetensors"), &v1).unwrap();
    env.hfgit(&repo, &["add", "../other.safetensors"]).ok();
    fs::remove_file(object_path(&repo.join(".git"), &sha256_hex(&v1))).unwrap();
    let out = env.hfgit(&repo, &["commit", "-m", "other", "--json"]).ok().json();
    assert_eq!(out["lfs_objects_stored"], 1, "{out}");
    assert!(env.git(&repo, &["lfs", "fsck"]).ok().stdout.contains("Git LFS fsck OK"));
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
}

#[test]
fn status_and_log_show_lfs_files() {
    let env = Env::new();
    let repo = env.init("m");
    let w = data(11, 70_000);
    fs::write(repo.join("pytorch_model.bin"), &w).unwrap();
    fs::write(repo.join("config.json"), "{}\n").unwrap();
    let st = env.hfgit(&repo, &["status"]).ok().stdout;
    assert!(st.contains("A  pytorch_model.bin  (LFS, 68.4 KiB)"), "{st}");
    assert!(st.contains("A  config.json\n"), "{st}");
    let id1 = env.hfgit(&repo, &["commit", "-m", "weights v1"]).ok().stdout.trim().to_string();
    let w2 = data(12, 80_000);
    fs::write(repo.join("pytorch_model.bin"), &w2).unwrap();
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"][0]["status"], "modified");
    assert_eq!(st["changes"][0]["lfs"], true);
    assert_eq!(st["changes"][0]["oid"], sha256_hex(&w2));
    let id2 = env.hfgit(&repo, &["commit", "-m", "weights v2\n\nbody"]).ok().stdout.trim().to_string();
    let log = env.hfgit(&repo, &["log", "--json"]).ok().json();
    assert_eq!(log[0]["commit"], id2);
    assert_eq!(log[0]["message"], "weights v2\n\nbody\n");
    assert_eq!(log[0]["author"], "Test Author");
    assert_eq!(log[0]["time"], 1700000000);
    assert_eq!(log[0]["lfs"], serde_json::json!([{"path": "pytorch_model.bin", "size": 80000, "oid": sha256_hex(&w2)}]));
    assert_eq!(log[1]["commit"], id1);
    assert_eq!(log[1]["lfs"][0]["oid"], sha256_hex(&w));
    let text = env.hfgit(&repo, &["log", "-n", "1"]).ok().stdout;
    assert!(
        text.starts_with(&format!("commit {id2}\nAuthor: Test Author <author@example.com>\nDate:   2023-11-14 22:13:20 +0000\n")),
        "{text}"
    );
    assert!(text.contains(&format!("LFS pytorch_model.bin 78.1 KiB sha256:{}", &sha256_hex(&w2)[..12])), "{text}");
    assert!(!text.contains(&id1));
}

#[test]
fn fsck_names_missing_and_corrupt_objects() {
    let env = Env::new();
    let repo = env.init("m");
    let a = data(20, 10_000);
    let b = data(21, 20_000);
    fs::write(repo.join("a.bin"), &a).unwrap();
    fs::write(repo.join("b.bin"), &b).unwrap();
    env.hfgit(&repo, &["commit", "-m", "c"]).ok();
    let r = env.hfgit(&repo, &["fsck"]).ok();
    assert!(r.stderr.contains("2 LFS object(s) checked, all OK"), "{}", r.stderr);
    fs::remove_file(object_path(&repo.join(".git"), &sha256_hex(&a))).unwrap();
    let mut bad = b.clone();
    bad[5] ^= 1;
    fs::write(object_path(&repo.join(".git"), &sha256_hex(&b)), &bad).unwrap();
    let r = env.hfgit(&repo, &["fsck"]).fails();
    assert!(r.stdout.contains(&format!("missing: a.bin (sha256:{})", sha256_hex(&a))), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("corrupt: b.bin (sha256:{})", sha256_hex(&b))), "{}", r.stdout);
    let j = env.hfgit(&repo, &["fsck", "--json"]);
    assert_eq!(j.code, 1);
    assert_eq!(j.json()["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn a_repository_made_by_git_lfs_is_read_and_its_pointers_kept() {
    let env = Env::with_git_lfs();
    let repo = env.path("g");
    env.git(env.dir.path(), &["init", "-q", "g"]).ok();
    env.git(&repo, &["lfs", "track", "*.ckpt"]).ok();
    let w = data(30, 123_456);
    fs::write(repo.join("model.ckpt"), &w).unwrap();
    fs::write(repo.join("readme.txt"), "hi\n").unwrap();
    env.git(&repo, &["add", "."]).ok();
    env.git(&repo, &["commit", "-qm", "by git-lfs"]).ok();
    let ptr_blob = env.git(&repo, &["rev-parse", "HEAD:model.ckpt"]).ok().stdout;

    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"], serde_json::json!([]));
    let log = env.hfgit(&repo, &["log", "--json"]).ok().json();
    assert_eq!(log[0]["lfs"], serde_json::json!([{"path": "model.ckpt", "size": 123456, "oid": sha256_hex(&w)}]));
    env.hfgit(&repo, &["fsck"]).ok();
    fs::write(repo.join("readme.txt"), "changed\n").unwrap();
    let out = env.hfgit(&repo, &["commit", "-m", "by hfgit", "--json"]).ok().json();
    assert_eq!(out["changes"].as_array().unwrap().len(), 1);
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD:model.ckpt"]).ok().stdout, ptr_blob);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
    env.git(&repo, &["lfs", "fsck"]).ok();
}

#[test]
fn a_second_hfgit_on_the_same_repository_is_refused() {
    let env = Env::new();
    let repo = env.init("m");
    fs::write(repo.join("a.txt"), "a").unwrap();
    let lock = fs::OpenOptions::new().write(true).create(true).truncate(false).open(repo.join(".git/hfgit.lock")).unwrap();
    lock.lock().unwrap();
    let r = env.hfgit(&repo, &["commit", "-m", "c"]).fails();
    assert!(r.stderr.contains("another hfgit process"), "{}", r.stderr);
    assert!(env.git(&repo, &["rev-parse", "--verify", "HEAD"]).code != 0);
    drop(lock);
    env.hfgit(&repo, &["commit", "-m", "c"]).ok();
}

#[test]
fn a_pointer_file_in_the_work_tree_passes_through_unchanged() {
    let env = Env::new();
    let repo = env.init("m");
    let content = data(40, 5000);
    fs::write(repo.join("w.bin"), pointer_text(&content)).unwrap();
    env.hfgit(&repo, &["commit", "-m", "pointer only"]).ok();
    assert_eq!(env.git(&repo, &["show", "HEAD:w.bin"]).ok().stdout, pointer_text(&content));
    // its object is not in the store, and fsck says so
    let r = env.hfgit(&repo, &["fsck"]).fails();
    assert!(r.stdout.contains("missing: w.bin"), "{}", r.stdout);
}

#[test]
fn errors_name_the_problem_and_the_next_step() {
    let env = Env::new();
    let r = env.hfgit(env.dir.path(), &["status"]).fails();
    assert!(r.stderr.contains("not inside an hfgit repository"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: run `hfgit init`"), "{}", r.stderr);
    let r = env.hfgit(env.dir.path(), &["commit"]);
    assert_eq!(r.code, 2, "usage errors exit 2: {}", r.stderr);
}

#[test]
fn progress_is_drawn_on_a_terminal_and_never_when_piped() {
    let env = Env::new();
    let repo = env.init("m");
    fs::write(repo.join("w.bin"), data(900, 60_000_000)).unwrap();
    let piped = env.hfgit(&repo, &["status"]).ok();
    assert!(!piped.stderr.contains("Hashing") && !piped.stderr.contains('\r'), "{}", piped.stderr);
    // `script` gives hfgit a pseudo-terminal
    let cmd = format!("{} status", env!("CARGO_BIN_EXE_hfgit"));
    let out = env.command("script", &repo).args(["-qec", &cmd, "/dev/null"]).output().expect("script (util-linux) is required");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Hashing"), "no progress on a terminal: {text:?}");
    // a large file gets a bar of its own, named
    assert!(text.contains(&format!("  w.bin{} [", " ".repeat(35))), "no per-file bar: {text:?}");
    assert!(text.contains("w.bin  (LFS, 57.2 MiB)"), "{text:?}");
    let quiet = format!("{} --no-progress status", env!("CARGO_BIN_EXE_hfgit"));
    let out = env.command("script", &repo).args(["-qec", &quiet, "/dev/null"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Hashing"));
}

#[test]
fn init_writes_a_model_card_and_commit_warns_when_its_metadata_breaks() {
    let env = Env::new();
    env.hfgit(env.dir.path(), &["init", "mlp", "--license", "mit", "--tag", "mnist", "--tag", "mlp", "--base-model", "alice/base"]).ok();
    let repo = env.path("mlp");
    let card = fs::read_to_string(repo.join("README.md")).unwrap();
    assert!(
        card.starts_with("---\nlibrary_name: pytorch\nlicense: mit\ntags:\n- mnist\n- mlp\nbase_model: alice/base\n---\n\n# mlp\n"),
        "{card}"
    );
    let r = env.hfgit(&repo, &["commit", "-m", "card"]).ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    // an edited card is never overwritten by init
    fs::write(repo.join("README.md"), "---\nlicense: [mit\n---\n# mine\n").unwrap();
    env.hfgit(env.dir.path(), &["init", "mlp"]).ok();
    assert!(fs::read_to_string(repo.join("README.md")).unwrap().ends_with("# mine\n"));
    let r = env.hfgit(&repo, &["commit", "-m", "broken card"]).ok();
    assert!(r.stderr.contains("warning: README.md front matter is not valid YAML"), "{}", r.stderr);
    env.hfgit(env.dir.path(), &["init", "bare-card", "--no-model-card"]).ok();
    assert!(!env.path("bare-card/README.md").exists());
}
