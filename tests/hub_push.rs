//! Pushing to and cloning from a Hub-compatible server (tests/common/lfs_server.rs): repo
//! creation through the Hub API, the server's own first commit, multipart LFS, the Hub's push
//! rules, private repositories — git over smart HTTP through the real `git http-backend`.

mod common;
use common::lfs_server::{LfsServer, HF_TOKEN, READ_TOKEN};
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

fn with_hub(mut c: Command, server: &LfsServer, token: bool) -> Command {
    c.env("HF_ENDPOINT", &server.url);
    if token {
        c.env("HF_TOKEN", HF_TOKEN);
    }
    c
}

fn run(c: Command) -> Run {
    let mut c = c;
    let o = c.output().unwrap();
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    };
    assert!(!r.stdout.contains(HF_TOKEN) && !r.stderr.contains(HF_TOKEN), "the token was printed");
    r
}

fn hf(env: &Env, server: &LfsServer, cwd: &Path, args: &[&str], token: bool) -> Run {
    run(with_hub(env.hfgit_cmd(cwd, args), server, token))
}

fn model(env: &Env) -> (std::path::PathBuf, Vec<u8>) {
    let repo = env.init("mlp");
    let w = data(950, 1_100_000);
    fs::write(repo.join("pytorch_model.bin"), &w).unwrap();
    env.hfgit(&repo, &["add", "--set", "hidden_size=128"]).ok();
    env.hfgit(&repo, &["commit", "-m", "epoch 1"]).ok();
    (repo, w)
}

#[test]
fn push_create_lands_history_on_the_hubs_first_commit_and_clones_back() {
    let env = Env::with_git_lfs();
    let server = LfsServer::start();
    let (repo, w) = model(&env);
    let local_head = env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string();
    let r = hf(&env, &server, &repo, &["push", "alice/hub-mlp", "--create", "--json"], true).ok().json();
    assert_eq!(r["created"], true);
    let bare = server.git_root.path().join("alice/hub-mlp.git");
    // the server's initial commit and the local history are both there, joined without force
    let main = env.git(&bare, &["rev-parse", "main"]).ok().stdout.trim().to_string();
    assert_eq!(main, env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout.trim());
    let parents = env.git(&bare, &["log", "-1", "--format=%P", "main"]).ok().stdout;
    assert!(parents.contains(&local_head), "{parents}");
    let subjects = env.git(&bare, &["log", "--format=%s", "main"]).ok().stdout;
    assert!(subjects.contains("initial commit") && subjects.contains("epoch 1"), "{subjects}");
    // the big file went up in parts (Hub multipart), the server has it
    assert_eq!(server.get("alice~hub-mlp.git", &sha256_hex(&w)).unwrap(), w);
    assert!(server.log().iter().any(|l| l.path.starts_with("/part/alice~hub-mlp.git/")));
    assert_eq!(env.git(&repo, &["status", "--porcelain"]).ok().stdout, "");

    // clone by repo id, with hfgit and with git + git-lfs
    hf(&env, &server, env.dir.path(), &["clone", "alice/hub-mlp", "c"], false).ok();
    assert_eq!(fs::read(env.path("c/pytorch_model.bin")).unwrap(), w);
    assert_eq!(env.git(&env.path("c"), &["status", "--porcelain"]).ok().stdout, "");
    env.git(env.dir.path(), &["clone", "-q", &format!("{}/alice/hub-mlp", server.url), "g"]).ok();
    assert_eq!(fs::read(env.path("g/pytorch_model.bin")).unwrap(), w);

    // next epoch: --create again is harmless (409), the push fast-forwards
    fs::write(repo.join("pytorch_model.bin"), data(951, 1_200_000)).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2"]).ok();
    let r = hf(&env, &server, &repo, &["push", "alice/hub-mlp", "--create", "--json"], true).ok().json();
    assert_eq!(r["created"], false);
    assert_eq!(r["uploaded_objects"], 1);
    hf(&env, &server, &env.path("c"), &["pull"], false).ok();
    assert_eq!(fs::read(env.path("c/pytorch_model.bin")).unwrap(), data(951, 1_200_000));
}

