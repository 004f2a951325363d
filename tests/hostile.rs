//! Hostile repositories: trees written with git plumbing (names git would never accept from a
//! work tree) that try to escape the clone directory, plant files in `.git`, or write through a
//! symlink. `hfgit clone` and `hfgit pull` must refuse each one by path and commit, with nothing
//! written outside the clone and nothing planted in `.git`, and must refuse at least whatever
//! the real git refuses.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

const FSMONITOR: &str = "[core]\n\tfsmonitor = echo PWNED\n";
/// Ways an error message may spell `.g<U+200C>it`.
const ZWNJ: &[&str] = &[".g\u{200c}it", "\\u{200c}", "\\u200c", "\\u200C", "\\xe2\\x80\\x8c", "\\342\\200\\214"];

/// A tree entry to write, as is: no name checks, duplicates allowed.
enum Node {
    Blob {
        name: String,
        mode: &'static str,
        content: Vec<u8>,
    },
    Link {
        name: String,
        target: String,
    },
    /// An LFS pointer blob; the object goes into the bare remote's LFS store.
    Lfs {
        name: String,
        content: Vec<u8>,
    },
    Tree {
        name: String,
        children: Vec<Node>,
    },
}

fn blob(name: &str, content: impl AsRef<[u8]>) -> Node {
    Node::Blob { name: name.into(), mode: "100644", content: content.as_ref().to_vec() }
}
fn exe(name: &str, content: impl AsRef<[u8]>) -> Node {
    Node::Blob { name: name.into(), mode: "100755", content: content.as_ref().to_vec() }
}
fn link(name: &str, target: &str) -> Node {
    Node::Link { name: name.into(), target: target.into() }
}
fn lfs(name: &str, content: impl AsRef<[u8]>) -> Node {
    Node::Lfs { name: name.into(), content: content.as_ref().to_vec() }
}
fn tree(name: &str, children: Vec<Node>) -> Node {
    Node::Tree { name: name.into(), children }
}

/// git with `input` on stdin; its trimmed stdout.
fn git_in(env: &Env, dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut c = env.command("git", dir);
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("run git");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// Writes a tree object from (mode, name, sha) entries exactly as given, in git's order (a tree
/// sorts as if its name ended in `/`; equal names keep their order), and checks that
/// `git ls-tree` lists exactly those entries.
fn raw_tree(env: &Env, git_dir: &Path, entries: &[(&'static str, Vec<u8>, String)]) -> String {
    let key = |(mode, name, _): &(&'static str, Vec<u8>, String)| {
        let mut k = name.clone();
        if *mode == "40000" {
            k.push(b'/');
        }
        k
    };
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(key);
    let mut payload = Vec::new();
    for (mode, name, sha) in &sorted {
        payload.extend_from_slice(mode.as_bytes());
        payload.push(b' ');
        payload.extend_from_slice(name);
        payload.push(0);
        payload.extend(hex_bytes(sha));
    }
    let id = git_in(env, git_dir, &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], &payload);
    let ls = env.git(git_dir, &["ls-tree", "-z", &id]).ok().stdout;
    let got: Vec<(String, String, String)> = ls
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (meta, name) = l.split_once('\t').unwrap();
            let f: Vec<&str> = meta.split(' ').collect();
            (f[0].trim_start_matches('0').to_string(), name.to_string(), f[2].to_string())
        })
        .collect();
    let want: Vec<(String, String, String)> =
        sorted.iter().map(|(m, n, s)| (m.to_string(), String::from_utf8(n.clone()).unwrap(), s.clone())).collect();
    assert_eq!(got, want, "git ls-tree does not list tree {id} as it was built");
    id
}

fn write_blob(env: &Env, git_dir: &Path, content: &[u8]) -> String {
    git_in(env, git_dir, &["hash-object", "-w", "--stdin"], content)
}

