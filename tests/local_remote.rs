//! Push, clone and pull with a local bare remote, checked against the real git + git-lfs, with
//! interruptions (SIGKILL) and damaged remote objects.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A staging repo with weights + config, committed; returns (repo, weights).
fn staged(env: &Env, name: &str) -> (PathBuf, Vec<u8>) {
    let repo = env.init(name);
    let w = data(100, 2_000_000);
    fs::write(env.path("pytorch_model.bin"), &w).unwrap();
    env.hfgit(&repo, &["add", "../pytorch_model.bin", "--set", "hidden_size=128"]).ok();
    env.hfgit(&repo, &["commit", "-m", "first"]).ok();
    (repo, w)
}

/// (path → oid) of every pointer in `rev` of the repository at `git_dir`.
fn pointers_at(env: &Env, git_dir: &Path, rev: &str) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    let ls = env.git(git_dir, &["ls-tree", "-r", "-l", rev]).ok().stdout;
    for line in ls.lines() {
        let (meta, path) = line.split_once('\t').unwrap();
        let f: Vec<&str> = meta.split_whitespace().collect();
        if f[1] != "blob" || f[3].parse::<u64>().unwrap() >= 1024 {
            continue;
        }
        let text = env.git(git_dir, &["cat-file", "-p", f[2]]).ok().stdout;
        if let (Some(oid), Some(size)) =
            (text.lines().find_map(|l| l.strip_prefix("oid sha256:")), text.lines().find_map(|l| l.strip_prefix("size ")))
        {
            if text.starts_with("version https://git-lfs") {
                out.insert(path.to_string(), (oid.to_string(), size.parse().unwrap()));
            }
        }
    }
    out
}

/// Every object file at a final path in the store hashes to its own name.
fn assert_store_has_no_partial_objects(git_dir: &Path) {
    let root = git_dir.join("lfs/objects");
    if !root.exists() {
        return;
    }
    for e in walkdir::WalkDir::new(&root) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let name = e.file_name().to_str().unwrap().to_string();
            assert_eq!(sha256_hex(&fs::read(e.path()).unwrap()), name, "partial or corrupt object at {}", e.path().display());
        }
    }
}

/// The remote's branch, if any, points at a commit whose LFS objects are all present and whole.
fn assert_remote_consistent(env: &Env, bare: &Path) {
    let r = env.git(bare, &["rev-parse", "--verify", "-q", "refs/heads/main"]);
    if r.code == 0 {
        for (path, (oid, size)) in pointers_at(env, bare, "refs/heads/main") {
            let obj = object_path(bare, &oid);
            let meta = fs::metadata(&obj).unwrap_or_else(|_| panic!("branch points at {path} whose object {oid} is missing"));
            assert_eq!(meta.len(), size, "{path}");
        }
    }
    assert_store_has_no_partial_objects(bare);
}

