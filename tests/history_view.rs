//! Looking at history and the work tree with hfgit alone (no git-lfs on PATH or in config):
//! status that never calls a pointer clean and names the command that gets the content (which
//! is then run, to prove it does), stat data written back so an unchanged file is hashed once,
//! and log / diff from any revision, limited to paths.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Runs a command hfgit printed as a hint (`git …` and `hfgit …` joined by ` && `, plain
/// words) in `dir`, each part having to succeed.
fn follow(env: &Env, dir: &Path, command: &str) {
    for part in command.split(" && ") {
        // the hints quote with '...' as a shell would read them
        let words: Vec<&str> =
            part.split_whitespace().map(|w| w.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')).unwrap_or(w)).collect();
        match words[0] {
            "git" => env.git(dir, &words[1..]).ok(),
            "hfgit" => env.hfgit(dir, &words[1..]).ok(),
            other => panic!("hint names neither git nor hfgit: {other} in {command}"),
        };
    }
}

/// The one command a status, fsck or diff hint names, between backticks after `phrase`.
fn command_after<'a>(text: &'a str, phrase: &str) -> &'a str {
    let at = text.find(phrase).unwrap_or_else(|| panic!("no {phrase:?} in:\n{text}"));
    let rest = &text[at + phrase.len()..];
    let start = rest.find('`').expect("an opening backtick") + 1;
    let end = start + rest[start..].find('`').expect("a closing backtick");
    &rest[start..end]
}

#[track_caller]
fn assert_clean(env: &Env, repo: &Path) {
    assert_eq!(env.git(repo, &["status", "--porcelain"]).ok().stdout, "", "git status is not clean");
    let st = env.hfgit(repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"], serde_json::json!([]), "{st}");
    assert_eq!(st["not_downloaded"], serde_json::json!([]), "{st}");
    let text = env.hfgit(repo, &["status"]).ok().stdout;
    assert!(text.contains("working tree clean"), "{text}");
}

/// The original bug: plain `git checkout` (no git-lfs) writes the pointer, and status said
/// "working tree clean". Now the file is "content not downloaded", in text and JSON, with the
/// command that brings it; running that command puts the content back and status is clean.
#[test]
fn a_pointer_left_by_plain_git_checkout_is_not_clean_and_the_hint_fixes_it() {
    let env = Env::new();
    let (repo, weights, _) = three_epochs(&env);
    fs::remove_file(repo.join("pytorch_model.bin")).unwrap();
    env.git(&repo, &["checkout", "--", "pytorch_model.bin"]).ok();
    assert_eq!(fs::read_to_string(repo.join("pytorch_model.bin")).unwrap(), pointer_text(&weights[2]));

    let text = env.hfgit(&repo, &["status"]).ok().stdout;
    assert!(!text.contains("working tree clean"), "{text}");
    assert!(text.contains("Content not downloaded") && text.contains("   pytorch_model.bin  (LFS, "), "{text}");
    assert_eq!(command_after(&text, "get the content with"), "hfgit restore pytorch_model.bin");
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"], serde_json::json!([]), "the pointer is HEAD's: not a change");
    assert_eq!(st["not_downloaded"][0]["path"], "pytorch_model.bin");
    assert_eq!(st["not_downloaded"][0]["size"], 300_000);
    assert_eq!(st["not_downloaded"][0]["oid"], sha256_hex(&weights[2]));
    assert_eq!(st["fetch_with"], serde_json::json!(["hfgit restore pytorch_model.bin"]));

    follow(&env, &repo, st["fetch_with"][0].as_str().unwrap());
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[2]);
    assert_clean(&env, &repo);
}

/// `git checkout HEAD~2 -- f` without git-lfs: the index and work tree hold epoch 1's pointer.
/// Status shows the change against HEAD and the missing content, and the hint restores epoch
/// 1's version (not HEAD's), so the user's choice is kept.
#[test]
fn a_pointer_from_an_older_commit_gets_that_commits_content() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    env.git(&repo, &["checkout", "HEAD~2", "--", "pytorch_model.bin"]).ok();
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"][0]["path"], "pytorch_model.bin");
    assert_eq!(st["changes"][0]["status"], "modified");
    assert_eq!(st["not_downloaded"][0]["oid"], sha256_hex(&weights[0]));
    let cmd = st["fetch_with"][0].as_str().unwrap();
    assert_eq!(cmd, format!("hfgit restore --source {} pytorch_model.bin", &commits[0][..12]));
    follow(&env, &repo, cmd);
    assert_eq!(fs::read(repo.join("pytorch_model.bin")).unwrap(), weights[0]);
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["not_downloaded"], serde_json::json!([]));
    assert_eq!(st["changes"][0]["status"], "modified", "epoch 1's weights are still a change against HEAD");
    assert_eq!(st["changes"][0]["oid"], sha256_hex(&weights[0]));
}

