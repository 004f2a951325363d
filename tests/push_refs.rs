//! Pushing branches and tags (git's refspecs, `--tags`, `--all`, deletes, forced moves) to a local
//! bare remote and over HTTP (the forge scripts/test.sh starts), and cloning them back with
//! `--branch` and `--revision`; the real git + git-lfs check what the remote holds.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};

fn rev(env: &Env, repo: &Path, name: &str) -> String {
    env.git(repo, &["rev-parse", name]).ok().stdout.trim().to_string()
}

/// `git ls-remote` as a map: ref name → id (peeled tags as `<tag>^{}`).
fn ls_remote(env: &Env, url: &str) -> std::collections::BTreeMap<String, String> {
    let out = env.git(env.dir.path(), &["ls-remote", url]).ok().stdout;
    out.lines().filter_map(|l| l.split_once('\t')).map(|(id, name)| (name.to_string(), id.to_string())).collect()
}

/// Three epochs on main (tags `epoch-1` lightweight, `epoch-2` annotated, `epoch-3`), and a
/// branch `exp` off epoch 1 with weights of its own.
struct History {
    repo: PathBuf,
    weights: Vec<Vec<u8>>,
    commits: Vec<String>,
    exp_weights: Vec<u8>,
}

fn history(env: &Env) -> History {
    let repo = env.init("m");
    let mut weights = Vec::new();
    let mut commits = Vec::new();
    for epoch in 1..=3u64 {
        let w = data(1300 + epoch, 200_000 + epoch as usize);
        fs::write(repo.join("pytorch_model.bin"), &w).unwrap();
        fs::write(repo.join("config.json"), format!("{{\"epoch\": {epoch}}}\n")).unwrap();
        env.hfgit(&repo, &["commit", "-m", &format!("epoch {epoch}")]).ok();
        weights.push(w);
        commits.push(rev(env, &repo, "HEAD"));
    }
    env.hfgit(&repo, &["tag", "epoch-1", &commits[0]]).ok();
    env.hfgit(&repo, &["tag", "-m", "the second epoch", "epoch-2", &commits[1]]).ok();
    env.hfgit(&repo, &["tag", "epoch-3", &commits[2]]).ok();
    env.hfgit(&repo, &["switch", "-c", "exp", &commits[0]]).ok();
    let exp_weights = data(1399, 150_000);
    fs::write(repo.join("pytorch_model.bin"), &exp_weights).unwrap();
    env.hfgit(&repo, &["commit", "-m", "experiment"]).ok();
    env.hfgit(&repo, &["switch", "main"]).ok();
    History { repo, weights, commits, exp_weights }
}

/// A clone by the real git + git-lfs at `branch`: `git lfs fsck` clean, the weights' bytes.
fn git_lfs_clone(env: &Env, url: &str, branch: &str, dest: &str) -> Vec<u8> {
    let dir = env.path(dest);
    env.git(env.dir.path(), &["clone", "-q", "-b", branch, url, dest]).ok();
    env.git(&dir, &["lfs", "fsck"]).ok();
    fs::read(dir.join("pytorch_model.bin")).unwrap()
}

/// The history, with `origin` a bare repository yet to be created (`push --create`).
fn with_bare_origin(env: &Env) -> (History, PathBuf) {
    let h = history(env);
    let bare = env.path("r.git");
    env.git(&h.repo, &["remote", "add", "origin", bare.to_str().unwrap()]).ok();
    (h, bare)
}

#[track_caller]
fn action_of(out: &serde_json::Value, name: &str) -> String {
    let refs = out["refs"].as_array().unwrap_or_else(|| panic!("no refs in {out}"));
    let r = refs.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name} not in {out}"));
    r["action"].as_str().unwrap().to_string()
}

