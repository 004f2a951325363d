//! The store's life cycle with hfgit alone (no git-lfs on PATH or in config, except the
//! cross-check against `git lfs prune`): fetch what a clone left out, widen a narrow clone,
//! see the disk use, prune what nothing needs with git-lfs's rules.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn head(env: &Env, repo: &Path) -> String {
    env.git(repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string()
}

fn has(repo: &Path, bytes: &[u8]) -> bool {
    object_path(&repo.join(".git"), &sha256_hex(bytes)).exists()
}

/// Puts `bytes` straight into the store at `git_dir`, as an object no commit names.
fn put_object(git_dir: &Path, bytes: &[u8]) {
    let p = object_path(git_dir, &sha256_hex(bytes));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn commit(env: &Env, repo: &Path, file: &str, bytes: &[u8], msg: &str) {
    fs::write(repo.join(file), bytes).unwrap();
    env.hfgit(repo, &["commit", "-m", msg]).ok();
}

/// A repository `name` whose a.bin went through `versions`, one commit each, pushed to a new
/// bare `remote.git` as origin.
fn pushed(env: &Env, name: &str, versions: &[&[u8]]) -> PathBuf {
    let repo = env.init(name);
    for (i, v) in versions.iter().enumerate() {
        commit(env, &repo, "a.bin", v, &format!("version {}", i + 1));
    }
    env.git(&repo, &["remote", "add", "origin", env.path("remote.git").to_str().unwrap()]).ok();
    env.hfgit(&repo, &["push", "--create"]).ok();
    repo
}

/// What `git lfs prune --dry-run --verbose` would delete in a copy of `repo`, and the
/// version of git-lfs that said so.
fn git_lfs_would_prune(repo: &Path) -> (String, BTreeSet<String>) {
    let lfs_env = Env::with_git_lfs();
    let copy = lfs_env.path("copy");
    lfs_env.command("cp", lfs_env.dir.path()).args(["-a", repo.to_str().unwrap(), copy.to_str().unwrap()]).status().unwrap();
    // without a terminal git-lfs prints only the last line of its list, unless forced
    let out =
        lfs_env.command("git", &copy).args(["lfs", "prune", "--dry-run", "--verbose"]).env("GIT_LFS_FORCE_PROGRESS", "1").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let listed = text
        .split(['\r', '\n'])
        .filter_map(|l| l.trim().strip_prefix("* "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|o| o.len() == 64)
        .map(str::to_string)
        .collect();
    (lfs_env.git(&copy, &["lfs", "version"]).ok().stdout, listed)
}

fn oids(v: &serde_json::Value) -> BTreeSet<String> {
    v["pruned"].as_array().unwrap().iter().map(|o| o["oid"].as_str().unwrap().to_string()).collect()
}

fn hexes(items: &[&[u8]]) -> BTreeSet<String> {
    items.iter().map(|b| sha256_hex(b)).collect()
}

/// Five versions of the weights and friends: v1..v3 of a.bin pushed, u1 and u2 of b.bin in
/// two unpushed commits (HEAD has v3 and u2), s1 only in refs/stash, i1 only in the index,
/// o1 in no commit at all. Returns (repo, bare remote, [v1, v2, v3, u1, u2, s1, i1, o1]).
fn five_versions(env: &Env) -> (PathBuf, PathBuf, Vec<Vec<u8>>) {
    let b: Vec<Vec<u8>> = (1..=8).map(|i| data(i, 40_000 + i as usize * 1000)).collect();
    let repo = pushed(env, "m", &[&b[0], &b[1], &b[2]]);
    commit(env, &repo, "b.bin", &b[3], "u1, not pushed");
    commit(env, &repo, "b.bin", &b[4], "u2, not pushed");
    // a commit only refs/stash (with its reflog, as `git stash` leaves it) reaches
    env.hfgit(&repo, &["switch", "-c", "wip"]).ok();
    commit(env, &repo, "a.bin", &b[5], "work in progress");
    let wip = head(env, &repo);
    env.hfgit(&repo, &["switch", "main"]).ok();
    env.hfgit(&repo, &["branch", "-D", "wip"]).ok();
    env.git(&repo, &["update-ref", "--create-reflog", "-m", "WIP on main", "refs/stash", &wip]).ok();
    // staged, never committed
    put_object(&repo.join(".git"), &b[6]);
    fs::write(env.path("ptr"), pointer_text(&b[6])).unwrap();
    let blob = env.git(&repo, &["hash-object", "-w", "../ptr"]).ok().stdout.trim().to_string();
    env.git(&repo, &["update-index", "--add", "--cacheinfo", &format!("100644,{blob},c.bin")]).ok();
    put_object(&repo.join(".git"), &b[7]);
    assert!(fs::read(repo.join("a.bin")).unwrap() == b[2]);
    (repo, env.path("remote.git"), b)
}

/// `prune --dry-run` lists exactly v1, v2 and the orphan (and deletes nothing); `git lfs prune
/// --dry-run` on a copy names the same set; `du` reports the same bytes; `prune` frees them and
/// keeps HEAD's, the unpushed, the stashed and the staged objects.
#[test]
fn prune_deletes_exactly_what_git_lfs_would_and_keeps_the_rest() {
    let env = Env::new();
    let (repo, _bare, b) = five_versions(&env);
    let all: Vec<&[u8]> = b.iter().map(Vec::as_slice).collect();
    let safe = hexes(&[&b[0], &b[1], &b[7]]);
    let safe_bytes: u64 = [0, 1, 7].iter().map(|&i| b[i].len() as u64).sum();

    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), safe);
    assert_eq!(dry["pruned_bytes"], safe_bytes);
    assert_eq!(dry["store_objects"], 8);
    assert_eq!(dry["retained_objects"], 5);
    // v1 and v2 are still reached by pushed commits: they were confirmed on the remote; the
    // orphan is reached by nothing and needs no check
    assert_eq!(dry["verified_objects"], 2);
    assert!(all.iter().all(|x| has(&repo, x)), "--dry-run deleted something");

    // git-lfs, on a copy of the same repository, would prune the same objects
    let (version, theirs) = git_lfs_would_prune(&repo);
    // git-lfs before 3.5.0 deleted objects only the index names ("Fix git lfs prune is
    // deleting staged files in the index", 55a7f00a); from 3.5.0 on it keeps them, as hfgit does
    let (major, minor) = version
        .strip_prefix("git-lfs/")
        .and_then(|v| {
            let mut it = v.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
            Some((it.next()?, it.next()?))
        })
        .unwrap_or_else(|| panic!("unreadable git lfs version: {version}"));
    let mut expected = safe.clone();
    if (major, minor) < (3, 5) {
        expected.insert(sha256_hex(&b[6]));
    }
    assert_eq!(theirs, expected, "{version}");

    let du = env.hfgit(&repo, &["du", "--json"]).ok().json();
    assert_eq!(du["store_objects"], 8);
    assert_eq!(du["store_bytes"], b.iter().map(|x| x.len() as u64).sum::<u64>());
    assert_eq!(du["head_objects"], 2);
    assert_eq!(du["head_present_objects"], 2);
    assert_eq!(du["head_bytes"], (b[2].len() + b[4].len()) as u64);
    assert_eq!(du["prunable_objects"], 3);
    assert_eq!(du["prunable_bytes"], safe_bytes);

    let r = env.hfgit(&repo, &["prune"]).ok();
    for oid in &safe {
        assert!(r.stdout.contains(oid.as_str()), "{oid} not listed:\n{}", r.stdout);
    }
    assert!(r.stderr.contains("3 of 8 local LFS object(s) deleted"), "{}", r.stderr);
    for (i, x) in b.iter().enumerate() {
        assert_eq!(has(&repo, x), ![0, 1, 7].contains(&i), "object {i}");
    }
    env.hfgit(&repo, &["fsck"]).ok();
    let du = env.hfgit(&repo, &["du", "--json"]).ok().json();
    assert_eq!((du["store_objects"].as_u64(), du["prunable_objects"].as_u64()), (Some(5), Some(0)));
    let again = env.hfgit(&repo, &["prune", "--json"]).ok().json();
    assert_eq!(again["pruned"].as_array().unwrap().len(), 0);

    // once pushed, the unpushed versions become prunable (u1), HEAD's stay
    env.hfgit(&repo, &["push"]).ok();
    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&b[3]]));
}