/// `clone --no-lfs` leaves every LFS file a pointer: status lists them, and the hint lifts the
/// `lfs.fetchexclude` that keeps restore from downloading them before restoring; following it
/// downloads the content from the remote.
#[test]
fn a_no_lfs_clone_lists_pointers_and_the_hint_downloads_them() {
    let env = Env::new();
    let (repo, weights, _) = three_epochs(&env);
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c", "--no-lfs"]).ok();
    let c = env.path("c");
    assert_eq!(fs::read_to_string(c.join("pytorch_model.bin")).unwrap(), pointer_text(&weights[2]));
    let st = env.hfgit(&c, &["status", "--json"]).ok().json();
    assert_eq!(st["not_downloaded"][0]["path"], "pytorch_model.bin");
    let cmd = st["fetch_with"][0].as_str().unwrap();
    assert_eq!(cmd, "git config --unset lfs.fetchexclude && hfgit restore pytorch_model.bin");
    // without lifting the exclusion, restore keeps the pointer: the prefix is needed
    env.hfgit(&c, &["restore", "pytorch_model.bin"]).ok();
    assert_eq!(fs::read_to_string(c.join("pytorch_model.bin")).unwrap(), pointer_text(&weights[2]));
    follow(&env, &c, cmd);
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), weights[2]);
    assert_clean(&env, &c);
}

/// (mtime seconds, mtime nanoseconds, size) of `path`'s index entry, read by git itself.
fn index_stat(env: &Env, repo: &Path, path: &str) -> (i64, i64, u64) {
    let out = env.git(repo, &["ls-files", "--debug", "--", path]).ok().stdout;
    let field = |name: &str| -> String {
        let line = out.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("no {name} in {out}"));
        line.trim_start()[name.len()..].trim().to_string()
    };
    let mtime = field("mtime:");
    let (s, ns) = mtime.split_once(':').unwrap();
    (s.parse().unwrap(), ns.parse().unwrap(), field("size:").split_whitespace().next().unwrap().parse().unwrap())
}

/// An unchanged multi-MB file whose stat data moved (`touch`) is hashed by the first status,
/// which writes the refreshed stat data to the index (git sees the file's own mtime and size
/// there); the second status hashes nothing. While another hfgit holds the repository lock,
/// status still succeeds and just does not write.
#[test]
fn status_writes_refreshed_stat_data_back_so_the_next_one_hashes_nothing() {
    let env = Env::new();
    let repo = env.init("m");
    let w = data(7, 3_000_000);
    fs::write(repo.join("model.safetensors"), &w).unwrap();
    fs::write(repo.join("README.md"), "a model\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    // a fixed date in the past: the entries cannot be racy, and nothing depends on timing
    for f in ["model.safetensors", "README.md"] {
        env.command("touch", &repo).args(["-d", "@1600000000", f]).status().unwrap();
    }
    let meta = fs::metadata(repo.join("model.safetensors")).unwrap();
    assert_ne!(index_stat(&env, &repo, "model.safetensors").0, meta.mtime(), "touch did not move mtime");

    // the lock held (as a running hfgit holds it): no write-back, no failure
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(repo.join(".git/hfgit.lock")).unwrap();
    lock.try_lock().unwrap();
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"], serde_json::json!([]), "{st}");
    assert_eq!(st["stat_refreshed"], 0);
    assert!(st["bytes_hashed"].as_u64().unwrap() >= 3_000_000, "{st}");
    lock.unlock().unwrap();
    drop(lock);

    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert!(st["bytes_hashed"].as_u64().unwrap() >= 3_000_000, "the lock-held run must not have written: {st}");
    assert_eq!(st["stat_refreshed"], 2, "{st}");
    assert_eq!(index_stat(&env, &repo, "model.safetensors"), (meta.mtime(), meta.mtime_nsec(), meta.len()));

    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["bytes_hashed"], 0, "an unchanged file was hashed again: {st}");
    assert_eq!(st["stat_refreshed"], 0);
    let v = env.hfgit(&repo, &["status", "--verbose"]).ok();
    assert!(v.stderr.contains("hashed 0 B"), "{}", v.stderr);
    // git agrees: the refreshed entries describe the files and the content is unchanged
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");

    // a real change after a write-back is still seen
    let mut w2 = w.clone();
    w2[10] ^= 1;
    fs::write(repo.join("model.safetensors"), &w2).unwrap();
    env.command("touch", &repo).args(["-d", "@1600000000", "model.safetensors"]).status().unwrap();
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"][0]["status"], "modified", "{st}");
    assert_eq!(st["stat_refreshed"], 0, "a changed file's entry must not be refreshed");
    let st = env.hfgit(&repo, &["status", "--json"]).ok().json();
    assert_eq!(st["changes"][0]["oid"], sha256_hex(&w2));
}

