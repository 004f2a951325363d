//! Servers and repositories that try to take something: credentials steered to another host
//! (by `.lfsconfig`, by a newline in a config value, by redirects to another port or another
//! origin), uploads diverted to a third party, connections that never answer or drip, and
//! terminal escapes in error messages. Every hfgit run here is bounded in wall time and must
//! never panic. Servers are tests/common/lfs_server.rs plus small listeners defined below.

mod common;
use common::lfs_server::{basic, LfsServer, Logged, HF_TOKEN, PASSWORD, USER};
use common::*;
use std::fs;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bound on any one hfgit run: a hang fails the test instead of stalling it.
const LIMIT: Duration = Duration::from_secs(120);
/// The bound the timeout tests promise (a bound, not a performance target).
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `c` with stdin closed and a wall-clock bound; a run still going after `limit` is killed
/// and fails the test. Exit code 101 or a "panicked" message fails it too.
fn bounded(mut c: Command, limit: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    c.stdin(Stdio::null()).stdout(fs::File::create(&out).unwrap()).stderr(fs::File::create(&err).unwrap());
    let start = Instant::now();
    let mut child = c.spawn().expect("start hfgit");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned();
    let r = Run { code: status.and_then(|s| s.code()).unwrap_or(-1), stdout: read(&out), stderr: read(&err) };
    assert!(status.is_some(), "still running after {limit:?}, killed\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.code != 101 && !r.stderr.contains("panicked"), "hfgit panicked\n{}", r.stderr);
    r
}

fn hf(env: &Env, cwd: &Path, args: &[&str]) -> Run {
    bounded(env.hfgit_cmd(cwd, args), LIMIT)
}

fn host(url: &str) -> String {
    url.trim_start_matches("http://").split('/').next().unwrap().to_string()
}

fn global(env: &Env, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        env.git(env.dir.path(), &["config", "--global", k, v]).ok();
    }
}

/// A credential helper (`credential.helper = !<script>` in the sealed HOME) that appends its
/// argv and everything it is told to a log, and answers alice's credentials to `get` only for
/// `answer_host`. Returns the log's path.
fn helper(env: &Env, answer_host: &str) -> PathBuf {
    let script = env.path("helper.sh");
    let log = env.path("helper.log");
    let text = format!(
        "#!/bin/sh\necho \"argv: $*\" >> '{log}'\ninput=$(cat)\nprintf '%s\\n' \"$input\" >> '{log}'\n\
         if [ \"$1\" = get ] && printf '%s\\n' \"$input\" | grep -qx 'host={answer_host}'; then\n\
         \tprintf 'username={USER}\\npassword={PASSWORD}\\n'\nfi\n",
        log = log.display()
    );
    fs::write(&script, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(&log, "").unwrap();
    global(env, &[("credential.helper", &format!("!{}", script.display()))]);
    log
}

/// `hfgit init m` with an LFS file `a.bin` committed.
fn model(env: &Env, seed: u64) -> (PathBuf, Vec<u8>) {
    let repo = env.init("m");
    let a = data(seed, 150_000);
    fs::write(repo.join("a.bin"), &a).unwrap();
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    (repo, a)
}

/// A bare repository at `bare`, written with plain git: one commit with the pointer `a.bin` to
/// `content` and the `extra` files.
fn seed_bare(env: &Env, bare: &Path, content: &[u8], extra: &[(&str, &str)]) {
    let w = env.path("seed-work");
    env.git(env.dir.path(), &["init", "-q", w.to_str().unwrap()]).ok();
    fs::write(w.join(".gitattributes"), "*.bin filter=lfs diff=lfs merge=lfs -text\n").unwrap();
    fs::write(w.join("a.bin"), pointer_text(content)).unwrap();
    for (p, t) in extra {
        fs::write(w.join(p), t).unwrap();
    }
    env.git(&w, &["add", "-A"]).ok();
    env.git(&w, &["commit", "-qm", "seed"]).ok();
    env.git(env.dir.path(), &["init", "-q", "--bare", bare.to_str().unwrap()]).ok();
    env.git(&w, &["push", "-q", bare.to_str().unwrap(), "main"]).ok();
}

fn has_branch(env: &Env, bare: &Path) -> bool {
    bare.exists() && env.git(bare, &["rev-parse", "--verify", "-q", "main"]).code == 0
}

/// Credentials of the user or the Hub token, in any form.
fn carries_secret(l: &Logged) -> bool {
    l.authorization.as_deref().is_some_and(|a| a.starts_with("Basic") || a.contains(HF_TOKEN))
}

// ---------------------------------------------------------------------------------------------
// Small hostile listeners

/// Reads one request; returns the request target and the Authorization header.
fn read_request(s: &TcpStream) -> Option<(String, Option<String>)> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = common::lfs_server::read_request(&mut BufReader::new(s.try_clone().ok()?))?;
    Some((req.path, req.headers.get("authorization").cloned()))
}

