//! Git LFS servers as they really are (tests/common/lfs_server.rs plays each): Go-style zero
//! expiry times, `.netrc` credentials, cookie-gated hosts, gzip-encoded downloads, uploads the
//! server wants chunked, and hints that name what really fixes the problem. Where it shows the
//! expected behaviour, real git + git-lfs runs against the same server in the same test: its
//! outcome is the reference, and hfgit does at least as well.

mod common;
use common::lfs_server::fx;
use common::*;
use std::fs;

/// `git lfs install` in the test's HOME, for the reference runs after hfgit's.
fn with_git_lfs(env: &Env) {
    require_git_lfs();
    env.git(env.dir.path(), &["lfs", "install", "--skip-repo"]).ok();
}

#[test]
fn zero_expiry_times_mean_no_expiry_as_in_git_lfs() {
    for name in ["go-expiry", "zero-in-expiry"] {
        let f = fx(name);
        f.push().ok();
        assert_eq!(f.server.count(&format!("batch:{name}")), 1, "{name}: one batch, no re-batching");
        assert_eq!(f.server.get(name, &sha256_hex(&f.a)).unwrap(), f.a);
        assert_eq!(f.server.get(name, &sha256_hex(&f.b)).unwrap(), f.b);
        f.clone("c").ok();
        assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a, "{name}");
        assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b, "{name}");

        // the reference: git-lfs clones from the same server, and pushes to a fresh repository
        with_git_lfs(&f.env);
        f.env.git(f.env.dir.path(), &["clone", "-q", "remote.git", "g"]).ok();
        assert_eq!(fs::read(f.env.path("g/a.bin")).unwrap(), f.a, "{name}: git-lfs");
        let other = format!("{name}-gitlfs");
        fs::write(f.repo.join(".lfsconfig"), format!("[lfs]\n\turl = {}\n", f.server.endpoint(&other))).unwrap();
        f.env.git(&f.repo, &["lfs", "push", "--all", "../remote.git"]).ok();
        assert_eq!(f.server.get(&other, &sha256_hex(&f.a)).unwrap(), f.a, "{name}: git-lfs push");
    }
}

#[test]
fn a_real_past_expiry_still_expires_absolute_and_relative() {
    // relative (expires_in < 0) on the first batch only: a second batch, then success
    let f = fx("expire-once");
    f.push().ok();
    assert_eq!(f.server.count("batch:expire-once"), 2);
    // absolute, in 2001, on every batch: fails saying so, and the branch does not move
    let f = fx("expired");
    let r = f.push().fails();
    assert!(r.stderr.contains("expiring"), "{}", r.stderr);
    assert!(!f.remote_has_branch());
}

