//! Working with history using hfgit alone (no git-lfs on PATH or in config): commits that honour
//! a merge in progress, checkout, restore, switch, branches and tags, with LFS content.

mod common;
use common::*;
use std::fs;
use std::path::Path;

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

#[track_caller]
fn assert_clean(env: &Env, repo: &Path) {
    assert_eq!(env.git(repo, &["status", "--porcelain"]).ok().stdout, "", "git status is not clean");
    let st = env.hfgit(repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"].as_array().unwrap().len(), 0, "{st}");
}

fn is_detached(env: &Env, repo: &Path) -> bool {
    env.git(repo, &["symbolic-ref", "-q", "HEAD"]).code != 0
}

#[test]
fn checkout_each_epoch_by_commit_and_by_tag() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    for (i, c) in commits.iter().enumerate() {
        env.hfgit(&repo, &["tag", &format!("epoch-{}", i + 1), c]).ok();
    }
    for (i, c) in commits.iter().enumerate() {
        let out = env.hfgit(&repo, &["checkout", c, "--json"]).ok().json();
        assert_eq!(out["detached"], true);
        assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[i], "epoch {}", i + 1);
        assert_eq!(fs::read_to_string(repo.join("config.json")).unwrap(), format!("{{\"epoch\": {}}}\n", i + 1));
        assert_eq!(&head(&env, &repo), c);
        assert!(is_detached(&env, &repo));
        assert_clean(&env, &repo);
    }
    for i in [2usize, 0, 1] {
        env.hfgit(&repo, &["checkout", &format!("epoch-{}", i + 1)]).ok();
        assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[i]);
        assert_eq!(head(&env, &repo), commits[i]);
        assert_clean(&env, &repo);
    }
    // on a detached HEAD: status says so, log works, push needs a branch
    let text = env.hfgit(&repo, &["status"]).ok().stdout;
    assert!(text.starts_with(&format!("HEAD detached at {}", &commits[1][..7])), "{text}");
    assert_eq!(env.hfgit(&repo, &["log", "--json"]).ok().json().as_array().unwrap().len(), 2);
    let r = env.hfgit(&repo, &["push", "../r.git", "--create"]).fails();
    assert!(r.stderr.contains("HEAD is detached") && r.stderr.contains("hfgit switch"), "{}", r.stderr);
    // HEAD~N, then a branch attaches HEAD again
    env.hfgit(&repo, &["checkout", "main"]).ok();
    assert!(!is_detached(&env, &repo));
    env.hfgit(&repo, &["checkout", "HEAD~2"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    // a commit on a detached HEAD moves HEAD only
    fs::write(repo.join("pytorch_model.bin"), data(99, 1000)).unwrap();
    let out = env.hfgit(&repo, &["commit", "-m", "detached work", "--json"]).ok().json();
    assert_eq!(out["detached"], true);
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD~1"]).ok().stdout.trim(), commits[0]);
    assert_eq!(env.git(&repo, &["rev-parse", "main"]).ok().stdout.trim(), commits[2]);
    env.hfgit(&repo, &["checkout", "main"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[2]);
    assert_clean(&env, &repo);
    let r = env.hfgit(&repo, &["checkout", "no-such-rev"]).fails();
    assert!(r.stderr.contains("unknown revision `no-such-rev`"), "{}", r.stderr);
}

#[test]
fn restore_brings_one_file_back_from_an_older_commit() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    env.hfgit(&repo, &["restore", "--source", "HEAD~2", "pytorch_model.bin"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    assert_eq!(fs::read_to_string(repo.join("config.json")).unwrap(), "{\"epoch\": 3}\n");
    assert_eq!(head(&env, &repo), commits[2]);
    // the index holds the restored file (a staged change), the work tree matches it
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "M  pytorch_model.bin\n");
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"][0]["path"], "pytorch_model.bin");
    // checkout REV -- PATH does the same; from a subdirectory paths are relative to it
    env.hfgit(&repo, &["checkout", "HEAD~1", "--", "pytorch_model.bin", "config.json"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[1]);
    assert_eq!(fs::read_to_string(repo.join("config.json")).unwrap(), "{\"epoch\": 2}\n");
    fs::create_dir(repo.join("sub")).unwrap();
    env.hfgit(&repo.join("sub"), &["restore", "../pytorch_model.bin", "../config.json"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[2]);
    assert_clean(&env, &repo);
    // a file with changes in no commit is not overwritten unless --force
    let mine = data(7, 5000);
    fs::write(repo.join("pytorch_model.bin"), &mine).unwrap();
    let r = env.hfgit(&repo, &["restore", "-s", "HEAD~2", "pytorch_model.bin"]).fails();
    assert!(r.stderr.contains("pytorch_model.bin") && r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), mine);
    env.hfgit(&repo, &["restore", "--force", "pytorch_model.bin"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[2]);
    assert_clean(&env, &repo);
    let r = env.hfgit(&repo, &["restore", "nope.bin"]).fails();
    assert!(r.stderr.contains("`nope.bin` is not in commit"), "{}", r.stderr);
}

#[test]
fn local_changes_in_the_way_stop_checkout_and_switch() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    env.hfgit(&repo, &["branch", "old", &commits[0]]).ok();
    let mine = data(8, 4000);
    fs::write(repo.join("pytorch_model.bin"), &mine).unwrap();
    fs::write(repo.join("extra.txt"), "untracked\n").unwrap();
    let before = snapshot(&repo);
    let index_before = fs::read(repo.join(".git/index")).unwrap();
    for args in [vec!["checkout", "HEAD~1"], vec!["switch", "old"], vec!["checkout", "old"]] {
        let r = env.hfgit(&repo, &args).fails();
        assert!(r.stderr.contains("would be overwritten") && r.stderr.contains("pytorch_model.bin"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("config.json"), "{}", r.stderr);
        assert_eq!(snapshot(&repo), before);
        assert_eq!(fs::read(repo.join(".git/index")).unwrap(), index_before);
        assert_eq!(head(&env, &repo), commits[2]);
        assert!(!is_detached(&env, &repo));
    }
    // a change to a file the checkout does not touch is carried along, as git does
    fs::write(repo.join("pytorch_model.bin"), &weights[2]).unwrap();
    fs::write(repo.join("README.md"), "my notes\n").unwrap();
    env.hfgit(&repo, &["checkout", "old"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    assert_eq!(fs::read_to_string(repo.join("README.md")).unwrap(), "my notes\n");
    assert_eq!(fs::read_to_string(repo.join("extra.txt")).unwrap(), "untracked\n");
    // an untracked file where the target has a tracked one stops it
    env.hfgit(&repo, &["restore", "README.md"]).fails();
    env.hfgit(&repo, &["restore", "--force", "README.md"]).ok();
    fs::remove_file(repo.join("extra.txt")).unwrap();
    env.hfgit(&repo, &["switch", "main"]).ok();
    fs::write(repo.join("new.txt"), "committed\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "new file"]).ok();
    env.hfgit(&repo, &["switch", "old"]).ok();
    assert!(!repo.join("new.txt").exists());
    fs::write(repo.join("new.txt"), "mine\n").unwrap();
    let r = env.hfgit(&repo, &["switch", "main"]).fails();
    assert!(r.stderr.contains("new.txt"), "{}", r.stderr);
    assert_eq!(fs::read_to_string(repo.join("new.txt")).unwrap(), "mine\n");
}

#[test]
fn switch_branch_and_tag() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    let out = env.hfgit(&repo, &["switch", "-c", "exp", "HEAD~1", "--json"]).ok().json();
    assert_eq!(out["branch"], "exp");
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[1]);
    assert_eq!(env.git(&repo, &["symbolic-ref", "HEAD"]).ok().stdout.trim(), "refs/heads/exp");
    assert_clean(&env, &repo);
    let exp_w = data(55, 300_000);
    fs::write(repo.join("pytorch_model.bin"), &exp_w).unwrap();
    env.hfgit(&repo, &["commit", "-m", "experiment"]).ok();
    let r = env.hfgit(&repo, &["switch", "-c", "exp"]).fails();
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    env.hfgit(&repo, &["switch", "main"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[2]);
    assert_clean(&env, &repo);
    env.hfgit(&repo, &["switch", "exp"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), exp_w);
    let r = env.hfgit(&repo, &["switch", &commits[0]]).fails();
    assert!(r.stderr.contains("not a local branch") && r.stderr.contains("hfgit checkout"), "{}", r.stderr);
    env.hfgit(&repo, &["switch", "main"]).ok();

    // branches: list, create, delete
    env.hfgit(&repo, &["branch", "first", &commits[0]]).ok();
    assert_eq!(env.hfgit(&repo, &["branch"]).ok().stdout, "  exp\n  first\n* main\n");
    assert_eq!(env.git(&repo, &["rev-parse", "first"]).ok().stdout.trim(), commits[0]);
    let r = env.hfgit(&repo, &["branch", "-d", "exp"]).fails();
    assert!(r.stderr.contains("not fully merged") && r.stderr.contains("-D"), "{}", r.stderr);
    env.hfgit(&repo, &["branch", "-d", "first"]).ok();
    env.hfgit(&repo, &["branch", "-D", "exp"]).ok();
    let r = env.hfgit(&repo, &["branch", "-d", "main"]).fails();
    assert!(r.stderr.contains("current branch"), "{}", r.stderr);
    assert_eq!(env.hfgit(&repo, &["branch"]).ok().stdout, "* main\n");
    for bad in ["a..b", "x~1", "-x", "HEAD", "a b", "end."] {
        let r = env.hfgit(&repo, &["branch", "--", bad]);
        assert_ne!(r.code, 0, "{bad} accepted");
        assert!(env.git(&repo, &["rev-parse", "--verify", "-q", &format!("refs/heads/{bad}")]).code != 0);
    }
    let r = env.hfgit(&repo, &["branch", "a..b"]).fails();
    assert!(r.stderr.contains("not a valid branch name"), "{}", r.stderr);

    // tags: lightweight, annotated, list, delete
    env.hfgit(&repo, &["tag", "v1.0"]).ok();
    env.hfgit(&repo, &["tag", "-m", "first epoch", "v0.1", "HEAD~2"]).ok();
    assert_eq!(env.hfgit(&repo, &["tag"]).ok().stdout, "v0.1\nv1.0\n");
    assert_eq!(env.git(&repo, &["cat-file", "-t", "v0.1"]).ok().stdout.trim(), "tag");
    assert_eq!(env.git(&repo, &["cat-file", "-t", "v1.0"]).ok().stdout.trim(), "commit");
    assert_eq!(env.git(&repo, &["rev-parse", "v0.1^{commit}"]).ok().stdout.trim(), commits[0]);
    let t = env.git(&repo, &["cat-file", "-p", "v0.1"]).ok().stdout;
    assert!(t.contains("tagger Test Committer <committer@example.com>") && t.contains("first epoch"), "{t}");
    let r = env.hfgit(&repo, &["tag", "v1.0"]).fails();
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    let r = env.hfgit(&repo, &["tag", "bad..tag"]).fails();
    assert!(r.stderr.contains("not a valid tag name"), "{}", r.stderr);
    env.hfgit(&repo, &["checkout", "v0.1"]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    env.hfgit(&repo, &["switch", "main"]).ok();
    env.hfgit(&repo, &["tag", "-d", "v1.0"]).ok();
    assert_eq!(env.hfgit(&repo, &["tag"]).ok().stdout, "v0.1\n");
}

#[test]
fn checkout_downloads_objects_only_the_remote_has() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    let bare = env.path("remote.git");
    env.git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]).ok();
    env.hfgit(&repo, &["push", "--create"]).ok();
    let local_obj = object_path(&repo.join(".git"), &sha256_hex(&weights[0]));
    fs::remove_file(&local_obj).unwrap();
    let out = env.hfgit(&repo, &["checkout", &commits[0], "--json"]).ok().json();
    assert_eq!(out["downloaded_objects"], 1);
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    assert_eq!(fs::read(&local_obj).unwrap(), weights[0]);
    assert_clean(&env, &repo);

    // with the object gone locally and no remote: fails naming it, changes nothing
    env.hfgit(&repo, &["checkout", "main"]).ok();
    fs::remove_file(&local_obj).unwrap();
    env.git(&repo, &["remote", "remove", "origin"]).ok();
    let before = snapshot(&repo);
    let index_before = fs::read(repo.join(".git/index")).unwrap();
    for args in [vec!["checkout", commits[0].as_str()], vec!["restore", "-s", "HEAD~2", "pytorch_model.bin"]] {
        let r = env.hfgit(&repo, &args).fails();
        assert!(r.stderr.contains(&sha256_hex(&weights[0])) && r.stderr.contains("pytorch_model.bin"), "{}", r.stderr);
        assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
        assert_eq!(snapshot(&repo), before);
        assert_eq!(fs::read(repo.join(".git/index")).unwrap(), index_before);
        assert_eq!(head(&env, &repo), commits[2]);
        assert!(!is_detached(&env, &repo));
    }
    // a remote that lacks it: the same, naming the remote's answer
    let empty = env.path("empty.git");
    env.git(env.dir.path(), &["init", "-q", "--bare", empty.to_str().unwrap()]).ok();
    let r = env.hfgit(&repo, &["checkout", &commits[0], "--remote", empty.to_str().unwrap()]).fails();
    assert!(r.stderr.contains(&sha256_hex(&weights[0])), "{}", r.stderr);
    assert_eq!(snapshot(&repo), before);
    // --remote with a TARGET that has it
    env.hfgit(&repo, &["checkout", &commits[0], "--remote", bare.to_str().unwrap()]).ok();
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    assert_clean(&env, &repo);
}

#[test]
fn a_killed_checkout_leaves_every_file_old_or_new_and_resumes() {
    let env = Env::new();
    let repo = env.init("m");
    let (old, new): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (0..16u64).map(|i| (data(600 + i, 1_500_000), data(700 + i, 1_500_000))).unzip();
    for (i, w) in old.iter().enumerate() {
        fs::write(repo.join(format!("shard-{i:02}.bin")), w).unwrap();
    }
    env.hfgit(&repo, &["commit", "-m", "old"]).ok();
    let a = head(&env, &repo);
    for (i, w) in new.iter().enumerate() {
        fs::write(repo.join(format!("shard-{i:02}.bin")), w).unwrap();
    }
    env.hfgit(&repo, &["commit", "-m", "new"]).ok();
    let b = head(&env, &repo);
    let (old_h, new_h): (Vec<String>, Vec<String>) = old.iter().zip(&new).map(|(o, n)| (sha256_hex(o), sha256_hex(n))).unzip();
    kill_until_done(
        || env.hfgit_cmd(&repo, &["checkout", &a]),
        2,
        200,
        || {
            remove_git_locks(&repo);
            let h = head(&env, &repo);
            let moved = h == a;
            assert!(moved || h == b, "HEAD is {h}");
            for i in 0..16 {
                let bytes = fs::read(repo.join(format!("shard-{i:02}.bin"))).unwrap();
                let got = sha256_hex(&bytes);
                assert!(got == old_h[i] || got == new_h[i], "shard-{i:02}.bin is torn after a kill");
                if moved {
                    assert_eq!(got, old_h[i], "HEAD moved before shard-{i:02}.bin was written");
                }
            }
        },
    );
    for (i, w) in old.iter().enumerate() {
        assert_eq!(&fs::read(repo.join(format!("shard-{i:02}.bin"))).unwrap(), w);
    }
    assert_eq!(head(&env, &repo), a);
    assert_clean(&env, &repo);
}