#[test]
fn hub_errors_say_what_is_wrong() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env);
    // no token: creation is impossible, and says how to fix it
    let r = hf(&env, &server, &repo, &["push", "alice/x", "--create"], false).fails();
    assert!(r.stderr.contains("needs a token") && r.stderr.contains("hfgit login"), "{}", r.stderr);
    // a repository that does not exist, without --create
    let r = hf(&env, &server, &repo, &["push", "alice/missing"], true).fails();
    assert!(r.stderr.contains("alice/missing does not exist") && r.stderr.contains("--create"), "{}", r.stderr);
    let r = hf(&env, &server, env.dir.path(), &["clone", "alice/missing"], false).fails();
    assert!(r.stderr.contains("private and no token") && r.stderr.contains("hfgit login"), "{}", r.stderr);
    assert!(!env.path("missing").exists(), "a failed clone left its directory");
    // creation refused (403) for a repository that exists anyway: like exist_ok, go on
    let r = hf(&env, &server, &repo, &["push", "alice/forbidden-hub", "--create"], true).fails();
    assert!(r.stderr.contains("no write access"), "{}", r.stderr);
    let pre = server.git_root.path().join("alice/forbidden-hub.git");
    env.git(env.dir.path(), &["init", "-q", "--bare", "-b", "main", pre.to_str().unwrap()]).ok();
    hf(&env, &server, &repo, &["push", "alice/forbidden-hub", "--create"], true).ok();
    assert!(server.log().iter().any(|l| l.path == "/api/models/alice/forbidden-hub"));
    // a concurrent operation on the Hub is waited out
    hf(&env, &server, &repo, &["push", "alice/conflict-hub", "--create"], true).ok();
    assert_eq!(server.count("create:alice/conflict-hub"), 2);
}

#[test]
fn private_repositories_need_the_token_to_clone() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, w) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/secret-hub", "--create", "--private"], true).ok();
    let r = hf(&env, &server, env.dir.path(), &["clone", "alice/secret-hub", "c"], false).fails();
    assert!(r.stderr.contains("HF_TOKEN") || r.stderr.contains("credentials"), "{}", r.stderr);
    let mut c = with_hub(env.hfgit_cmd(env.dir.path(), &["clone", "alice/secret-hub", "c3"]), &server, false);
    c.env("HF_TOKEN", "hf_expired");
    let r = run(c).fails();
    assert!(r.stderr.contains("rejected your token") && r.stderr.contains("hfgit login"), "{}", r.stderr);
    hf(&env, &server, env.dir.path(), &["clone", "alice/secret-hub", "c2"], true).ok();
    assert_eq!(fs::read(env.path("c2/pytorch_model.bin")).unwrap(), w);
    assert!(!fs::read_to_string(env.path("c2/.git/config")).unwrap().contains(HF_TOKEN));
}

#[test]
fn the_hubs_rules_are_checked_before_anything_is_sent() {
    let env = Env::new();
    let server = LfsServer::start();
    let repo = env.init("m");
    env.git(&repo, &["config", "hfgit.lfsThreshold", "20m"]).ok();
    fs::write(repo.join("tokenizer.json"), vec![b'a'; 11 * 1024 * 1024]).unwrap();
    env.hfgit(&repo, &["commit", "-m", "big plain file"]).ok();
    let r = hf(&env, &server, &repo, &["push", "alice/rules-hub", "--create"], true).fails();
    assert!(r.stderr.contains("tokenizer.json") && r.stderr.contains("10 MiB") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!server.log().iter().any(|l| l.path.contains("/objects/batch") || l.path.contains("receive-pack") && l.method == "POST"));
    // the same push to a plain git host is not subject to the Hub's rules
    env.hfgit(&repo, &["push", "../plain.git", "--create"]).ok();

    // an LFS file over the Hub's per-file limit (a pointer committed as is)
    let repo3 = env.init("m3");
    fs::write(
        repo3.join("huge.safetensors"),
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 600000000000\n", "a".repeat(64)),
    )
    .unwrap();
    env.hfgit(&repo3, &["commit", "-m", "huge"]).ok();
    let r = hf(&env, &server, &repo3, &["push", "alice/rules3-hub", "--create"], true).fails();
    assert!(r.stderr.contains("huge.safetensors") && r.stderr.contains("500 GB"), "{}", r.stderr);

    // a pointer whose object is missing locally
    let repo2 = env.init("m2");
    let w = data(952, 5000);
    fs::write(repo2.join("w.bin"), &w).unwrap();
    env.hfgit(&repo2, &["commit", "-m", "w"]).ok();
    fs::remove_file(object_path(&repo2.join(".git"), &sha256_hex(&w))).unwrap();
    let r = hf(&env, &server, &repo2, &["push", "alice/rules2-hub", "--create"], true).fails();
    assert!(r.stderr.contains("w.bin") && r.stderr.contains("not in the local store"), "{}", r.stderr);
}