/// Writes `nodes` (recursively) into the bare repository; the root tree's id.
fn write_tree(env: &Env, bare: &Path, nodes: &[Node]) -> String {
    let entries: Vec<(&'static str, Vec<u8>, String)> = nodes
        .iter()
        .map(|n| match n {
            Node::Blob { name, mode, content } => (*mode, name.as_bytes().to_vec(), write_blob(env, bare, content)),
            Node::Link { name, target } => ("120000", name.as_bytes().to_vec(), write_blob(env, bare, target.as_bytes())),
            Node::Lfs { name, content } => {
                let obj = object_path(bare, &sha256_hex(content));
                fs::create_dir_all(obj.parent().unwrap()).unwrap();
                fs::write(&obj, content).unwrap();
                ("100644", name.as_bytes().to_vec(), write_blob(env, bare, pointer_text(content).as_bytes()))
            }
            Node::Tree { name, children } => ("40000", name.as_bytes().to_vec(), write_tree(env, bare, children)),
        })
        .collect();
    raw_tree(env, bare, &entries)
}

fn commit(env: &Env, bare: &Path, tree: &str, parent: Option<&str>, msg: &str) -> String {
    let mut args = vec!["commit-tree", tree, "-m", msg];
    if let Some(p) = parent {
        args.extend(["-p", p]);
    }
    env.git(bare, &args).ok().stdout.trim().to_string()
}

fn set_main(env: &Env, bare: &Path, id: &str) {
    env.git(bare, &["update-ref", "refs/heads/main", id]).ok();
}

/// Everything below `root` but the top-level names in `skip`: path → kind, mode and content
/// hash, or symlink target. Symlinks are listed, not followed.
fn listing(root: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root).min_depth(1).into_iter();
    for e in walk.filter_entry(|e| !(e.depth() == 1 && skip.iter().any(|s| e.file_name() == *s))) {
        let e = e.unwrap();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let what = if meta.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(e.path()).unwrap().display())
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else {
            format!("file {mode:o} {}", sha256_hex(&fs::read(e.path()).unwrap()))
        };
        out.insert(e.path().strip_prefix(root).unwrap().display().to_string(), what);
    }
    out
}

fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in after {
        match before.get(k) {
            None => out.push(format!("+ {k} ({v})")),
            Some(b) if b != v => out.push(format!("~ {k} ({b} -> {v})")),
            _ => {}
        }
    }
    out.extend(before.keys().filter(|k| !after.contains_key(*k)).map(|k| format!("- {k}")));
    out
}

/// Anything in the clone that looks planted: in `.git` a file named `x`, `pre-commit` or
/// `file`; anywhere (but in object stores, whose content is compressed or legitimately LFS) a
/// file whose content carries the PWNED marker.
fn planted(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let skip = |e: &walkdir::DirEntry| {
        e.depth() == 2
            && e.path().parent().unwrap().file_name().unwrap() == ".git"
            && matches!(e.file_name().to_str(), Some("objects" | "lfs"))
    };
    for e in walkdir::WalkDir::new(dir).into_iter().filter_entry(|e| !skip(e)) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
        let name = e.file_name().to_string_lossy();
        if rel.starts_with(".git/") && matches!(name.as_ref(), "x" | "pre-commit" | "file") {
            out.push(format!("planted {rel}"));
        }
        if e.file_type().is_file() && fs::read(e.path()).unwrap().windows(5).any(|w| w == b"PWNED") {
            out.push(format!("{rel} holds a PWNED payload"));
        }
    }
    out
}

/// The full id, or a run of 7+ hex digits that starts it, appears in `text`.
fn names_commit(text: &str, id: &str) -> bool {
    text.contains(id) || text.split(|c: char| !c.is_ascii_hexdigit()).any(|run| run.len() >= 7 && id.starts_with(run))
}

/// Why `r` is not a proper refusal (exit 1, `error:`, the path, the commit).
fn refusal(what: &str, r: &Run, needles: &[&str], commit: &str) -> Vec<String> {
    let mut out = Vec::new();
    if r.code != 1 {
        out.push(format!("{what}: exit {} (expected 1)", r.code));
    }
    if r.code != 0 {
        if !r.stderr.contains("error:") {
            out.push(format!("{what}: no `error:` on stderr"));
        }
        if !needles.iter().any(|n| r.stderr.contains(n)) {
            out.push(format!("{what}: the error does not name the path (any of {needles:?})"));
        }
        if !names_commit(&r.stderr, commit) {
            out.push(format!("{what}: the error does not name commit {commit}"));
        }
        if !out.is_empty() {
            out.push(format!("{what} stderr: {}", r.stderr.trim()));
        }
    }
    out
}

/// `rel` is a regular file with `content`, reached through real directories only.
fn real_file(root: &Path, rel: &str, content: &str) -> Result<(), String> {
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
        let m = fs::symlink_metadata(&p).map_err(|e| format!("{rel}: {e}"))?;
        if m.file_type().is_symlink() {
            return Err(format!("{} is still a symlink", p.display()));
        }
    }
    match fs::read_to_string(&p) {
        Ok(c) if c == content => Ok(()),
        other => Err(format!("{rel} holds {other:?}")),
    }
}