#[test]
fn push_creates_the_bare_remote_and_git_lfs_clones_it() {
    let env = Env::with_git_lfs();
    let (repo, w) = staged(&env, "m");
    let r = env.hfgit(&repo, &["push", "../remote.git", "--create", "--json"]).ok().json();
    assert_eq!(r["created"], true);
    assert_eq!(r["uploaded_objects"], 1);
    assert_eq!(r["uploaded_bytes"], 2_000_000);
    let bare = env.path("remote.git");
    assert_eq!(fs::read_to_string(bare.join("HEAD")).unwrap().trim(), "ref: refs/heads/main");
    assert_eq!(env.git(&bare, &["rev-parse", "--is-bare-repository"]).ok().stdout.trim(), "true");
    let head = env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout;
    assert_eq!(env.git(&bare, &["rev-parse", "main"]).ok().stdout, head);
    let oid = sha256_hex(&w);
    let remote_obj = object_path(&bare, &oid);
    assert_eq!(fs::read(&remote_obj).unwrap(), w);
    // same filesystem: hard-linked, like git-lfs
    assert_eq!(fs::metadata(&remote_obj).unwrap().ino(), fs::metadata(object_path(&repo.join(".git"), &oid)).unwrap().ino());

    for url in [bare.display().to_string(), format!("file://{}", bare.display())] {
        let dest = env.path(&format!("gitclone-{}", url.len()));
        env.git(env.dir.path(), &["clone", "-q", &url, dest.to_str().unwrap()]).ok();
        assert_eq!(fs::read(dest.join("pytorch_model.bin")).unwrap(), w, "{url}");
        env.git(&dest, &["lfs", "fsck"]).ok();
        assert_eq!(env.git(&dest, &["status", "--porcelain"]).ok().stdout, "");
    }

    // a config-only commit moves zero LFS bytes; objects on the remote are not touched
    let before = fs::metadata(&remote_obj).unwrap();
    env.hfgit(&repo, &["add", "--set", "hidden_size=256"]).ok();
    env.hfgit(&repo, &["commit", "-m", "config"]).ok();
    env.git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]).ok();
    let r = env.hfgit(&repo, &["push", "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 0);
    assert_eq!(r["uploaded_bytes"], 0);
    let text = env.hfgit(&repo, &["push"]).ok().stdout;
    assert!(text.contains("uploaded 0 object(s) (0 B)") && text.contains("everything up to date"), "{text}");
    let after = fs::metadata(&remote_obj).unwrap();
    assert_eq!((before.ino(), before.mtime(), before.mtime_nsec()), (after.ino(), after.mtime(), after.mtime_nsec()));
    assert_eq!(env.git(&bare, &["rev-parse", "main"]).ok().stdout, env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout);
    assert_eq!(env.git(&repo, &["rev-parse", "origin/main"]).ok().stdout, env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout);
}

#[test]
fn push_without_create_to_a_missing_remote_says_how() {
    let env = Env::new();
    let (repo, _) = staged(&env, "m");
    let r = env.hfgit(&repo, &["push", "../nope.git"]).fails();
    assert!(r.stderr.contains("does not exist") && r.stderr.contains("--create"), "{}", r.stderr);
    assert!(!env.path("nope.git").exists());
    let r = env.hfgit(&repo, &["push"]).fails();
    assert!(r.stderr.contains("no remote named `origin`"), "{}", r.stderr);
}

#[test]
fn copy_mode_and_file_urls_place_verified_copies() {
    let env = Env::new();
    let (repo, w) = staged(&env, "m");
    env.git(&repo, &["config", "hfgit.localTransfer", "copy"]).ok();
    let url = format!("file://{}", env.path("r.git").display());
    env.hfgit(&repo, &["push", &url, "--create"]).ok();
    let oid = sha256_hex(&w);
    let remote_obj = object_path(&env.path("r.git"), &oid);
    assert_eq!(fs::read(&remote_obj).unwrap(), w);
    assert_ne!(fs::metadata(&remote_obj).unwrap().ino(), fs::metadata(object_path(&repo.join(".git"), &oid)).unwrap().ino());
    // a damaged local object is refused, and the remote branch does not move
    let (repo2, _) = staged(&env, "m2");
    let mut bad = fs::read(object_path(&repo2.join(".git"), &oid)).unwrap();
    fs::write(repo2.join("pytorch_model.bin"), data(101, 1000)).unwrap();
    env.hfgit(&repo2, &["commit", "-m", "new weights"]).ok();
    let oid2 = sha256_hex(&data(101, 1000));
    bad.truncate(1000);
    fs::write(object_path(&repo2.join(".git"), &oid2), &bad[..1000]).unwrap();
    env.git(&repo2, &["config", "hfgit.localTransfer", "copy"]).ok();
    env.hfgit(&repo2, &["push", "../r2.git", "--create"]).fails();
    assert!(env.git(&env.path("r2.git"), &["rev-parse", "--verify", "-q", "main"]).code != 0);
    assert!(!object_path(&env.path("r2.git"), &oid2).exists());
}

#[test]
fn non_fast_forward_is_refused_unless_forced() {
    let env = Env::new();
    let (repo, _) = staged(&env, "m");
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    env.hfgit(env.dir.path(), &["clone", "remote.git", "other"]).ok();
    let other = env.path("other");
    env.hfgit(&other, &["add", "--set", "who=other"]).ok();
    env.hfgit(&other, &["commit", "-m", "other"]).ok();
    env.hfgit(&other, &["push"]).ok();
    env.hfgit(&repo, &["add", "--set", "who=me"]).ok();
    env.hfgit(&repo, &["commit", "-m", "mine"]).ok();
    let remote_main = env.git(&env.path("remote.git"), &["rev-parse", "main"]).ok().stdout;
    let r = env.hfgit(&repo, &["push", "../remote.git"]).fails();
    assert!(r.stderr.contains("non-fast-forward") && r.stderr.contains("hint: run `hfgit pull`"), "{}", r.stderr);
    assert_eq!(env.git(&env.path("remote.git"), &["rev-parse", "main"]).ok().stdout, remote_main);
    env.hfgit(&repo, &["push", "../remote.git", "--force"]).ok();
    assert_eq!(env.git(&env.path("remote.git"), &["rev-parse", "main"]).ok().stdout, env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout);
}

fn two_weights_remote(env: &Env) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let repo = env.init("src");
    let a = data(200, 300_000);
    let b = data(201, 400_000);
    fs::create_dir(repo.join("sub")).unwrap();
    fs::write(repo.join("pytorch_model.bin"), &a).unwrap();
    fs::write(repo.join("sub/optimizer.pt"), &b).unwrap();
    fs::write(repo.join("config.json"), "{}\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "c"]).ok();
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    (repo, a, b)
}

#[test]
fn hfgit_clone_checks_out_verified_content_with_selection() {
    let env = Env::with_git_lfs();
    let (_, a, b) = two_weights_remote(&env);
    let r = env.hfgit(env.dir.path(), &["clone", "remote.git", "--json"]).ok().json();
    assert_eq!(r["downloaded_objects"], 2);
    let c = env.path("remote");
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), a);
    assert_eq!(fs::read(c.join("sub/optimizer.pt")).unwrap(), b);
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "");
    assert_eq!(env.hfgit(&c, &["status", "--json"]).ok().json()["changes"], serde_json::json!([]));
    env.git(&c, &["lfs", "fsck"]).ok();
    assert_eq!(env.git(&c, &["rev-parse", "--abbrev-ref", "main@{upstream}"]).ok().stdout.trim(), "origin/main");

    let url = format!("file://{}", env.path("remote.git").display());
    env.hfgit(env.dir.path(), &["clone", &url, "inc", "--include", "*.bin"]).ok();
    assert_eq!(fs::read(env.path("inc/pytorch_model.bin")).unwrap(), a);
    assert_eq!(fs::read_to_string(env.path("inc/sub/optimizer.pt")).unwrap(), pointer_text(&b));
    assert_eq!(env.git(&env.path("inc"), &["status", "--porcelain"]).ok().stdout, "");
    assert_eq!(env.git(&env.path("inc"), &["config", "lfs.fetchinclude"]).ok().stdout.trim(), "*.bin");

    env.hfgit(env.dir.path(), &["clone", "remote.git", "exc", "--exclude", "sub"]).ok();
    assert_eq!(fs::read(env.path("exc/pytorch_model.bin")).unwrap(), a);
    assert_eq!(fs::read_to_string(env.path("exc/sub/optimizer.pt")).unwrap(), pointer_text(&b));

    env.hfgit(env.dir.path(), &["clone", "remote.git", "none", "--no-lfs"]).ok();
    assert_eq!(fs::read_to_string(env.path("none/pytorch_model.bin")).unwrap(), pointer_text(&a));
    assert!(!env.path("none/.git/lfs/objects").exists());
    assert_eq!(env.git(&env.path("none"), &["status", "--porcelain"]).ok().stdout, "");

    let r = env.hfgit(env.dir.path(), &["clone", "remote.git", "inc"]).fails();
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}

