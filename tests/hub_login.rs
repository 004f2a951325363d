//! `hfgit login`, `logout`, `whoami` and the Hub token: where huggingface_hub keeps it, which
//! source wins, and that it reaches the Hub's LFS API as a Bearer token — against the test
//! server's Hub-compatible `/api/whoami-v2`.

mod common;
use common::lfs_server::{LfsServer, HF_TOKEN};
use common::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn hub(env: &Env, server: &LfsServer, args: &[&str], vars: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut c = env.hfgit_cmd(env.dir.path(), args);
    c.env("HF_ENDPOINT", &server.url).env("HF_HOME", env.path("hf-home"));
    for (k, v) in vars {
        c.env(k, v);
    }
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let o = child.wait_with_output().unwrap();
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    };
    assert!(!r.stdout.contains(HF_TOKEN) && !r.stderr.contains(HF_TOKEN), "the token was printed: {} {}", r.stdout, r.stderr);
    r
}

#[test]
fn login_checks_the_token_and_stores_it_like_huggingface_hub() {
    let env = Env::new();
    let server = LfsServer::start();
    let file = env.path("hf-home/token");
    let r = hub(&env, &server, &["login", "--token-stdin"], &[], Some("hf_wrong\n")).fails();
    assert!(r.stderr.contains("Invalid credentials") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!file.exists());
    let r = hub(&env, &server, &["login", "--token-stdin"], &[], Some(&format!("  {HF_TOKEN}\n"))).ok();
    assert!(r.stderr.contains("Logged in as alice, token role: write"), "{}", r.stderr);
    assert_eq!(fs::read_to_string(&file).unwrap(), HF_TOKEN);
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let r = hub(&env, &server, &["whoami"], &[], None).ok();
    assert_eq!(r.stdout, "alice\norgs: acme\n");
    let j = hub(&env, &server, &["whoami", "--json"], &[], None).ok().json();
    assert_eq!(j["fullname"], "Alice Liddell");
    // logout removes it
    hub(&env, &server, &["logout"], &[], None).ok();
    assert!(!file.exists());
    let r = hub(&env, &server, &["whoami"], &[], None).fails();
    assert!(r.stderr.contains("not logged in") && r.stderr.contains("hfgit login"), "{}", r.stderr);
    let r = hub(&env, &server, &["login"], &[], None).fails();
    assert!(r.stderr.contains("--token-stdin"), "{}", r.stderr);
}

#[test]
fn token_sources_in_huggingface_hub_order() {
    let env = Env::new();
    let server = LfsServer::start();
    // a file written by huggingface_hub (trailing newline), found through HF_TOKEN_PATH
    let custom = env.path("elsewhere/my-token");
    fs::create_dir_all(custom.parent().unwrap()).unwrap();
    fs::write(&custom, format!("{HF_TOKEN}\n")).unwrap();
    let path = custom.to_str().unwrap();
    assert_eq!(hub(&env, &server, &["whoami"], &[("HF_TOKEN_PATH", path)], None).ok().stdout.lines().next(), Some("alice"));
    // HF_TOKEN wins over the file, HUGGING_FACE_HUB_TOKEN is used when HF_TOKEN is absent
    let r = hub(&env, &server, &["whoami"], &[("HF_TOKEN_PATH", path), ("HF_TOKEN", "hf_bad")], None).fails();
    assert!(r.stderr.contains("rejected the token"), "{}", r.stderr);
    hub(&env, &server, &["whoami"], &[("HUGGING_FACE_HUB_TOKEN", HF_TOKEN)], None).ok();
    let r = hub(&env, &server, &["whoami"], &[("HUGGING_FACE_HUB_TOKEN", "hf_bad"), ("HF_TOKEN", HF_TOKEN)], None).ok();
    assert!(r.stdout.starts_with("alice"));
    // $HF_HOME/token, where login writes, is what huggingface_hub reads by default
    hub(&env, &server, &["login", "--token-stdin"], &[], Some(HF_TOKEN)).ok();
    assert_eq!(fs::read_to_string(env.path("hf-home/token")).unwrap().trim(), HF_TOKEN);
}

#[test]
fn the_hub_token_reaches_the_hubs_lfs_api_as_bearer_and_nowhere_else() {
    let env = Env::new();
    let server = LfsServer::start();
    let repo = env.init("m");
    let w = data(900, 100_000);
    fs::write(repo.join("pytorch_model.bin"), &w).unwrap();
    fs::write(repo.join(".lfsconfig"), format!("[lfs]\n\turl = {}\n", server.endpoint("requirecreds-hub"))).unwrap();
    env.git(&repo, &["config", "hfgit.trustLfsconfig", "true"]).ok(); // the user's own .lfsconfig
    env.hfgit(&repo, &["commit", "-m", "w"]).ok();
    let mut c = env.hfgit_cmd(&repo, &["push", "../remote.git", "--create"]);
    c.env("HF_ENDPOINT", &server.url).env("HF_TOKEN", HF_TOKEN);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(server.get("requirecreds-hub", &sha256_hex(&w)).unwrap(), w);
    let batches: Vec<_> = server.log().into_iter().filter(|l| l.path.ends_with("/objects/batch")).collect();
    assert!(batches.iter().all(|l| l.authorization.as_deref() == Some(&format!("Bearer {HF_TOKEN}"))), "{batches:?}");
    // storage got the action's own header, never the Hub token
    for l in server.log().iter().filter(|l| l.method == "PUT") {
        assert!(!l.authorization.as_deref().unwrap_or("").contains(HF_TOKEN), "{l:?}");
    }
    // the same endpoint under another host name is not the Hub: no token is sent there
    let env2 = Env::new();
    let repo2 = env2.init("m");
    fs::write(repo2.join("pytorch_model.bin"), &w).unwrap();
    let other = server.endpoint("requirecreds-hub").replace("127.0.0.1", "localhost");
    fs::write(repo2.join(".lfsconfig"), format!("[lfs]\n\turl = {other}\n")).unwrap();
    env2.git(&repo2, &["config", "hfgit.trustLfsconfig", "true"]).ok(); // the user's own .lfsconfig
    env2.hfgit(&repo2, &["commit", "-m", "w"]).ok();
    let mut c = env2.hfgit_cmd(&repo2, &["push", "../remote.git", "--create"]);
    c.env("HF_ENDPOINT", &server.url).env("HF_TOKEN", HF_TOKEN);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("authentication failed"));
}