/// A front on 127.0.0.1 that answers every request with `301 Moved Permanently` to `target`
/// plus the same path and query. Returns its URL and its log ("<path> <authorization>").
fn redirect_front(target: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let log = Arc::new(Mutex::new(Vec::new()));
    let (target, log2) = (target.to_string(), log.clone());
    std::thread::spawn(move || {
        for mut s in l.incoming().take(200).flatten() {
            let Some((path, auth)) = read_request(&s) else { continue };
            log2.lock().unwrap().push(format!("{path} {auth:?}"));
            let head =
                format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(head.as_bytes());
        }
    });
    (url, log)
}

/// A listener that accepts connections and never answers (it holds up to 50 of them).
fn silent_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(50).flatten() {
            held.push(s);
        }
    });
    url
}

// ---------------------------------------------------------------------------------------------
// Config values that smuggle lines

#[test]
fn a_newline_in_a_committed_lfs_url_never_reaches_the_credential_helper() {
    let env = Env::new();
    let server = LfsServer::start();
    let log = helper(&env, &host(&server.url));
    let content = data(1, 1000);
    // git config syntax: `\n` inside the quotes is a newline in the value
    let lfsconfig = format!("[lfs]\n\turl = \"{}/requirecreds-x.git/info/lfs\\nhost=evil.example\"\n", server.url);
    let bare = env.path("remote.git");
    seed_bare(&env, &bare, &content, &[(".lfsconfig", &lfsconfig)]);
    let v = env.git(&bare, &["config", "--blob", "main:.lfsconfig", "lfs.url"]).ok().stdout;
    assert!(v.contains("/info/lfs\nhost=evil.example"), "setup: git reads a newline in the value: {v:?}");
    let r = hf(&env, env.dir.path(), &["clone", "remote.git", "c"]);
    let asked = fs::read_to_string(&log).unwrap();
    assert!(!asked.contains("evil"), "the helper was asked about another host:\n{asked}");
    let r = r.fails();
    assert!(r.stderr.contains("lfs.url"), "the error does not name the key: {}", r.stderr);
}

#[test]
fn cr_or_lf_in_git_configs_lfs_url_is_refused_naming_the_key() {
    for (sep, what) in [("\r", "CR"), ("\n", "LF")] {
        let env = Env::new();
        let server = LfsServer::start();
        let log = helper(&env, &host(&server.url));
        let (repo, _) = model(&env, 2);
        let value = format!("{}/requirecreds-y.git/info/lfs{sep}host=evil.example", server.url);
        env.git(&repo, &["config", "lfs.url", &value]).ok();
        let got = env.git(&repo, &["config", "lfs.url"]).ok().stdout;
        assert!(got.contains(sep), "setup ({what}): git keeps the {what} in the value: {got:?}");
        let r = hf(&env, &repo, &["push", "../remote.git", "--create"]);
        let asked = fs::read_to_string(&log).unwrap();
        assert!(!asked.contains("evil"), "{what}: the helper was asked about another host:\n{asked}");
        let r = r.fails();
        assert!(r.stderr.contains("lfs.url"), "{what}: the error does not name the key: {}", r.stderr);
        assert!(!has_branch(&env, &env.path("remote.git")), "{what}: the branch moved");
    }
}