#[test]
fn a_remote_written_by_git_lfs_is_cloned() {
    let env = Env::with_git_lfs();
    let bare = env.path("g.git");
    env.git(env.dir.path(), &["init", "-q", "--bare", "g.git"]).ok();
    env.git(env.dir.path(), &["init", "-q", "w"]).ok();
    let w = env.path("w");
    env.git(&w, &["lfs", "track", "*.safetensors"]).ok();
    let content = data(300, 600_000);
    fs::write(w.join("model.safetensors"), &content).unwrap();
    env.git(&w, &["add", "."]).ok();
    env.git(&w, &["commit", "-qm", "git-lfs"]).ok();
    env.git(&w, &["push", "-q", &format!("file://{}", bare.display()), "main"]).ok();
    assert!(object_path(&bare, &sha256_hex(&content)).exists(), "git-lfs did not fill the bare store");
    env.hfgit(env.dir.path(), &["clone", "g.git", "hc"]).ok();
    assert_eq!(fs::read(env.path("hc/model.safetensors")).unwrap(), content);
    assert_eq!(env.git(&env.path("hc"), &["status", "--porcelain"]).ok().stdout, "");
}

#[test]
fn pull_fast_forwards_and_never_overwrites_local_changes() {
    let env = Env::new();
    let (src, a, _) = two_weights_remote(&env);
    env.git(&src, &["remote", "add", "origin", env.path("remote.git").to_str().unwrap()]).ok();
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).ok();
    let c = env.path("c");
    let r = env.hfgit(&c, &["pull"]).ok();
    assert!(r.stdout.contains("Already up to date."), "{}", r.stdout);

    let a2 = data(202, 350_000);
    fs::write(src.join("pytorch_model.bin"), &a2).unwrap();
    fs::write(src.join("new.bin"), data(203, 5000)).unwrap();
    env.hfgit(&src, &["commit", "-m", "v2"]).ok();
    env.hfgit(&src, &["push"]).ok();
    // a local change to a file the pull does not touch is kept
    fs::write(c.join("notes.md"), "mine\n").unwrap();
    let r = env.hfgit(&c, &["pull", "--json"]).ok().json();
    assert_eq!(r["downloaded_objects"], 2);
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), a2);
    assert_eq!(fs::read(c.join("new.bin")).unwrap(), data(203, 5000));
    assert_eq!(fs::read_to_string(c.join("notes.md")).unwrap(), "mine\n");
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]).ok().stdout, env.git(&src, &["rev-parse", "HEAD"]).ok().stdout);
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "?? notes.md\n");

    // upstream changes config.json; so do we: pull stops, nothing lost
    env.hfgit(&src, &["add", "--set", "lr=0.1"]).ok();
    env.hfgit(&src, &["commit", "-m", "v3"]).ok();
    env.hfgit(&src, &["push"]).ok();
    fs::write(c.join("config.json"), "{\"local\": true}\n").unwrap();
    let head = env.git(&c, &["rev-parse", "HEAD"]).ok().stdout;
    let r = env.hfgit(&c, &["pull"]).fails();
    assert!(r.stderr.contains("would be overwritten") && r.stderr.contains("config.json"), "{}", r.stderr);
    assert_eq!(fs::read_to_string(c.join("config.json")).unwrap(), "{\"local\": true}\n");
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]).ok().stdout, head);
    let _ = a;
}

