//! A sealed environment for running the real `hfgit` binary next to the real git and git-lfs:
//! temp HOME, no system git config, pinned identities and dates.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "command failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    pub fn fails(self) -> Run {
        assert_eq!(self.code, 1, "expected exit 1\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(self.stderr.contains("error:"), "no error: line in {}", self.stderr);
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// git-lfs must be installed: a missing tool fails the test, it never skips it.
pub mod lfs_server;
pub mod xet_cas;

pub fn require_git_lfs() {
    let ok = Command::new("git").args(["lfs", "version"]).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "git-lfs is required for this test (scripts/test.sh installs it)");
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        fs::create_dir_all(&home).unwrap();
        let env = Env { dir, home };
        env.git_global(&["config", "--global", "user.name", "Config User"]);
        env.git_global(&["config", "--global", "user.email", "config@example.com"]);
        env.git_global(&["config", "--global", "init.defaultBranch", "main"]);
        env.git_global(&["config", "--global", "protocol.file.allow", "always"]);
        env
    }

    /// An environment whose HOME has `git lfs install` run in it.
    pub fn with_git_lfs() -> Env {
        require_git_lfs();
        let env = Env::new();
        env.git_global(&["lfs", "install", "--skip-repo"]);
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn apply(&self, c: &mut Command) {
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_NAME", "Test Committer")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .env("LANG", "C");
    }

    /// Any program, in the sealed environment.
    pub fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut c = Command::new(program);
        self.apply(&mut c);
        c.current_dir(cwd);
        c
    }

    pub fn hfgit_cmd(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hfgit"));
        self.apply(&mut c);
        c.current_dir(cwd).args(args);
        c
    }

    pub fn hfgit(&self, cwd: &Path, args: &[&str]) -> Run {
        Run::from(self.hfgit_cmd(cwd, args).output().expect("run hfgit"))
    }

    pub fn git(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut c = Command::new("git");
        self.apply(&mut c);
        Run::from(c.current_dir(cwd).args(args).output().expect("run git"))
    }

    fn git_global(&self, args: &[&str]) {
        self.git(self.dir.path(), args).ok();
    }

    /// `hfgit init NAME` in the env root; returns the work tree.
    pub fn init(&self, name: &str) -> PathBuf {
        self.hfgit(self.dir.path(), &["init", name]).ok();
        self.path(name)
    }
}

/// Deterministic pseudo-random bytes (xorshift), so test data is reproducible.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

pub fn pointer_text(content: &[u8]) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n", sha256_hex(content), content.len())
}

pub fn object_path(git_dir: &Path, oid: &str) -> PathBuf {
    git_dir.join("lfs/objects").join(&oid[..2]).join(&oid[2..4]).join(oid)
}

/// Every file below `root` (relative path → bytes), `.git` excluded.
pub fn snapshot(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(root).into_iter().filter_entry(|e| e.file_name() != ".git") {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.insert(e.path().strip_prefix(root).unwrap().display().to_string(), fs::read(e.path()).unwrap());
        }
    }
    out
}

/// Starts `cmd`, kills it with SIGKILL after `delay`, returns whether it had already finished
/// successfully.
pub fn run_and_kill(cmd: Command, delay: std::time::Duration) -> bool {
    run_and_kill_telling(cmd, delay).0
}

/// [`run_and_kill`], and the stderr of a run that ended by itself with a failure (not killed).
pub fn run_and_kill_telling(mut cmd: Command, delay: std::time::Duration) -> (bool, Option<String>) {
    let err = tempfile::NamedTempFile::new().unwrap();
    cmd.stdout(std::process::Stdio::null()).stderr(err.reopen().unwrap());
    let mut child = cmd.spawn().unwrap();
    let failed_itself = |status: std::process::ExitStatus| {
        use std::os::unix::process::ExitStatusExt;
        (!status.success() && status.signal().is_none()).then(|| fs::read_to_string(err.path()).unwrap_or_default())
    };
    // until the delay is up, or sooner when the command ends by itself
    let end = std::time::Instant::now() + delay;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.success(), failed_itself(status));
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(5)));
    }
    child.kill().unwrap(); // SIGKILL
                           // it may have finished on its own between try_wait and kill
    let status = child.wait().unwrap();
    (status.success(), failed_itself(status))
}

