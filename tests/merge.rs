//! Merging with hfgit alone (no git-lfs on PATH or in config): clean merges, LFS and text
//! conflicts, picking a side, aborting, local changes in the way, `pull --merge`; then the
//! results cross-checked with real git and git-lfs.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};

fn head(env: &Env, repo: &Path) -> String {
    env.git(repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string()
}

fn parents(env: &Env, repo: &Path, rev: &str) -> Vec<String> {
    let cat = env.git(repo, &["cat-file", "-p", rev]).ok().stdout;
    cat.lines().filter_map(|l| l.strip_prefix("parent ")).map(str::to_string).collect()
}

#[track_caller]
fn assert_clean(env: &Env, repo: &Path) {
    assert_eq!(env.git(repo, &["status", "--porcelain"]).ok().stdout, "", "git status is not clean");
    let st = env.hfgit(repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"].as_array().unwrap().len(), 0, "{st}");
    assert_eq!(st["merging"], false, "{st}");
}

/// A repository with weights, config.json and README.md on main, and a branch `other` made
/// from that commit. Returns the work tree and the base weights.
fn forked(env: &Env) -> (PathBuf, Vec<u8>) {
    let repo = env.init("m");
    let w0 = data(1, 200_000);
    fs::write(repo.join("pytorch_model.bin"), &w0).unwrap();
    fs::write(repo.join("config.json"), "{\"epoch\": 0}\n").unwrap();
    fs::write(repo.join("README.md"), "# model\n\nline one\nline two\nline three\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "base"]).ok();
    env.hfgit(&repo, &["branch", "other"]).ok();
    (repo, w0)
}

/// Commits `files` on `branch` (switching to it with hfgit), then switches back to main.
fn commit_on(env: &Env, repo: &Path, branch: &str, files: &[(&str, &[u8])], msg: &str) -> String {
    env.hfgit(repo, &["switch", branch]).ok();
    for (p, bytes) in files {
        fs::write(repo.join(p), bytes).unwrap();
    }
    env.hfgit(repo, &["commit", "-m", msg]).ok();
    let id = head(env, repo);
    env.hfgit(repo, &["switch", "main"]).ok();
    id
}

#[test]
fn a_clean_merge_of_different_files_records_two_parents() {
    let env = Env::new();
    let (repo, _) = forked(&env);
    let w_theirs = data(2, 150_000);
    let theirs = commit_on(&env, &repo, "other", &[("pytorch_model.bin", &w_theirs)], "retrain");
    fs::write(repo.join("config.json"), "{\"epoch\": 1}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "config"]).ok();
    let ours = head(&env, &repo);

    let out = env.hfgit(&repo, &["merge", "other", "--json"]).ok().json();
    assert_eq!(out["fast_forward"], false);
    assert_eq!(out["conflicts"].as_array().unwrap().len(), 0);
    let merged = head(&env, &repo);
    assert_eq!(out["commit"], merged.as_str());
    assert_eq!(parents(&env, &repo, "HEAD"), [ours.clone(), theirs.clone()]);
    assert_eq!(env.git(&repo, &["log", "-1", "--format=%s"]).ok().stdout.trim(), "Merge branch 'other'");
    // both sides' contents, weights as content (not a pointer), the pointer in the commit
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w_theirs);
    assert_eq!(fs::read_to_string(repo.join("config.json")).unwrap(), "{\"epoch\": 1}\n");
    assert_eq!(env.git(&repo, &["cat-file", "-p", "HEAD:pytorch_model.bin"]).ok().stdout, pointer_text(&w_theirs));
    assert!(!repo.join(".git/MERGE_HEAD").exists());
    assert_clean(&env, &repo);

    // merging again: up to date; merging an ancestor too
    let out = env.hfgit(&repo, &["merge", "other", "--json"]).ok().json();
    assert_eq!(out["up_to_date"], true);
    assert_eq!(head(&env, &repo), merged);
    // the other branch fast-forwards to the merge, with content
    env.hfgit(&repo, &["switch", "other"]).ok();
    let out = env.hfgit(&repo, &["merge", "main", "--ff-only", "--json"]).ok().json();
    assert_eq!(out["fast_forward"], true);
    assert_eq!(head(&env, &repo), merged);
    assert_eq!(fs::read_to_string(repo.join("config.json")).unwrap(), "{\"epoch\": 1}\n");
    assert_clean(&env, &repo);

    // --ff-only refuses a real merge and changes nothing; --no-commit stops before committing
    fs::write(repo.join("notes.txt"), "other side\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "notes"]).ok();
    env.hfgit(&repo, &["switch", "main"]).ok();
    fs::write(repo.join("config.json"), "{\"epoch\": 2}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2"]).ok();
    let before = snapshot(&repo);
    let main = head(&env, &repo);
    let r = env.hfgit(&repo, &["merge", "other", "--ff-only"]).fails();
    assert!(r.stderr.contains("diverged") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    let out = env.hfgit(&repo, &["merge", "other", "--no-commit", "--json"]).ok().json();
    assert!(out["commit"].is_null(), "{out}");
    assert_eq!(head(&env, &repo), main);
    assert_eq!(fs::read_to_string(repo.join("notes.txt")).unwrap(), "other side\n");
    assert!(repo.join(".git/MERGE_HEAD").exists());
    assert_eq!(env.hfgit(&repo, &["status", "--json"]).ok().json()["merging"], true);
    env.hfgit(&repo, &["commit", "-m", "merge notes"]).ok();
    assert_eq!(parents(&env, &repo, "HEAD").len(), 2);
    assert_clean(&env, &repo);
}

#[test]
fn an_lfs_conflict_keeps_ours_without_markers_and_theirs_resolves_it() {
    let env = Env::new();
    let (repo, _) = forked(&env);
    let (w_ours, w_theirs) = (data(3, 120_000), data(4, 180_000));
    let theirs = commit_on(&env, &repo, "other", &[("pytorch_model.bin", &w_theirs)], "theirs");
    fs::write(repo.join("pytorch_model.bin"), &w_ours).unwrap();
    env.hfgit(&repo, &["commit", "-m", "ours"]).ok();
    let ours = head(&env, &repo);

    let r = env.hfgit(&repo, &["merge", "other", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = r.json();
    assert_eq!(out["conflicts"][0]["path"], "pytorch_model.bin");
    assert_eq!(out["conflicts"][0]["lfs"], true);
    assert_eq!(out["conflicts"][0]["markers"], false);
    assert!(out["commit"].is_null());
    // the work tree keeps our bytes, no conflict markers anywhere in it
    let bytes = fs::read(repo.join("pytorch_model.bin")).unwrap();
    assert_eq!(bytes, w_ours);
    assert!(!bytes.windows(7).any(|w| w == b"<<<<<<<"));
    // the index holds stages 1, 2, 3: base, our and their pointers
    let u = env.git(&repo, &["ls-files", "-u"]).ok().stdout;
    let stages: Vec<&str> = u.lines().map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(stages, ["1", "2", "3"], "{u}");
    let their_blob = env.git(&repo, &["rev-parse", ":3:pytorch_model.bin"]).ok().stdout;
    assert_eq!(env.git(&repo, &["cat-file", "-p", their_blob.trim()]).ok().stdout, pointer_text(&w_theirs));
    assert_eq!(fs::read_to_string(repo.join(".git/MERGE_HEAD")).unwrap().trim(), theirs);
    assert!(fs::read_to_string(repo.join(".git/MERGE_MSG")).unwrap().contains("#\tpytorch_model.bin"));
    assert_eq!(head(&env, &repo), ours);
    // status: merging, the path unmerged; commit refused
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["merging"], true);
    assert_eq!(st["unmerged"][0], "pytorch_model.bin");
    let text = env.hfgit(&repo, &["status"]).ok().stdout;
    assert!(text.contains("merge is in progress") && text.contains("U  pytorch_model.bin"), "{text}");
    env.hfgit(&repo, &["commit", "-m", "too early"]).fails();
    // a second merge is refused while this one is in progress
    let r = env.hfgit(&repo, &["merge", "other"]).fails();
    assert!(r.stderr.contains("already in progress"), "{}", r.stderr);

    // --theirs: their bytes, the path resolved; --ours on a resolved path is refused
    let r = env.hfgit(&repo, &["checkout", "--theirs", "pytorch_model.bin"]).ok();
    assert!(r.stderr.contains("resolved"), "{}", r.stderr);
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w_theirs);
    assert_eq!(env.git(&repo, &["ls-files", "-u"]).ok().stdout, "");
    let r = env.hfgit(&repo, &["checkout", "--ours", "pytorch_model.bin"]).fails();
    assert!(r.stderr.contains("is not unmerged"), "{}", r.stderr);
    let out = env.hfgit(&repo, &["commit", "-m", "take theirs", "--json"]).ok().json();
    assert_eq!(out["merged"][0], theirs.as_str());
    assert_eq!(parents(&env, &repo, "HEAD"), [ours, theirs]);
    assert_eq!(env.git(&repo, &["cat-file", "-p", "HEAD:pytorch_model.bin"]).ok().stdout, pointer_text(&w_theirs));
    assert_clean(&env, &repo);
}

#[test]
fn a_text_conflict_gets_markers_and_ours_resolves_it() {
    let env = Env::new();
    let (repo, _) = forked(&env);
    let their_readme = b"# model\n\nline one\nTHEIR line two\nline three\n";
    commit_on(&env, &repo, "other", &[("README.md", their_readme), ("extra.txt", b"from other\n")], "theirs");
    let our_readme = b"# model\n\nline one\nOUR line two\nline three\n";
    fs::write(repo.join("README.md"), our_readme).unwrap();
    env.hfgit(&repo, &["commit", "-m", "ours"]).ok();

    let r = env.hfgit(&repo, &["merge", "other"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("CONFLICT README.md"), "{}", r.stdout);
    let text = fs::read_to_string(repo.join("README.md")).unwrap();
    assert!(text.contains("<<<<<<< HEAD\nOUR line two\n=======\nTHEIR line two\n>>>>>>> other\n"), "{text}");
    // the clean part of the merge is in the work tree and the index
    assert_eq!(fs::read_to_string(repo.join("extra.txt")).unwrap(), "from other\n");
    let porcelain = env.git(&repo, &["status", "--porcelain"]).ok().stdout;
    assert_eq!(porcelain, "UU README.md\nA  extra.txt\n");
    // --ours from a subdirectory (paths relative to it): our text back, resolved
    fs::create_dir(repo.join("sub")).unwrap();
    env.hfgit(&repo.join("sub"), &["checkout", "--ours", "../README.md"]).ok();
    assert_eq!(fs::read(repo.join("README.md")).unwrap(), our_readme);
    env.hfgit(&repo, &["commit", "-m", "merged"]).ok();
    assert_eq!(parents(&env, &repo, "HEAD").len(), 2);
    assert_clean(&env, &repo);
}

#[test]
fn abort_restores_the_pre_merge_state() {
    let env = Env::new();
    let (repo, _) = forked(&env);
    let (w_ours, w_theirs) = (data(5, 90_000), data(6, 110_000));
    commit_on(&env, &repo, "other", &[("pytorch_model.bin", &w_theirs), ("README.md", b"theirs\n"), ("new.txt", b"new\n")], "theirs");
    fs::write(repo.join("pytorch_model.bin"), &w_ours).unwrap();
    fs::write(repo.join("README.md"), "ours\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "ours"]).ok();
    let ours = head(&env, &repo);
    // a local change the merge does not touch survives the merge and the abort, as with git
    fs::write(repo.join("config.json"), "{\"mine\": true}\n").unwrap();
    let before = snapshot(&repo);

    assert_eq!(env.hfgit(&repo, &["merge", "other"]).code, 1);
    assert!(repo.join("new.txt").exists());
    assert_ne!(snapshot(&repo), before);
    let r = env.hfgit(&repo, &["merge", "--abort"]).ok();
    assert!(r.stderr.contains("Merge aborted"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(head(&env, &repo), ours);
    for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"] {
        assert!(!repo.join(".git").join(f).exists(), "{f} left behind");
    }
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, " M config.json\n");
    let r = env.hfgit(&repo, &["merge", "--abort"]).fails();
    assert!(r.stderr.contains("no merge to abort"), "{}", r.stderr);

    // a merge started by plain git (conflict markers in the pointer) is aborted too
    fs::write(repo.join("config.json"), "{\"epoch\": 0}\n").unwrap();
    let m = env.git(&repo, &["merge", "other"]);
    assert_eq!(m.code, 1, "{}{}", m.stdout, m.stderr);
    assert!(fs::read_to_string(repo.join("pytorch_model.bin")).unwrap().contains("<<<<<<<"));
    env.hfgit(&repo, &["merge", "--abort"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w_ours);
    assert_eq!(fs::read_to_string(repo.join("README.md")).unwrap(), "ours\n");
    assert!(!repo.join("new.txt").exists());
    assert_eq!(head(&env, &repo), ours);
    assert_clean(&env, &repo);
}

#[test]
fn local_changes_in_the_way_stop_the_merge_and_change_nothing() {
    let env = Env::new();
    let (repo, _) = forked(&env);
    commit_on(&env, &repo, "other", &[("pytorch_model.bin", &data(7, 50_000)), ("new.txt", b"theirs\n")], "theirs");
    fs::write(repo.join("config.json"), "{\"epoch\": 1}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "ours"]).ok();
    let ours = head(&env, &repo);
    let mine = data(8, 4000);
    fs::write(repo.join("pytorch_model.bin"), &mine).unwrap();
    fs::write(repo.join("new.txt"), "untracked, mine\n").unwrap();
    let before = snapshot(&repo);
    let index_before = fs::read(repo.join(".git/index")).unwrap();
    let r = env.hfgit(&repo, &["merge", "other"]).fails();
    assert!(r.stderr.contains("would be overwritten by merge"), "{}", r.stderr);
    assert!(r.stderr.contains("pytorch_model.bin") && r.stderr.contains("new.txt"), "{}", r.stderr);
    assert!(!r.stderr.contains("config.json"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(fs::read(repo.join(".git/index")).unwrap(), index_before);
    assert_eq!(head(&env, &repo), ours);
    assert!(!repo.join(".git/MERGE_HEAD").exists());
    // a staged change (index differs from HEAD), even to a file the merge does not touch
    fs::write(repo.join("pytorch_model.bin"), data(1, 200_000)).unwrap();
    fs::remove_file(repo.join("new.txt")).unwrap();
    env.hfgit(&repo, &["restore", "--source", "HEAD~1", "config.json"]).ok();
    let before = snapshot(&repo);
    let r = env.hfgit(&repo, &["merge", "other"]).fails();
    assert!(r.stderr.contains("the index has changes") && r.stderr.contains("config.json"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(head(&env, &repo), ours);
    // a fast-forward is refused by the same rule as checkout
    env.hfgit(&repo, &["restore", "config.json"]).ok();
    env.hfgit(&repo, &["switch", "-c", "behind", "HEAD~1"]).ok();
    fs::write(repo.join("config.json"), "mine\n").unwrap();
    let before = snapshot(&repo);
    let r = env.hfgit(&repo, &["merge", "main"]).fails();
    assert!(r.stderr.contains("would be overwritten by merge") && r.stderr.contains("config.json"), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(head(&env, &repo), env.git(&repo, &["rev-parse", "main~1"]).ok().stdout.trim());
}

/// Two clones of one bare remote; the other side pushes, this side committed too.
fn diverged_clones(env: &Env, branch: &str) -> (PathBuf, PathBuf, Vec<u8>, Vec<u8>) {
    let (repo, _) = forked(env);
    let bare = env.path("remote.git");
    env.git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]).ok();
    env.hfgit(&repo, &["push", "--create"]).ok();
    if branch != "main" {
        env.hfgit(&repo, &["switch", "-c", branch]).ok();
        env.git(&repo, &["push", "-q", "-u", "origin", branch]).ok();
    }
    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "other-clone"]).ok();
    let other = env.path("other-clone");
    if branch != "main" {
        env.git(&other, &["checkout", "-q", "-b", branch, &format!("origin/{branch}")]).ok();
    }
    let w_theirs = data(9, 170_000);
    fs::write(other.join("pytorch_model.bin"), &w_theirs).unwrap();
    env.hfgit(&other, &["commit", "-m", "retrained elsewhere"]).ok();
    env.hfgit(&other, &["push"]).ok();
    let w_ours = data(10, 30_000);
    fs::write(repo.join("tokenizer.bin"), &w_ours).unwrap();
    env.hfgit(&repo, &["commit", "-m", "tokenizer"]).ok();
    (repo, other, w_theirs, w_ours)
}

#[test]
fn pull_merge_joins_what_the_other_side_pushed_on_any_branch() {
    for branch in ["main", "dev"] {
        let env = Env::new();
        let (repo, _other, w_theirs, w_ours) = diverged_clones(&env, branch);
        let ours = head(&env, &repo);
        // without --merge: refused, naming the way forward, nothing changed
        let before = snapshot(&repo);
        let r = env.hfgit(&repo, &["pull"]).fails();
        assert!(r.stderr.contains("diverged") && r.stderr.contains("hfgit pull --merge"), "{}", r.stderr);
        assert!(!r.stderr.contains("git pull --rebase"), "{}", r.stderr);
        assert_eq!(snapshot(&repo), before);
        assert_eq!(head(&env, &repo), ours);
        // the weights object is only on the remote: downloaded, verified, written
        let out = env.hfgit(&repo, &["pull", "--merge", "--json"]).ok().json();
        assert_eq!(out["merge"]["downloaded_objects"], 1, "{out}");
        let theirs = env.git(&repo, &["rev-parse", &format!("origin/{branch}")]).ok().stdout.trim().to_string();
        assert_eq!(parents(&env, &repo, "HEAD"), [ours, theirs]);
        assert_eq!(out["new"], head(&env, &repo).as_str());
        assert_eq!(env.git(&repo, &["symbolic-ref", "HEAD"]).ok().stdout.trim(), format!("refs/heads/{branch}"));
        assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w_theirs);
        assert_eq!(fs::read(repo.join("tokenizer.bin")).unwrap(), w_ours);
        assert_clean(&env, &repo);
        env.hfgit(&repo, &["push"]).ok();
    }
    // a detached HEAD: refused with a clear message
    let env = Env::new();
    let (repo, _o, _t, _w) = diverged_clones(&env, "main");
    env.hfgit(&repo, &["checkout", "HEAD~1"]).ok();
    let r = env.hfgit(&repo, &["pull", "--merge"]).fails();
    assert!(r.stderr.contains("HEAD is detached") && r.stderr.contains("hfgit switch"), "{}", r.stderr);
}

/// The merges above, checked by real git and git-lfs in a separate clone: `git lfs fsck` clean,
/// content smudged, `git status` clean; and hfgit's merge of a conflict resolved with git-lfs's
/// own view of the pointer.
#[test]
fn real_git_lfs_agrees_with_hfgit_merges() {
    let env = Env::with_git_lfs();
    let (repo, _) = forked(&env);
    let (w_ours, w_theirs) = (data(11, 80_000), data(12, 60_000));
    commit_on(&env, &repo, "other", &[("pytorch_model.bin", &w_theirs), ("notes.txt", b"n\n")], "theirs");
    fs::write(repo.join("pytorch_model.bin"), &w_ours).unwrap();
    env.hfgit(&repo, &["commit", "-m", "ours"]).ok();
    assert_eq!(env.hfgit(&repo, &["merge", "other"]).code, 1);
    env.hfgit(&repo, &["checkout", "--theirs", "pytorch_model.bin"]).ok();
    env.hfgit(&repo, &["commit", "-m", "merged"]).ok();
    // in the hfgit repository itself: git-lfs sees a clean tree and a sound store
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");
    let fsck = env.git(&repo, &["lfs", "fsck"]).ok();
    assert!(fsck.stdout.contains("OK"), "{}{}", fsck.stdout, fsck.stderr);
    // a git + git-lfs clone of it gets the merged content
    let bare = env.path("remote.git");
    env.git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]).ok();
    env.hfgit(&repo, &["push", "--create"]).ok();
    let clone = env.path("git-clone");
    env.git(env.dir.path(), &["clone", "-q", bare.to_str().unwrap(), clone.to_str().unwrap()]).ok();
    assert_eq!(fs::read(clone.join("pytorch_model.bin")).unwrap(), w_theirs);
    assert_eq!(fs::read_to_string(clone.join("notes.txt")).unwrap(), "n\n");
    assert_eq!(env.git(&clone, &["rev-list", "--parents", "-n1", "HEAD"]).ok().stdout.split_whitespace().count(), 3);
    let fsck = env.git(&clone, &["lfs", "fsck"]).ok();
    assert!(fsck.stdout.contains("OK"), "{}{}", fsck.stdout, fsck.stderr);
    assert_eq!(env.git(&clone, &["status", "--porcelain"]).ok().stdout, "");
}

/// A commit to merge whose tree has a `.git` directory: refused before any byte is written, with
/// no merge state left, and so is its fast-forward.
#[test]
fn a_hostile_tree_is_refused_before_anything_is_written() {
    let env = Env::new();
    let (repo, _) = forked(&env);
    fs::write(repo.join("config.json"), "{\"epoch\": 1}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "ours"]).ok();
    let git_in = |args: &[&str], input: &str| {
        let mut c = env.command("git", &repo);
        c.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let blob = git_in(&["hash-object", "-w", "--stdin"], "[core]\n\tfsmonitor = touch /tmp/pwned\n");
    let inner = git_in(&["mktree"], &format!("100644 blob {blob}\tconfig\n"));
    let base = env.git(&repo, &["rev-parse", "other^{tree}"]).ok().stdout;
    let mut entries = env.git(&repo, &["ls-tree", base.trim()]).ok().stdout;
    entries.push_str(&format!("040000 tree {inner}\t.git\n"));
    let tree = git_in(&["mktree"], &entries);
    let bad = env.git(&repo, &["commit-tree", &tree, "-p", "other", "-m", "hostile"]).ok().stdout.trim().to_string();
    let before = snapshot(&repo);
    let config_before = fs::read(repo.join(".git/config")).unwrap();
    let ours = head(&env, &repo);
    for args in [vec!["merge", bad.as_str()], vec!["merge", bad.as_str(), "--ff-only"]] {
        let r = env.hfgit(&repo, &args).fails();
        assert!(r.stderr.contains(".git") && r.stderr.contains(&bad[..12]), "{}", r.stderr);
        assert_eq!(snapshot(&repo), before);
        assert_eq!(fs::read(repo.join(".git/config")).unwrap(), config_before);
        assert!(!repo.join(".git/MERGE_HEAD").exists());
        assert_eq!(head(&env, &repo), ours);
    }
    env.hfgit(&repo, &["switch", "other"]).ok();
    env.hfgit(&repo, &["merge", &bad]).fails();
    assert_eq!(fs::read(repo.join(".git/config")).unwrap(), config_before);
    assert_eq!(head(&env, &repo), env.git(&repo, &["rev-parse", "other"]).ok().stdout.trim());
}

/// A clean merge killed at any point leaves every file old or new, HEAD at ours until the merge
/// commit exists, and running it again completes it.
#[test]
fn a_killed_merge_leaves_every_file_old_or_new_and_resumes() {
    let env = Env::new();
    let repo = env.init("m");
    let (old, new): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (0..16u64).map(|i| (data(800 + i, 1_500_000), data(900 + i, 1_500_000))).unzip();
    for (i, w) in old.iter().enumerate() {
        fs::write(repo.join(format!("shard-{i:02}.bin")), w).unwrap();
    }
    env.hfgit(&repo, &["commit", "-m", "old"]).ok();
    env.hfgit(&repo, &["branch", "other"]).ok();
    let names: Vec<String> = (0..16).map(|i| format!("shard-{i:02}.bin")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().zip(&new).map(|(n, w)| (n.as_str(), w.as_slice())).collect();
    let theirs = commit_on(&env, &repo, "other", &files, "new shards");
    fs::write(repo.join("config.json"), "{}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "config"]).ok();
    let ours = head(&env, &repo);
    let (old_h, new_h): (Vec<String>, Vec<String>) = old.iter().zip(&new).map(|(o, n)| (sha256_hex(o), sha256_hex(n))).unzip();
    kill_until_done(
        || env.hfgit_cmd(&repo, &["merge", "other"]),
        2,
        200,
        || {
            remove_git_locks(&repo);
            let h = head(&env, &repo);
            let merged = h != ours;
            if merged {
                assert_eq!(parents(&env, &repo, "HEAD"), [ours.clone(), theirs.clone()]);
            }
            for i in 0..16 {
                let got = sha256_hex(&fs::read(repo.join(format!("shard-{i:02}.bin"))).unwrap());
                assert!(got == old_h[i] || got == new_h[i], "shard-{i:02}.bin is torn after a kill");
                if merged {
                    assert_eq!(got, new_h[i], "HEAD moved before shard-{i:02}.bin was written");
                }
            }
        },
    );
    assert_eq!(parents(&env, &repo, "HEAD"), [ours, theirs]);
    for (i, w) in new.iter().enumerate() {
        assert_eq!(&fs::read(repo.join(format!("shard-{i:02}.bin"))).unwrap(), w);
    }
    assert_clean(&env, &repo);
}

/// What an interrupted merge leaves, made by hand: the work tree and the index already hold
/// theirs' weights (pointer blob and content) while HEAD is still ours. Running the merge again
/// takes that as done, not as staged work of the user's (the index's file mode compared as the
/// tree's, 100644, and not as a small enum number).
#[test]
fn an_index_already_as_the_merge_will_have_it_does_not_stop_the_merge() {
    let env = Env::new();
    let repo = env.init("m");
    let (w1, w2) = (data(1301, 200_000), data(1302, 200_000));
    fs::write(repo.join("pytorch_model.bin"), &w1).unwrap();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    env.hfgit(&repo, &["branch", "other"]).ok();
    let theirs = commit_on(&env, &repo, "other", &[("pytorch_model.bin", &w2)], "two");
    fs::write(repo.join("config.json"), "{}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "config"]).ok();
    let ours = head(&env, &repo);
    // the interrupted run's work: content written, index entry updated, HEAD not moved
    let blob = env.git(&repo, &["rev-parse", "other:pytorch_model.bin"]).ok().stdout.trim().to_string();
    fs::write(repo.join("pytorch_model.bin"), &w2).unwrap();
    env.git(&repo, &["update-index", "--cacheinfo", &format!("100644,{blob},pytorch_model.bin")]).ok();
    env.hfgit(&repo, &["merge", "other"]).ok();
    assert_eq!(parents(&env, &repo, "HEAD"), [ours, theirs]);
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), w2);
    // staged work of the user's that is in no commit still stops it
    env.hfgit(&repo, &["switch", "-c", "again", "HEAD~1"]).ok();
    fs::write(repo.join("notes.txt"), "mine\n").unwrap();
    env.git(&repo, &["add", "notes.txt"]).ok();
    let r = env.hfgit(&repo, &["merge", "other"]).fails();
    assert!(r.stderr.contains("in no commit") && r.stderr.contains("notes.txt"), "{}", r.stderr);
}