/// An object the remote lacks is never deleted while a commit reaches it; `--verify-remote`
/// also refuses to delete an unreachable one the remote lacks. Nothing is deleted on refusal.
#[test]
fn verify_remote_refuses_to_delete_what_the_remote_lacks() {
    let env = Env::new();
    let (v1, v2, o1) = (data(1, 30_000), data(2, 30_000), data(3, 30_000));
    let repo = pushed(&env, "m", &[&v1, &v2]);
    let bare = env.path("remote.git");
    put_object(&repo.join(".git"), &o1);
    let remote_v1 = object_path(&bare, &sha256_hex(&v1));
    let kept = fs::read(&remote_v1).unwrap();
    fs::remove_file(&remote_v1).unwrap();

    let r = env.hfgit(&repo, &["prune"]).fails();
    assert!(r.stderr.contains(&sha256_hex(&v1)) && r.stderr.contains("missing on"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was deleted") && r.stderr.contains("--no-verify-remote"), "{}", r.stderr);
    assert!(has(&repo, &v1) && has(&repo, &o1));

    let r = env.hfgit(&repo, &["prune", "--verify-remote", "--dry-run"]).fails();
    assert!(r.stderr.contains(&sha256_hex(&v1)) && r.stderr.contains(&sha256_hex(&o1)), "{}", r.stderr);

    // the remote has v1 again: the default deletes v1 and the orphan; --verify-remote still
    // refuses the orphan, which exists nowhere else
    fs::write(&remote_v1, &kept).unwrap();
    let r = env.hfgit(&repo, &["prune", "--verify-remote"]).fails();
    assert!(r.stderr.contains(&sha256_hex(&o1)) && !r.stderr.contains(&sha256_hex(&v1)), "{}", r.stderr);
    assert!(has(&repo, &v1) && has(&repo, &o1));
    let r = env.hfgit(&repo, &["prune", "--json"]).ok().json();
    assert_eq!(oids(&r), hexes(&[&v1, &o1]));
    assert_eq!(r["verified_objects"], 1);
    assert!(!has(&repo, &v1) && !has(&repo, &o1) && has(&repo, &v2));

    // no remote to ask: refused, with the way around named
    let lone = env.init("lone");
    commit(&env, &lone, "a.bin", &v1, "v1");
    commit(&env, &lone, "a.bin", &v2, "v2");
    env.git(&lone, &["update-ref", "refs/remotes/origin/main", "HEAD"]).ok();
    let r = env.hfgit(&lone, &["prune"]).fails();
    assert!(r.stderr.contains("no remote `origin`") && r.stderr.contains("hfgit prune --no-verify-remote"), "{}", r.stderr);
    assert!(has(&lone, &v1));
    let r = env.hfgit(&lone, &["prune", "--no-verify-remote", "--json"]).ok().json();
    assert_eq!(oids(&r), hexes(&[&v1]));
}

/// A remote with a tag on the first version and two files in the second.
fn tagged_remote(env: &Env) -> (PathBuf, [Vec<u8>; 3]) {
    let repo = env.init("src");
    let (v1, v2, t) = (data(11, 50_000), data(12, 50_000), data(13, 20_000));
    commit(env, &repo, "a.bin", &v1, "v1");
    env.hfgit(&repo, &["tag", "v1"]).ok();
    fs::write(repo.join("tok.bin"), &t).unwrap();
    commit(env, &repo, "a.bin", &v2, "v2");
    let bare = env.path("remote.git");
    env.hfgit(&repo, &["push", bare.to_str().unwrap(), "--create"]).ok();
    env.git(&repo, &["push", "-q", bare.to_str().unwrap(), "v1"]).ok();
    (bare, [v1, v2, t])
}

/// After `clone --no-lfs`: `fetch` says what the saved selection leaves out and how to get it;
/// `fetch --include '*'` brings HEAD's objects (the work tree stays as it is until `restore`),
/// `fetch origin v1` an old tag's, `fetch --all` everything.
#[test]
fn fetch_brings_what_a_no_lfs_clone_left_out() {
    let env = Env::new();
    let (bare, [v1, v2, t]) = tagged_remote(&env);
    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "c", "--no-lfs"]).ok();
    let c = env.path("c");
    assert_eq!(fs::read_to_string(c.join("a.bin")).unwrap(), pointer_text(&v2));

    let r = env.hfgit(&c, &["fetch"]).ok();
    assert!(r.stderr.contains("2 LFS object(s)") && r.stderr.contains("hfgit fetch --include '*'"), "{}", r.stderr);
    assert!(!has(&c, &v2));

    let r = env.hfgit(&c, &["fetch", "--include", "*", "--json"]).ok().json();
    assert_eq!((r["downloaded_objects"].as_u64(), r["objects"].as_u64()), (Some(2), Some(2)));
    assert!(has(&c, &v2) && has(&c, &t) && !has(&c, &v1));
    assert_eq!(fs::read_to_string(c.join("a.bin")).unwrap(), pointer_text(&v2), "fetch wrote the work tree");
    // writing it is the selection's business: already fetched, nothing more is downloaded
    let r = env.hfgit(&c, &["pull", "--include", "a.bin", "--json"]).ok().json();
    assert_eq!((r["downloaded_objects"].as_u64(), r["files_written"].as_u64()), (Some(0), Some(1)));
    assert!(fs::read(c.join("a.bin")).unwrap() == v2);

    let r = env.hfgit(&c, &["fetch", "origin", "v1", "-I", "a.bin", "--json"]).ok().json();
    assert_eq!(r["downloaded_objects"], 1);
    assert!(has(&c, &v1));
    let r = env.hfgit(&c, &["fetch", "v1"]).fails();
    assert!(r.stderr.contains("no remote named `v1`") && r.stderr.contains("`hfgit fetch origin v1`"), "{}", r.stderr);
    let r = env.hfgit(&c, &["fetch", "origin", "no-such-rev", "-I", "*"]).fails();
    assert!(r.stderr.contains("no-such-rev"), "{}", r.stderr);

    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "d", "--no-lfs"]).ok();
    let d = env.path("d");
    let r = env.hfgit(&d, &["fetch", "--all", "--json"]).ok().json();
    assert_eq!(r["downloaded_objects"], 3);
    assert!(has(&d, &v1) && has(&d, &v2) && has(&d, &t));
    env.hfgit(&d, &["fsck", "--all"]).ok();
    let r = env.hfgit(&d, &["fetch", "--all", "--recent"]).fails();
    assert!(r.stderr.contains("cannot be combined with --recent"), "{}", r.stderr);
}

