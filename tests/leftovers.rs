//! No leftovers: temp files live under `.git` (never in the work tree), SIGINT / SIGTERM remove
//! the running command's before it exits 130 / 143, and what a SIGKILL leaves is removed by the
//! next command that takes the repository lock (or, for a local remote, the next push to it).
//! The large file is 200 MB (sparse: quick to make, still read and hashed in full).

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIG: u64 = 200 * 1024 * 1024;

fn big_file(path: &Path) {
    let f = fs::File::create(path).unwrap();
    f.set_len(BIG).unwrap();
    // a few real bytes, so that two big files differ
    std::os::unix::fs::FileExt::write_at(&f, path.to_string_lossy().as_bytes(), BIG / 2).unwrap();
}

/// Names of the files directly in `dir` (none when it does not exist).
fn files_in(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every path below `root` (`.git` included) whose name says it is an hfgit temp file.
fn temp_files_below(root: &Path, also_in_git: bool) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| also_in_git || e.file_name() != ".git")
        .flatten()
        .filter(|e| e.file_type().is_file() || e.file_type().is_symlink())
        .map(|e| e.path().display().to_string())
        .filter(|p| {
            // `hfgit-<pid>-…` (or hidden), and the work-tree temp names of earlier versions
            let name = Path::new(p).file_name().unwrap().to_string_lossy().into_owned();
            let pid = name.trim_start_matches('.').strip_prefix("hfgit-").and_then(|r| r.split('-').next());
            name.contains("hfgit-tmp") || pid.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits until a file appears in `dir` (the command is mid-write), then sends `signal`.
/// Fails if the command ended first.
fn signal_when_writing(child: &mut Child, dir: &Path, signal: i32) {
    let start = Instant::now();
    loop {
        if !files_in(dir).is_empty() {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the command ended ({st}) before a temp file appeared in {}", dir.display());
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no temp file in {} after 60 s", dir.display());
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

#[track_caller]
fn assert_exit(child: Child, code: i32) {
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sigint_during_add_leaves_no_temp_file() {
    let env = Env::new();
    let repo = env.init("m");
    big_file(&env.path("big.safetensors"));
    let mut child = spawn(&mut env.hfgit_cmd(&repo, &["add", "../big.safetensors"]));
    signal_when_writing(&mut child, &repo.join(".git/lfs/tmp"), libc::SIGINT);
    assert_exit(child, 130);
    assert_eq!(files_in(&repo.join(".git/lfs/tmp")), Vec::<String>::new());
    assert_eq!(temp_files_below(&repo, true), Vec::<String>::new());
    assert!(!repo.join("big.safetensors").exists(), "a partial copy reached the work tree");
}

#[test]
fn sigint_and_sigterm_during_commit_leave_no_temp_file() {
    let env = Env::new();
    let repo = env.init("m");
    big_file(&repo.join("model.safetensors"));
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let mut child = spawn(&mut env.hfgit_cmd(&repo, &["commit", "-m", "big"]));
        signal_when_writing(&mut child, &repo.join(".git/lfs/tmp"), signal);
        assert_exit(child, code);
        assert_eq!(files_in(&repo.join(".git/lfs/tmp")), Vec::<String>::new());
        assert_eq!(temp_files_below(&repo, true), Vec::<String>::new());
        assert_eq!(env.git(&repo, &["rev-list", "--all"]).ok().stdout, "", "nothing was committed");
    }
    env.hfgit(&repo, &["commit", "-m", "big"]).ok();
}

/// A repository with a 200 MB file pushed to `remote.git`; returns the work tree.
fn pushed(env: &Env) -> std::path::PathBuf {
    let repo = env.init("m");
    big_file(&repo.join("model.safetensors"));
    env.hfgit(&repo, &["commit", "-m", "big"]).ok();
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    repo
}

#[test]
fn sigint_during_clone_and_pull_leaves_no_temp_file() {
    let env = Env::new();
    let repo = pushed(&env);
    let mut child = spawn(&mut env.hfgit_cmd(env.dir.path(), &["clone", "remote.git", "c"]));
    signal_when_writing(&mut child, &env.path("c/.git/lfs/tmp"), libc::SIGINT);
    assert_exit(child, 130);
    assert_eq!(files_in(&env.path("c/.git/lfs/tmp")), Vec::<String>::new());
    assert_eq!(temp_files_below(env.dir.path(), true), Vec::<String>::new());
    // the clone resumes and completes
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).ok();
    let c = env.path("c");

    big_file(&repo.join("second.safetensors"));
    env.hfgit(&repo, &["commit", "-m", "second"]).ok();
    env.hfgit(&repo, &["push", "../remote.git"]).ok();
    let mut child = spawn(&mut env.hfgit_cmd(&c, &["pull"]));
    signal_when_writing(&mut child, &c.join(".git/lfs/tmp"), libc::SIGINT);
    assert_exit(child, 130);
    assert_eq!(files_in(&c.join(".git/lfs/tmp")), Vec::<String>::new());
    assert_eq!(temp_files_below(&c, true), Vec::<String>::new());
    env.hfgit(&c, &["pull"]).ok();
    assert_eq!(fs::metadata(c.join("second.safetensors")).unwrap().len(), BIG);
}

/// SIGKILL cannot be caught: the temp file stays until the next command that takes the lock
/// (here `add --set`) removes it. A partial download younger than the resume limit is kept for
/// the next pull; one older than the limit goes.
#[test]
fn after_sigkill_the_next_locking_command_removes_leftovers() {
    let env = Env::new();
    let repo = env.init("m");
    big_file(&repo.join("model.safetensors"));
    let mut child = spawn(&mut env.hfgit_cmd(&repo, &["commit", "-m", "big"]));
    signal_when_writing(&mut child, &repo.join(".git/lfs/tmp"), libc::SIGKILL);
    let _ = child.wait();
    assert!(!files_in(&repo.join(".git/lfs/tmp")).is_empty(), "SIGKILL left nothing: the test proves nothing");
    let incomplete = repo.join(".git/lfs/incomplete");
    fs::create_dir_all(&incomplete).unwrap();
    let (fresh, stale) = (incomplete.join(format!("{}.part", "a".repeat(64))), incomplete.join(format!("{}.part", "b".repeat(64))));
    fs::write(&fresh, b"partial").unwrap();
    fs::write(&stale, b"partial").unwrap();
    let month_ago = std::time::SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    fs::File::options().write(true).open(&stale).unwrap().set_modified(month_ago).unwrap();

    env.hfgit(&repo, &["status"]).ok(); // takes no lock: changes nothing
    assert!(!files_in(&repo.join(".git/lfs/tmp")).is_empty());
    env.hfgit(&repo, &["add", "--set", "hidden_size=8"]).ok();
    assert_eq!(files_in(&repo.join(".git/lfs/tmp")), Vec::<String>::new());
    assert!(fresh.exists(), "a resumable partial download was removed");
    assert!(!stale.exists(), "a partial download past the resume limit was kept");
}

/// A push killed mid-copy leaves a temp file in the local remote's lfs/tmp; the next push to
/// that remote removes it (the remote has no lock: only a dead hfgit's files are taken).
#[test]
fn the_next_push_removes_a_killed_pushs_temp_files_from_a_local_remote() {
    let env = Env::new();
    let repo = env.init("m");
    env.git(&repo, &["config", "hfgit.localTransfer", "copy"]).ok();
    fs::write(repo.join("README.md"), "x\n").unwrap();
    env.hfgit(&repo, &["commit", "-m", "one"]).ok();
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    big_file(&repo.join("model.safetensors"));
    env.hfgit(&repo, &["commit", "-m", "big"]).ok();
    let remote_tmp = env.path("remote.git/lfs/tmp");
    let mut child = spawn(&mut env.hfgit_cmd(&repo, &["push", "../remote.git"]));
    signal_when_writing(&mut child, &remote_tmp, libc::SIGKILL);
    let _ = child.wait();
    let left = files_in(&remote_tmp);
    assert!(!left.is_empty(), "SIGKILL left nothing: the test proves nothing");
    // a running hfgit's temp file (this test's own pid) is not touched
    let alive = remote_tmp.join(format!("hfgit-{}-inflight", std::process::id()));
    fs::write(&alive, b"x").unwrap();
    env.hfgit(&repo, &["push", "../remote.git"]).ok();
    assert_eq!(files_in(&remote_tmp), vec![alive.file_name().unwrap().to_string_lossy().into_owned()]);
}

/// Two `add --set` at once: the second waits for the first's lock, and both keys are kept.
/// The test holds the lock itself first, so the two really overlap.
#[test]
fn concurrent_add_set_keeps_both_keys() {
    let env = Env::new();
    let repo = env.init("m");
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(repo.join(".git/hfgit.lock")).unwrap();
    lock.try_lock().unwrap();
    let mut a = spawn(&mut env.hfgit_cmd(&repo, &["add", "--set", "a=1"]));
    let mut b = spawn(&mut env.hfgit_cmd(&repo, &["add", "--set", "b=2"]));
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.try_wait().unwrap().is_none() && b.try_wait().unwrap().is_none(), "add did not wait for the lock");
    assert!(!repo.join("config.json").exists());
    lock.unlock().unwrap();
    assert_exit(a, 0);
    assert_exit(b, 0);
    let cfg: serde_json::Value = serde_json::from_slice(&fs::read(repo.join("config.json")).unwrap()).unwrap();
    assert_eq!((cfg["a"].clone(), cfg["b"].clone()), (serde_json::json!(1), serde_json::json!(2)), "{cfg}");
    assert_eq!(temp_files_below(&repo, false), Vec::<String>::new());
}
