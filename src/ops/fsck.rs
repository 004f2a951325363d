//! `hfgit fsck`: every LFS object referenced by HEAD (or all history) is in the local store and
//! hashes to its oid; non-canonical pointers are reported too.

use crate::error::{Context, Result};
use crate::lfs::oid::Oid;
use crate::lfs::pointer::Pointer;
use crate::lfs::store::{ObjectState, Store};
use crate::progress::Progress;
use crate::repo::git;
use git2::Repository;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub oid: String,
    /// `missing`, `wrong-size`, `corrupt` or `non-canonical-pointer`.
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct FsckReport {
    pub objects_checked: usize,
    pub problems: Vec<Problem>,
    /// Commands that download the missing objects into the store (the work tree untouched).
    pub fetch_with: Vec<String>,
}

pub fn fsck(repo: &Repository, all: bool, progress: &dyn Progress) -> Result<FsckReport> {
    let mut commits = Vec::new();
    if all {
        let mut walk = repo.revwalk().context("walking history")?;
        walk.push_glob("refs/*").context("walking history")?;
        if let Some(h) = git::head_commit(repo)? {
            walk.push(h.id()).context("walking history")?;
        }
        for id in walk {
            commits.push(repo.find_commit(id.context("walking history")?).context("reading commit")?);
        }
    } else if let Some(h) = git::head_commit(repo)? {
        commits.push(h);
    }
    let mut cache = HashMap::new();
    // Every pointer counts, not one per oid: two pointers with one oid and different sizes
    // are two claims, and at most one can be true.
    let mut objects: BTreeMap<(Oid, u64), (Pointer, BTreeSet<String>)> = BTreeMap::new();
    let mut problems = Vec::new();
    for c in &commits {
        let tree = c.tree().context("reading tree")?;
        for (path, p, _) in git::tree_pointers(repo, &tree, &mut cache)? {
            objects.entry((p.oid, p.size)).or_insert_with(|| (p.clone(), BTreeSet::new())).1.insert(path);
        }
    }
    // Non-canonical pointers in HEAD (git lfs fsck --pointers reports the same).
    if let Some(h) = commits.first() {
        let tree = h.tree().context("reading tree")?;
        for (path, p, _) in git::tree_pointers(repo, &tree, &mut cache)? {
            let id = tree.get_path(std::path::Path::new(&path)).context("reading tree entry")?.id();
            let blob = repo.find_blob(id).context("reading pointer blob")?;
            if !p.is_canonical(blob.content()) {
                problems.push(Problem {
                    path,
                    oid: p.oid.to_hex(),
                    kind: "non-canonical-pointer".into(),
                    detail: "pointer is valid but not in canonical form".into(),
                });
            }
        }
    }
    let store = Store::for_git_dir(repo.path());
    let list: Vec<(BTreeSet<String>, Pointer)> = objects.into_values().map(|(p, paths)| (paths, p)).collect();
    progress.begin("Checking objects", list.iter().map(|(_, p)| p.size).sum(), list.len() as u64);
    let checked = list.len();
    let mut found = crate::parallel::largest_first(
        list,
        |(_, p)| p.size,
        crate::parallel::default_threads(),
        |(_, p)| {
            let r = store.check(p, progress);
            progress.item_done();
            r
        },
    );
    progress.end();
    found.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
    for ((paths, p), r) in found {
        let (kind, detail) = match r? {
            ObjectState::Ok => continue,
            ObjectState::Missing => ("missing", format!("not in {}", store.object_path(&p.oid).display())),
            ObjectState::WrongSize { actual } => ("wrong-size", format!("{actual} bytes, expected {}", p.size)),
            ObjectState::Corrupt { actual } => ("corrupt", format!("content hashes to {actual}")),
        };
        for path in paths {
            problems.push(Problem { path, oid: p.oid.to_hex(), kind: kind.into(), detail: detail.clone() });
        }
    }
    // fetch brings them into the store whatever the saved selection leaves out (`--include`)
    let fetch_with = match (problems.iter().any(|pr| pr.kind == "missing"), all) {
        (false, _) => Vec::new(),
        (true, false) => vec!["hfgit fetch --include '*'".to_string()],
        (true, true) => vec!["hfgit fetch --all".to_string()],
    };
    Ok(FsckReport { objects_checked: checked, problems, fetch_with })
}