#[test]
fn other_diverging_history_on_the_hub_is_refused_with_a_hint_to_pull() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/div-hub", "--create"], true).ok();
    // someone else pushes to the Hub
    hf(&env, &server, env.dir.path(), &["clone", "alice/div-hub", "other"], true).ok();
    env.hfgit(&env.path("other"), &["add", "--set", "who=other"]).ok();
    env.hfgit(&env.path("other"), &["commit", "-m", "theirs"]).ok();
    hf(&env, &server, &env.path("other"), &["push"], true).ok();
    env.hfgit(&repo, &["add", "--set", "who=me"]).ok();
    env.hfgit(&repo, &["commit", "-m", "mine"]).ok();
    let r = hf(&env, &server, &repo, &["push", "alice/div-hub"], true).fails();
    assert!(r.stderr.contains("non-fast-forward") && r.stderr.contains("hfgit pull"), "{}", r.stderr);
}

/// The test server is honest about the Hub's pre-receive rules: plain git, which checks none of
/// them, is refused for each — the rejections hfgit's own checks exist to prevent.
#[test]
fn the_test_hub_enforces_the_hubs_pre_receive_rules_on_plain_git() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/pre-hub", "--create"], true).ok();
    let url = format!("{}/alice/pre-hub", server.url).replace("http://", &format!("http://hf_user:{HF_TOKEN}@"));
    env.git(env.dir.path(), &["clone", "-q", &url, "plain"]).ok();
    let plain = env.path("plain");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("pointer.bin", pointer_text(&data(960, 5000)).into_bytes(), "pointed to a file that does not exist"),
        (
            "blob.dat",
            {
                let mut b = data(961, 2_000_000);
                b[10] = 0;
                b
            },
            "binary files",
        ),
        ("big.txt", vec![b'x'; 11 * 1024 * 1024], "larger than 10 MiB"),
    ];
    for (name, content, why) in cases {
        fs::write(plain.join(name), &content).unwrap();
        // no git-lfs filter configured: the bytes go in as they are
        env.git(&plain, &["-c", "filter.lfs.clean=cat", "add", "-f", name]).ok();
        env.git(&plain, &["commit", "-qm", name]).ok();
        let r = env.git(&plain, &["push", "-q", "origin", "main"]);
        assert_ne!(r.code, 0, "{name} was accepted");
        assert!(r.stderr.contains(why), "{name}: {}", r.stderr);
        env.git(&plain, &["reset", "-q", "--hard", "HEAD~1"]).ok();
    }
}