#[test]
fn branches_and_tags_to_a_bare_remote_then_clone_by_branch_tag_and_revision() {
    let env = Env::with_git_lfs();
    let (h, bare) = with_bare_origin(&env);
    let (repo, url) = (&h.repo, bare.to_str().unwrap());

    // the current branch, as before: the top-level fields describe it
    let out = env.hfgit(repo, &["push", "--create", "--json"]).ok().json();
    assert_eq!((out["branch"].as_str(), out["old"].is_null(), out["new"].as_str()), (Some("main"), true, Some(h.commits[2].as_str())));
    assert_eq!(out["uploaded_objects"], 3);
    assert_eq!(action_of(&out, "refs/heads/main"), "created");

    // a branch and every tag in one push: only exp's own object is new, sent once
    let out = env.hfgit(repo, &["push", "origin", "exp", "--tags", "--json"]).ok().json();
    assert_eq!(out["uploaded_objects"], 1, "{out}");
    assert_eq!(out["uploaded_bytes"], h.exp_weights.len());
    for t in ["refs/heads/exp", "refs/tags/epoch-1", "refs/tags/epoch-2", "refs/tags/epoch-3"] {
        assert_eq!(action_of(&out, t), "created", "{t}");
    }
    assert_eq!(out["totals"]["created"], 4);
    let remote = ls_remote(&env, url);
    for name in ["refs/heads/main", "refs/heads/exp", "refs/tags/epoch-1", "refs/tags/epoch-2", "refs/tags/epoch-3"] {
        assert_eq!(remote.get(name), Some(&rev(&env, repo, name)), "{name} on the remote");
    }
    assert_eq!(remote["refs/tags/epoch-2^{}"], h.commits[1], "the annotated tag object itself was pushed");
    assert_eq!(rev(&env, repo, "refs/remotes/origin/exp"), rev(&env, repo, "exp"));
    assert_eq!(env.git(repo, &["rev-parse", "-q", "--verify", "refs/remotes/origin/epoch-1"]).code, 1, "a tag got a tracking ref");
    // pushed again: nothing moves
    let out = env.hfgit(repo, &["push", "origin", "--tags", "--json"]).ok().json();
    assert_eq!((out["up_to_date"].as_bool(), out["totals"]["up_to_date"].as_u64()), (Some(true), Some(3)));

    // the real git + git-lfs find every object of every ref pushed
    assert_eq!(git_lfs_clone(&env, url, "exp", "g-exp"), h.exp_weights);
    assert_eq!(git_lfs_clone(&env, url, "epoch-2", "g-e2"), h.weights[1]);

    // clone --branch: a branch attaches, a tag detaches at its commit
    let out = env.hfgit(env.dir.path(), &["clone", url, "c-exp", "--branch", "exp", "--json"]).ok().json();
    assert_eq!((out["branch"].as_str(), out["detached"].as_bool()), (Some("exp"), Some(false)));
    assert_eq!(fs::read(env.path("c-exp/pytorch_model.bin")).unwrap(), h.exp_weights);
    assert_eq!(env.git(&env.path("c-exp"), &["symbolic-ref", "HEAD"]).ok().stdout.trim(), "refs/heads/exp");
    assert_eq!(env.git(&env.path("c-exp"), &["status", "--porcelain"]).ok().stdout, "");
    let out = env.hfgit(env.dir.path(), &["clone", url, "c-e2", "--branch", "epoch-2", "--json"]).ok().json();
    assert_eq!((out["branch"].is_null(), out["detached"].as_bool()), (true, Some(true)));
    assert_eq!(rev(&env, &env.path("c-e2"), "HEAD"), h.commits[1]);
    assert_eq!(fs::read(env.path("c-e2/pytorch_model.bin")).unwrap(), h.weights[1]);

    // clone --revision: detached at the commit, with that revision's LFS content only
    let out = env.hfgit(env.dir.path(), &["clone", url, "c-r1", "--revision", &h.commits[0], "--json"]).ok().json();
    assert_eq!(out["detached"], true);
    assert_eq!(out["downloaded_objects"], 1);
    let c = env.path("c-r1");
    assert_eq!(env.git(&c, &["symbolic-ref", "-q", "HEAD"]).code, 1, "HEAD is attached");
    assert_eq!(rev(&env, &c, "HEAD"), h.commits[0]);
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), h.weights[0]);
    assert!(!object_path(&c.join(".git"), &sha256_hex(&h.weights[2])).exists(), "another revision's object was downloaded");
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "");

    // a missing branch or revision: a clear error, no directory left behind
    let r = env.hfgit(env.dir.path(), &["clone", url, "c-none", "--branch", "nope"]).fails();
    assert!(r.stderr.contains("remote branch nope not found"), "{}", r.stderr);
    let r = env.hfgit(env.dir.path(), &["clone", url, "c-none", "--revision", &"0".repeat(40)]).fails();
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    assert!(!env.path("c-none").exists(), "a refused clone left its directory");
    let r = env.hfgit(env.dir.path(), &["clone", url, "c-none", "--branch", "exp", "--revision", &h.commits[0]]);
    assert_eq!(r.code, 2, "--branch with --revision: {}", r.stderr);
}