/// `pull --include` after a narrow clone: the new selection is saved, its files downloaded
/// and written; files already written stay.
#[test]
fn pull_include_widens_and_narrows_a_clone() {
    let env = Env::new();
    let (bare, [_v1, v2, t]) = tagged_remote(&env);
    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "c", "--include", "a.bin"]).ok();
    let c = env.path("c");
    assert!(fs::read(c.join("a.bin")).unwrap() == v2);
    assert_eq!(fs::read_to_string(c.join("tok.bin")).unwrap(), pointer_text(&t));

    let r = env.hfgit(&c, &["pull", "--include", "tok.bin", "--json"]).ok().json();
    assert_eq!(r["downloaded_objects"], 1);
    assert!(fs::read(c.join("tok.bin")).unwrap() == t);
    assert!(fs::read(c.join("a.bin")).unwrap() == v2, "narrowing removed a file");
    assert_eq!(env.git(&c, &["config", "lfs.fetchinclude"]).ok().stdout.trim(), "tok.bin");
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "");

    // widening what --no-lfs excluded replaces the exclusion
    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "n", "--no-lfs"]).ok();
    let n = env.path("n");
    env.hfgit(&n, &["pull", "--include", "*.bin"]).ok();
    assert!(fs::read(n.join("tok.bin")).unwrap() == t && fs::read(n.join("a.bin")).unwrap() == v2);
    assert_eq!(env.git(&n, &["config", "lfs.fetchexclude"]).code, 1, "the old exclusion stayed");
    let r = env.hfgit(&n, &["pull", "--include", "[bad"]).fails();
    assert!(r.stderr.contains("[bad"), "{}", r.stderr);
    assert_eq!(env.git(&n, &["config", "lfs.fetchinclude"]).ok().stdout.trim(), "*.bin");
}

