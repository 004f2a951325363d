//! Clone and pull write each file once: a pull of a config-only change rewrites only
//! config.json (the weights keep their inode and mtime), and a clone writes every file once
//! from the network or the store, never twice.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

#[test]
fn a_config_only_pull_leaves_the_weights_untouched() {
    let env = Env::new();
    let repo = env.init("m");
    let w = data(5, 3 << 20);
    fs::write(repo.join("pytorch_model.bin"), &w).unwrap();
    env.hfgit(&repo, &["add", "--set", "hidden_size=8"]).ok();
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).ok();
    let c = env.path("c");
    let before = fs::metadata(c.join("pytorch_model.bin")).unwrap();
    let cfg_before = fs::metadata(c.join("config.json")).unwrap();

    env.hfgit(&repo, &["add", "--set", "hidden_size=16"]).ok();
    env.hfgit(&repo, &["commit", "-m", "config only"]).ok();
    env.hfgit(&repo, &["push", "../remote.git"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = env.hfgit(&c, &["pull", "--json"]).ok().json();
    assert_eq!(out["files_changed"], 1, "{out}");
    assert_eq!(out["downloaded_objects"], 0, "{out}");
    let after = fs::metadata(c.join("pytorch_model.bin")).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec()),
        "the weights were rewritten"
    );
    let cfg_after = fs::metadata(c.join("config.json")).unwrap();
    assert_ne!(cfg_after.ino(), cfg_before.ino(), "config.json is replaced through a rename");
    assert!(fs::read_to_string(c.join("config.json")).unwrap().contains("16"));
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), w);
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "");
}