/// Before any byte is sent, the Hub itself is asked (where it offers it): `preupload` says which
/// files it stores through LFS (here: by the repository's own `.gitattributes`, which the owner
/// made track `*.idx`), `validate-yaml` checks the model card's metadata. Following the hint
/// makes the push go through.
#[test]
fn the_hubs_own_preupload_and_yaml_checks_refuse_before_any_byte_is_sent() {
    let env = Env::new();
    let server = LfsServer::start();
    // the owner creates the repository with `*.idx` in LFS
    let owner = env.init("owner");
    let mut attrs = fs::read_to_string(owner.join(".gitattributes")).unwrap();
    attrs.push_str("*.idx filter=lfs diff=lfs merge=lfs -text\n");
    fs::write(owner.join(".gitattributes"), &attrs).unwrap();
    env.hfgit(&owner, &["commit", "-m", "track idx"]).ok();
    hf(&env, &server, &owner, &["push", "alice/pre-hub", "--create"], true).ok();
    // a contributor's clone drops that rule and commits a small index as a plain file
    hf(&env, &server, env.dir.path(), &["clone", "alice/pre-hub", "m"], true).ok();
    let repo = env.path("m");
    let mine: String = attrs.lines().filter(|l| !l.starts_with("*.idx")).map(|l| format!("{l}\n")).collect();
    fs::write(repo.join(".gitattributes"), &mine).unwrap();
    env.hfgit(&repo, &["commit", "-m", "attributes"]).ok();
    let mut vocab = data(960, 100 * 1024);
    vocab[10] = 0; // binary, yet far below the Hub's size rules
    fs::write(repo.join("vocab.idx"), &vocab).unwrap();
    env.hfgit(&repo, &["commit", "-m", "vocab"]).ok();
    assert!(!env.git(&repo, &["cat-file", "-p", "HEAD:vocab.idx"]).ok().stdout.starts_with("version "), "hfgit kept it plain");
    let before = server.log().len();
    let r = hf(&env, &server, &repo, &["push"], true).fails();
    assert!(r.stderr.contains("vocab.idx") && r.stderr.contains("through LFS"), "{}", r.stderr);
    assert!(server.count("preupload") >= 1);
    let sent =
        server.log()[before..].iter().any(|l| l.path.contains("/objects/batch") || (l.path.contains("receive-pack") && l.method == "POST"));
    assert!(!sent, "bytes were sent before the Hub's answer was heard");
    // the hint's commands, as given
    assert!(r.stderr.contains("/vocab.idx filter=lfs diff=lfs merge=lfs -text"), "{}", r.stderr);
    let reset = r.stderr.split("`git reset --soft ").nth(1).and_then(|t| t.split('`').next()).expect("a reset command").to_string();
    let mut attrs = fs::read_to_string(repo.join(".gitattributes")).unwrap();
    attrs.push_str("/vocab.idx filter=lfs diff=lfs merge=lfs -text\n");
    fs::write(repo.join(".gitattributes"), attrs).unwrap();
    env.git(&repo, &["reset", "--soft", &reset]).ok();
    env.hfgit(&repo, &["commit", "-m", "vocab through LFS"]).ok();

    // now the model card: a license the Hub does not know
    let card = fs::read_to_string(repo.join("README.md")).unwrap_or_default();
    let body = card.split("\n---\n").last().unwrap_or("").to_string();
    fs::write(repo.join("README.md"), format!("---\nlicense: not-a-license\n---\n{body}")).unwrap();
    env.hfgit(&repo, &["commit", "-m", "card"]).ok();
    let r = hf(&env, &server, &repo, &["push"], true).fails();
    assert!(r.stderr.contains("README.md metadata") && r.stderr.contains("not-a-license"), "{}", r.stderr);
    assert!(server.count("validate-yaml") >= 1);
    fs::write(repo.join("README.md"), format!("---\nlicense: mit\n---\n{body}")).unwrap();
    env.hfgit(&repo, &["commit", "-m", "card fixed"]).ok();
    hf(&env, &server, &repo, &["push"], true).ok();
    let bare = server.git_root.path().join("alice/pre-hub.git");
    let blob = env.git(&bare, &["cat-file", "-p", "main:vocab.idx"]).ok().stdout;
    assert!(blob.starts_with("version https://git-lfs.github.com/spec/v1"), "{blob}");
    assert_eq!(server.get("alice~pre-hub.git", &sha256_hex(&vocab)).unwrap(), vocab);
}

