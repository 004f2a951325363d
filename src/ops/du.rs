//! `hfgit du`: how much disk the local LFS store takes, how much of it HEAD uses, and how much
//! `hfgit prune` would free (prune's own plan, before it asks the remote anything).

use crate::error::{Context, Result};
use crate::lfs::store::Store;
use crate::ops::prune;
use crate::repo::{checkout, git};
use git2::Repository;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct DiskUse {
    pub store: String,
    pub store_objects: u64,
    pub store_bytes: u64,
    /// Distinct LFS objects HEAD's tree refers to, and how many of them are in the store.
    pub head_objects: u64,
    pub head_bytes: u64,
    pub head_present_objects: u64,
    pub head_present_bytes: u64,
    pub prunable_objects: u64,
    pub prunable_bytes: u64,
}

pub fn du(repo: &Repository) -> Result<DiskUse> {
    let store = Store::for_git_dir(repo.path());
    let plan = prune::plan(repo)?;
    let mut head = BTreeMap::new();
    if let Some(c) = git::head_commit(repo)? {
        let tree = c.tree().context("reading HEAD's tree")?;
        let all = crate::lfs::select::Selection::new(&[], &[])?;
        for p in checkout::selected_pointers(repo, &tree, &all)?.into_values() {
            head.insert(p.oid, p);
        }
    }
    let present: Vec<_> = head.values().filter(|p| store.contains(p)).collect();
    Ok(DiskUse {
        store: store.root().join("objects").display().to_string(),
        store_objects: plan.store_objects,
        store_bytes: plan.store_bytes,
        head_objects: head.len() as u64,
        head_bytes: head.values().map(|p| p.size).sum(),
        head_present_objects: present.len() as u64,
        head_present_bytes: present.iter().map(|p| p.size).sum(),
        prunable_objects: plan.prunable.len() as u64,
        prunable_bytes: plan.prunable_bytes(),
    })
}
