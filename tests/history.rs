//! Working with history using hfgit alone (no git-lfs on PATH or in config): commits that honour
//! a merge in progress, checkout, restore, switch, branches and tags, with LFS content.

mod common;
use common::*;
use std::fs;
use std::path::Path;

fn head(env: &Env, repo: &Path) -> String {
    env.git(repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string()
}

fn store_has(repo: &Path, bytes: &[u8]) -> bool {
    object_path(&repo.join(".git"), &sha256_hex(bytes)).exists()
}

/// A merge started by plain `git merge` (no git-lfs) on two branches that both changed the
/// weights: the pointers get conflict markers. hfgit commit refuses while the path is unmerged,
/// refuses the conflict-marker text once it is `git add`ed, and after a real resolution records
/// a two-parent commit and clears the merge state.
#[test]
fn commit_honours_a_merge_started_by_plain_git() {
    let env = Env::new();
    let repo = env.init("m");
    let (w1, w2, w3, w4) = (data(1, 100_000), data(2, 100_000), data(3, 100_000), data(4, 100_000));
    fs::write(repo.join("pytorch_model.bin"), &w1).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 1"]).ok();
    env.git(&repo, &["branch", "other"]).ok();
    fs::write(repo.join("pytorch_model.bin"), &w2).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2"]).ok();
    env.git(&repo, &["checkout", "-q", "other"]).ok();
    fs::write(repo.join("pytorch_model.bin"), &w3).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2, other run"]).ok();
    let theirs = head(&env, &repo);
    env.git(&repo, &["checkout", "-q", "main"]).ok();
    let ours = head(&env, &repo);
    let m = env.git(&repo, &["merge", "other", "-m", "merge other"]);
    assert_eq!(m.code, 1, "the merge should conflict: {}{}", m.stdout, m.stderr);
    let text = fs::read_to_string(repo.join("pytorch_model.bin")).unwrap();
    assert!(text.contains("<<<<<<<") && text.contains("oid sha256:"), "{text}");

    // unmerged: refused, naming the path; status says so
    let r = env.hfgit(&repo, &["commit", "-m", "merged"]).fails();
    assert!(r.stderr.contains("unmerged") && r.stderr.contains("pytorch_model.bin"), "{}", r.stderr);
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["merging"], true);
    assert_eq!(st["unmerged"][0], "pytorch_model.bin");
    assert_eq!(head(&env, &repo), ours);

    // the conflict-marker pointer, `git add`ed: refused, never stored
    env.git(&repo, &["add", "pytorch_model.bin"]).ok();
    let r = env.hfgit(&repo, &["commit", "-m", "merged"]).fails();
    assert!(r.stderr.contains("not a valid pointer") && r.stderr.contains("pytorch_model.bin"), "{}", r.stderr);
    assert!(!store_has(&repo, text.as_bytes()), "the conflict text was stored as an LFS object");
    assert_eq!(head(&env, &repo), ours);
    assert!(repo.join(".git/MERGE_HEAD").exists());

    // resolved with real content: a merge commit with MERGE_HEAD as second parent
    fs::write(repo.join("pytorch_model.bin"), &w4).unwrap();
    env.git(&repo, &["add", "pytorch_model.bin"]).ok();
    let out = env.hfgit(&repo, &["commit", "-m", "merged", "--json"]).ok().json();
    assert_eq!(out["merged"][0], theirs.as_str());
    let cat = env.git(&repo, &["cat-file", "-p", "HEAD"]).ok().stdout;
    let parents: Vec<&str> = cat.lines().filter_map(|l| l.strip_prefix("parent ")).collect();
    assert_eq!(parents, [ours.as_str(), theirs.as_str()], "{cat}");
    for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"] {
        assert!(!repo.join(".git").join(f).exists(), "{f} left behind");
    }
    let blob = env.git(&repo, &["cat-file", "-p", "HEAD:pytorch_model.bin"]).ok().stdout;
    assert_eq!(blob, pointer_text(&w4));
    assert!(store_has(&repo, &w4));
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w4);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["merging"], false);
}

#[test]
fn commit_refuses_during_a_cherry_pick() {
    let env = Env::new();
    let repo = env.init("m");
    fs::write(repo.join("pytorch_model.bin"), data(1, 1000)).unwrap();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    let h = head(&env, &repo);
    fs::write(repo.join(".git/CHERRY_PICK_HEAD"), format!("{h}\n")).unwrap();
    fs::write(repo.join("pytorch_model.bin"), data(2, 1000)).unwrap();
    let r = env.hfgit(&repo, &["commit", "-m", "two"]).fails();
    assert!(r.stderr.contains("cherry-pick is in progress") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(head(&env, &repo), h);
}