/// Tags and branches are the Hub's revisions: pushed with their LFS objects, cloned back with
/// `--revision`; the Hub's rules hold for every ref pushed, not only the current branch.
#[test]
fn tags_and_branches_are_hub_revisions() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, w1) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/revs-hub", "--create"], true).ok();
    let v1 = env.git(&repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string();
    env.hfgit(&repo, &["tag", "-m", "first release", "v1.0"]).ok();
    env.hfgit(&repo, &["switch", "-c", "exp"]).ok();
    let w2 = data(952, 1_050_000);
    fs::write(repo.join("pytorch_model.bin"), &w2).unwrap();
    env.hfgit(&repo, &["commit", "-m", "experiment"]).ok();
    env.hfgit(&repo, &["switch", "main"]).ok();
    let r = hf(&env, &server, &repo, &["push", "alice/revs-hub", "exp", "v1.0", "--json"], true).ok().json();
    assert_eq!(r["uploaded_objects"], 1, "{r}");
    assert_eq!(r["totals"]["created"], 2);
    assert_eq!(server.get("alice~revs-hub.git", &sha256_hex(&w2)).unwrap(), w2);
    let bare = server.git_root.path().join("alice/revs-hub.git");
    assert_eq!(env.git(&bare, &["rev-parse", "v1.0^{commit}"]).ok().stdout.trim(), v1);

    hf(&env, &server, env.dir.path(), &["clone", "alice/revs-hub", "c-tag", "--revision", "v1.0"], false).ok();
    assert_eq!(env.git(&env.path("c-tag"), &["rev-parse", "HEAD"]).ok().stdout.trim(), v1);
    assert_eq!(fs::read(env.path("c-tag/pytorch_model.bin")).unwrap(), w1);
    hf(&env, &server, env.dir.path(), &["clone", "alice/revs-hub", "c-exp", "--revision", "exp"], false).ok();
    assert_eq!(fs::read(env.path("c-exp/pytorch_model.bin")).unwrap(), w2);

    // a branch the Hub would refuse (a plain binary over 1 MiB) is stopped before anything moves
    env.hfgit(&repo, &["switch", "-c", "bad"]).ok();
    let mut blob = data(953, 2_000_000);
    blob[0] = 0;
    fs::write(repo.join("blob.raw"), &blob).unwrap();
    env.git(&repo, &["add", "blob.raw"]).ok();
    env.git(&repo, &["commit", "-qm", "plain binary"]).ok();
    env.hfgit(&repo, &["switch", "main"]).ok();
    let r = hf(&env, &server, &repo, &["push", "alice/revs-hub", "bad"], true).fails();
    assert!(r.stderr.contains("blob.raw") && r.stderr.contains("Hub would reject"), "{}", r.stderr);
    assert_eq!(env.git(&bare, &["rev-parse", "-q", "--verify", "refs/heads/bad"]).code, 1, "the refused branch reached the Hub");
}

/// A preupload answer naming a path that was never asked about (with terminal escapes and a
/// forged line) is ignored: it neither refuses the push nor reaches the terminal.
#[test]
fn a_preupload_answer_about_paths_never_asked_is_ignored() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, w) = model(&env);
    let r = hf(&env, &server, &repo, &["push", "alice/preupload-hostile", "--create"], true).ok();
    assert!(server.count("preupload") >= 1);
    assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains("forged"), "{}", r.stderr);
    assert_eq!(server.get("alice~preupload-hostile.git", &sha256_hex(&w)).unwrap(), w);
}

/// As `hf`, with the read-only token of another user (`bob`).
fn bob(env: &Env, server: &LfsServer, cwd: &Path, args: &[&str]) -> Run {
    let mut c = with_hub(env.hfgit_cmd(cwd, args), server, false);
    c.env("HF_TOKEN", READ_TOKEN);
    let r = run(c);
    assert!(!r.stdout.contains(READ_TOKEN) && !r.stderr.contains(READ_TOKEN), "the token was printed");
    r
}