#[test]
fn damaged_remote_objects_fail_clone_and_pull_by_path_and_oid() {
    let env = Env::new();
    let (src, a, b) = two_weights_remote(&env);
    let bare = env.path("remote.git");
    let (oid_a, oid_b) = (sha256_hex(&a), sha256_hex(&b));
    fs::remove_file(object_path(&bare, &oid_a)).unwrap();
    let mut bad = b.clone();
    bad[1000] ^= 0xff;
    fs::remove_file(object_path(&bare, &oid_b)).unwrap(); // it is a hard link to src's store
    fs::write(object_path(&bare, &oid_b), &bad).unwrap();
    let r = env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).fails();
    assert!(r.stderr.contains(&format!("pytorch_model.bin (sha256:{oid_a})")) && r.stderr.contains("missing"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("sub/optimizer.pt (sha256:{oid_b})")) && r.stderr.contains("corrupt"), "{}", r.stderr);
    let c = env.path("c");
    // never a silently wrong file: both stay pointer files, nothing bad in the store
    assert_eq!(fs::read_to_string(c.join("pytorch_model.bin")).unwrap(), pointer_text(&a));
    assert_eq!(fs::read_to_string(c.join("sub/optimizer.pt")).unwrap(), pointer_text(&b));
    assert!(!object_path(&c.join(".git"), &oid_b).exists());
    assert_store_has_no_partial_objects(&c.join(".git"));
    assert_eq!(fs::read_to_string(c.join("config.json")).unwrap(), "{}\n");

    // repair the remote: pull fetches what is missing
    fs::write(object_path(&bare, &oid_a), &a).unwrap();
    fs::write(object_path(&bare, &oid_b), &b).unwrap();
    env.hfgit(&c, &["pull"]).ok();
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), a);
    assert_eq!(fs::read(c.join("sub/optimizer.pt")).unwrap(), b);

    // a pull whose new object is corrupt on the remote does not move HEAD
    env.git(&src, &["remote", "add", "origin", bare.to_str().unwrap()]).ok();
    let a3 = data(204, 100_000);
    fs::write(src.join("pytorch_model.bin"), &a3).unwrap();
    env.hfgit(&src, &["commit", "-m", "v3"]).ok();
    env.hfgit(&src, &["push"]).ok();
    let o3 = object_path(&bare, &sha256_hex(&a3));
    fs::remove_file(&o3).unwrap();
    fs::write(&o3, data(205, 100_000)).unwrap();
    let head = env.git(&c, &["rev-parse", "HEAD"]).ok().stdout;
    let r = env.hfgit(&c, &["pull"]).fails();
    assert!(r.stderr.contains(&sha256_hex(&a3)) && r.stderr.contains("was not updated"), "{}", r.stderr);
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]).ok().stdout, head);
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), a);
}

