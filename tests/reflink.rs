//! One copy on disk on a copy-on-write filesystem: on a real XFS (reflink=1) made on a loop
//! device here, the store object and the work-tree file share extents after commit, checkout
//! and clone (FIEMAP, through `filefrag -v`, shows them shared; `df` grows by about one copy),
//! and rewriting the work-tree file in place, as a training script does, leaves the store
//! object intact (a clone, never a hard link). Needs root, a loop device and mkfs.xfs
//! (scripts/test.sh installs xfsprogs); without them the test fails.

mod common;
use common::*;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: usize = 1 << 20;

/// An XFS filesystem with reflink on a loop device, mounted at `dir`; unmounted on drop.
struct Xfs {
    dir: PathBuf,
}

impl Xfs {
    fn mount(env: &Env) -> Xfs {
        let image = env.path("xfs.img");
        let dir = env.path("xfs");
        fs::create_dir_all(&dir).unwrap();
        fs::File::create(&image).unwrap().set_len(512 * MIB as u64).unwrap();
        run("mkfs.xfs", &["-q", "-m", "reflink=1", image.to_str().unwrap()]);
        run("mount", &["-o", "loop", image.to_str().unwrap(), dir.to_str().unwrap()]);
        Xfs { dir }
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required for this test (scripts/test.sh installs xfsprogs): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Bytes used on the filesystem of `dir`, after writing back everything dirty.
fn used(dir: &Path) -> i64 {
    run("sync", &["-f", dir.to_str().unwrap()]);
    run("df", &["-B1", "--output=used", dir.to_str().unwrap()]).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Every extent of `path` is shared with another file (FIEMAP's FIEMAP_EXTENT_SHARED).
fn all_extents_shared(path: &Path) -> bool {
    run("sync", &["-f", path.to_str().unwrap()]);
    let out = run("filefrag", &["-v", path.to_str().unwrap()]);
    let extents: Vec<&str> =
        out.lines().filter(|l| l.trim_start().split(':').next().is_some_and(|n| n.trim().parse::<u64>().is_ok())).collect();
    !extents.is_empty() && extents.iter().all(|l| l.contains("shared"))
}

#[test]
fn commit_checkout_and_clone_share_extents_on_xfs() {
    let env = Env::new();
    let fs_ = Xfs::mount(&env);
    let repo = fs_.dir.join("repo");
    env.hfgit(&fs_.dir, &["init", "repo"]).ok();
    let (v1, v2) = (data(1, 64 * MIB), data(2, 64 * MIB));
    let weights = repo.join("pytorch_model.bin");
    fs::write(&weights, &v1).unwrap();
    let obj1 = object_path(&repo.join(".git"), &sha256_hex(&v1));

    // commit: the store object is a clone of the work-tree file
    let before = used(&fs_.dir);
    let out = env.hfgit(&repo, &["commit", "-m", "epoch 1", "--json"]).ok().json();
    assert_eq!(out["lfs_bytes_stored"], v1.len() as u64);
    assert_eq!(out["lfs_bytes_shared"], v1.len() as u64, "{out}");
    let grown = used(&fs_.dir) - before;
    assert!(grown < (8 * MIB) as i64, "commit of 64 MiB used {grown} bytes: the object was copied, not shared");
    assert!(all_extents_shared(&weights) && all_extents_shared(&obj1));
    assert_eq!(fs::read(&obj1).unwrap(), v1);

    // a training script rewrites the weights in place: the committed object must not change
    let mut f = fs::OpenOptions::new().write(true).open(&weights).unwrap();
    f.seek(SeekFrom::Start(MIB as u64)).unwrap();
    f.write_all(&v2[..MIB]).unwrap();
    drop(f);
    assert_eq!(fs::read(&obj1).unwrap(), v1, "the store object changed with the work-tree file");
    let fsck = env.hfgit(&repo, &["fsck", "--json"]).ok().json();
    assert_eq!(fsck["problems"].as_array().map(|a| a.len()), Some(0), "{fsck}");

    // a second epoch, then checkout of the first: the work-tree file is a clone of the object
    fs::write(&weights, &v2).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 2"]).ok();
    let before = used(&fs_.dir);
    let out = env.hfgit(&repo, &["checkout", "HEAD~1", "--json"]).ok().json();
    assert_eq!(out["shared_bytes"], v1.len() as u64, "{out}");
    assert_eq!(fs::read(&weights).unwrap(), v1);
    assert!(all_extents_shared(&weights));
    let grown = used(&fs_.dir) - before;
    assert!(grown < (8 * MIB) as i64, "checkout of 64 MiB used {grown} bytes");
    env.hfgit(&repo, &["checkout", "main"]).ok();

    // push to a bare remote and clone from it, all on the same filesystem: one copy in all
    env.hfgit(&repo, &["push", "../remote.git", "--create"]).ok();
    let before = used(&fs_.dir);
    let out = env.hfgit(&fs_.dir, &["clone", "remote.git", "copy", "--json"]).ok().json();
    assert_eq!(out["shared_bytes"], v2.len() as u64, "{out}");
    let cloned = fs_.dir.join("copy/pytorch_model.bin");
    assert_eq!(fs::read(&cloned).unwrap(), v2);
    assert!(all_extents_shared(&cloned));
    let grown = used(&fs_.dir) - before;
    assert!(grown < (8 * MIB) as i64, "clone of 64 MiB used {grown} bytes");
    assert_eq!(env.git(&fs_.dir.join("copy"), &["status", "--porcelain"]).ok().stdout, "");

    // pull of a third epoch into the clone
    let v3 = data(4, 64 * MIB);
    fs::write(&weights, &v3).unwrap();
    env.hfgit(&repo, &["commit", "-m", "epoch 3"]).ok();
    env.hfgit(&repo, &["push", "../remote.git"]).ok();
    let before = used(&fs_.dir);
    let out = env.hfgit(&fs_.dir.join("copy"), &["pull", "--json"]).ok().json();
    assert_eq!(out["shared_bytes"], v3.len() as u64, "{out}");
    assert_eq!(fs::read(&cloned).unwrap(), v3);
    assert!(all_extents_shared(&cloned));
    let grown = used(&fs_.dir) - before;
    assert!(grown < (8 * MIB) as i64, "pull of 64 MiB used {grown} bytes");
}

/// On a filesystem without reflink (the test's ext4/tmpfs temp dir), the same commands copy and
/// say so: no bytes are reported shared.
#[test]
fn add_on_xfs_clones_the_source_into_the_work_tree_and_the_store() {
    let env = Env::new();
    let fs_ = Xfs::mount(&env);
    env.hfgit(&fs_.dir, &["init", "repo"]).ok();
    let repo = fs_.dir.join("repo");
    let v = data(5, 64 * MIB);
    fs::write(fs_.dir.join("model.safetensors"), &v).unwrap();
    let before = used(&fs_.dir);
    env.hfgit(&repo, &["add", "../model.safetensors"]).ok();
    let grown = used(&fs_.dir) - before;
    assert!(grown < (8 * MIB) as i64, "add of 64 MiB used {grown} bytes: a copy was written, not shared");
    let (weights, obj) = (repo.join("model.safetensors"), object_path(&repo.join(".git"), &sha256_hex(&v)));
    assert!(all_extents_shared(&weights) && all_extents_shared(&obj));
    assert_eq!(fs::read(&obj).unwrap(), v);
    let out = env.hfgit(&repo, &["commit", "-m", "w", "--json"]).ok().json();
    assert!(out["bytes_hashed"].as_u64().unwrap() < MIB as u64, "commit read the weights again: {out}");
    assert_eq!(env.git(&repo, &["show", "HEAD:model.safetensors"]).ok().stdout, pointer_text(&v));
    // the clones are independent: a rewrite in place of the work-tree file leaves the object
    let mut f = fs::OpenOptions::new().write(true).open(&weights).unwrap();
    f.write_all(&data(6, MIB)).unwrap();
    drop(f);
    assert_eq!(fs::read(&obj).unwrap(), v);
}

#[test]
fn elsewhere_a_full_copy_is_made_and_nothing_is_reported_shared() {
    let env = Env::new();
    let probe = env.path("probe");
    fs::write(&probe, b"x").unwrap();
    let clone = Command::new("cp").args(["--reflink=always"]).arg(&probe).arg(env.path("probe2")).status().unwrap();
    assert!(!clone.success(), "this test needs a temp dir on a filesystem without reflink");
    let repo = env.init("r");
    let v1 = data(3, 3 * MIB);
    fs::write(repo.join("pytorch_model.bin"), &v1).unwrap();
    let out = env.hfgit(&repo, &["commit", "-m", "one", "--json"]).ok().json();
    assert_eq!(out["lfs_bytes_stored"], v1.len() as u64);
    assert_eq!(out["lfs_bytes_shared"], 0);
    assert_eq!(fs::read(object_path(&repo.join(".git"), &sha256_hex(&v1))).unwrap(), v1);
}