#[test]
fn netrc_serves_git_and_lfs_over_http_before_the_helpers_and_a_401_mentions_it() {
    use common::lfs_server::{PASSWORD, USER};
    let f = fx("unused");
    fs::remove_file(f.repo.join(".lfsconfig")).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "no lfsconfig"]).ok();
    let url = format!("{}/org/requirecreds-netrc.git", f.server.url);
    let bare = f.server.git_root.path().join("org/requirecreds-netrc.git");
    f.env.git(&f.repo, &["remote", "add", "origin", &url]).ok();

    // nothing anywhere: refused, and the hint names .netrc
    let r = f.env.hfgit(&f.repo, &["push"]).fails();
    assert!(r.stderr.contains(".netrc"), "{}", r.stderr);
    assert!(!bare.join("refs/heads/main").exists());

    // ~/.netrc alone serves git (libgit2) and the LFS API
    let netrc = f.env.home.join(".netrc");
    fs::write(&netrc, format!("machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n")).unwrap();
    let r = f.env.hfgit(&f.repo, &["push", "--json"]).ok().json();
    assert_eq!(r["uploaded_objects"], 2);
    assert_eq!(f.server.get("org~requirecreds-netrc.git", &sha256_hex(&f.a)).unwrap(), f.a);
    assert_eq!(f.env.git(&bare, &["rev-parse", "main"]).ok().stdout, f.env.git(&f.repo, &["rev-parse", "HEAD"]).ok().stdout);
    f.env.hfgit(f.env.dir.path(), &["clone", &url, "c"]).ok();
    assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b);
    let cfg = fs::read_to_string(f.env.path("c/.git/config")).unwrap();
    assert!(!cfg.contains(PASSWORD), "{cfg}");

    // a wrong .netrc entry is tried first, then the helper that has the right one
    fs::write(&netrc, format!("machine 127.0.0.1 login {USER} password wrong-one\n")).unwrap();
    let store = f.env.path("creds");
    fs::write(&store, format!("http://{USER}:{PASSWORD}@{}\n", f.server.url.trim_start_matches("http://"))).unwrap();
    f.env.git(f.env.dir.path(), &["config", "--global", "credential.helper", &format!("store --file={}", store.display())]).ok();
    f.env.hfgit(f.env.dir.path(), &["clone", &url, "c2"]).ok();
    assert_eq!(fs::read(f.env.path("c2/a.bin")).unwrap(), f.a);
    let tried: Vec<Option<String>> = f.server.log().into_iter().filter(|l| l.method == "POST").map(|l| l.authorization).collect();
    let wrong = common::lfs_server::basic(USER, "wrong-one");
    let right = common::lfs_server::basic(USER, PASSWORD);
    let (w, r) = (tried.iter().rposition(|a| a.as_deref() == Some(&wrong)), tried.iter().rposition(|a| a.as_deref() == Some(&right)));
    assert!(w.is_some() && r.is_some() && w < r, ".netrc before the helper: {tried:?}");
    f.env.git(f.env.dir.path(), &["config", "--global", "--unset", "credential.helper"]).ok();

    // $NETRC names another file
    fs::remove_file(&netrc).unwrap();
    let elsewhere = f.env.path("netrc-elsewhere");
    fs::write(&elsewhere, format!("default login {USER} password {PASSWORD}\n")).unwrap();
    let out = f.env.hfgit_cmd(f.env.dir.path(), &["clone", &url, "c3"]).env("NETRC", &elsewhere).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(f.env.path("c3/a.bin")).unwrap(), f.a);

    // the reference: git + git-lfs read ~/.netrc for both too
    fs::write(&netrc, format!("machine 127.0.0.1 login {USER} password {PASSWORD}\n")).unwrap();
    with_git_lfs(&f.env);
    f.env.git(f.env.dir.path(), &["clone", "-q", &url, "g"]).ok();
    assert_eq!(fs::read(f.env.path("g/a.bin")).unwrap(), f.a, "git-lfs with .netrc");
}

/// A Netscape-format cookie file as curl writes it, with the session cookie for 127.0.0.1 and
/// one for another host (never sent here).
fn cookie_file(env: &Env, name: &str, value: &str) -> std::path::PathBuf {
    let path = env.path(name);
    let (k, v) = value.split_once('=').unwrap();
    fs::write(
        &path,
        format!(
            "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\t{k}\t{v}\nelsewhere.example\tFALSE\t/\tFALSE\t0\tother\tnope\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn http_cookie_file_opens_a_cookie_gated_host_for_git_and_lfs() {
    use common::lfs_server::COOKIE;
    let f = fx("unused");
    fs::remove_file(f.repo.join(".lfsconfig")).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "no lfsconfig"]).ok();
    let url = format!("{}/org/cookie-gated.git", f.server.url);
    let bare = f.server.git_root.path().join("org/cookie-gated.git");
    f.env.git(&f.repo, &["remote", "add", "origin", &url]).ok();

    // no cookie: refused before anything moves, and git's 403 hints at http.cookieFile
    let r = f.env.hfgit(&f.repo, &["push"]).fails();
    assert!(r.stderr.contains("403") && r.stderr.contains("http.cookieFile"), "{}", r.stderr);
    let r = f.env.hfgit(f.env.dir.path(), &["clone", &url, "nope"]).fails();
    assert!(r.stderr.contains("403") && r.stderr.contains("http.cookieFile"), "{}", r.stderr);
    assert!(!bare.join("refs/heads/main").exists());

    // the LFS API alone gated (git through a local remote): the 403 hint names http.cookieFile
    let lfs_only = fx("lfs-cookie-gated");
    let r = lfs_only.push().fails();
    assert!(r.stderr.contains("http.cookieFile"), "{}", r.stderr);

    // http.cookieFile: git (libgit2) and every LFS request carry the cookie
    let jar = cookie_file(&f.env, "cookies.txt", COOKIE);
    f.env.git(f.env.dir.path(), &["config", "--global", "http.cookieFile", jar.to_str().unwrap()]).ok();
    let out = f.env.hfgit(&f.repo, &["push", "--json"]).ok().json();
    assert_eq!(out["uploaded_objects"], 2);
    assert_eq!(f.server.get("org~cookie-gated.git", &sha256_hex(&f.a)).unwrap(), f.a);
    assert_eq!(f.env.git(&bare, &["rev-parse", "main"]).ok().stdout, f.env.git(&f.repo, &["rev-parse", "HEAD"]).ok().stdout);
    f.env.hfgit(f.env.dir.path(), &["clone", &url, "c"]).ok();
    assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a);
    let log = f.server.log();
    assert!(log.iter().any(|l| l.method == "PUT") && log.iter().any(|l| l.method == "GET" && l.path.starts_with("/storage/")));
    for l in &log {
        assert!(!l.cookie.as_deref().unwrap_or("").contains("other=nope"), "a cookie of another host was sent: {l:?}");
    }

    // the reference: git + git-lfs with the same setting
    with_git_lfs(&f.env);
    f.env.git(f.env.dir.path(), &["clone", "-q", &url, "g"]).ok();
    assert_eq!(fs::read(f.env.path("g/a.bin")).unwrap(), f.a, "git-lfs with http.cookieFile");
    f.env.git(f.env.dir.path(), &["lfs", "uninstall", "--skip-repo"]).ok();

    // http.<url>.cookieFile for this server wins over a global one holding a stale cookie
    let stale = cookie_file(&f.env, "stale.txt", "sso_session=expired-session");
    f.env.git(f.env.dir.path(), &["config", "--global", "http.cookieFile", stale.to_str().unwrap()]).ok();
    let r = f.env.hfgit(f.env.dir.path(), &["clone", &url, "c2"]).fails();
    assert!(r.stderr.contains("403"), "{}", r.stderr);
    let key = format!("http.{}.cookieFile", f.server.url);
    f.env.git(f.env.dir.path(), &["config", "--global", &key, jar.to_str().unwrap()]).ok();
    f.env.hfgit(f.env.dir.path(), &["clone", &url, "c3"]).ok();
    assert_eq!(fs::read(f.env.path("c3/b.bin")).unwrap(), f.b);
}