#[test]
fn large_files_go_up_through_the_hubs_multipart_transfer() {
    use common::lfs_server::CHUNK_SIZE;
    let env = Env::new();
    let server = LfsServer::start();
    let repo = env.init("m");
    let big = data(901, 1_100_000); // 5 parts of 256 KiB, the last one short
    let small = data(902, 1000);
    fs::write(repo.join("pytorch_model.bin"), &big).unwrap();
    fs::write(repo.join("small.bin"), &small).unwrap();
    fs::write(repo.join(".lfsconfig"), format!("[lfs]\n\turl = {}\n", server.endpoint("hub-part-fail"))).unwrap();
    env.git(&repo, &["config", "hfgit.trustLfsconfig", "true"]).ok(); // the user's own .lfsconfig
    env.hfgit(&repo, &["commit", "-m", "w"]).ok();
    let mut c = env.hfgit_cmd(&repo, &["push", "../remote.git", "--create", "--json"]);
    c.env("HF_ENDPOINT", &server.url).env("HF_TOKEN", HF_TOKEN);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let oid = sha256_hex(&big);
    assert_eq!(server.get("hub-part-fail", &oid).unwrap(), big, "assembled from parts");
    assert_eq!(server.get("hub-part-fail", &sha256_hex(&small)).unwrap(), small, "small files go up in one PUT");
    let parts: Vec<_> = server.log().into_iter().filter(|l| l.path.starts_with(&format!("/part/hub-part-fail/{oid}/"))).collect();
    assert_eq!(parts.len() as u64, (big.len() as u64).div_ceil(CHUNK_SIZE) + 1, "one retried part");
    // the Hub token never goes to part URLs or the completion URL
    for l in server.log().iter().filter(|l| l.path.starts_with("/part/") || l.path.starts_with("/complete/")) {
        assert_eq!(l.authorization, None, "{l:?}");
    }
    assert_eq!(server.count(&format!("complete:hub-part-fail:{oid}")), 1);
    assert_eq!(server.count(&format!("verify:hub-part-fail:{oid}")), 1);
    let batch = server.log().into_iter().find(|l| l.listener == "batch-body").unwrap().path;
    // to the Hub: xet first (the Xet CAS when the Hub answers it), then multipart, then basic
    assert!(batch.contains(r#""transfers":["xet","multipart","basic"]"#), "{batch}");
}

/// The Python `huggingface_hub` (installed by scripts/test.sh) and hfgit share the token file.
#[test]
fn huggingface_hub_and_hfgit_share_the_token_file() {
    let env = Env::new();
    let server = LfsServer::start();
    let py = |code: &str| common::lfs_server::hub_python(&env, &server, &[], code);
    // hfgit writes, huggingface_hub reads (and the token works for its own whoami)
    hub(&env, &server, &["login", "--token-stdin"], &[], Some(HF_TOKEN)).ok();
    assert_eq!(py("from huggingface_hub import get_token; print(get_token())"), HF_TOKEN);
    assert_eq!(py("from huggingface_hub import HfApi; print(HfApi().whoami()['name'])"), "alice");
    // huggingface_hub writes (its login validates against the same whoami), hfgit reads
    hub(&env, &server, &["logout"], &[], None).ok();
    py(&format!("from huggingface_hub import login; login(token='{HF_TOKEN}', add_to_git_credential=False)"));
    let r = hub(&env, &server, &["whoami"], &[], None).ok();
    assert!(r.stdout.starts_with("alice"), "{}", r.stdout);
}

#[test]
fn login_on_a_terminal_asks_without_echo() {
    let env = Env::new();
    let server = LfsServer::start();
    let cmd = format!("{} login", env!("CARGO_BIN_EXE_hfgit"));
    let mut c = env.command("script", env.dir.path());
    c.args(["-qec", &cmd, "/dev/null"]).env("HF_ENDPOINT", &server.url).env("HF_HOME", env.path("hf-home"));
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("script (util-linux) is required");
    let mut input = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300)); // let the prompt turn echo off
    input.write_all(format!("{HF_TOKEN}\n").as_bytes()).unwrap();
    drop(input);
    let o = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("Hugging Face token (input hidden):"), "{screen:?}");
    assert!(screen.contains("Logged in as alice"), "{screen:?}");
    assert!(!screen.contains(HF_TOKEN), "the token was echoed: {screen:?}");
    assert_eq!(fs::read_to_string(env.path("hf-home/token")).unwrap(), HF_TOKEN);
}