// ---------------------------------------------------------------------------------------------
// `.lfsconfig` may not send uploads elsewhere

#[test]
fn a_committed_lfsconfig_cannot_divert_uploads_to_another_origin_unless_trusted() {
    let env = Env::new();
    let (s1, s2) = (LfsServer::start(), LfsServer::start());
    let repo = env.init("m");
    let a = data(3, 150_000);
    fs::write(repo.join("a.bin"), &a).unwrap();
    fs::write(repo.join(".lfsconfig"), format!("[lfs]\n\turl = {}/org/a.git/info/lfs\n", s2.url)).unwrap();
    env.hfgit(&repo, &["commit", "-m", "weights"]).ok();
    env.git(&repo, &["remote", "add", "origin", &format!("{}/org/a.git", s1.url)]).ok();
    let bare = s1.git_root.path().join("org/a.git");
    let r = hf(&env, &repo, &["push"]);
    let uploads_to_s2 = |s2: &LfsServer| {
        s2.log().into_iter().filter(|l| l.method == "PUT" || (l.listener == "batch-body" && l.method == "upload")).collect::<Vec<_>>()
    };
    assert!(uploads_to_s2(&s2).is_empty(), "uploads went where .lfsconfig said: {:?}", uploads_to_s2(&s2));
    let r = r.fails();
    let h2 = host(&s2.url);
    assert!(r.stderr.contains(&h2) && r.stderr.contains("hfgit.trustLfsconfig"), "want {h2} and hfgit.trustLfsconfig: {}", r.stderr);
    assert!(!has_branch(&env, &bare), "the branch moved");
    // trusted by the user: the push goes where .lfsconfig says
    env.git(&repo, &["config", "hfgit.trustLfsconfig", "true"]).ok();
    hf(&env, &repo, &["push"]).ok();
    assert_eq!(s2.get("org~a.git", &sha256_hex(&a)).as_deref(), Some(&a[..]));
    assert!(s1.get("org~a.git", &sha256_hex(&a)).is_none());
    assert!(has_branch(&env, &bare));
    // lfs.url in the repository's own config is the user's word: trusted without the switch
    env.git(&repo, &["config", "--unset", "hfgit.trustLfsconfig"]).ok();
    fs::remove_file(repo.join(".lfsconfig")).unwrap();
    let b = data(4, 120_000);
    fs::write(repo.join("b.bin"), &b).unwrap();
    env.hfgit(&repo, &["commit", "-m", "b, no .lfsconfig"]).ok();
    env.git(&repo, &["config", "lfs.url", &format!("{}/org/a.git/info/lfs", s2.url)]).ok();
    hf(&env, &repo, &["push"]).ok();
    assert_eq!(s2.get("org~a.git", &sha256_hex(&b)).as_deref(), Some(&b[..]));
}

// ---------------------------------------------------------------------------------------------
// LFS redirects to another port

#[test]
fn storage_redirects_to_another_port_never_carry_the_users_credentials() {
    // redirect-port: storage on 127.0.0.1:<other> (the action's header goes there) 307s back;
    // hop-port: storage on the API's origin (our credentials go there) 307s to 127.0.0.1:<other>.
    for name in ["requirecreds-redirect-port", "requirecreds-hop-port"] {
        let env = Env::new();
        let server = LfsServer::start();
        let log = helper(&env, &host(&server.url));
        let (repo, a) = model(&env, 5);
        let url = format!("{}/org/{name}.git", server.url);
        hf(&env, &repo, &["push", &url]).ok();
        assert_eq!(server.get(&format!("org~{name}.git"), &sha256_hex(&a)).as_deref(), Some(&a[..]), "{name}");
        hf(&env, env.dir.path(), &["clone", &url, "c"]).ok();
        assert_eq!(fs::read(env.path("c/a.bin")).unwrap(), a, "{name}");
        let asked = fs::read_to_string(&log).unwrap();
        assert!(asked.contains(&format!("host={}", host(&server.url))), "setup ({name}): the helper served the API:\n{asked}");
        let other: Vec<Logged> = server.log().into_iter().filter(|l| l.listener == "other").collect();
        assert!(other.iter().any(|l| l.method == "PUT") && other.iter().any(|l| l.method == "GET"), "setup ({name}): {other:?}");
        for l in &other {
            assert!(!carries_secret(l), "{name}: credentials went to another port: {l:?}");
        }
    }
}

