//! Against real servers on loopback, started by scripts/test.sh: git smart HTTP through nginx +
//! `git http-backend`, LFS through giftless (same URL) or rudolfs (`.lfsconfig`). hfgit pushes;
//! the real git + git-lfs and hfgit clone; the bytes must match.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};

fn peer(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run the tests with scripts/test.sh, which starts the LFS servers"))
}

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{t}", std::process::id())
}

fn weights_repo(env: &Env) -> (PathBuf, Vec<(String, Vec<u8>)>) {
    let repo = env.init("m");
    let files = vec![("pytorch_model.bin".to_string(), data(700, 3_000_000)), ("optimizer.pt".to_string(), data(701, 1_000_000))];
    for (n, c) in &files {
        fs::write(repo.join(n), c).unwrap();
    }
    env.hfgit(&repo, &["add", "--set", "hidden_size=128"]).ok();
    (repo, files)
}

fn git_lfs_clone(env: &Env, url: &str, dest: &Path) {
    env.git(env.dir.path(), &["clone", "-q", url, dest.to_str().unwrap()]).ok();
    env.git(dest, &["lfs", "fsck"]).ok();
}

fn check_files(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (n, c) in files {
        assert!(fs::read(dir.join(n)).unwrap() == *c, "{n} differs in {}", dir.display());
    }
}

#[test]
fn giftless_behind_nginx_with_git_http_backend() {
    let forge = peer("HFGIT_TEST_FORGE");
    let env = Env::with_git_lfs();
    let (repo, files) = weights_repo(&env);
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    let url = format!("{forge}/hfgit/{}.git", unique("giftless"));
    env.git(&repo, &["remote", "add", "origin", &url]).ok();
    let r = env.hfgit(&repo, &["push", "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 2);
    assert_eq!(r["uploaded_bytes"], 4_000_000);

    git_lfs_clone(&env, &url, &env.path("gitclone"));
    check_files(&env.path("gitclone"), &files);
    env.hfgit(env.dir.path(), &["clone", &url, "hc"]).ok();
    check_files(&env.path("hc"), &files);
    assert_eq!(env.git(&env.path("hc"), &["status", "--porcelain"]).ok().stdout, "");

    // history: a config-only commit moves no LFS bytes; the other clone pulls it
    env.hfgit(&repo, &["add", "--set", "hidden_size=256"]).ok();
    env.hfgit(&repo, &["commit", "-m", "config"]).ok();
    let r = env.hfgit(&repo, &["push", "--json"]).ok().json();
    assert_eq!(r["uploaded_bytes"], 0);
    let w2 = data(702, 2_000_000);
    fs::write(repo.join("pytorch_model.bin"), &w2).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2"]).ok();
    env.hfgit(&repo, &["push"]).ok();
    env.hfgit(&env.path("hc"), &["pull"]).ok();
    assert_eq!(fs::read(env.path("hc/pytorch_model.bin")).unwrap(), w2);
    env.git(&env.path("gitclone"), &["pull", "-q"]).ok();
    assert_eq!(fs::read(env.path("gitclone/pytorch_model.bin")).unwrap(), w2);

    // non-fast-forward over HTTP is refused
    env.hfgit(&env.path("hc"), &["add", "--set", "who=hc"]).ok();
    env.hfgit(&env.path("hc"), &["commit", "-m", "hc"]).ok();
    env.hfgit(&env.path("hc"), &["push"]).ok();
    env.hfgit(&repo, &["add", "--set", "who=repo"]).ok();
    env.hfgit(&repo, &["commit", "-m", "repo"]).ok();
    let r = env.hfgit(&repo, &["push"]).fails();
    assert!(r.stderr.contains("non-fast-forward"), "{}", r.stderr);
}

#[test]
fn rudolfs_for_lfs_with_git_on_the_forge() {
    let forge = peer("HFGIT_TEST_FORGE");
    let rudolfs = peer("HFGIT_TEST_RUDOLFS");
    let env = Env::with_git_lfs();
    let (repo, files) = weights_repo(&env);
    let name = unique("rudolfs");
    fs::write(repo.join(".lfsconfig"), format!("[lfs]\n\turl = {rudolfs}/api/hfgit/{name}\n")).unwrap();
    // the user's own .lfsconfig, trusted in so many words (a committed one is not, by default)
    env.git(&repo, &["config", "hfgit.trustLfsconfig", "true"]).ok();
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    let url = format!("{forge}/hfgit/{name}.git");
    let r = env.hfgit(&repo, &["push", &url, "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 2);
    git_lfs_clone(&env, &url, &env.path("gitclone"));
    check_files(&env.path("gitclone"), &files);
    env.hfgit(env.dir.path(), &["clone", &url, "hc"]).ok();
    check_files(&env.path("hc"), &files);
    // pushed again from elsewhere: rudolfs already has everything
    let r = env.hfgit(&env.path("hc"), &["push", &url, "--json"]).ok().json();
    assert_eq!(r["up_to_date"], true);
}

#[test]
fn a_repository_pushed_by_git_lfs_is_cloned_by_hfgit() {
    let forge = peer("HFGIT_TEST_FORGE");
    let env = Env::with_git_lfs();
    let w = env.path("w");
    env.git(env.dir.path(), &["init", "-q", "w"]).ok();
    env.git(&w, &["lfs", "track", "*.safetensors"]).ok();
    let content = data(703, 1_500_000);
    fs::write(w.join("model.safetensors"), &content).unwrap();
    env.git(&w, &["add", "."]).ok();
    env.git(&w, &["commit", "-qm", "by git"]).ok();
    let url = format!("{forge}/hfgit/{}.git", unique("gitlfs"));
    env.git(&w, &["push", "-q", &url, "main"]).ok();
    env.hfgit(env.dir.path(), &["clone", &url, "hc"]).ok();
    assert_eq!(fs::read(env.path("hc/model.safetensors")).unwrap(), content);
}