/// After `clone --no-lfs`, fsck and diff say the content is missing and name the `hfgit fetch`
/// that gets it; running exactly that makes fsck pass and the note go away.
#[test]
fn missing_content_hints_name_the_fetch_that_gets_it() {
    let env = Env::new();
    let (bare, [v1, _v2, _t]) = tagged_remote(&env);
    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "c", "--no-lfs"]).ok();
    let c = env.path("c");

    let r = env.hfgit(&c, &["fsck"]).fails();
    assert!(r.stderr.contains("hint: download the missing objects with `hfgit fetch --include '*'`"), "{}", r.stderr);
    env.hfgit(&c, &["fetch", "--include", "*"]).ok();
    env.hfgit(&c, &["fsck"]).ok();
    let r = env.hfgit(&c, &["fsck", "--all"]).fails();
    assert!(r.stderr.contains("`hfgit fetch --all`"), "{}", r.stderr);

    let d = env.hfgit(&c, &["diff", "v1", "HEAD", "--json"]).ok().json();
    let note =
        d["files"].as_array().unwrap().iter().find(|f| f["path"] == "a.bin").and_then(|f| f["note"].as_str()).unwrap_or("").to_string();
    assert!(note.contains("not in the local store") && note.contains("hfgit fetch origin 'v1' --include 'a.bin'"), "{d}");
    assert!(!has(&c, &v1));
    env.hfgit(&c, &["fetch", "origin", "v1", "--include", "a.bin"]).ok();
    assert!(has(&c, &v1));
    let d = env.hfgit(&c, &["diff", "v1", "HEAD", "--json"]).ok().json();
    assert!(!d.to_string().contains("not in the local store"), "{d}");
    env.hfgit(&c, &["fsck", "--all"]).ok();
}