struct Case {
    /// Must clone and pull of commit 2 be refused? (Otherwise each may succeed, safely.)
    hostile: bool,
    /// The refusal names the path: one of these appears in it.
    needles: Vec<&'static str>,
    c1: Vec<Node>,
    c2: Vec<Node>,
    /// For a case that is not hostile: what a successful clone or pull of commit 2 leaves.
    expect: Option<(&'static str, &'static str)>,
}

fn base() -> Vec<Node> {
    vec![blob("README.md", "benign commit 1\n")]
}

/// Commit 1 is benign; commit 2 adds `nodes` to it.
fn attack(needles: &[&'static str], nodes: Vec<Node>) -> Case {
    let mut c2 = base();
    c2.extend(nodes);
    Case { hostile: true, needles: needles.to_vec(), c1: base(), c2, expect: None }
}

/// Commit 1 has `link -> outside`; commit 2 is the benign file plus `nodes`.
fn across(outside: &str, hostile: bool, nodes: Vec<Node>) -> Case {
    let mut c1 = base();
    c1.push(link("link", outside));
    let mut c2 = base();
    c2.extend(nodes);
    Case { hostile, needles: vec!["link"], c1, c2, expect: None }
}

/// A fresh environment with `outside/keep.txt` and `remote.git` holding commit 1 and its child
/// commit 2; `main` points at commit 2.
fn setup(build: &dyn Fn(&str, &str) -> Case, name: &str) -> (Env, Case, String, String) {
    let env = Env::new();
    let outside = env.path("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep.txt"), "outside, untouched\n").unwrap();
    env.git(env.dir.path(), &["init", "-q", "--bare", "remote.git"]).ok();
    let bare = env.path("remote.git");
    let case = build(outside.to_str().unwrap(), &format!("PWNED-{name}\n"));
    let t1 = write_tree(&env, &bare, &case.c1);
    let c1 = commit(&env, &bare, &t1, None, "benign");
    let t2 = write_tree(&env, &bare, &case.c2);
    let c2 = commit(&env, &bare, &t2, Some(&c1), "hostile");
    set_main(&env, &bare, &c2);
    (env, case, c1, c2)
}

