//! The Hub's push rules, checked before anything is sent so its pre-receive rejection never
//! happens: files over 10 MiB (and binary files over 1 MiB) must be LFS pointers, an LFS file
//! may not exceed the Hub's per-file limit, and every pointer's object must be in the local store.
//! Where the Hub offers them, its own decisions are asked too ([`ask_the_hub`]): which files it
//! wants in LFS (`preupload`) and whether the model card's metadata passes (`validate-yaml`).

use crate::error::{Context, Error, Result};
use crate::lfs::pointer::{Pointer, MAX_POINTER_SIZE};
use crate::lfs::store::Store;
use crate::lfs::track;
use crate::repo::git;
use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use std::collections::HashSet;

const MAX_PLAIN: u64 = 10 * 1024 * 1024;
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
            } else if size > track::HUB_MAX_PLAIN_BINARY {
                if let Ok(obj) = odb.read(e.id()) {
                    if track::looks_binary(obj.data()) {
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

/// Asks the Hub what it would refuse in the commits `tips` add over `hide`, before any byte is
/// sent: plain (non-LFS) files it wants in LFS, and model-card metadata it rejects. Servers that
/// do not offer the endpoints leave the local rules of [`check`] as the only ones.
pub fn ask_the_hub(
    repo: &Repository,
    tips: &[git2::Oid],
    hide: &[git2::Oid],
    endpoint: &str,
    token: Option<&crate::net::credentials::Secret>,
    hub: &crate::hub::api::HubRepo,
    rev: &str,
) -> Result<()> {
    let odb = repo.odb().context("opening the object database")?;
    let mut plain: Vec<(String, Vec<u8>, u64)> = Vec::new();
    let mut seen = HashSet::new();
    let new: Vec<git2::Oid> = git::new_commits(repo, tips, hide)?.collect::<std::result::Result<_, _>>().context("walking history")?;
    for id in &new {
        let tree = repo.find_commit(*id).context("reading commit")?.tree().context("reading tree")?;
        tree.walk(TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() != Some(ObjectType::Blob) || e.filemode() == 0o120000 || !seen.insert(e.id()) {
                return TreeWalkResult::Ok;
            }
            if git::blob_pointer(repo, e.id()).is_some() {
                return TreeWalkResult::Ok; // already LFS
            }
            if let Ok(obj) = odb.read(e.id()) {
                let data = obj.data();
                plain.push((format!("{dir}{}", e.name().unwrap_or("?")), data[..data.len().min(512)].to_vec(), data.len() as u64));
            }
            TreeWalkResult::Ok
        })
        .context("walking tree")?;
    }
    let samples: Vec<crate::hub::api::Sample<'_>> =
        plain.iter().map(|(path, head, size)| crate::hub::api::Sample { path, head, size: *size }).collect();
    let mut problems = Vec::new();
    let mut wants_lfs = Vec::new();
    if !samples.is_empty() {
        if let Some(lfs) = crate::hub::api::preupload(endpoint, token, hub, rev, &samples)? {
            // only the paths that were asked about: the server's text never reaches the terminal
            // or a suggested .gitattributes line otherwise
            let asked: HashSet<&str> = samples.iter().map(|f| f.path).collect();
            for path in lfs.into_iter().filter(|p| asked.contains(p.as_str())) {
                problems.push(format!("{path}: the Hub stores this file through LFS, and it is committed as a plain file"));
                wants_lfs.push(path);
            }
        }
    }
    let readme = tips
        .first()
        .and_then(|head| repo.find_commit(*head).ok())
        .and_then(|c| c.tree().ok())
        .and_then(|t| t.get_path(std::path::Path::new("README.md")).ok());
    if let Some(blob) = readme.and_then(|e| repo.find_blob(e.id()).ok()) {
        let text = String::from_utf8_lossy(blob.content());
        if let Some(Some(yaml)) = crate::hub::model_card::front_matter(&text) {
            if let Some((errors, _warnings)) = crate::hub::api::validate_yaml(endpoint, token, hub, yaml)? {
                problems.extend(errors.into_iter().map(|m| format!("README.md metadata: {m}")));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut hint = String::new();
    if !wants_lfs.is_empty() {
        let rules: Vec<String> =
            wants_lfs.iter().map(|p| format!("{} filter=lfs diff=lfs merge=lfs -text", crate::lfs::track::exact_path_pattern(p))).collect();
        // the oldest unpushed commit that brought one of them in: going back to its parent (or
        // to no commit, for a root) lets the next commit store them through LFS
        let oldest = new.iter().rev().filter_map(|id| repo.find_commit(*id).ok()).find(|c| {
            let (Ok(tree), parent) = (c.tree(), c.parents().next().and_then(|p| p.tree().ok())) else { return false };
            wants_lfs.iter().any(|path| {
                let here = tree.get_path(std::path::Path::new(path)).ok().map(|e| e.id());
                here.is_some() && here != parent.as_ref().and_then(|t| t.get_path(std::path::Path::new(path)).ok()).map(|e| e.id())
            })
        });
        let reset = match oldest.as_ref().map(|c| c.parent_ids().next()) {
            Some(Some(p)) => format!("`git reset --soft {}`", &p.to_string()[..12]),
            Some(None) => "`git update-ref -d HEAD`".to_string(),
            None => "`git reset --soft <the commit before them>`".to_string(),
        };
        hint.push_str(&format!(
            "add to .gitattributes: {}; then make the unpushed commits again: {reset}, then `hfgit commit -m ...`",
            rules.join(" / ")
        ));
    }
    if problems.iter().any(|p| p.starts_with("README.md metadata")) {
        if !hint.is_empty() {
            hint.push_str("; ");
        }
        hint.push_str("fix the README.md front matter as the Hub says, then commit again");
    }
    Err(Error::with_hint(
        format!("the Hub would reject this push (it said so before any byte was sent):\n  {}", problems.join("\n  ")),
        hint,
    ))
}