/// A user with read access only cannot push to `main` (refused with the way out named), opens a
/// pull request with `push --pr` (its commits on `refs/pr/1`, `main` unchanged, the objects on
/// the server, no `ref` in its LFS batches) and adds to it with `push --pr 1`; the owner fetches
/// it with `fetch --pr 1` and checks it out with `checkout pr/1`, content and all.
#[test]
fn a_read_only_user_opens_a_pull_request_and_the_owner_checks_it_out() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, w1) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/pr-hub", "--create"], true).ok();
    let bare = server.git_root.path().join("alice/pr-hub.git");
    let main = env.git(&bare, &["rev-parse", "main"]).ok().stdout;
    bob(&env, &server, env.dir.path(), &["clone", "alice/pr-hub", "b"]).ok();
    let b = env.path("b");
    let w2 = data(970, 1_000_000);
    fs::write(b.join("pytorch_model.bin"), &w2).unwrap();
    env.hfgit(&b, &["commit", "-m", "better weights"]).ok();

    // a plain push: the upload is refused (its batch names main), with the way out
    let r = bob(&env, &server, &b, &["push"]).fails();
    assert!(r.stderr.contains("hfgit push --pr"), "{}", r.stderr);
    assert_eq!(env.git(&bare, &["rev-parse", "main"]).ok().stdout, main);
    assert!(server.get("alice~pr-hub.git", &sha256_hex(&w2)).is_none());

    let before = server.log().len();
    let out = bob(&env, &server, &b, &["push", "--pr", "--title", "Better weights", "--json"]).ok().json();
    assert_eq!(out["pull_request"]["num"], 1, "{out}");
    assert_eq!(out["pull_request"]["url"], format!("{}/alice/pr-hub/discussions/1", server.url));
    let head = env.git(&b, &["rev-parse", "HEAD"]).ok().stdout;
    assert_eq!(env.git(&bare, &["rev-parse", "refs/pr/1"]).ok().stdout, head);
    assert_eq!(env.git(&bare, &["rev-parse", "main"]).ok().stdout, main, "main moved");
    assert_eq!(server.get("alice~pr-hub.git", &sha256_hex(&w2)).unwrap(), w2);
    let bodies: Vec<String> = server.log()[before..].iter().filter(|l| l.listener == "batch-body").map(|l| l.path.clone()).collect();
    assert!(!bodies.is_empty() && bodies.iter().all(|b| !b.contains("\"ref\"")), "{bodies:?}");
    assert_eq!(server.count("discussion:alice/pr-hub"), 1);
    // the text output names the page
    let w3 = data(971, 900_000);
    fs::write(b.join("pytorch_model.bin"), &w3).unwrap();
    env.hfgit(&b, &["commit", "-m", "even better"]).ok();
    let r = bob(&env, &server, &b, &["push", "--pr", "1"]).ok();
    assert!(r.stdout.contains(&format!("pull request #1: {}/alice/pr-hub/discussions/1", server.url)), "{}", r.stdout);
    let head = env.git(&b, &["rev-parse", "HEAD"]).ok().stdout;
    assert_eq!(env.git(&bare, &["rev-parse", "refs/pr/1"]).ok().stdout, head);
    assert_eq!(server.count("discussion:alice/pr-hub"), 1, "--pr 1 opened another");
    assert_eq!(env.git(&bare, &["rev-parse", "main"]).ok().stdout, main);

    // a push with no LFS file (none in the tree) reaches git, whose refusal names the way out too
    bob(&env, &server, env.dir.path(), &["clone", "alice/pr-hub", "b2"]).ok();
    fs::remove_file(env.path("b2/pytorch_model.bin")).unwrap();
    fs::write(env.path("b2/notes.txt"), "small\n").unwrap();
    env.hfgit(&env.path("b2"), &["commit", "-m", "notes"]).ok();
    let r = bob(&env, &server, &env.path("b2"), &["push"]).fails();
    assert!(r.stderr.contains("DENIED update refs/heads/main: forbidden") && r.stderr.contains("hfgit push --pr"), "{}", r.stderr);
    assert_eq!(env.git(&bare, &["rev-parse", "main"]).ok().stdout, main);
    // numbers that are no open pull request
    let r = bob(&env, &server, &b, &["push", "--pr", "7"]).fails();
    assert!(r.stderr.contains("no pull request #7"), "{}", r.stderr);
    let r = bob(&env, &server, &b, &["push", "--pr", "alice/pr-hub"]).fails();
    assert!(r.stderr.contains("--pr takes a pull request number"), "{}", r.stderr);
    // the discussions API's refusals: a token it does not know, a repository that is not there
    let mut c = with_hub(env.hfgit_cmd(&b, &["push", "--pr"]), &server, false);
    c.env("HF_TOKEN", "hf_expired");
    let r = run(c).fails();
    assert!(r.stderr.contains("no valid token") && r.stderr.contains("hfgit login"), "{}", r.stderr);
    let r = bob(&env, &server, &b, &["push", "alice/nowhere", "--pr", "1"]).fails();
    assert!(r.stderr.contains("alice/nowhere does not exist"), "{}", r.stderr);
    // nothing to propose, and no Hub to propose it to
    bob(&env, &server, env.dir.path(), &["clone", "alice/pr-hub", "b3"]).ok();
    let r = bob(&env, &server, &env.path("b3"), &["push", "--pr"]).fails();
    assert!(r.stderr.contains("nothing to propose"), "{}", r.stderr);
    let r = env.hfgit(&b, &["push", "../plain.git", "--pr"]).fails();
    assert!(r.stderr.contains("not a Hub repository"), "{}", r.stderr);
    assert_eq!(server.count("discussion:alice/pr-hub"), 1);

    // the owner: not fetched by default; fetched and checked out when asked, with content
    hf(&env, &server, env.dir.path(), &["clone", "alice/pr-hub", "a"], true).ok();
    let a = env.path("a");
    hf(&env, &server, &a, &["fetch"], true).ok();
    assert_eq!(env.git(&a, &["for-each-ref", "refs/remotes/origin/pr"]).ok().stdout, "");
    let r = hf(&env, &server, &a, &["checkout", "pr/1"], true).fails();
    assert!(r.stderr.contains("hfgit fetch origin --pr 1"), "{}", r.stderr);
    hf(&env, &server, &a, &["fetch", "--pr", "1"], true).ok();
    assert_eq!(env.git(&a, &["rev-parse", "refs/remotes/origin/pr/1"]).ok().stdout, head);
    assert_eq!(fs::read(object_path(&a.join(".git"), &sha256_hex(&w3))).unwrap(), w3);
    assert_eq!(fs::read(a.join("pytorch_model.bin")).unwrap(), w1, "fetch touched the work tree");
    hf(&env, &server, &a, &["checkout", "pr/1"], true).ok();
    assert_eq!(env.git(&a, &["rev-parse", "--abbrev-ref", "HEAD"]).ok().stdout.trim(), "pr/1");
    assert_eq!(fs::read(a.join("pytorch_model.bin")).unwrap(), w3);
    let r = hf(&env, &server, &a, &["fetch", "--pr", "9"], true).fails();
    assert!(r.stderr.contains("no pull request #9"), "{}", r.stderr);

    // the owner adds to it from her branch pr/1; bob's next push is then told how to catch up
    fs::write(a.join("review.txt"), "from alice\n").unwrap();
    env.hfgit(&a, &["commit", "-m", "review fix"]).ok();
    hf(&env, &server, &a, &["push", "--pr", "1"], true).ok();
    assert_eq!(env.git(&bare, &["rev-parse", "refs/pr/1"]).ok().stdout, env.git(&a, &["rev-parse", "HEAD"]).ok().stdout);
    fs::write(b.join("more.txt"), "from bob\n").unwrap();
    env.hfgit(&b, &["commit", "-m", "more"]).ok();
    let r = bob(&env, &server, &b, &["push", "--pr", "1"]).fails();
    assert!(r.stderr.contains("non-fast-forward") && r.stderr.contains("hfgit fetch --pr 1"), "{}", r.stderr);

    // a pull request closed since: refused, not pushed to
    server.set_discussion_status("alice/pr-hub.git", 1, "closed");
    let r = bob(&env, &server, &b, &["push", "--pr", "1"]).fails();
    assert!(r.stderr.contains("pull request #1 on alice/pr-hub is closed"), "{}", r.stderr);
}

