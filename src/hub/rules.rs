//! The Hub's push rules, checked before anything is sent so its pre-receive rejection never
//! happens: files over 10 MiB (and binary files over 1 MiB) must be LFS pointers, an LFS file
//! may not exceed the Hub's per-file limit, and every pointer's object must be in the local store.

use crate::error::{Context, Error, Result};
use crate::lfs::pointer::{Pointer, MAX_POINTER_SIZE};
use crate::lfs::store::Store;
use crate::repo::git;
use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use std::collections::HashSet;

const MAX_PLAIN: u64 = 10 * 1024 * 1024;
const MAX_PLAIN_BINARY: u64 = 1024 * 1024;
/// The Hub's hard limit per file (hub-docs storage-limits: 500 GB).
const MAX_LFS: u64 = 500_000_000_000;

pub fn check(repo: &Repository, tips: &[git2::Oid], hide: &[git2::Oid], needed: &[(String, Pointer)], local: &Store) -> Result<()> {
    let mut problems = Vec::new();
    let walk = git::new_commits(repo, tips, hide)?;
    let odb = repo.odb().context("opening the object database")?;
    let mut seen = HashSet::new();
    for id in walk {
        let tree = repo.find_commit(id.context("walking history")?).context("reading commit")?.tree().context("reading tree")?;
        tree.walk(TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() != Some(ObjectType::Blob) || e.filemode() == 0o120000 || !seen.insert(e.id()) {
                return TreeWalkResult::Ok;
            }
            let Ok((size, _)) = odb.read_header(e.id()) else { return TreeWalkResult::Ok };
            let size = size as u64;
            let path = format!("{dir}{}", e.name().unwrap_or("?"));
            if size < MAX_POINTER_SIZE {
                return TreeWalkResult::Ok;
            }
            if size > MAX_PLAIN {
                problems.push(format!("{path}: {size} bytes, not stored in LFS (the Hub refuses plain files over 10 MiB)"));
            } else if size > MAX_PLAIN_BINARY {
                if let Ok(obj) = odb.read(e.id()) {
                    if obj.data().iter().take(8000).any(|b| *b == 0) {
                        problems.push(format!(
                            "{path}: binary file of {size} bytes, not stored in LFS (the Hub refuses binary files over 1 MiB)"
                        ));
                    }
                }
            }
            TreeWalkResult::Ok
        })
        .context("walking tree")?;
    }
    for (path, p) in needed {
        if p.size > MAX_LFS {
            problems.push(format!("{path}: {} bytes, over the Hub's limit of 500 GB per file", p.size));
        } else if !local.contains(p) {
            problems.push(format!("{path}: its LFS object sha256:{} is not in the local store", p.oid));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::with_hint(
        format!("the Hub would reject this push:\n  {}", problems.join("\n  ")),
        "store large files through LFS (`git config hfgit.lfsThreshold 1m`, or add a `filter=lfs` rule to .gitattributes), commit again (amend or reset the commits that added them), and restore missing objects with `hfgit pull` or by re-adding the files",
    ))
}
