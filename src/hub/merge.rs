//! Landing local history on a new Hub repository, which already holds the server's first commit
//! (its default `.gitattributes`, maybe a README): a merge commit joins the two histories, so
//! nothing is force-pushed and nothing from either side is lost. Files only the server had are
//! added to the work tree; `.gitattributes` keeps every local line and gains the server's others.

use crate::error::{Context, Result};
use crate::repo::git;
use git2::{Oid, Repository};
use std::collections::HashSet;

/// Creates the merge commit of `local` and the server's `initial`, moves `branch` to it and
/// brings the work tree and index up to date. Returns the new commit.
pub fn land_on(repo: &Repository, local: Oid, initial: Oid, branch: &str) -> Result<Oid> {
    let ours = repo.find_commit(local).context("reading the local commit")?;
    let theirs = repo.find_commit(initial).context("reading the Hub's initial commit")?;
    let our_tree = ours.tree().context("reading tree")?;
    let their_tree = theirs.tree().context("reading tree")?;
    let mut builder = repo.treebuilder(Some(&our_tree)).context("building the merged tree")?;
    let mut changed: Vec<(String, Vec<u8>)> = Vec::new();
    for e in their_tree.iter() {
        let Some(name) = e.name() else { continue };
        match our_tree.get_name(name) {
            None => {
                builder.insert(name, e.id(), e.filemode()).context("building the merged tree")?;
                let blob = repo.find_blob(e.id()).context("reading a Hub file")?;
                changed.push((name.to_string(), blob.content().to_vec()));
            }
            Some(o) if name == ".gitattributes" && o.id() != e.id() => {
                let mine = repo.find_blob(o.id()).context("reading .gitattributes")?;
                let server = repo.find_blob(e.id()).context("reading the Hub's .gitattributes")?;
                let mine_text = String::from_utf8_lossy(mine.content()).to_string();
                let have: HashSet<&str> = mine_text.lines().map(str::trim).collect();
                let server_text = String::from_utf8_lossy(server.content()).to_string();
                let extra: Vec<&str> = server_text.lines().filter(|l| !l.trim().is_empty() && !have.contains(l.trim())).collect();
                if !extra.is_empty() {
                    let mut merged = mine_text.clone();
                    if !merged.is_empty() && !merged.ends_with('\n') {
                        merged.push('\n');
                    }
                    for l in extra {
                        merged.push_str(l);
                        merged.push('\n');
                    }
                    let id = repo.blob(merged.as_bytes()).context("writing .gitattributes")?;
                    builder.insert(".gitattributes", id, 0o100644).context("building the merged tree")?;
                    changed.push((".gitattributes".into(), merged.into_bytes()));
                }
            }
            Some(_) => {} // ours wins for README.md and identical files
        }
    }
    let tree = repo.find_tree(builder.write().context("writing the merged tree")?).context("reading the merged tree")?;
    let (author, committer) = crate::repo::identity::signatures(repo, None)?;
    let id = repo
        .commit(None, &author, &committer, "Merge the Hub's initial commit\n", &tree, &[&ours, &theirs])
        .context("creating the merge commit")?;
    repo.reference(&format!("refs/heads/{branch}"), id, true, "hfgit push: join the Hub's initial commit").context("moving the branch")?;
    if let Some(workdir) = repo.workdir() {
        let mut index = repo.index().context("reading the index")?;
        let store = crate::lfs::store::Store::for_git_dir(repo.path());
        for (path, bytes) in &changed {
            crate::lfs::track::write_atomic(&store, &workdir.join(path), bytes)?;
            index.add_path(std::path::Path::new(path)).context(format!("indexing {path}"))?;
        }
        if !changed.is_empty() {
            git::write_index_safely(&mut index, None)?;
        }
    }
    Ok(id)
}