#[test]
fn a_storage_redirect_to_another_port_does_not_carry_the_hub_token() {
    let env = Env::new();
    let server = LfsServer::start();
    let content = data(6, 100_000);
    seed_bare(&env, &server.git_root.path().join("org/hop-port.git"), &content, &[]);
    server.put("org~hop-port.git", &content);
    let mut c = env.hfgit_cmd(env.dir.path(), &["clone", &format!("{}/org/hop-port.git", server.url), "c"]);
    c.env("HF_ENDPOINT", &server.url).env("HF_TOKEN", HF_TOKEN);
    bounded(c, LIMIT).ok();
    assert_eq!(fs::read(env.path("c/a.bin")).unwrap(), content);
    let log = server.log();
    let bearer = format!("Bearer {HF_TOKEN}");
    assert!(
        log.iter().any(|l| l.listener == "main" && l.path.ends_with("/objects/batch") && l.authorization.as_deref() == Some(&bearer)),
        "setup: the token went to the Hub's batch API: {log:?}"
    );
    let other: Vec<&Logged> = log.iter().filter(|l| l.listener == "other").collect();
    assert!(other.iter().any(|l| l.method == "GET"), "setup: the download was redirected: {log:?}");
    for l in other {
        assert!(!carries_secret(l), "the Hub token went to another port: {l:?}");
    }
}

#[test]
fn a_batch_redirected_to_another_port_does_not_take_the_authorization_along() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env, 7);
    let url = format!("{}/org/requirecreds-batch-hop.git", server.url).replace("http://", &format!("http://{USER}:{PASSWORD}@"));
    // success (the batch answered elsewhere without credentials) or a clear failure: either way
    // bounded, no panic (checked by `bounded`), and the other port never sees the credentials
    let r = hf(&env, &repo, &["push", &url]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let log = server.log();
    let alice = basic(USER, PASSWORD);
    assert!(
        log.iter().any(|l| l.listener == "main" && l.path.ends_with("/objects/batch") && l.authorization.as_deref() == Some(&alice)),
        "setup: an authorised batch was redirected: {log:?}"
    );
    for l in log.iter().filter(|l| l.listener == "other") {
        assert!(!carries_secret(l), "the batch's credentials followed the redirect: {l:?}");
    }
    assert!(!r.stderr.contains(PASSWORD));
}

#[test]
fn a_storage_redirect_to_a_file_url_fails_cleanly() {
    let env = Env::new();
    global(&env, &[("lfs.transfer.maxretries", "2"), ("lfs.transfer.maxretrydelay", "1")]);
    let server = LfsServer::start();
    let first_line = fs::read_to_string("/etc/passwd").unwrap_or_default().lines().next().unwrap_or("root:x:0:0").to_string();
    // download: the object is on the server, its storage answers 307 to file:///etc/passwd
    let content = data(8, 100_000);
    seed_bare(&env, &server.git_root.path().join("org/file-hop.git"), &content, &[]);
    server.put("org~file-hop.git", &content);
    let r = hf(&env, env.dir.path(), &["clone", &format!("{}/org/file-hop.git", server.url), "c"]).fails();
    assert!(!r.stderr.contains(&first_line), "{}", r.stderr);
    assert!(server.log().iter().any(|l| l.method == "GET" && l.path.starts_with("/storage/")), "setup: the download was tried");
    let got = fs::read(env.path("c/a.bin")).unwrap_or_default();
    assert!(got == pointer_text(&content).as_bytes() || got.is_empty(), "a.bin holds {} bytes of something", got.len());
    // upload: the same redirect answers the PUT
    let (repo, _) = model(&env, 9);
    let r = hf(&env, &repo, &["push", &format!("{}/org/file-hop-up.git", server.url)]).fails();
    assert!(!r.stderr.contains(&first_line), "{}", r.stderr);
    assert!(server.log().iter().any(|l| l.method == "PUT" && l.path.starts_with("/storage/")), "setup: the upload was tried");
    assert!(!has_branch(&env, &server.git_root.path().join("org/file-hop-up.git")), "the branch moved");
}