fn log_ids(env: &Env, repo: &Path, args: &[&str]) -> Vec<String> {
    let mut a = vec!["log", "--json"];
    a.extend_from_slice(args);
    env.hfgit(repo, &a).ok().json().as_array().unwrap().iter().map(|e| e["commit"].as_str().unwrap().to_string()).collect()
}

/// log from a branch, a tag, a commit id and HEAD~N; `-- PATH` keeps the commits that changed
/// the path (as git's own log does); `--oneline`; a bad revision is named.
#[test]
fn log_takes_any_revision_and_paths() {
    let env = Env::new();
    let (repo, _, commits) = three_epochs(&env);
    env.git(&repo, &["tag", "v2", &commits[1]]).ok();
    fs::write(repo.join("notes.txt"), "only notes\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "notes"]).ok();
    let notes = head(&env, &repo);
    let newest_first: Vec<String> = commits.iter().rev().cloned().collect();

    assert_eq!(log_ids(&env, &repo, &["v2"]), newest_first[1..].to_vec());
    assert_eq!(log_ids(&env, &repo, &["HEAD~2"]), newest_first[1..].to_vec());
    assert_eq!(log_ids(&env, &repo, &[&commits[0]]), vec![commits[0].clone()]);
    env.git(&repo, &["branch", "old", &commits[1]]).ok();
    assert_eq!(log_ids(&env, &repo, &["old", "-n", "1"]), vec![commits[1].clone()]);

    let git_ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["log", "--format=%H"];
        a.extend_from_slice(args);
        env.git(&repo, &a).ok().stdout.lines().map(str::to_string).collect()
    };
    assert_eq!(log_ids(&env, &repo, &["--", "pytorch_model.bin"]), git_ids(&["--", "pytorch_model.bin"]));
    assert_eq!(log_ids(&env, &repo, &["--", "notes.txt"]), vec![notes.clone()]);
    assert_eq!(log_ids(&env, &repo, &["v2", "--", "notes.txt"]), Vec::<String>::new());
    assert_eq!(log_ids(&env, &repo, &["--", "pytorch_model.bin", "notes.txt"]).len(), 4);
    // paths are relative to the current directory; `..` climbs out of it
    fs::create_dir(repo.join("sub")).unwrap();
    let ids: Vec<String> = env.hfgit(&repo.join("sub"), &["log", "--json", "--", "../notes.txt"]).ok().json().as_array().unwrap()[..]
        .iter()
        .map(|e| e["commit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![notes.clone()]);

    // the LFS lines and --stat of a path-limited log name only those paths
    let e = env.hfgit(&repo, &["log", "--json", "--stat", "-n", "1", "--", "config.json"]).ok().json();
    assert_eq!(e[0]["commit"], commits[2].as_str());
    assert_eq!(e[0]["lfs"], serde_json::json!([]));
    assert_eq!(e[0]["stat"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect::<Vec<_>>(), ["config.json"]);

    let one = env.hfgit(&repo, &["log", "--oneline"]).ok().stdout;
    assert_eq!(
        one,
        format!("{} notes\n{} epoch 3\n{} epoch 2\n{} epoch 1\n", &notes[..7], &commits[2][..7], &commits[1][..7], &commits[0][..7])
    );

    let r = env.hfgit(&repo, &["log", "no-such-rev"]).fails();
    assert!(r.stderr.contains("unknown revision `no-such-rev`") && r.stderr.contains("hint:"), "{}", r.stderr);
}

/// diff between a tag and a branch, a commit id and HEAD~N, limited to paths; a bad
/// revision is named.
#[test]
fn diff_takes_any_revision_and_paths() {
    let env = Env::new();
    let (repo, _, commits) = three_epochs(&env);
    env.git(&repo, &["tag", "v2", &commits[1]]).ok();
    env.git(&repo, &["branch", "first", &commits[0]]).ok();
    let files = |args: &[&str]| -> Vec<(String, String)> {
        let mut a = vec!["diff", "--json"];
        a.extend_from_slice(args);
        let out = env.hfgit(&repo, &a).ok().json();
        out["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["status"].as_str().unwrap().to_string()))
            .collect()
    };
    let both = vec![("config.json".to_string(), "modified".to_string()), ("pytorch_model.bin".to_string(), "modified".to_string())];
    assert_eq!(files(&["first", "v2"]), both);
    assert_eq!(files(&[&commits[0], "HEAD~1"]), both);
    assert_eq!(files(&["first", "main", "--", "config.json"]), both[..1].to_vec());
    assert_eq!(files(&["HEAD~2", "--", "pytorch_model.bin"]), both[1..].to_vec(), "REV against the work tree");
    assert_eq!(files(&["first", "v2", "--", "nothing-here"]), Vec::<(String, String)>::new());
    let out = env.hfgit(&repo, &["diff", "v2", "main", "--json", "--", "config.json"]).ok().json();
    assert_eq!(out["files"][0]["config"]["changed"][0]["key"], "epoch");

    let r = env.hfgit(&repo, &["diff", "first", "nope~3"]).fails();
    assert!(r.stderr.contains("unknown revision `nope~3`"), "{}", r.stderr);
}

/// fsck and diff name a command that downloads a missing object (not `hfgit pull`, which does
/// not bring back an object HEAD already has); following it fixes the problem.
#[test]
fn fsck_and_diff_hints_for_missing_objects_are_followed() {
    let env = Env::new();
    let (repo, weights, commits) = three_epochs(&env);
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).ok();
    let c = env.path("c");
    let git_dir = c.join(".git");
    fs::remove_file(object_path(&git_dir, &sha256_hex(&weights[2]))).unwrap();
    assert!(!object_path(&git_dir, &sha256_hex(&weights[0])).exists(), "a clone brings HEAD's objects only");

    let r = env.hfgit(&c, &["fsck"]).fails();
    assert!(r.stdout.contains("missing: pytorch_model.bin"), "{}", r.stdout);
    assert!(!r.stderr.contains("hfgit pull"), "{}", r.stderr);
    let cmd = command_after(&r.stderr, "download the missing objects with").to_string();
    assert_eq!(cmd, "hfgit fetch --include '*'");
    follow(&env, &c, &cmd);
    assert!(object_path(&git_dir, &sha256_hex(&weights[2])).exists());
    env.hfgit(&c, &["fsck"]).ok();

    // an old revision's object: diff notes the file, naming the command that downloads it
    let out = env.hfgit(&c, &["diff", "--json", &commits[0], "HEAD"]).ok().json();
    let w = out["files"].as_array().unwrap().iter().find(|f| f["path"] == "pytorch_model.bin").unwrap().clone();
    let note = w["note"].as_str().unwrap();
    assert!(note.contains("not in the local store") && !note.contains("hfgit pull"), "{note}");
    let cmd = command_after(note, "download it with").to_string();
    assert_eq!(cmd, format!("hfgit fetch origin '{}' --include 'pytorch_model.bin'", commits[0]));
    follow(&env, &c, &cmd);
    assert!(object_path(&git_dir, &sha256_hex(&weights[0])).exists());
    assert_eq!(fs::read(c.join("pytorch_model.bin")).unwrap(), weights[2], "fetch leaves the work tree alone");
    let out = env.hfgit(&c, &["diff", "--json", &commits[0], "HEAD"]).ok().json();
    let w = out["files"].as_array().unwrap().iter().find(|f| f["path"] == "pytorch_model.bin").unwrap().clone();
    assert!(!w["note"].as_str().unwrap_or("").contains("local store"), "{w}");
    assert_clean(&env, &c);
}
