//! The LFS batch API and basic transfers against a fault-injecting server (tests/common/
//! lfs_server.rs): the failure checklist of git-lfs's own test suite, items 1-13 and 15-18.
//! Git itself goes to a local bare repository; LFS goes to the server named in `.lfsconfig`.

mod common;
use common::lfs_server::{fx, Fx, PASSWORD, USER};
use common::*;
use std::fs;

#[test]
fn push_uploads_verifies_and_skips_what_the_server_has() {
    let f = fx("ok-verify");
    let r = f.env.hfgit(&f.repo, &["push", "../remote.git", "--create", "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 2);
    assert_eq!(f.server.get("ok-verify", &sha256_hex(&f.a)).unwrap(), f.a);
    assert_eq!(f.server.count(&format!("verify:ok-verify:{}", sha256_hex(&f.b))), 1);
    // the action's own header reached storage, not our credentials
    let puts: Vec<_> = f.server.log().into_iter().filter(|l| l.method == "PUT").collect();
    assert_eq!(puts.len(), 2);
    for p in &puts {
        let oid = p.path.rsplit('/').next().unwrap();
        assert_eq!(p.authorization.as_deref(), Some(format!("Bearer storage-{}", &oid[..8]).as_str()));
    }
    // the batch carried sha256 and the ref
    let body = f.server.log().into_iter().find(|l| l.listener == "batch-body").unwrap().path;
    assert!(body.contains("\"hash_algo\":\"sha256\"") && body.contains("\"ref\":{\"name\":\"refs/heads/main\"}"), "{body}");
    // a config-only commit: the server has everything, nothing is uploaded
    fs::write(f.repo.join("config.json"), "{}\n").unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "cfg"]).ok();
    let r = f.env.hfgit(&f.repo, &["push", "../remote.git", "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 0);
    assert_eq!(f.server.log().iter().filter(|l| l.method == "PUT").count(), 2);
}

#[test]
fn bad_batch_responses_fail_the_push_and_leave_the_branch_alone() {
    // checklist 1, 8, 9, 10
    for (name, why) in [
        ("badbatch", "invalid batch response"),
        ("batch203", "expected 200"),
        ("unknown-oid", "unknown OID"),
        ("invalid-size", "invalid size"),
        ("hashalgo-bad", "sha1"),
    ] {
        let f = fx(name);
        let r = f.push().fails();
        assert!(r.stderr.contains(why), "{name}: {}", r.stderr);
        assert!(!f.remote_has_branch(), "{name}: branch moved");
    }
    let f = fx("hashalgo-empty");
    f.push().ok();
}

#[test]
fn batch_http_errors_fail_and_nothing_is_stored() {
    // checklist 2
    for code in ["403", "404", "410", "422", "500"] {
        let name = format!("status-batch-{code}");
        let f = fx(&name);
        let r = f.push().fails();
        assert!(r.stderr.contains(code), "{code}: {}", r.stderr);
        assert!(f.server.get(&name, &sha256_hex(&f.a)).is_none());
        assert!(!f.remote_has_branch());
    }
    // 500 is retried (3 attempts), 404 is not
    let f = fx("status-batch-500");
    f.push().fails();
    assert_eq!(f.server.count("batch:status-batch-500"), 3);
    let f = fx("status-batch-404");
    f.push().fails();
    assert_eq!(f.server.count("batch:status-batch-404"), 1);
}

#[test]
fn storage_errors_fail_after_retries_and_transient_ones_recover() {
    // checklist 3
    for code in ["403", "404", "410", "500", "503"] {
        let name = format!("status-storage-{code}");
        let f = fx(&name);
        let r = f.push().fails();
        assert!(r.stderr.contains(code) && r.stderr.contains("a.bin") && r.stderr.contains(&sha256_hex(&f.a)), "{code}: {}", r.stderr);
        assert!(!f.remote_has_branch());
        let tries = f.server.count(&format!("put:{name}:{}", sha256_hex(&f.a)));
        let want = if code == "404" || code == "410" { 1 } else { 3 };
        assert_eq!(tries, want, "{code}: {tries} attempts");
    }
    // checklist 4: two failures, then success, for upload and download
    let f = fx("storage-500-twice");
    f.push().ok();
    assert_eq!(f.server.get("storage-500-twice", &sha256_hex(&f.b)).unwrap(), f.b);
    f.clone("c").ok();
    assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a);
    assert_eq!(f.server.count(&format!("get:storage-500-twice:{}", sha256_hex(&f.a))), 3);
}

#[test]
fn interrupted_downloads_resume_with_range() {
    // checklist 5
    let f = Fx::seeded("truncate-first");
    f.clone("c").ok();
    assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a);
    let ranges: Vec<String> = f.server.log().into_iter().filter_map(|l| l.range).collect();
    assert!(ranges.contains(&format!("bytes={}-{}", f.a.len() / 2, f.a.len() - 1)), "{ranges:?}");
    // Range ignored (200) and refused (416): full downloads, right bytes
    for name in ["truncate-first-range-ignore", "truncate-first-range-416"] {
        let f = Fx::seeded(name);
        f.clone("c").ok();
        assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a, "{name}");
        assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b, "{name}");
        assert_eq!(f.env.git(&f.env.path("c"), &["status", "--porcelain"]).ok().stdout, "");
    }
}