// ---------------------------------------------------------------------------------------------
// git smart HTTP redirected to another port

/// A server repository `org/requirecreds-front.git` (its git needs credentials) with one LFS
/// file, and a front on another port that 301s everything to it.
fn fronted(env: &Env) -> (LfsServer, String, Arc<Mutex<Vec<String>>>) {
    let server = LfsServer::start();
    let content = data(9, 50_000);
    seed_bare(env, &server.git_root.path().join("org/requirecreds-front.git"), &content, &[]);
    server.put("org~requirecreds-front.git", &content);
    let (front, log) = redirect_front(&server.url);
    (server, front, log)
}

#[test]
fn a_git_redirect_to_another_port_does_not_carry_the_hub_token() {
    let env = Env::new();
    let (server, front, front_log) = fronted(&env);
    let mut c = env.hfgit_cmd(env.dir.path(), &["clone", &format!("{front}/org/requirecreds-front.git"), "c"]);
    // the token belongs to the front's origin (the Hub), not to where it redirects
    c.env("HF_ENDPOINT", &front).env("HF_TOKEN", HF_TOKEN);
    let r = bounded(c, LIMIT);
    let log = server.log();
    eprintln!("clone exit {}\nstderr:\n{}\nfront saw: {:#?}\nserver saw: {log:#?}", r.code, r.stderr, front_log.lock().unwrap());
    assert!(!front_log.lock().unwrap().is_empty(), "setup: the front was asked");
    // following the redirect or refusing it are both fine; taking the token along is not
    for l in &log {
        assert!(l.authorization.is_none(), "the Hub token went to the redirect target: {l:?}");
    }
    assert!(!r.stderr.contains(HF_TOKEN));
}

#[test]
fn a_git_redirect_to_another_port_asks_the_helper_for_the_new_host() {
    let env = Env::new();
    let (server, front, _) = fronted(&env);
    // the helper has alice's credentials for the front only
    let helper_log = helper(&env, &host(&front));
    let r = hf(&env, env.dir.path(), &["clone", &format!("{front}/org/requirecreds-front.git"), "c"]);
    let asked = fs::read_to_string(&helper_log).unwrap();
    let log = server.log();
    eprintln!("clone exit {}\nstderr:\n{}\nhelper log:\n{asked}\nserver saw: {log:#?}", r.code, r.stderr);
    assert!(log.iter().any(|l| l.path.contains("/org/requirecreds-front.git/info/refs")), "setup: the redirect was followed");
    for l in &log {
        assert!(l.authorization.is_none(), "the front's credentials went to the redirect target: {l:?}");
    }
    assert!(asked.contains(&format!("host={}", host(&server.url))), "the helper was not asked about the new host:\n{asked}");
}

// ---------------------------------------------------------------------------------------------
// Servers that hang or drip