#[test]
fn refused_moves_deletes_and_refspecs_to_a_bare_remote() {
    let env = Env::with_git_lfs();
    let (h, bare) = with_bare_origin(&env);
    let (repo, url) = (&h.repo, bare.to_str().unwrap());
    let out = env.hfgit(repo, &["push", "--create", "--all", "--json"]).ok().json();
    assert_eq!((action_of(&out, "refs/heads/main"), action_of(&out, "refs/heads/exp")), ("created".into(), "created".into()));
    env.hfgit(repo, &["push", "origin", "epoch-1"]).ok();

    // one branch is not a fast-forward, the other is: the other is pushed (objects first), the
    // refused one stays, and the command says so
    env.git(repo, &["branch", "-f", "exp", &h.commits[1]]).ok();
    let w4 = data(1304, 120_000);
    fs::write(repo.join("pytorch_model.bin"), &w4).unwrap();
    env.hfgit(repo, &["commit", "-m", "epoch 4"]).ok();
    let exp_before = ls_remote(&env, url)["refs/heads/exp"].clone();
    let r = env.hfgit(repo, &["push", "origin", "main", "exp", "--json"]).fails();
    assert!(r.stderr.contains("non-fast-forward") && r.stderr.contains("exp"), "{}", r.stderr);
    let out = r.json();
    assert_eq!((action_of(&out, "refs/heads/main"), action_of(&out, "refs/heads/exp")), ("updated".into(), "rejected".into()));
    let remote = ls_remote(&env, url);
    assert_eq!(remote["refs/heads/main"], rev(&env, repo, "main"));
    assert_eq!(remote["refs/heads/exp"], exp_before);
    assert!(object_path(&bare, &sha256_hex(&w4)).exists(), "epoch 4's object was not uploaded");
    // forced with `+`: only that ref
    let out = env.hfgit(repo, &["push", "origin", "+exp", "--json"]).ok().json();
    assert_eq!(action_of(&out, "refs/heads/exp"), "forced");
    assert_eq!(ls_remote(&env, url)["refs/heads/exp"], h.commits[1]);

    // a tag that exists on the remote with another target moves only with --force
    env.hfgit(repo, &["tag", "-d", "epoch-1"]).ok();
    env.hfgit(repo, &["tag", "epoch-1", &h.commits[1]]).ok();
    let r = env.hfgit(repo, &["push", "origin", "epoch-1"]).fails();
    assert!(r.stderr.contains("epoch-1") && r.stderr.contains("already exists") && r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(ls_remote(&env, url)["refs/tags/epoch-1"], h.commits[0]);
    let out = env.hfgit(repo, &["push", "origin", "epoch-1", "--force", "--json"]).ok().json();
    assert_eq!(action_of(&out, "refs/tags/epoch-1"), "forced");
    assert_eq!(ls_remote(&env, url)["refs/tags/epoch-1"], h.commits[1]);

    // src:dst to a new name (the kind of the source), a commit to a full ref name
    let out = env.hfgit(repo, &["push", "origin", "exp:exp-copy", &format!("{}:refs/heads/first", h.commits[0]), "--json"]).ok().json();
    assert_eq!((action_of(&out, "refs/heads/exp-copy"), action_of(&out, "refs/heads/first")), ("created".into(), "created".into()));
    let remote = ls_remote(&env, url);
    assert_eq!(
        (remote["refs/heads/exp-copy"].as_str(), remote["refs/heads/first"].as_str()),
        (h.commits[1].as_str(), h.commits[0].as_str())
    );
    let r = env.hfgit(repo, &["push", "origin", &h.commits[0]]).fails();
    assert!(r.stderr.contains(":refs/heads/<name>"), "{}", r.stderr);

    // deleting: the remote ref and its tracking ref go; a ref the remote lacks is an error
    let out = env.hfgit(repo, &["push", "origin", ":exp-copy", "--json"]).ok().json();
    assert_eq!(action_of(&out, "refs/heads/exp-copy"), "deleted");
    assert!(!ls_remote(&env, url).contains_key("refs/heads/exp-copy"));
    assert_eq!(env.git(repo, &["rev-parse", "-q", "--verify", "refs/remotes/origin/exp-copy"]).code, 1, "tracking ref kept");
    let r = env.hfgit(repo, &["push", "origin", ":never-there"]).fails();
    assert!(r.stderr.contains("never-there"), "{}", r.stderr);

    // ambiguous names, and a detached HEAD without a refspec, are refused naming the way out
    env.git(repo, &["branch", "epoch-3", &h.commits[2]]).ok();
    let r = env.hfgit(repo, &["push", "origin", "epoch-3"]).fails();
    assert!(r.stderr.contains("both a branch and a tag") && r.stderr.contains("refs/tags/epoch-3"), "{}", r.stderr);
    let before = ls_remote(&env, url);
    env.git(repo, &["checkout", "-q", "--detach", &h.commits[2]]).ok();
    let r = env.hfgit(repo, &["push"]).fails();
    assert!(r.stderr.contains("detached") && r.stderr.contains("HEAD:refs/heads/<name>"), "{}", r.stderr);
    assert_eq!(ls_remote(&env, url), before, "a refused push changed the remote");
    env.hfgit(repo, &["push", "origin", "HEAD:refs/heads/from-detached"]).ok();
    assert_eq!(ls_remote(&env, url)["refs/heads/from-detached"], h.commits[2]);
    assert_eq!(git_lfs_clone(&env, url, "from-detached", "g"), h.weights[2]);
}

fn peer(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run the tests with scripts/test.sh, which starts the LFS servers"))
}

#[test]
fn branches_and_tags_over_http_to_git_http_backend_and_giftless() {
    let forge = peer("HFGIT_TEST_FORGE");
    let env = Env::with_git_lfs();
    let h = history(&env);
    let repo = &h.repo;
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let url = format!("{forge}/hfgit/refs-{}-{t}.git", std::process::id());
    env.git(repo, &["remote", "add", "origin", &url]).ok();

    let out = env.hfgit(repo, &["push", "--all", "--json"]).ok().json();
    assert_eq!(out["uploaded_objects"], 4, "{out}");
    assert_eq!(out["totals"]["created"], 2);
    let out = env.hfgit(repo, &["push", "origin", "--tags", "--json"]).ok().json();
    assert_eq!((out["uploaded_objects"].as_u64(), out["totals"]["created"].as_u64()), (Some(0), Some(3)), "{out}");
    let remote = ls_remote(&env, &url);
    for name in ["refs/heads/main", "refs/heads/exp", "refs/tags/epoch-1", "refs/tags/epoch-2", "refs/tags/epoch-3"] {
        assert_eq!(remote.get(name), Some(&rev(&env, repo, name)), "{name} on the forge");
    }

    // git + git-lfs: every ref's objects are on giftless
    assert_eq!(git_lfs_clone(&env, &url, "exp", "g-exp"), h.exp_weights);
    assert_eq!(git_lfs_clone(&env, &url, "epoch-2", "g-e2"), h.weights[1]);
    // hfgit clone by tag and by commit
    env.hfgit(env.dir.path(), &["clone", &url, "c-e1", "--branch", "epoch-1"]).ok();
    assert_eq!(rev(&env, &env.path("c-e1"), "HEAD"), h.commits[0]);
    assert_eq!(fs::read(env.path("c-e1/pytorch_model.bin")).unwrap(), h.weights[0]);
    env.hfgit(env.dir.path(), &["clone", &url, "c-r2", "--revision", &h.commits[1]]).ok();
    assert_eq!(rev(&env, &env.path("c-r2"), "HEAD"), h.commits[1]);
    assert_eq!(fs::read(env.path("c-r2/pytorch_model.bin")).unwrap(), h.weights[1]);
    let r = env.hfgit(env.dir.path(), &["clone", &url, "c-none", "--branch", "nope"]).fails();
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    assert!(!env.path("c-none").exists());

    // a new branch from a tag, then deleted
    env.hfgit(repo, &["push", "origin", "epoch-3:refs/heads/release"]).ok();
    assert_eq!(ls_remote(&env, &url)["refs/heads/release"], h.commits[2]);
    let out = env.hfgit(repo, &["push", "origin", ":release", ":exp", "--json"]).ok().json();
    assert_eq!(out["totals"]["deleted"], 2);
    let remote = ls_remote(&env, &url);
    assert!(!remote.contains_key("refs/heads/release") && !remote.contains_key("refs/heads/exp"), "{remote:?}");
    assert_eq!(remote["refs/heads/main"], h.commits[2]);
}

/// `hfgit init` installs a pre-push hook, so plain `git push` (no git-lfs anywhere) uploads the
/// objects; without the hook, `hfgit push` repairs the remote even when every ref is up to date,
/// and `--all-objects` repairs refs it is not pushing.
#[test]
fn plain_git_push_through_the_hook_and_repairs_by_hfgit_push() {
    let forge = peer("HFGIT_TEST_FORGE");
    let env = Env::new();
    let checker = Env::with_git_lfs();
    let repo = env.init("m");
    let hook = repo.join(".git/hooks/pre-push");
    assert!(fs::read_to_string(&hook).unwrap().contains("lfs-pre-push"), "no hfgit pre-push hook");
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let url = format!("{forge}/hfgit/hook-{}-{t}.git", std::process::id());
    env.git(&repo, &["remote", "add", "origin", &url]).ok();
    let w1 = data(1401, 300_000);
    fs::write(repo.join("pytorch_model.bin"), &w1).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 1"]).ok();
    let r = env.git(&repo, &["push", "-q", "origin", "main"]).ok();
    assert!(r.stderr.contains("uploaded 1 object"), "{}", r.stderr);
    assert_eq!(git_lfs_clone(&checker, &url, "main", "g1"), w1);

    // no hook: git sends the commit, not the object
    fs::remove_file(&hook).unwrap();
    let w2 = data(1402, 310_000);
    fs::write(repo.join("pytorch_model.bin"), &w2).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2"]).ok();
    env.git(&repo, &["push", "-q", "origin", "main"]).ok();
    let r = checker.git(checker.dir.path(), &["clone", "-q", &url, "g2"]);
    assert_ne!(r.code, 0, "git-lfs found an object nobody uploaded: {}", r.stderr);
    // hfgit push: everything up to date, and the missing object goes up
    let out = env.hfgit(&repo, &["push", "--json"]).ok().json();
    assert_eq!((out["up_to_date"].as_bool(), out["uploaded_objects"].as_u64()), (Some(true), Some(1)), "{out}");
    assert_eq!(out["uploaded_bytes"], w2.len());
    assert_eq!(git_lfs_clone(&checker, &url, "main", "g3"), w2);

    // a branch pushed by plain git: repaired by --all-objects, not by a push of main
    env.hfgit(&repo, &["switch", "-c", "side"]).ok();
    let w3 = data(1403, 320_000);
    fs::write(repo.join("pytorch_model.bin"), &w3).unwrap();
    env.hfgit(&repo, &["commit", "-m", "side"]).ok();
    env.git(&repo, &["push", "-q", "origin", "side"]).ok();
    env.hfgit(&repo, &["switch", "main"]).ok();
    assert_eq!(env.hfgit(&repo, &["push", "--json"]).ok().json()["uploaded_objects"], 0);
    let out = env.hfgit(&repo, &["push", "--all-objects", "--json"]).ok().json();
    assert_eq!((out["uploaded_objects"].as_u64(), out["skipped_objects"].as_u64()), (Some(1), Some(2)), "{out}");
    assert_eq!(git_lfs_clone(&checker, &url, "side", "g4"), w3);

    // clone installs the hook too; a hook that exists is never replaced
    env.hfgit(env.dir.path(), &["clone", &url, "c"]).ok();
    assert!(fs::read_to_string(env.path("c/.git/hooks/pre-push")).unwrap().contains("lfs-pre-push"));
    env.git(env.dir.path(), &["init", "-q", "own"]).ok();
    fs::create_dir_all(env.path("own/.git/hooks")).unwrap();
    fs::write(env.path("own/.git/hooks/pre-push"), "#!/bin/sh\n# mine\n").unwrap();
    env.hfgit(env.dir.path(), &["init", "own"]).ok();
    assert_eq!(fs::read_to_string(env.path("own/.git/hooks/pre-push")).unwrap(), "#!/bin/sh\n# mine\n");
}