#[test]
fn a_damaged_partial_download_is_never_trusted() {
    let f = Fx::seeded("plain");
    f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--no-lfs"]).ok();
    let c = f.env.path("c");
    let oid = sha256_hex(&f.a);
    let part = c.join(format!(".git/lfs/incomplete/{oid}.part"));
    fs::create_dir_all(part.parent().unwrap()).unwrap();
    // a .part as large as the object must not produce an invalid Range
    fs::write(&part, vec![0u8; f.a.len()]).unwrap();
    f.env.git(&c, &["config", "--unset", "lfs.fetchexclude"]).ok();
    f.env.hfgit(&c, &["pull"]).ok();
    assert_eq!(fs::read(c.join("a.bin")).unwrap(), f.a);
    assert!(f.server.log().iter().all(|l| l.range.as_deref().is_none_or(|r| !r.starts_with(&format!("bytes={}-", f.a.len())))));
    // a corrupt .part: the assembled object fails its hash check, is never stored, and the
    // local partial file (not the remote) is blamed: it is discarded and the download starts
    // again from byte 0 in the same run
    let f = Fx::seeded("plain");
    f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--no-lfs"]).ok();
    let c = f.env.path("c");
    let part = c.join(format!(".git/lfs/incomplete/{oid}.part"));
    fs::create_dir_all(part.parent().unwrap()).unwrap();
    fs::write(&part, vec![1u8; 1000]).unwrap();
    f.env.git(&c, &["config", "--unset", "lfs.fetchexclude"]).ok();
    let before = f.server.log().len();
    f.env.hfgit(&c, &["pull"]).ok();
    assert_eq!(fs::read(c.join("a.bin")).unwrap(), f.a);
    assert_eq!(fs::read(object_path(&c.join(".git"), &oid)).unwrap(), f.a);
    assert!(!part.exists(), "the bad partial file is discarded");
    let gets: Vec<Option<String>> =
        f.server.log()[before..].iter().filter(|l| l.method == "GET" && l.path.ends_with(&oid)).map(|l| l.range.clone()).collect();
    assert_eq!(gets, [Some(format!("bytes=1000-{}", f.a.len() - 1)), None], "resumed, failed to verify, then from the start");
}

#[test]
fn rate_limits_honour_retry_after_and_give_up_when_it_is_too_long() {
    // checklist 6
    let f = fx("ratelimit-batch");
    let t = std::time::Instant::now();
    f.push().ok();
    assert!(t.elapsed() >= std::time::Duration::from_millis(900), "Retry-After: 1 was not honoured");
    assert_eq!(f.server.count("batch:ratelimit-batch"), 2);
    for name in ["ratelimit-storage", "ratelimit-storage-nohdr"] {
        let f = fx(name);
        f.push().ok();
        assert_eq!(f.server.count(&format!("put:{name}:{}", sha256_hex(&f.a))), 2, "{name}");
        let f = Fx::seeded(name);
        f.clone("c").ok();
        assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b);
    }
    let f = fx("ratelimit-long");
    let r = f.push().fails();
    assert!(r.stderr.contains("a wait of 100000s"), "{}", r.stderr);
    assert_eq!(f.server.count("batch:ratelimit-long"), 1);
}