/// The recent window: a pushed branch whose commit is a day old keeps its objects (git-lfs
/// keeps refs within lfs.fetchrecentrefsdays + lfs.pruneoffsetdays, 7 + 3 days); one from 2023
/// does not; with lfs.fetchrecentrefsdays 0 neither does. `fetch --recent` brings the recent
/// branch's objects and not the old one's. git-lfs agrees on the prune side.
#[test]
fn recent_refs_are_kept_and_fetched_as_git_lfs_does() {
    let env = Env::new();
    let (base, old, fresh) = (data(21, 30_000), data(22, 31_000), data(23, 32_000));
    let repo = pushed(&env, "m", &[&base]);
    let bare = env.path("remote.git");
    env.hfgit(&repo, &["switch", "-c", "old"]).ok();
    commit(&env, &repo, "a.bin", &old, "2023");
    env.hfgit(&repo, &["push"]).ok();
    env.hfgit(&repo, &["switch", "-c", "fresh", "main"]).ok();
    fs::write(repo.join("a.bin"), &fresh).unwrap();
    let yesterday = format!("@{} +0000", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 86_400);
    let out = env.hfgit_cmd(&repo, &["commit", "-m", "yesterday"]).env("GIT_COMMITTER_DATE", &yesterday).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.hfgit(&repo, &["push"]).ok();
    env.hfgit(&repo, &["switch", "main"]).ok();

    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&old]));
    assert_eq!(git_lfs_would_prune(&repo).1, hexes(&[&old]));

    env.git(&repo, &["config", "lfs.fetchrecentrefsdays", "0"]).ok();
    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&old, &fresh]));

    env.hfgit(env.dir.path(), &["clone", bare.to_str().unwrap(), "c", "--no-lfs"]).ok();
    let c = env.path("c");
    env.hfgit(&c, &["fetch", "--recent", "--include", "*"]).ok();
    assert!(has(&c, &base) && has(&c, &fresh) && !has(&c, &old));
}