#[test]
fn an_lfs_server_that_never_answers_times_out() {
    let env = Env::new();
    let (repo, _) = model(&env, 10);
    let silent = silent_server();
    for (k, v) in [
        ("lfs.url", format!("{silent}/org/m.git/info/lfs")),
        ("lfs.activitytimeout", "2".into()),
        ("lfs.transfer.maxretries", "2".into()),
        ("lfs.transfer.maxretrydelay", "1".into()),
    ] {
        env.git(&repo, &["config", k, &v]).ok();
    }
    let t = Instant::now();
    let r = bounded(env.hfgit_cmd(&repo, &["push", "../remote.git", "--create"]), DEADLINE).fails();
    assert!(t.elapsed() < DEADLINE);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(!has_branch(&env, &env.path("remote.git")), "the branch moved");
}

#[test]
fn a_dripping_download_is_abandoned_and_leaves_nothing_partial() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, a) = model(&env, 11);
    let url = format!("{}/org/drip.git", server.url);
    hf(&env, &repo, &["push", &url]).ok();
    let oid = sha256_hex(&a);
    assert!(server.get("org~drip.git", &oid).is_some(), "setup: uploads are not slowed");
    global(
        &env,
        &[
            ("http.lowSpeedLimit", "1000"),
            ("http.lowSpeedTime", "3"),
            ("lfs.transfer.maxretries", "2"),
            ("lfs.transfer.maxretrydelay", "1"),
        ],
    );
    let t = Instant::now();
    let r = bounded(env.hfgit_cmd(env.dir.path(), &["clone", &url, "c"]), DEADLINE).fails();
    assert!(t.elapsed() < DEADLINE);
    let e = r.stderr.to_lowercase();
    assert!(e.contains("slower than") || e.contains("low speed") || e.contains("timed out"), "{}", r.stderr);
    assert!(server.log().iter().any(|l| l.method == "GET" && l.path.ends_with(&oid)), "setup: the download started");
    let c = env.path("c");
    for (path, bytes) in snapshot(&c) {
        let partial = !bytes.is_empty() && bytes.len() < a.len() && a.starts_with(&bytes);
        assert!(!partial, "{path} holds {} bytes of a partial download", bytes.len());
    }
    let objects = c.join(".git/lfs/objects");
    assert!(!object_path(&c.join(".git"), &oid).exists());
    for e in walkdir::WalkDir::new(&objects).into_iter().flatten().filter(|e| e.file_type().is_file()) {
        let name = e.file_name().to_string_lossy().into_owned();
        assert_eq!(sha256_hex(&fs::read(e.path()).unwrap()), name, "a partial object at a final path");
    }
}

// ---------------------------------------------------------------------------------------------
// Terminal escapes in what servers say

#[test]
fn terminal_escapes_in_a_server_message_are_shown_escaped() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env, 12);
    let r = hf(&env, &repo, &["push", &format!("{}/org/ansi-message.git", server.url)]).fails();
    assert!(server.log().iter().any(|l| l.path.ends_with("/objects/batch")), "setup: the batch was asked");
    assert!(!r.stderr.contains('\x1b') && !r.stderr.contains('\x07'), "raw control characters reached the terminal: {:?}", r.stderr);
    assert!(r.stderr.contains("\\x1b[31mred"), "{:?}", r.stderr);
    assert!(!r.stderr.lines().any(|l| l.starts_with("error: forged line")), "the server wrote a line of its own: {:?}", r.stderr);
    assert!(r.stderr.contains("text\\nerror: forged line"), "{:?}", r.stderr);
}

#[test]
fn a_hub_api_redirect_is_never_followed_and_never_panics() {
    let env = Env::new();
    // `file://` + the request path: a redirect no HTTP client should follow
    let (front, log) = redirect_front("file:///etc/passwd#");
    let mut c = env.hfgit_cmd(env.dir.path(), &["whoami"]);
    c.env("HF_ENDPOINT", &front).env("HF_TOKEN", HF_TOKEN);
    let r = bounded(c, Duration::from_secs(60));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stderr.contains("301"), "the error should say what the Hub answered: {}", r.stderr);
    assert_eq!(log.lock().unwrap().len(), 1, "one request, no redirect followed");
}