#[test]
fn a_corrupt_download_is_refused_and_nothing_moves() {
    // checklist 7
    let f = Fx::seeded("corrupt-download");
    let r = f.clone("c").fails();
    let oid = sha256_hex(&f.a);
    assert!(r.stderr.contains(&format!("a.bin (sha256:{oid})")) && r.stderr.contains(&format!("expected OID {oid}")), "{}", r.stderr);
    let c = f.env.path("c");
    assert_eq!(fs::read_to_string(c.join("a.bin")).unwrap(), pointer_text(&f.a));
    assert!(!object_path(&c.join(".git"), &oid).exists());
    // a pull of a new commit whose object is corrupt does not advance HEAD
    let a2 = data(502, 1000);
    fs::write(f.repo.join("a.bin"), &a2).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "v2"]).ok();
    f.server.put("corrupt-download", &a2);
    f.env.hfgit(&f.repo, &["push", "../remote.git"]).ok();
    let head = f.env.git(&c, &["rev-parse", "HEAD"]).ok().stdout;
    f.env.hfgit(&c, &["pull"]).fails();
    assert_eq!(f.env.git(&c, &["rev-parse", "HEAD"]).ok().stdout, head);
}

#[test]
fn verify_is_retried_three_times() {
    // checklist 12
    let f = fx("verify-fail-2");
    f.push().ok();
    assert_eq!(f.server.count(&format!("verify:verify-fail-2:{}", sha256_hex(&f.a))), 3);
    let f = fx("verify-fail-always");
    let r = f.push().fails();
    assert!(r.stderr.contains("verify"), "{}", r.stderr);
    assert_eq!(f.server.count(&format!("verify:verify-fail-always:{}", sha256_hex(&f.a))), 3);
    assert!(!f.remote_has_branch());
}

#[test]
fn redirects_are_followed_and_credentials_stay_on_their_host() {
    // checklist 13 (+ auth): the API needs Basic credentials (from the URL here); storage is
    // reached through a 307 on another host, which must never see them.
    let env_name = "requirecreds-redirect";
    let f = fx(env_name);
    let ep = f.server.endpoint(env_name).replace("http://", &format!("http://{USER}:{PASSWORD}@"));
    fs::write(f.repo.join(".lfsconfig"), format!("[lfs]\n\turl = {ep}\n")).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "creds in url"]).ok();
    f.push().ok();
    assert_eq!(f.server.get(env_name, &sha256_hex(&f.a)).unwrap(), f.a);
    let log = f.server.log();
    assert!(log.iter().any(|l| l.listener == "other"), "no redirect happened");
    for l in log.iter().filter(|l| l.listener == "other") {
        assert!(l.authorization.as_deref().is_none_or(|a| !a.starts_with("Basic")), "credentials leaked to another host: {l:?}");
    }
    f.clone("c").ok();
    assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b);
    // the password is not written anywhere in the clone's config, nor printed
    let cfg = fs::read_to_string(f.env.path("c/.git/config")).unwrap();
    assert!(!cfg.contains(PASSWORD), "{cfg}");
}

#[test]
fn credentials_come_from_git_credential_helpers_and_a_401_says_what_to_do() {
    let f = fx("requirecreds");
    let r = f.push().fails();
    assert!(r.stderr.contains("authentication failed") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD));
    // a store helper with the right credentials
    let store = f.env.path("creds");
    let host = f.server.url.trim_start_matches("http://").to_string();
    fs::write(&store, format!("http://{USER}:{PASSWORD}@{host}\n")).unwrap();
    f.env.git(f.env.dir.path(), &["config", "--global", "credential.helper", &format!("store --file={}", store.display())]).ok();
    f.push().ok();
    assert!(f.server.get("requirecreds", &sha256_hex(&f.a)).is_some());
    assert!(!fs::read_to_string(f.repo.join(".git/config")).unwrap().contains(PASSWORD));
}

#[test]
fn objects_with_errors_and_authenticated_actions() {
    let f = fx("object-error");
    let r = f.push().fails();
    assert!(r.stderr.contains("Object is not allowed") && r.stderr.contains(&sha256_hex(&f.b)), "{}", r.stderr);
    // authenticated: true → our credentials are not added to the storage request
    let f = fx("requirecreds-authenticated");
    let ep = f.server.endpoint("requirecreds-authenticated").replace("http://", &format!("http://{USER}:{PASSWORD}@"));
    fs::write(f.repo.join(".lfsconfig"), format!("[lfs]\n\turl = {ep}\n")).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "c"]).ok();
    f.push().ok();
    for l in f.server.log().iter().filter(|l| l.method == "PUT") {
        assert_eq!(l.authorization, None, "{l:?}");
    }
}