#[test]
fn gzip_encoded_downloads_are_asked_for_and_decoded_and_others_named() {
    let f = fx("gzip-download");
    f.server.put("gzip-download", &f.a);
    f.server.put("gzip-download", &f.b);
    f.push().ok();
    let out = f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--json"]).ok().json();
    assert_eq!(out["downloaded_objects"], 2, "{out}");
    assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a, "the oid is over the decoded bytes");
    assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b);
    assert_eq!(f.env.git(&f.env.path("c"), &["status", "--porcelain"]).ok().stdout, "");
    // the reference: git-lfs (Go asks for gzip and decodes it too)
    with_git_lfs(&f.env);
    f.env.git(f.env.dir.path(), &["clone", "-q", "remote.git", "g"]).ok();
    assert_eq!(fs::read(f.env.path("g/a.bin")).unwrap(), f.a, "git-lfs");

    // an encoding hfgit cannot decode: one request, a clear error naming it, no object stored
    let f = fx("br-download");
    f.server.put("br-download", &f.a);
    f.server.put("br-download", &f.b);
    f.push().ok();
    let r = f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c"]).fails();
    assert!(r.stderr.contains("Content-Encoding `br`"), "{}", r.stderr);
    assert_eq!(f.server.count("br-get:br-download"), 2, "one GET per object, no retries: {}", r.stderr);
    assert!(!r.stderr.contains("does not have"), "the remote has them: {}", r.stderr);
    assert!(!f.env.path("c").join(".git/lfs/objects").exists() || walk_files(&f.env.path("c/.git/lfs/objects")) == 0);
}

fn walk_files(dir: &std::path::Path) -> usize {
    fs::read_dir(dir).map(|rd| rd.flatten().map(|e| if e.path().is_dir() { walk_files(&e.path()) } else { 1 }).sum()).unwrap_or(0)
}

#[test]
fn hints_blame_the_remote_only_when_it_said_it_lacks_the_objects() {
    // the server has nothing: its batch answers 404 per object
    let f = fx("plain");
    f.push().ok();
    for oid in [sha256_hex(&f.a), sha256_hex(&f.b)] {
        f.server.forget("plain", &oid);
    }
    let r = f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--json"]);
    assert_eq!(r.code, 1);
    let out = r.json();
    assert_eq!(out["failures"][0]["missing_on_remote"], true, "{out}");
    assert!(
        r.stderr.contains("the remote does not have these objects") && r.stderr.contains("pull` once someone has pushed them"),
        "{}",
        r.stderr
    );
    let r = f.env.hfgit(&f.env.path("c"), &["pull"]).fails();
    assert!(r.stderr.contains("the remote does not have these objects"), "{}", r.stderr);
    // and once someone pushes them, the command the hint names gets them
    f.server.put("plain", &f.a);
    f.server.put("plain", &f.b);
    f.env.hfgit(&f.env.path("c"), &["pull"]).ok();
    assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a);

    // a failure that is not the remote lacking the object: the hint says to run it again
    let f = fx("br-download");
    f.server.put("br-download", &f.a);
    f.server.put("br-download", &f.b);
    f.push().ok();
    let r = f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--json"]);
    assert_eq!(r.json()["failures"][0]["missing_on_remote"], false);
    assert!(r.stderr.contains("to download them again") && !r.stderr.contains("does not have"), "{}", r.stderr);
}