/// Clone, pull and the real git's verdict for one case; every problem found is reported at once.
fn run_case(name: &str, build: &dyn Fn(&str, &str) -> Case) {
    let mut problems = Vec::new();

    // (1) hfgit clone of commit 2
    let (env, case, _, c2) = setup(build, name);
    let root = env.dir.path();
    let before = listing(root, &["hf"]);
    let clone = env.hfgit(root, &["clone", "remote.git", "hf"]);
    problems.extend(changes(&before, &listing(root, &["hf"])).into_iter().map(|c| format!("clone changed outside the clone: {c}")));
    problems.extend(planted(&env.path("hf")).into_iter().map(|p| format!("clone: {p}")));
    if case.hostile {
        problems.extend(refusal("clone", &clone, &case.needles, &c2));
    } else if clone.code != 0 {
        problems.push(format!("clone of a benign commit 2 failed: {}", clone.stderr.trim()));
    } else if let Some((rel, content)) = case.expect {
        problems.extend(real_file(&env.path("hf"), rel, content).err().map(|e| format!("clone: {e}")));
    }

    // (2) hfgit clone of commit 1, then pull of commit 2
    let (env, case, c1, c2) = setup(build, name);
    let (root, bare, dir) = (env.dir.path(), env.path("remote.git"), env.path("hf"));
    set_main(&env, &bare, &c1);
    let first = env.hfgit(root, &["clone", "remote.git", "hf"]);
    let pull = if first.code != 0 {
        problems.push(format!("clone of benign commit 1 failed: {}", first.stderr.trim()));
        None
    } else {
        set_main(&env, &bare, &c2);
        let (before, tree_before) = (listing(root, &["hf"]), listing(&dir, &[".git"]));
        let pull = env.hfgit(&dir, &["pull"]);
        problems.extend(changes(&before, &listing(root, &["hf"])).into_iter().map(|c| format!("pull changed outside the clone: {c}")));
        problems.extend(planted(&dir).into_iter().map(|p| format!("pull: {p}")));
        let head = env.git(&dir, &["rev-parse", "HEAD"]).stdout.trim().to_string();
        if case.hostile {
            problems.extend(refusal("pull", &pull, &case.needles, &c2));
            problems
                .extend(changes(&tree_before, &listing(&dir, &[".git"])).into_iter().map(|c| format!("pull changed the work tree: {c}")));
            if head != c1 {
                problems.push(format!("pull moved HEAD to {head:?}"));
            }
        } else if pull.code == 0 {
            problems.extend(case.expect.and_then(|(rel, content)| real_file(&dir, rel, content).err()).map(|e| format!("pull: {e}")));
        }
        Some(pull.code)
    };

    // (3) the real git on the same repository: clone of commit 2; clone of commit 1, pull of 2
    let (env, _, c1, c2) = setup(build, name);
    let (root, bare) = (env.dir.path(), env.path("remote.git"));
    let protect = ["-c", "core.protectNTFS=true", "-c", "core.protectHFS=true"];
    let real_git = |cwd: &Path, args: &[&str]| env.git(cwd, &[&protect[..], args].concat());
    let before = listing(root, &["g"]);
    let git_clone = real_git(root, &["clone", "-q", "--no-local", "remote.git", "g"]);
    let mut git_outside = changes(&before, &listing(root, &["g", "g1"]));
    let git_left: Vec<String> =
        listing(&env.path("g"), &[".git"]).into_iter().map(|(k, v)| if v.starts_with("link") { format!("{k} {v}") } else { k }).collect();
    set_main(&env, &bare, &c1);
    let git_pull = match real_git(root, &["clone", "-q", "--no-local", "remote.git", "g1"]).code {
        0 => {
            set_main(&env, &bare, &c2);
            let before = listing(root, &["g", "g1"]);
            let r = real_git(&env.path("g1"), &["pull", "-q", "--ff-only"]);
            git_outside.extend(changes(&before, &listing(root, &["g", "g1"])));
            Some(r)
        }
        _ => None,
    };
    let verdict = |code: Option<i32>| match code {
        Some(0) => "accepts".to_string(),
        Some(c) => format!("refuses (exit {c})"),
        None => "n/a (commit 1 did not clone)".to_string(),
    };
    let git_pull_code = git_pull.as_ref().map(|r| r.code);
    let report = format!(
        "{name}: real git clone {} (work tree {git_left:?}), pull {}{}; hfgit clone {}, pull {}",
        verdict(Some(git_clone.code)),
        verdict(git_pull_code),
        if git_outside.is_empty() { String::new() } else { format!(" (git wrote outside: {git_outside:?})") },
        verdict(Some(clone.code)),
        verdict(pull),
    );
    eprintln!("{report}");
    if git_clone.code != 0 && clone.code == 0 {
        problems.push(format!("the real git refuses to clone commit 2 ({}) but hfgit clones it", git_clone.stderr.trim()));
    }
    if let (Some(g), Some(0)) = (&git_pull, pull) {
        if g.code != 0 {
            problems.push(format!("the real git refuses the pull ({}) but hfgit pulls", g.stderr.trim()));
        }
    }
    assert!(problems.is_empty(), "{report}\n  {}", problems.join("\n  "));
}