#[test]
fn missing_local_objects_block_the_push_unless_the_server_has_them() {
    // checklist 15
    let f = fx("plain");
    let oid = sha256_hex(&f.a);
    fs::remove_file(object_path(&f.repo.join(".git"), &oid)).unwrap();
    let r = f.push().fails();
    assert!(r.stderr.contains("(missing)") && r.stderr.contains(&format!("a.bin (sha256:{oid})")), "{}", r.stderr);
    assert!(!f.remote_has_branch());
    let f = fx("has-all");
    fs::remove_file(object_path(&f.repo.join(".git"), &sha256_hex(&f.a))).unwrap();
    f.push().ok();
}

#[test]
fn duplicate_oids_go_once_and_empty_files_never() {
    // checklist 16, 17
    let f = fx("plain");
    fs::write(f.repo.join("copy-of-a.bin"), &f.a).unwrap();
    fs::write(f.repo.join("empty.bin"), b"").unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "dup"]).ok();
    fs::write(f.repo.join("again.bin"), &f.a).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "dup2"]).ok();
    f.push().ok();
    let oid = sha256_hex(&f.a);
    assert_eq!(f.server.log().iter().filter(|l| l.method == "PUT" && l.path.ends_with(&oid)).count(), 1);
    let batch = f.server.log().into_iter().find(|l| l.listener == "batch-body").unwrap().path;
    assert!(!batch.contains("\"size\":0"), "{batch}");
    f.clone("c").ok();
    assert_eq!(fs::read(f.env.path("c/empty.bin")).unwrap(), b"");
    assert_eq!(fs::read(f.env.path("c/again.bin")).unwrap(), f.a);
}

#[test]
fn malformed_pointers_are_plain_files_and_come_back_byte_identical() {
    // checklist 18
    let f = fx("plain");
    let ptr = pointer_text(&f.a);
    let mut files = Vec::new();
    for (name, size) in [("m1023.txt", 1023usize), ("m1024.txt", 1024), ("m1025.txt", 1025), ("m1m.txt", 1 << 20)] {
        let mut content = ptr.clone().into_bytes();
        content.resize(size, b'x');
        fs::write(f.repo.join(name), &content).unwrap();
        files.push((name, content));
    }
    let mut plain1024 = vec![b'y'; 1024];
    plain1024[0] = b'{';
    fs::write(f.repo.join("exact1024.dat"), &plain1024).unwrap();
    files.push(("exact1024.dat", plain1024));
    f.env.hfgit(&f.repo, &["commit", "-m", "lookalikes"]).ok();
    f.push().ok();
    f.clone("c").ok();
    for (name, content) in files {
        assert_eq!(fs::read(f.env.path("c").join(name)).unwrap(), content, "{name}");
    }
    assert_eq!(f.env.git(&f.env.path("c"), &["status", "--porcelain"]).ok().stdout, "");
}

#[test]
fn batches_hold_at_most_100_objects_largest_first() {
    let f = fx("plain");
    for i in 0..130u64 {
        fs::write(f.repo.join(format!("s{i:03}.bin")), data(600 + i, 100 + i as usize * 10)).unwrap();
    }
    f.env.hfgit(&f.repo, &["commit", "-m", "many"]).ok();
    f.push().ok();
    let batches: Vec<serde_json::Value> =
        f.server.log().into_iter().filter(|l| l.listener == "batch-body").map(|l| serde_json::from_str(&l.path).unwrap()).collect();
    assert_eq!(batches.len(), 2);
    let sizes: Vec<u64> =
        batches.iter().flat_map(|b| b["objects"].as_array().unwrap().iter().map(|o| o["size"].as_u64().unwrap())).collect();
    assert_eq!(batches[0]["objects"].as_array().unwrap().len(), 100);
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "not largest first");
    assert_eq!(sizes.len(), 132);
}