/// Over HTTP the remote is asked through the batch API (a download request, nothing
/// downloaded): an object the server answers with an error is missing, and is not deleted.
#[test]
fn verify_remote_asks_an_http_lfs_server_through_the_batch_api() {
    let env = Env::new();
    let server = common::lfs_server::LfsServer::start();
    let repo = env.init("m");
    let (v1, v2) = (data(31, 30_000), data(32, 30_000));
    env.git(&repo, &["config", "lfs.url", &server.endpoint("pushed")]).ok();
    commit(&env, &repo, "a.bin", &v1, "v1");
    commit(&env, &repo, "a.bin", &v2, "v2");
    env.git(&repo, &["remote", "add", "origin", env.path("remote.git").to_str().unwrap()]).ok();
    env.hfgit(&repo, &["push", "--create"]).ok();
    assert!(server.get("pushed", &sha256_hex(&v1)).is_some());

    // the same history, but an LFS store that never got v1
    env.git(&repo, &["config", "lfs.url", &server.endpoint("empty")]).ok();
    let r = env.hfgit(&repo, &["prune"]).fails();
    assert!(r.stderr.contains(&sha256_hex(&v1)) && r.stderr.contains("Object does not exist"), "{}", r.stderr);
    assert!(has(&repo, &v1));
    assert_eq!(server.count("batch:empty"), 1);

    server.put("empty", &v1);
    let r = env.hfgit(&repo, &["prune", "--json"]).ok().json();
    assert_eq!(oids(&r), hexes(&[&v1]));
    assert_eq!(r["verified_objects"], 1);
    assert!(!has(&repo, &v1) && has(&repo, &v2));
    assert!(server.log().iter().all(|l| l.method != "GET"), "prune downloaded something: {:?}", server.log());
}

/// Another worktree's HEAD keeps its objects, from whichever worktree prune runs; the store is
/// the main repository's.
#[test]
fn prune_keeps_what_other_worktrees_check_out() {
    let env = Env::new();
    let (v1, v2, v3) = (data(41, 30_000), data(42, 30_000), data(43, 30_000));
    let repo = pushed(&env, "m", &[&v1, &v2, &v3]);
    let first = env.git(&repo, &["rev-parse", "HEAD~2"]).ok().stdout.trim().to_string();
    let wt = env.path("wt");
    env.git(&repo, &["worktree", "add", "-q", "--detach", wt.to_str().unwrap(), &first]).ok();
    for dir in [&repo, &wt] {
        let dry = env.hfgit(dir, &["prune", "--dry-run", "--json"]).ok().json();
        assert_eq!(oids(&dry), hexes(&[&v2]), "from {}", dir.display());
    }
    // an hfgit command busy in the other worktree holds off the deletion
    let wt_lock = repo.join(".git/worktrees/wt/hfgit.lock");
    // the shell becomes `sleep` holding the lock itself, so killing it releases the lock
    let mut holder =
        std::process::Command::new("sh").args(["-c", "exec 9>\"$0\" && flock 9 && exec sleep 60"]).arg(&wt_lock).spawn().unwrap();
    while std::process::Command::new("flock").args(["-n"]).arg(&wt_lock).arg("true").status().unwrap().success() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = env.hfgit(&repo, &["prune"]).fails();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(r.stderr.contains("lock held on") && r.stderr.contains("worktrees/wt/hfgit.lock"), "{}", r.stderr);
    assert!(has(&repo, &v2));
    env.hfgit(&wt, &["prune"]).ok();
    assert!(has(&repo, &v1) && !has(&repo, &v2) && has(&repo, &v3));
}