/// Runs `make()` again and again, killing it (SIGKILL) after a delay that starts at 0 and grows
/// (by `step_ms`, then by 5 %: many early kill points, yet a loaded machine still reaches a run
/// long enough to finish), calling `after_each` after every run, until one run completes.
/// Fails if that takes `max_kills` kills, if fewer than 3 kills happened, or at once when five
/// runs in a row fail by themselves (what a kill left stops every later run: the failure says
/// what it was); returns the kills.
pub fn kill_until_done(mut make: impl FnMut() -> Command, step_ms: u64, max_kills: usize, mut after_each: impl FnMut()) -> usize {
    let mut kills = 0;
    let mut delay_ms = 0u64;
    let mut own_failures = 0;
    let mut last_failure = None;
    loop {
        let (done, failed) = run_and_kill_telling(make(), std::time::Duration::from_millis(delay_ms));
        after_each();
        if done {
            break;
        }
        match failed {
            Some(e) => {
                own_failures += 1;
                assert!(own_failures < 5, "after {kills} kills, five runs in a row failed by themselves; the last said:\n{e}");
                last_failure = Some(e);
            }
            None => own_failures = 0,
        }
        kills += 1;
        delay_ms = (delay_ms + step_ms).max(delay_ms * 21 / 20);
        assert!(kills < max_kills, "the command never completed in {max_kills} runs (last failure of its own: {last_failure:?})");
    }
    assert!(kills >= 3, "the command was interrupted only {kills} times");
    kills
}

/// Removes the lock files a SIGKILL inside libgit2 can leave in `work_tree`'s `.git` (the
/// index, HEAD, ORIG_HEAD and any ref being moved), exactly as a killed git leaves them: hfgit
/// then stops and names the file (see `a_stale_git_lock_file_is_named_with_what_to_do`), and
/// the user removes it. For kill loops, between runs.
pub fn remove_git_locks(work_tree: &Path) {
    let git = work_tree.join(".git");
    for f in ["index.lock", "HEAD.lock", "ORIG_HEAD.lock"] {
        let _ = fs::remove_file(git.join(f));
    }
    for e in walkdir::WalkDir::new(git.join("refs")).into_iter().flatten() {
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "lock") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// `git rev-parse HEAD` in `repo`.
pub fn head(env: &Env, repo: &Path) -> String {
    env.git(repo, &["rev-parse", "HEAD"]).ok().stdout.trim().to_string()
}

/// A repository `m` with three epochs of weights (and config.json) committed on main; returns
/// the work tree, the weights and the commits, oldest first.
pub fn three_epochs(env: &Env) -> (PathBuf, Vec<Vec<u8>>, Vec<String>) {
    let repo = env.init("m");
    let mut weights = Vec::new();
    let mut commits = Vec::new();
    for epoch in 1..=3u64 {
        let w = data(epoch * 10, 300_000);
        fs::write(repo.join("pytorch_model.bin"), &w).unwrap();
        fs::write(repo.join("config.json"), format!("{{\"epoch\": {epoch}}}\n")).unwrap();
        env.hfgit(&repo, &["commit", "-m", &format!("epoch {epoch}")]).ok();
        weights.push(w);
        commits.push(head(env, &repo));
    }
    (repo, weights, commits)
}

/// Runs `cmd` to its end; returns what it printed and its peak resident set in MiB. The count
/// comes from /usr/bin/time (GNU time, wait4's rusage), a small process in between: a child
/// forked straight from the test process would carry the test's own resident set in its
/// account, since the kernel keeps the high-water mark from before the exec.
pub fn run_peak_rss(cmd: Command) -> (Run, f64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut t = Command::new("/usr/bin/time");
    t.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            t.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        t.current_dir(d);
    }
    t.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(cmd.get_program()).args(cmd.get_args());
    let r = Run::from(t.output().expect("run /usr/bin/time (GNU time; scripts/test.sh installs it)"));
    let text = fs::read_to_string(report.path()).unwrap();
    let kib: f64 =
        text.trim().lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no peak RSS from time: {text}"));
    (r, kib / 1024.0)
}

/// Writes `len` pseudo-random bytes (as [`data`]) to `path` a MiB at a time; returns their SHA-256.
pub fn write_data(path: &Path, seed: u64, len: usize) -> String {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut h = Sha256::new();
    let mut left = len;
    let mut i = 0;
    while left > 0 {
        let piece = data(seed.wrapping_mul(1_000_003).wrapping_add(i), left.min(1 << 20));
        h.update(&piece);
        f.write_all(&piece).unwrap();
        left -= piece.len();
        i += 1;
    }
    f.flush().unwrap();
    format!("{:x}", h.finalize())
}