#[test]
fn a_killed_http_push_never_leaves_a_branch_without_its_objects() {
    let f = fx("slow-storage");
    for i in 0..16u64 {
        fs::write(f.repo.join(format!("s{i:02}.bin")), data(800 + i, 50_000)).unwrap();
    }
    f.env.hfgit(&f.repo, &["commit", "-m", "many"]).ok();
    f.env.git(&f.repo, &["config", "lfs.concurrenttransfers", "2"]).ok();
    // the remote exists first, so that every run pushes to the same place
    f.env.git(f.env.dir.path(), &["init", "-q", "--bare", "remote.git"]).ok();
    let bare = f.env.path("remote.git");
    kill_until_done(
        || f.env.hfgit_cmd(&f.repo, &["push", "../remote.git"]),
        25,
        100,
        || {
            // whatever the branch points at, the server has every object of it
            if f.env.git(&bare, &["rev-parse", "--verify", "-q", "main"]).code == 0 {
                let ls = f.env.git(&bare, &["ls-tree", "-r", "main"]).ok().stdout;
                for line in ls.lines() {
                    let id = line.split_whitespace().nth(2).unwrap();
                    let text = f.env.git(&bare, &["cat-file", "-p", id]).ok().stdout;
                    if let Some(oid) = text.lines().find_map(|l| l.strip_prefix("oid sha256:")) {
                        assert!(
                            f.server.get("slow-storage", oid).is_some(),
                            "branch points at a commit whose object {oid} the server lacks"
                        );
                    }
                }
            }
        },
    );
    // the last, uninterrupted run finished the job
    for i in 0..16u64 {
        assert!(f.server.get("slow-storage", &sha256_hex(&data(800 + i, 50_000))).is_some());
    }
}

#[test]
fn git_and_lfs_over_http_share_credentials_from_a_helper_and_never_store_them() {
    let f = fx("unused");
    fs::remove_file(f.repo.join(".lfsconfig")).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "no lfsconfig"]).ok();
    let url = format!("{}/org/requirecreds-model.git", f.server.url);
    // no credentials: a clear failure, nothing pushed
    let r = f.env.hfgit(&f.repo, &["push", &url]).fails();
    assert!(r.stderr.contains("authentication failed") || r.stderr.contains("needs credentials"), "{}", r.stderr);
    assert!(!f.server.git_root.path().join("org/requirecreds-model.git/refs/heads/main").exists());
    // a credential helper with the right credentials serves both git and LFS
    let store = f.env.path("creds");
    fs::write(&store, format!("http://{USER}:{PASSWORD}@{}\n", f.server.url.trim_start_matches("http://"))).unwrap();
    f.env.git(f.env.dir.path(), &["config", "--global", "credential.helper", &format!("store --file={}", store.display())]).ok();
    f.env.git(&f.repo, &["remote", "add", "origin", &url]).ok();
    let r = f.env.hfgit(&f.repo, &["push", "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 2);
    let repo_key = "org~requirecreds-model.git";
    assert_eq!(f.server.get(repo_key, &sha256_hex(&f.a)).unwrap(), f.a);
    let bare = f.server.git_root.path().join("org/requirecreds-model.git");
    assert_eq!(f.env.git(&bare, &["rev-parse", "main"]).ok().stdout, f.env.git(&f.repo, &["rev-parse", "HEAD"]).ok().stdout);
    f.env.hfgit(f.env.dir.path(), &["clone", &url, "c"]).ok();
    assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b);
    for cfg in [f.repo.join(".git/config"), f.env.path("c/.git/config")] {
        let text = fs::read_to_string(&cfg).unwrap();
        assert!(!text.contains(PASSWORD) && !text.contains(USER), "{}: {text}", cfg.display());
    }
    // credentials in the URL work too, and are not stored by clone
    fs::remove_file(&store).unwrap();
    let with = url.replace("http://", &format!("http://{USER}:{PASSWORD}@"));
    let r = f.env.hfgit(f.env.dir.path(), &["clone", &with, "c2"]).ok();
    assert!(!r.stderr.contains(PASSWORD));
    assert_eq!(fs::read(f.env.path("c2/a.bin")).unwrap(), f.a);
    let text = fs::read_to_string(f.env.path("c2/.git/config")).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains(&url), "{text}");
    let r = f.env.hfgit(f.env.dir.path(), &["init", "c3", "--remote", &with]).fails();
    assert!(r.stderr.contains("does not write secrets") && !r.stderr.contains(PASSWORD), "{}", r.stderr);
}