fn many_objects(env: &Env) -> PathBuf {
    let repo = env.init("m");
    for i in 0..24 {
        fs::write(repo.join(format!("shard-{i:02}.bin")), data(400 + i, 1_500_000)).unwrap();
    }
    env.hfgit(&repo, &["commit", "-m", "many"]).ok();
    repo
}

#[test]
fn a_killed_push_never_leaves_a_branch_without_its_objects() {
    let env = Env::new();
    let repo = many_objects(&env);
    env.git(&repo, &["config", "hfgit.localTransfer", "copy"]).ok(); // slow enough to interrupt
    let bare = env.path("remote.git");
    kill_until_done(
        || env.hfgit_cmd(&repo, &["push", "../remote.git", "--create"]),
        3,
        200,
        || {
            if bare.exists() {
                assert_remote_consistent(&env, &bare);
                // a SIGKILL while libgit2 moves the remote's branch leaves git's own lock there,
                // exactly as a killed `git push` to a local repository does; the user removes it
                let _ = fs::remove_file(bare.join("refs/heads/main.lock"));
            }
        },
    );
    env.hfgit(&repo, &["push", "../remote.git"]).ok();
    assert_remote_consistent(&env, &bare);
    assert_eq!(pointers_at(&env, &bare, "main").len(), 24);
    for (_, (oid, _)) in pointers_at(&env, &bare, "main") {
        assert!(object_path(&bare, &oid).exists());
    }
}

#[test]
fn a_killed_clone_leaves_nothing_corrupt_and_resumes() {
    let env = Env::new();
    let repo = many_objects(&env);
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    let want = pointers_at(&env, &env.path("remote.git"), "main");
    let dest = env.path("c");
    kill_until_done(
        || match dest.join(".git").exists() && !dest.join(".git/hfgit-clone-incomplete").exists() {
            // killed after it finished but before it exited: the clone is done
            true => std::process::Command::new("true"),
            false => env.hfgit_cmd(env.dir.path(), &["clone", "remote.git", "c"]),
        },
        2,
        200,
        || {
            if dest.join(".git").exists() {
                assert_store_has_no_partial_objects(&dest.join(".git"));
                for (path, (oid, size)) in &want {
                    if let Ok(bytes) = fs::read(dest.join(path)) {
                        let is_pointer = String::from_utf8(bytes.clone()).ok().is_some_and(|t| t.contains(oid.as_str()));
                        assert!(
                            is_pointer || (bytes.len() as u64 == *size && sha256_hex(&bytes) == *oid),
                            "{path} is corrupt after a kill"
                        );
                    }
                }
            }
        },
    );
    for i in 0..24 {
        assert_eq!(fs::read(dest.join(format!("shard-{i:02}.bin"))).unwrap(), data(400 + i, 1_500_000));
    }
    assert_eq!(env.git(&dest, &["status", "--porcelain"]).ok().stdout, "");
    assert!(!dest.join(".git/hfgit-clone-incomplete").exists());
}

