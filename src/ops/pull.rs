//! `hfgit pull`: fetch, fast-forward the current branch (or with `--merge`, merge its upstream
//! when they have diverged), download and write the LFS content it needs. Objects are fetched and verified before anything in the work tree or HEAD moves; a
//! local change that the update would overwrite stops it with nothing lost. Files are written
//! through temp files and renames and the branch moves last, so a pull killed at any point
//! leaves each file old or new, never torn, and the next pull finishes the job.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::fetch;
use crate::lfs::remote::LfsRemote;
use crate::lfs::select::Selection;
use crate::net::remote;
use crate::ops::checkout::Source;
use crate::ops::merge::{MergeOptions, MergeOutcome};
use crate::ops::status::paths_to_move;
use crate::progress::Progress;
use crate::repo::checkout;
use crate::repo::git;
use git2::Repository;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct PullOutcome {
    pub remote: String,
    pub branch: String,
    pub old: Option<String>,
    pub new: String,
    pub up_to_date: bool,
    pub files_changed: u64,
    pub downloaded_objects: u64,
    pub downloaded_bytes: u64,
    pub files_written: u64,
    /// Bytes of written files that share the store object's extents (copy-on-write filesystems).
    pub shared_bytes: u64,
    /// With `--merge` on diverged history: what the merge did (its commit, or its conflicts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeOutcome>,
}

/// What pull does when the branch and its upstream have diverged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullMode {
    /// Refuse (the default): only fast-forwards.
    FastForwardOnly,
    /// Merge the upstream into the branch (`hfgit merge`'s rules).
    Merge,
}

pub fn pull(
    repo: &Repository,
    remote_name: Option<&str>,
    mode: PullMode,
    interactive: bool,
    progress: &dyn Progress,
) -> Result<PullOutcome> {
    let _lock = git::lock(repo)?;
    let branch = git::current_branch(repo)?;
    let cfg = repo.config().context("reading git config")?;
    let name = match remote_name {
        Some(n) => n.to_string(),
        None => cfg.get_string(&format!("branch.{branch}.remote")).unwrap_or_else(|_| "origin".into()),
    };
    let merge = cfg.get_string(&format!("branch.{branch}.merge")).unwrap_or_else(|_| format!("refs/heads/{branch}"));
    let remote_branch = merge.strip_prefix("refs/heads/").unwrap_or(&merge).to_string();
    let r = repo.find_remote(&name).map_err(|_| {
        Error::with_hint(format!("no remote named `{name}`"), "set one with `hfgit init --remote <TARGET>` or `git remote add`")
    })?;
    let url = r.url().ok_or_else(|| Error::failed(format!("remote {name} has no URL")))?.to_string();
    crate::ops::clone::fetch_origin(repo, &name, interactive, None, false, &[])?;
    let new = repo
        .refname_to_id(&format!("refs/remotes/{name}/{remote_branch}"))
        .map_err(|_| Error::failed(format!("{} has no branch {remote_branch}", remote::redact(&url))))?;
    let head = git::head_commit(repo)?;
    let old = head.as_ref().map(|c| c.id());
    let mut outcome = PullOutcome {
        remote: remote::redact(&url),
        branch: branch.clone(),
        old: old.map(|o| o.to_string()),
        new: new.to_string(),
        up_to_date: false,
        files_changed: 0,
        downloaded_objects: 0,
        downloaded_bytes: 0,
        files_written: 0,
        shared_bytes: 0,
        merge: None,
    };
    let sel = Selection::from_config(repo)?;
    let lfs = LfsRemote::for_remote(repo, Some(&name), &url, Operation::Download, Some(merge.clone()), interactive)?;
    let new_tree = repo.find_commit(new).context("reading the fetched commit")?.tree().context("reading tree")?;
    // a hostile tree is refused before any object is fetched or any file written
    checkout::verify_tree(repo, &new_tree, new)?;
    if let Some(o) = old {
        if o == new || repo.graph_descendant_of(o, new).unwrap_or(false) {
            outcome.up_to_date = true;
            outcome.new = o.to_string();
        } else if !repo.graph_descendant_of(new, o).unwrap_or(false) {
            if mode == PullMode::FastForwardOnly {
                return Err(Error::with_hint(
                    format!("{branch} and {name}/{remote_branch} have diverged; hfgit pull only fast-forwards unless told to merge; nothing was changed"),
                    format!("merge them with `hfgit pull --merge` (or `hfgit merge {name}/{remote_branch}`)"),
                ));
            }
            let workdir = git::workdir(repo)?;
            let src = Source { remote: Some(&name), cwd: &workdir, interactive };
            let message = format!("Merge branch '{remote_branch}' of {}", remote::redact(&url));
            let opts = MergeOptions { message: Some(&message), no_commit: false, ff_only: false };
            let m = crate::ops::merge::merge(repo, new, &format!("{name}/{remote_branch}"), &opts, &src, Some(&_lock), progress)?;
            outcome.new = m.commit.clone().unwrap_or_else(|| o.to_string());
            outcome.files_changed = m.files_changed;
            outcome.downloaded_objects = m.downloaded_objects;
            outcome.downloaded_bytes = m.downloaded_bytes;
            outcome.files_written = m.files_written;
            outcome.merge = Some(m);
            return Ok(outcome);
        }
    }
    let target_tree =
        if outcome.up_to_date { head.as_ref().expect("up to date implies HEAD").tree().context("reading tree")? } else { new_tree };
    // Objects first: nothing moves unless every needed object arrived intact.
    let wanted = checkout::selected_pointers(repo, &target_tree, &sel)?;
    let fetched = fetch::fetch_objects(repo, &lfs, &wanted, progress, None);
    outcome.downloaded_objects = fetched.downloaded_objects;
    outcome.downloaded_bytes = fetched.downloaded_bytes;
    if !fetched.failures.is_empty() {
        let list: Vec<String> = fetched.failures.iter().map(|f| format!("{} (sha256:{}): {}", f.path, f.oid, f.error)).collect();
        return Err(Error::with_hint(
            format!("could not download LFS objects; {branch} was not updated:\n  {}", list.join("\n  ")),
            match fetched.failures.iter().all(|f| f.missing_on_remote) {
                true => "the remote does not have these objects: ask whoever pushed the commits to push their LFS objects (`hfgit push`), then pull again",
                false => "run `hfgit pull` again: partial downloads resume (if the same objects keep failing, the remote's copies may be damaged)",
            },
        ));
    }
    if !outcome.up_to_date {
        let old_tree = match &head {
            Some(c) => Some(c.tree().context("reading tree")?),
            None => None,
        };
        let (touched, local) = paths_to_move(repo, old_tree.as_ref(), &target_tree, progress)?;
        outcome.files_changed = touched.len() as u64;
        if !local.is_empty() {
            return Err(Error::with_hint(
                format!("your local changes to these files would be overwritten by pull:\n  {}", local.join("\n  ")),
                "commit them (`hfgit commit -m ...`) or move them away, then pull again",
            ));
        }
        if !touched.is_empty() {
            // every file through a temp file and a rename; LFS content straight from the store
            let m = checkout::checkout_paths(repo, new, &target_tree, &sel, &touched, progress)?;
            outcome.files_written += m.files_written;
            outcome.shared_bytes += m.bytes_shared;
        }
        repo.reference(&format!("refs/heads/{branch}"), new, true, &format!("pull: fast-forward from {name}"))
            .context(format!("moving {branch}"))?;
    }
    let m = checkout::materialize(repo, &sel, progress)?;
    outcome.files_written += m.files_written;
    outcome.shared_bytes += m.bytes_shared;
    Ok(outcome)
}