/// The Hub's own refs (`refs/convert/*`) are never fetched, pushed or deleted by default, and a
/// refspec naming one is refused.
#[test]
fn the_hubs_conversion_refs_are_left_alone() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/conv-hub", "--create"], true).ok();
    let bare = server.git_root.path().join("alice/conv-hub.git");
    env.git(&bare, &["update-ref", "refs/convert/parquet", "main"]).ok();
    let conv = env.git(&bare, &["rev-parse", "refs/convert/parquet"]).ok().stdout;
    hf(&env, &server, env.dir.path(), &["clone", "alice/conv-hub", "c"], true).ok();
    let c = env.path("c");
    hf(&env, &server, &c, &["fetch", "--all"], true).ok();
    assert_eq!(env.git(&c, &["for-each-ref", "--format=%(refname)"]).ok().stdout.matches("convert").count(), 0);
    env.hfgit(&c, &["add", "--set", "x=1"]).ok();
    env.hfgit(&c, &["commit", "-m", "more"]).ok();
    env.hfgit(&c, &["tag", "v1"]).ok();
    hf(&env, &server, &c, &["push", "--all"], true).ok();
    hf(&env, &server, &c, &["push", "--tags", "--force"], true).ok();
    assert_eq!(env.git(&bare, &["rev-parse", "refs/convert/parquet"]).ok().stdout, conv);
    for spec in ["main:refs/convert/parquet", ":refs/convert/parquet"] {
        let r = hf(&env, &server, &c, &["push", "origin", spec], true).fails();
        assert!(r.stderr.contains("refs/convert/parquet is made by the Hub"), "{spec}: {}", r.stderr);
    }
    assert_eq!(env.git(&bare, &["rev-parse", "refs/convert/parquet"]).ok().stdout, conv);
}