macro_rules! hostile {
    ($($(#[$doc:meta])* $name:ident($o:ident, $p:ident) = $case:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        #[allow(unused_variables)]
        fn $name() {
            run_case(stringify!($name), &|$o: &str, $p: &str| $case)
        }
    )*};
}

hostile! {
    /// `../x` as a single name: the file would land next to the clone.
    dotdot_in_a_name(o, p) = attack(&["../x"], vec![blob("../x", p)]);
    /// A tree named `..` holding `x`.
    dotdot_tree(o, p) = attack(&[".."], vec![tree("..", vec![blob("x", p)])]);
    /// A name with slashes that climbs out: `sub/../../x`.
    slashes_climbing_out(o, p) = attack(&["sub/../../x"], vec![blob("sub/../../x", p)]);
    /// A `.git` tree planting a hook and a config that runs a command.
    dotgit_hook_and_config(o, p) = attack(&[".git"], vec![tree(".git", vec![
        blob("config", FSMONITOR),
        tree("hooks", vec![exe("pre-commit", format!("#!/bin/sh\necho {p}"))]),
    ])]);
    /// `.GIT` is `.git` on case-insensitive file systems.
    dotgit_uppercase(o, p) = attack(&[".GIT"], vec![tree(".GIT", vec![blob("config", FSMONITOR)])]);
    /// `.git.` is `.git` on NTFS.
    dotgit_trailing_dot(o, p) = attack(&[".git."], vec![tree(".git.", vec![blob("x", p)])]);
    /// `.git ` is `.git` on NTFS.
    dotgit_trailing_space(o, p) = attack(&[".git "], vec![tree(".git ", vec![blob("config", FSMONITOR)])]);
    /// `git~1` is the 8.3 short name of `.git` on NTFS.
    dotgit_ntfs_short_name(o, p) = attack(&["git~1"], vec![tree("git~1", vec![blob("config", FSMONITOR)])]);
    /// HFS+ ignores U+200C ZERO WIDTH NON-JOINER: `.g\u{200c}it` is `.git`.
    dotgit_hfs_ignorable(o, p) = attack(ZWNJ, vec![tree(".g\u{200c}it", vec![blob("config", FSMONITOR)])]);
    /// `link -> outside` and `link/file` (a name with a slash) in one tree.
    symlink_and_path_through_it(o, p) = attack(&["link"], vec![link("link", o), blob("link/file", p)]);
    /// The same, `link/file` an LFS file whose object the remote has.
    symlink_and_lfs_path_through_it(o, p) = attack(&["link"], vec![link("link", o), lfs("link/file", p)]);
    /// `link -> outside` and a tree also named `link` holding `file`.
    symlink_and_tree_of_the_same_name(o, p) = attack(&["link"], vec![link("link", o), tree("link", vec![blob("file", p)])]);
    /// The same with `file` an LFS file.
    symlink_and_tree_of_the_same_name_lfs(o, p) = attack(&["link"], vec![link("link", o), tree("link", vec![lfs("file", p)])]);
    /// Two blobs named `dup.txt` in one tree.
    duplicate_names(o, p) = attack(&["dup.txt"], vec![blob("dup.txt", p), blob("dup.txt", format!("{p}again\n"))]);
    /// A file and a directory both named `same`.
    file_and_directory_of_the_same_name(o, p) = attack(&["same"], vec![blob("same", p), tree("same", vec![blob("file", p)])]);
    /// `.gitmodules` as a symlink to a file outside.
    gitmodules_symlink(o, p) = attack(&[".gitmodules"], vec![link(".gitmodules", &format!("{o}/keep.txt"))]);
    /// Commit 1: `link -> outside`; commit 2 replaces it by a real directory: fine if done
    /// safely (the symlink removed first), never a write through the link.
    symlink_replaced_by_a_directory(o, p) = Case {
        expect: Some(("link/file", "inside\n")),
        ..across(o, false, vec![tree("link", vec![blob("file", "inside\n")])])
    };
    /// Commit 1: `link -> outside`; commit 2 keeps it and adds a tree `link` holding `file`:
    /// the symlink is unchanged, so only `link/file` is new.
    symlink_kept_and_tree_added(o, p) = across(o, true, vec![link("link", o), tree("link", vec![blob("file", p)])]);
    /// The same with `file` an LFS file.
    symlink_kept_and_lfs_tree_added(o, p) = across(o, true, vec![link("link", o), tree("link", vec![lfs("file", p)])]);
    /// Commit 1: `link -> outside`; commit 2 keeps it and adds the name `link/file`.
    symlink_kept_and_path_through_it_added(o, p) = across(o, true, vec![link("link", o), blob("link/file", p)]);
}

/// The tree builder writes what git itself would for sane entries, and exactly the entries
/// asked for (order, modes, odd names, duplicates) for the others.
#[test]
fn raw_trees_are_what_git_lists() {
    let env = Env::new();
    env.git(env.dir.path(), &["init", "-q", "--bare", "t.git"]).ok();
    let bare = env.path("t.git");
    let b = write_blob(&env, &bare, b"x\n");
    let b2 = write_blob(&env, &bare, b"y\n");
    let sub = raw_tree(&env, &bare, &[("100644", b"f".to_vec(), b.clone())]);
    let sane = [
        ("100644", b"b".to_vec(), b.clone()),
        ("40000", b"a".to_vec(), sub.clone()),
        ("100755", b"a.txt".to_vec(), b.clone()),
        ("120000", b"l".to_vec(), b.clone()),
    ];
    let mktree_input: String = sane
        .iter()
        .map(|(m, n, s)| format!("{m:0>6} {} {s}\t{}\n", if *m == "40000" { "tree" } else { "blob" }, String::from_utf8_lossy(n)))
        .collect();
    let by_git = git_in(&env, &bare, &["mktree"], mktree_input.as_bytes());
    assert_eq!(raw_tree(&env, &bare, &sane), by_git, "same bytes as git mktree");
    // names git refuses, each listed back as built (raw_tree checks `git ls-tree`)
    let hostile = [
        ("100644", b"../x".to_vec(), b.clone()),
        ("40000", b"..".to_vec(), sub.clone()),
        ("40000", b".git".to_vec(), sub.clone()),
        ("100644", b"sub/../../x".to_vec(), b.clone()),
        ("100644", b"dup".to_vec(), b.clone()),
        ("100644", b"dup".to_vec(), b2.clone()),
        ("120000", b"link".to_vec(), b.clone()),
        ("40000", b"link".to_vec(), sub.clone()),
        ("40000", ".g\u{200c}it".as_bytes().to_vec(), sub.clone()),
    ];
    let id = raw_tree(&env, &bare, &hostile);
    let ls = env.git(&bare, &["ls-tree", "-r", "--name-only", "-z", &id]).ok().stdout;
    let names: Vec<&str> = ls.split('\0').filter(|s| !s.is_empty()).collect();
    assert_eq!(names, ["../f", "../x", ".git/f", ".g\u{200c}it/f", "dup", "dup", "link", "link/f", "sub/../../x"], "recursive listing");
    // git's own checker sees the same hostile entries
    let commit = commit(&env, &bare, &id, None, "t");
    set_main(&env, &bare, &commit);
    let fsck = env.git(&bare, &["fsck", "--no-dangling"]);
    for want in ["duplicateEntries", "hasDotdot", "hasDotgit", "fullPathname"] {
        assert!(fsck.stderr.contains(want) || fsck.stdout.contains(want), "git fsck does not report {want}: {}", fsck.stderr);
    }
}

/// The safe control: commit 1 has `d -> elsewhere` (inside the repository), commit 2 makes `d`
/// a real directory. Clone and pull succeed, `d` becomes a directory with its files, and
/// nothing reaches the symlink's old target.
#[test]
fn a_symlink_replaced_by_a_directory_is_pulled() {
    let env = Env::new();
    env.git(env.dir.path(), &["init", "-q", "--bare", "remote.git"]).ok();
    let bare = env.path("remote.git");
    let weights = data(7, 3000);
    let elsewhere = || tree("elsewhere", vec![blob("keep.txt", "kept\n")]);
    let t1 = write_tree(&env, &bare, &[blob("README.md", "control\n"), link("d", "elsewhere"), elsewhere()]);
    let c1 = commit(&env, &bare, &t1, None, "symlink");
    let t2 = write_tree(
        &env,
        &bare,
        &[blob("README.md", "control\n"), tree("d", vec![blob("f", "f in d\n"), lfs("g.bin", &weights)]), elsewhere()],
    );
    let c2 = commit(&env, &bare, &t2, Some(&c1), "directory");
    set_main(&env, &bare, &c1);
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c"]).ok();
    let c = env.path("c");
    assert_eq!(fs::read_link(c.join("d")).unwrap(), Path::new("elsewhere"));
    let target = listing(&c.join("elsewhere"), &[]);
    set_main(&env, &bare, &c2);
    let outside = listing(env.dir.path(), &["c"]);
    env.hfgit(&c, &["pull"]).ok();
    let d = fs::symlink_metadata(c.join("d")).unwrap();
    assert!(d.is_dir() && !d.file_type().is_symlink(), "d is not a real directory");
    assert_eq!(fs::read_to_string(c.join("d/f")).unwrap(), "f in d\n");
    assert_eq!(fs::read(c.join("d/g.bin")).unwrap(), weights);
    assert_eq!(listing(&c.join("elsewhere"), &[]), target, "the old symlink target changed");
    assert_eq!(changes(&outside, &listing(env.dir.path(), &["c"])), Vec::<String>::new());
    assert_eq!(env.git(&c, &["rev-parse", "HEAD"]).ok().stdout.trim(), c2);
    assert_eq!(env.git(&c, &["status", "--porcelain"]).ok().stdout, "");
    // a fresh clone of commit 2 agrees
    env.hfgit(env.dir.path(), &["clone", "remote.git", "c2"]).ok();
    assert_eq!(snapshot(&env.path("c2")), snapshot(&c));
}
