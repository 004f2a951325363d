//! Trust on this machine: `add DIR` never copies in what a symlink inside DIR points at, a linked
//! worktree keeps LFS content in the common store (so `git worktree remove` loses nothing), and
//! fsck checks every pointer, not one per oid.

mod common;
use common::*;
use std::fs;

#[test]
fn add_dir_stores_symlinks_as_symlinks_and_never_their_targets() {
    let env = Env::new();
    let repo = env.init("r");
    fs::write(env.path("secret.txt"), b"SECRET-OUTSIDE-THE-DIRECTORY\n").unwrap();
    let dir = env.path("model");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("config.txt"), b"plain\n").unwrap();
    std::os::unix::fs::symlink(env.path("secret.txt"), dir.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../config.txt", dir.join("sub/rel-link")).unwrap();
    std::os::unix::fs::symlink(env.path(""), dir.join("dir-link")).unwrap();
    env.hfgit(&repo, &["add", "../model", "--as", "model"]).ok();
    for (name, target) in [("abs-link", env.path("secret.txt")), ("dir-link", env.path(""))] {
        let p = repo.join("model").join(name);
        assert!(fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "{name} is not a symlink in the work tree");
        assert_eq!(fs::read_link(&p).unwrap(), target);
    }
    env.hfgit(&repo, &["commit", "-m", "model with links"]).ok();
    let ls = env.git(&repo, &["ls-tree", "-r", "HEAD"]).ok().stdout;
    for (path, target) in [
        ("model/abs-link", env.path("secret.txt").display().to_string()),
        ("model/sub/rel-link", "../config.txt".to_string()),
        ("model/dir-link", env.path("").display().to_string()),
    ] {
        let line = ls.lines().find(|l| l.ends_with(&format!("\t{path}"))).unwrap_or_else(|| panic!("{path} not committed:\n{ls}"));
        assert!(line.starts_with("120000 blob "), "{path} is not stored as a symlink: {line}");
        assert_eq!(env.git(&repo, &["cat-file", "-p", &format!("HEAD:{path}")]).ok().stdout, target);
    }
    // no object in the repository holds the secret
    let objects = env.git(&repo, &["rev-list", "--objects", "--all"]).ok().stdout;
    for line in objects.lines() {
        let id = line.split_whitespace().next().unwrap();
        let out = env.git(&repo, &["cat-file", "-p", id]).ok().stdout;
        assert!(!out.contains("SECRET-OUTSIDE"), "object {line} holds the file the symlink points at");
    }
    // git agrees the commit matches the work tree
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
}

#[test]
fn a_linked_worktree_keeps_lfs_content_in_the_common_store() {
    let env = Env::new();
    let repo = env.init("r");
    let w1 = data(7, 300_000);
    fs::write(env.path("pytorch_model.bin"), &w1).unwrap();
    env.hfgit(&repo, &["add", "../pytorch_model.bin"]).ok();
    env.hfgit(&repo, &["commit", "-m", "first"]).ok();
    env.git(&repo, &["worktree", "add", "-b", "exp", "../wt"]).ok();
    let wt = env.path("wt");
    let w2 = data(8, 300_000);
    fs::write(wt.join("pytorch_model.bin"), &w2).unwrap();
    env.hfgit(&wt, &["commit", "-m", "experiment"]).ok();
    let oid = sha256_hex(&w2);
    let common = repo.join(".git");
    assert_eq!(fs::read(object_path(&common, &oid)).unwrap(), w2, "the worktree's object is not in the common store");
    assert!(!common.join("worktrees/wt/lfs").exists(), "the worktree got a store of its own");
    env.git(&repo, &["worktree", "remove", "--force", "../wt"]).ok();
    assert!(object_path(&common, &oid).exists(), "git worktree remove took committed content with it");
    let out = env.hfgit(&repo, &["fsck", "--all", "--json"]).ok().json();
    assert_eq!(out["problems"], serde_json::json!([]), "{out}");
    assert_eq!(out["objects_checked"], 2, "{out}");
}

#[test]
fn fsck_checks_every_pointer_even_when_two_share_an_oid() {
    let env = Env::new();
    let repo = env.init("r");
    let w = data(9, 200_000);
    fs::write(env.path("pytorch_model.bin"), &w).unwrap();
    env.hfgit(&repo, &["add", "../pytorch_model.bin"]).ok();
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    // a second pointer with the same oid but a size the object does not have, made with plumbing
    let lie = format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n", sha256_hex(&w), w.len() + 1);
    fs::write(env.path("lie.txt"), &lie).unwrap();
    let id = env.git(&repo, &["hash-object", "-w", "../lie.txt"]).ok().stdout.trim().to_string();
    env.git(&repo, &["update-index", "--add", "--cacheinfo", &format!("100644,{id},copy.bin")]).ok();
    env.git(&repo, &["commit", "-q", "-m", "a lying pointer"]).ok();
    let out = env.hfgit(&repo, &["fsck", "--json"]).json();
    let problems = out["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{out}");
    assert_eq!(problems[0]["path"], "copy.bin");
    assert_eq!(problems[0]["kind"], "wrong-size");
    assert_eq!(out["objects_checked"], 2, "{out}");
    let run = env.hfgit(&repo, &["fsck"]);
    assert_eq!(run.code, 1, "fsck must fail on a wrong pointer: {}", run.stderr);
}
