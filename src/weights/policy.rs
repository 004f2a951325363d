//! What `push` lets out: every pickle-based file in the commits being pushed is scanned (LFS
//! content from the local store, plain blobs from the object database), and one that would run
//! dangerous code when loaded stops the push before anything is sent, unless the user allows it.

use crate::error::{Context, Error, Result};
use crate::lfs::store::Store;
use crate::repo::git;
use crate::weights::scan::{scan, FileReport, Verdict};
use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use std::collections::HashSet;
use std::io::Cursor;

/// Scans the pickle-based files new in `tips` relative to `hide`. Returns the reports of files
/// that are not safe; errors when there is one and it is not `allow`ed (only *safe* pickles are
/// published without --allow-unsafe-pickle).
pub fn check(repo: &Repository, tips: &[git2::Oid], hide: &[git2::Oid], store: &Store, allow: bool) -> Result<Vec<FileReport>> {
    let walk = git::new_commits(repo, tips, hide)?;
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    for id in walk {
        let tree = repo.find_commit(id.context("walking history")?).context("reading commit")?.tree().context("reading tree")?;
        tree.walk(TreeWalkMode::PreOrder, |dir, e| {
            let path = format!("{dir}{}", e.name().unwrap_or("?"));
            if e.kind() == Some(ObjectType::Blob) && e.filemode() != 0o120000 && seen.insert(e.id()) {
                blobs.push((path, e.id()));
            }
            TreeWalkResult::Ok
        })
        .context("walking tree")?;
    }
    let mut flagged = Vec::new();
    // pickle-bearing by name, or by content whatever the name
    let by_name = |path: &str| crate::weights::is_pickle_path(path);
    for (path, id) in blobs {
        let report = match git::blob_pointer(repo, id) {
            Some(p) => {
                let object = store.object_path(&p.oid);
                if !by_name(&path) && !crate::weights::is_pickle_file(&object) {
                    continue;
                }
                match std::fs::File::open(object) {
                    Ok(f) => scan(f, &path).context(format!("scanning {path}"))?,
                    Err(_) => continue, // not local: the upload reports it
                }
            }
            None => {
                let blob = repo.find_blob(id).context(format!("reading {path}"))?;
                if !by_name(&path) && !crate::weights::is_pickle_content(&blob.content()[..blob.content().len().min(8)]) {
                    continue;
                }
                scan(Cursor::new(blob.content()), &path).context(format!("scanning {path}"))?
            }
        };
        if report.is_pickle && report.verdict() != Verdict::Safe {
            flagged.push(report);
        }
    }
    let dangerous: Vec<&FileReport> = flagged.iter().collect();
    if !dangerous.is_empty() && !allow {
        return Err(Error::with_hint(
            format!(
                "refusing to push pickles that run code when loaded: {}",
                dangerous.iter().map(|r| describe(r)).collect::<Vec<_>>().join("; ")
            ),
            "remove them (or convert weights with `hfgit add --safetensors`) and commit; if you are sure, push with --allow-unsafe-pickle",
        ));
    }
    Ok(flagged)
}

/// "path imports a, b" when imports are the reason, "path: why" otherwise.
fn describe(r: &FileReport) -> String {
    if r.imports_with(Verdict::Dangerous).is_empty() {
        format!("{}: {}", r.path, r.danger_summary())
    } else {
        format!("{} imports {}", r.path, r.danger_summary())
    }
}