#[test]
fn uploads_are_framed_as_the_action_asks_chunked_or_with_a_length_never_both() {
    // the server checks every PUT: chunked here, Content-Length only for every other repository
    // (all the other tests of this file and of http_faults run through the same check)
    let f = fx("chunked-upload");
    f.push().ok();
    assert_eq!(f.server.get("chunked-upload", &sha256_hex(&f.a)).unwrap(), f.a);
    assert_eq!(f.server.get("chunked-upload", &sha256_hex(&f.b)).unwrap(), f.b);
    let f = fx("plain-length");
    f.push().ok();
    assert_eq!(f.server.get("plain-length", &sha256_hex(&f.a)).unwrap(), f.a);
    // the reference: git-lfs frames them the same way
    with_git_lfs(&f.env);
    fs::write(f.repo.join(".lfsconfig"), format!("[lfs]\n\turl = {}\n", f.server.endpoint("chunked-upload-gitlfs"))).unwrap();
    f.env.git(&f.repo, &["lfs", "push", "--all", "../remote.git"]).ok();
    assert_eq!(f.server.get("chunked-upload-gitlfs", &sha256_hex(&f.a)).unwrap(), f.a, "git-lfs, chunked");
}

#[test]
fn the_hubs_ratelimit_header_is_waited_out_exactly_and_never_hammered() {
    let f = fx("hub-ratelimit");
    let t = std::time::Instant::now();
    let out = f.env.hfgit(&f.repo, &["push", "../remote.git", "--create", "--json"]).ok().json();
    assert_eq!(out["uploaded_objects"], 2);
    assert_eq!(f.server.count("hammered:hub-ratelimit"), 0, "asked again before the window reset");
    // one batch refused, the next after the reset it was told: no backoff guess in between
    assert!(f.server.count("batch:hub-ratelimit") >= 2);
    assert!(f.server.count("batch:hub-ratelimit") <= 3, "{}", f.server.count("batch:hub-ratelimit"));
    assert!(t.elapsed() >= std::time::Duration::from_secs(2), "the push did not wait for the window");
}