/// Where hfgit is more careful than git-lfs: a `refs/stash` written without a reflog still
/// keeps what it added, a work-tree file that is a pointer keeps its object (someone fetched
/// it for a file not written yet), and `lfs.fetchexclude` never makes HEAD's objects prunable.
#[test]
fn prune_keeps_more_than_git_lfs_where_that_is_safer() {
    let env = Env::new();
    let (v1, v2, v3, s1) = (data(51, 30_000), data(52, 30_000), data(53, 30_000), data(54, 30_000));
    let repo = pushed(&env, "m", &[&v1, &v2, &v3]);
    env.hfgit(&repo, &["switch", "-c", "wip"]).ok();
    commit(&env, &repo, "a.bin", &s1, "wip");
    let wip = env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string();
    env.hfgit(&repo, &["switch", "main"]).ok();
    env.hfgit(&repo, &["branch", "-D", "wip"]).ok();
    fs::write(repo.join(".git/refs/stash"), format!("{wip}\n")).unwrap();
    assert!(!repo.join(".git/logs/refs/stash").exists());
    fs::write(repo.join("old.bin"), pointer_text(&v1)).unwrap();
    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&v2]));
    fs::remove_file(repo.join("old.bin")).unwrap();
    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&v1, &v2]));
    env.git(&repo, &["config", "lfs.fetchexclude", "a.bin"]).ok();
    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&v1, &v2]), "HEAD's a.bin became prunable");
    assert!(has(&repo, &v3) && has(&repo, &s1));

    // commits made on a detached HEAD are unpushed too, even unverified
    let (d1, d2) = (data(55, 30_000), data(56, 30_000));
    env.git(&repo, &["config", "--unset", "lfs.fetchexclude"]).ok();
    env.hfgit(&repo, &["checkout", "HEAD~0"]).ok();
    commit(&env, &repo, "a.bin", &d1, "detached 1");
    commit(&env, &repo, "a.bin", &d2, "detached 2");
    assert!(env.git(&repo, &["symbolic-ref", "-q", "HEAD"]).code != 0, "HEAD is not detached");
    let dry = env.hfgit(&repo, &["prune", "--dry-run", "--no-verify-remote", "--json"]).ok().json();
    assert_eq!(oids(&dry), hexes(&[&v1, &v2, &v3]));
}

/// Only regular files at their own object path count: a symlink named like an object (its
/// target outside the store), a file named by another oid's path, a stray file are neither
/// counted nor deleted.
#[test]
fn prune_deletes_only_real_objects_at_their_own_paths() {
    let env = Env::new();
    let (v1, v2) = (data(61, 30_000), data(62, 30_000));
    let repo = pushed(&env, "m", &[&v1, &v2]);
    let objects = repo.join(".git/lfs/objects");
    let outside = env.path("precious");
    fs::write(&outside, b"not an object").unwrap();
    let fake = sha256_hex(b"fake");
    fs::create_dir_all(objects.join(&fake[..2]).join(&fake[2..4])).unwrap();
    std::os::unix::fs::symlink(&outside, object_path(&repo.join(".git"), &fake)).unwrap();
    let misplaced = objects.join("00/00").join(sha256_hex(b"elsewhere"));
    fs::create_dir_all(misplaced.parent().unwrap()).unwrap();
    fs::write(&misplaced, b"elsewhere").unwrap();
    fs::write(objects.join("README"), b"stray").unwrap();

    let r = env.hfgit(&repo, &["prune", "--json"]).ok().json();
    assert_eq!(oids(&r), hexes(&[&v1]));
    assert_eq!(r["store_objects"], 2);
    assert_eq!(fs::read(&outside).unwrap(), b"not an object");
    assert!(fs::symlink_metadata(object_path(&repo.join(".git"), &fake)).is_ok());
    assert!(misplaced.exists() && objects.join("README").exists() && has(&repo, &v2));
}