/// The Python `huggingface_hub` (installed by scripts/test.sh) against the same test Hub: it
/// reads the pull request `hfgit push --pr` opened, and `hfgit push --pr N` adds to the one it
/// opened — the discussions API as both clients use it.
#[test]
fn huggingface_hub_and_hfgit_share_pull_requests() {
    let env = Env::new();
    let server = LfsServer::start();
    let (repo, _) = model(&env);
    hf(&env, &server, &repo, &["push", "alice/shared-pr-hub", "--create"], true).ok();
    let py = |code: &str| {
        let code = format!("from huggingface_hub import HfApi\napi = HfApi()\n{code}");
        common::lfs_server::hub_python(&env, &server, &[("HF_TOKEN", READ_TOKEN)], &code)
    };
    bob(&env, &server, env.dir.path(), &["clone", "alice/shared-pr-hub", "b"]).ok();
    let b = env.path("b");
    fs::write(b.join("pytorch_model.bin"), data(980, 1_000_000)).unwrap();
    env.hfgit(&b, &["commit", "-m", "tuned"]).ok();
    bob(&env, &server, &b, &["push", "--pr", "--title", "From hfgit", "--description", "tuned weights"]).ok();
    let seen = py("d = api.get_discussion_details('alice/shared-pr-hub', 1)\nprint(d.title, d.is_pull_request, d.git_reference, d.author)");
    assert_eq!(seen, "From hfgit True refs/pr/1 bob");
    let num = py("print(api.create_pull_request('alice/shared-pr-hub', title='From Python').num)");
    assert_eq!(num, "2");
    fs::write(b.join("notes.md"), "more\n").unwrap();
    env.hfgit(&b, &["commit", "-m", "notes"]).ok();
    let out = bob(&env, &server, &b, &["push", "--pr", "2", "--json"]).ok().json();
    assert_eq!(out["pull_request"]["num"], 2);
    let bare = server.git_root.path().join("alice/shared-pr-hub.git");
    assert_eq!(env.git(&bare, &["rev-parse", "refs/pr/2"]).ok().stdout, env.git(&b, &["rev-parse", "HEAD"]).ok().stdout);
    // a discussion is no pull request
    assert_eq!(py("print(api.create_discussion('alice/shared-pr-hub', title='A question').num)"), "3");
    let r = bob(&env, &server, &b, &["push", "--pr", "3"]).fails();
    assert!(r.stderr.contains("#3 on alice/shared-pr-hub is a discussion, not a pull request"), "{}", r.stderr);
    assert_eq!(env.git(&bare, &["rev-parse", "-q", "--verify", "refs/pr/3"]).code, 1);
}
