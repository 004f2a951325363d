//! `hfgit tag`: list, create (lightweight, or annotated with a message) and delete tags. Names
//! follow git's rules; an existing tag is never moved.

use crate::error::{Context, Error, Result};
use crate::ops::checkout::{check_ref_name, commit_of};
use git2::Repository;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct TagInfo {
    pub name: String,
    /// The commit the tag names.
    pub commit: String,
    /// The tag object of an annotated tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_object: Option<String>,
}

/// Tags, sorted by name.
pub fn list(repo: &Repository) -> Result<Vec<TagInfo>> {
    let mut out = Vec::new();
    for r in repo.references_glob("refs/tags/*").context("listing tags")? {
        let r = r.context("listing tags")?;
        let Some(name) = r.name().and_then(|n| n.strip_prefix("refs/tags/")).map(str::to_string) else { continue };
        let Some(id) = r.target() else { continue };
        let tag_object = repo.find_tag(id).ok().map(|t| t.id().to_string());
        let commit = r.peel_to_commit().map(|c| c.id().to_string()).unwrap_or_else(|_| id.to_string());
        out.push(TagInfo { name, commit, tag_object });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Creates tag `name` at `rev` (default HEAD); with `message`, an annotated tag whose tagger is
/// the committer identity.
pub fn create(repo: &Repository, name: &str, rev: Option<&str>, message: Option<&str>) -> Result<TagInfo> {
    check_ref_name("tag", name)?;
    let id = commit_of(repo, rev.unwrap_or("HEAD"))?;
    if repo.find_reference(&format!("refs/tags/{name}")).is_ok() {
        return Err(Error::BadInput(format!("a tag named `{name}` already exists")));
    }
    let obj = repo.find_object(id, None).context("reading the commit")?;
    let tag_object = match message {
        Some(m) => {
            let m = git2::message_prettify(m, None).context("cleaning the tag message")?;
            if m.trim().is_empty() {
                return Err(Error::BadInput("empty tag message".into()));
            }
            let (_, tagger) = crate::repo::identity::signatures(repo, None)?;
            Some(repo.tag(name, &obj, &tagger, &m, false).context(format!("creating tag {name}"))?.to_string())
        }
        None => {
            repo.tag_lightweight(name, &obj, false).context(format!("creating tag {name}"))?;
            None
        }
    };
    Ok(TagInfo { name: name.to_string(), commit: id.to_string(), tag_object })
}

/// Deletes tag `name`; returns what it pointed at.
pub fn delete(repo: &Repository, name: &str) -> Result<String> {
    let mut r = repo.find_reference(&format!("refs/tags/{name}")).map_err(|_| Error::BadInput(format!("no tag named `{name}`")))?;
    let id = r.target().map(|t| t.to_string()).unwrap_or_default();
    r.delete().context(format!("deleting tag {name}"))?;
    Ok(id)
}