#[test]
fn a_killed_pull_never_leaves_a_torn_file_and_resumes() {
    let env = Env::new();
    let repo = many_objects(&env);
    fs::write(repo.join("notes.txt"), "v1\n").unwrap();
    fs::create_dir(repo.join("old")).unwrap();
    fs::write(repo.join("old/gone.txt"), "bye\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "v1"]).ok();
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).ok();
    let c = env.path("c");
    env.git(&c, &["config", "hfgit.localTransfer", "copy"]).ok(); // slow enough to interrupt
                                                                  // every shard changes, a directory goes, a plain file changes
    for i in 0..24 {
        fs::write(repo.join(format!("shard-{i:02}.bin")), data(900 + i, 1_500_000)).unwrap();
    }
    fs::remove_dir_all(repo.join("old")).unwrap();
    fs::write(repo.join("notes.txt"), "v2\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "v2"]).ok();
    env.hfgit(&repo, &["push", "../remote.git"]).ok();
    let old_head = env.git(&c, &["rev-parse", "HEAD"]).ok().stdout;
    kill_until_done(
        || env.hfgit_cmd(&c, &["pull"]),
        2,
        200,
        || {
            remove_git_locks(&c);
            let mut all_new = true;
            for i in 0..24 {
                let got = fs::read(c.join(format!("shard-{i:02}.bin"))).unwrap_or_else(|e| panic!("shard-{i:02}.bin: {e} after a kill"));
                assert!(got == data(400 + i, 1_500_000) || got == data(900 + i, 1_500_000), "shard-{i:02}.bin is torn after a kill");
                all_new &= got == data(900 + i, 1_500_000);
            }
            let notes = fs::read_to_string(c.join("notes.txt")).unwrap();
            assert!(notes == "v1\n" || notes == "v2\n", "notes.txt is {notes:?}");
            let head = env.git(&c, &["rev-parse", "HEAD"]).ok().stdout;
            // the branch moves last: by then every file is the new one
            assert!(head == old_head || all_new, "HEAD moved before the files were written");
        },
    );
    for i in 0..24 {
        assert_eq!(fs::read(c.join(format!("shard-{i:02}.bin"))).unwrap(), data(900 + i, 1_500_000));
    }
    assert_eq!(fs::read_to_string(c.join("notes.txt")).unwrap(), "v2\n");
    assert!(!c.join("old").exists(), "the emptied directory is removed");
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "");
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]).ok().stdout, env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout);
}

/// A lock file a killed git (or a SIGKILLed hfgit inside libgit2) left stops the command with
/// what to do, and nothing is lost: after removing it, the same command works.
#[test]
fn a_stale_git_lock_file_is_named_with_what_to_do() {
    let env = Env::new();
    let repo = env.init("m");
    fs::write(repo.join("notes.txt"), "v1\n").unwrap();
    env.hfgit(&repo, &["add", "notes.txt"]).ok();
    fs::write(repo.join(".git/index.lock"), "").unwrap();
    let r = env.hfgit(&repo, &["commit", "-m", "v1"]).fails();
    assert!(r.stderr.contains("hint:") && r.stderr.contains("index.lock") && r.stderr.contains("remove"), "{}", r.stderr);
    fs::remove_file(repo.join(".git/index.lock")).unwrap();
    env.hfgit(&repo, &["commit", "-m", "v1"]).ok();
    assert_eq!(env.git(&repo, &["show", "HEAD:notes.txt"]).ok().stdout, "v1\n");
}