#[test]
fn an_expired_signed_url_on_the_hub_gets_a_new_batch_not_the_same_url_again() {
    let name = "hub-storage-403-once";
    let f = fx(name);
    let hub = |args: &[&str], dir: &std::path::Path| {
        let out = f.env.hfgit_cmd(dir, args).env("HF_ENDPOINT", &f.server.url).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    hub(&["push", "../remote.git", "--create"], &f.repo);
    assert_eq!(f.server.get(name, &sha256_hex(&f.a)).unwrap(), f.a);
    assert_eq!(f.server.count(&format!("batch:{name}")), 2, "one new batch for the expired URLs");
    for oid in [sha256_hex(&f.a), sha256_hex(&f.b)] {
        assert_eq!(f.server.count(&format!("put:{name}:{oid}")), 2, "the expired URL was tried again");
    }
    hub(&["clone", "remote.git", "c"], f.env.dir.path());
    assert_eq!(fs::read(f.env.path("c/a.bin")).unwrap(), f.a);
    assert_eq!(f.server.count(&format!("batch:{name}")), 4);
    // elsewhere a storage 403 is retried on the same URL, as git-lfs does
    let f = fx("storage-403-once");
    f.push().ok();
    assert_eq!(f.server.count("batch:storage-403-once"), 1);
}

#[test]
fn behind_a_mirror_hrefs_naming_huggingface_co_go_to_hf_endpoint() {
    let name = "hub-mirror-hrefs";
    let f = fx(name);
    let run = |args: &[&str], dir: &std::path::Path| {
        let out = f.env.hfgit_cmd(dir, args).env("HF_ENDPOINT", &f.server.url).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["push", "../remote.git", "--create"], &f.repo);
    assert_eq!(f.server.get(name, &sha256_hex(&f.a)).unwrap(), f.a, "the upload reached the mirror");
    run(&["clone", "remote.git", "c"], f.env.dir.path());
    assert_eq!(fs::read(f.env.path("c/b.bin")).unwrap(), f.b);
}

/// A push of 300 files across the Hub's fixed rate-limit window (the test server allows
/// `QUOTA` batch calls per `WINDOW`): as few batches as the protocol allows (100 objects each),
/// the one refused waited out for the `t` the server gave (at least what the window had left),
/// and nothing asked again inside the closed window.
#[test]
fn three_hundred_files_cross_a_rate_limit_window_without_hammering() {
    use common::lfs_server::{QUOTA, WINDOW};
    let name = "hub-window";
    let f = fx(name);
    fs::create_dir(f.repo.join("shards")).unwrap();
    let shards: Vec<Vec<u8>> = (0..300).map(|i| data(2000 + i, 2048)).collect();
    for (i, s) in shards.iter().enumerate() {
        fs::write(f.repo.join(format!("shards/{i:03}.bin")), s).unwrap();
    }
    f.env.hfgit(&f.repo, &["commit", "-m", "300 shards"]).ok();
    let t = std::time::Instant::now();
    let out = f.env.hfgit(&f.repo, &["push", "../remote.git", "--create", "--json"]).ok().json();
    let elapsed = t.elapsed();
    assert_eq!(out["uploaded_objects"], 302, "{out}");
    for s in &shards {
        assert_eq!(f.server.get(name, &sha256_hex(s)).as_ref(), Some(s));
    }
    // 302 objects: 4 batches; the quota lets 2 through per window, so the third was refused once
    assert_eq!(QUOTA, 2);
    assert_eq!(f.server.count(&format!("refused:{name}")), 1);
    assert_eq!(f.server.count(&format!("batch:{name}")), 4 + 1);
    assert_eq!(f.server.count(&format!("hammered:{name}")), 0, "asked again inside the closed window");
    let remainder = std::time::Duration::from_millis(f.server.count(&format!("remainder-ms:{name}")) as u64);
    assert!(remainder > std::time::Duration::ZERO && remainder <= WINDOW);
    assert!(elapsed >= remainder, "the push took {elapsed:?}, less than the {remainder:?} the window had left");
}

/// Commits a five-part file (Hub multipart) to `name`'s fixture, pushes it as to the Hub, and
/// checks the server has it; returns the fixture and the object's oid.
fn push_five_parts(name: &str, seed: u64) -> (common::lfs_server::Fx, String) {
    let f = fx(name);
    let big = data(seed, 5 * common::lfs_server::CHUNK_SIZE as usize - 1000);
    fs::write(f.repo.join("big.bin"), &big).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "five parts"]).ok();
    let out = f.env.hfgit_cmd(&f.repo, &["push", "../remote.git", "--create"]).env("HF_ENDPOINT", &f.server.url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let oid = sha256_hex(&big);
    assert_eq!(f.server.get(name, &oid).unwrap(), big);
    (f, oid)
}

/// A Hub multipart upload whose part URLs expire mid-upload (`part-expiry`: the first batch's
/// stop working after `PARTS_BEFORE_EXPIRY` parts) gets a new batch and sends only the parts
/// that remain with its URLs, then completes: no part is stored twice, none is skipped.
#[test]
fn a_multipart_upload_whose_part_urls_expire_goes_on_with_the_parts_that_remain() {
    let name = "hub-part-expiry";
    let (f, oid) = push_five_parts(name, 990);
    assert_eq!(common::lfs_server::PARTS_BEFORE_EXPIRY, 2);
    for n in 1..=5 {
        assert_eq!(f.server.count(&format!("partstored:{name}:{oid}:{n}")), 1, "part {n}");
    }
    // one new batch (for this object alone), whose URLs carried the three remaining parts
    assert_eq!(f.server.count(&format!("batch:{name}")), 2);
    assert_eq!(f.server.count(&format!("partput-b2:{name}:{oid}")), 3, "parts sent again from the start");
    assert_eq!(f.server.count(&format!("complete:{name}:{oid}")), 1);
    // the small multipart object (two parts) went up with the first batch's URLs
    let a = sha256_hex(&f.a);
    assert_eq!(f.server.get(name, &a).unwrap(), f.a);
    assert_eq!(f.server.count(&format!("partput-b2:{name}:{a}")), 0);
}

/// The same, against a server whose new batch starts a new multipart upload (`part-forget`):
/// the completion of the resumed upload is refused, and the whole upload starts over once.
#[test]
fn a_resumed_multipart_upload_the_server_forgot_starts_over() {
    let name = "hub-part-expiry-part-forget";
    let (f, oid) = push_five_parts(name, 991);
    assert_eq!(f.server.count(&format!("partput-b2:{name}:{oid}")), 3);
    assert_eq!(f.server.count(&format!("partput-b3:{name}:{oid}")), 5, "the upload did not start over");
    assert_eq!(f.server.count(&format!("complete:{name}:{oid}")), 2);
}
