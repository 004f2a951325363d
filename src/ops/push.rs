//! `hfgit push`: creates the remote when asked (a local bare repository), resolves what to push
//! as git does (the current branch, refspecs `src:dst` / `+src:dst` / `:dst`, every branch or
//! tag), uploads every LFS object the pushed refs need that the remote lacks (one batch for all
//! of them), and only then moves the remote refs, in one git push. Interrupted at any point,
//! the remote never has a ref pointing at commits whose LFS objects it lacks.
//!
//! `--pr` (Hub remotes): the current branch goes to a pull request's `refs/pr/N` instead, a new
//! one opened through the Hub API (after the objects are up) or an open one named by number; its
//! LFS batches name no ref, so a user with read access only can push there.

use crate::error::{Context, Error, Result};
use crate::lfs::endpoint::Operation;
use crate::lfs::oid::Oid;
use crate::lfs::pointer::Pointer;
use crate::lfs::remote::LfsRemote;
use crate::lfs::store::Store;
use crate::net::remote::{self, Location};
use crate::progress::Progress;
use crate::repo::git;
use git2::{Repository, RepositoryInitOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub struct PushOptions<'a> {
    pub remote: &'a str,
    /// What to push, as git's refspecs (`main`, `v1.0`, `src:dst`, `+src:dst`, `:dst`); with
    /// none (and neither `tags` nor `all`), the current branch.
    pub refspecs: &'a [String],
    /// Push every local tag.
    pub tags: bool,
    /// Push every local branch.
    pub all: bool,
    /// Check (and upload what the remote lacks of) the LFS objects of every local branch and
    /// tag and every remote ref, even when nothing moves (`git lfs push --all`).
    pub all_objects: bool,
    pub create: bool,
    pub force: bool,
    /// Create a Hub repository as private.
    pub private: bool,
    /// Push pickles that would run dangerous code when loaded.
    pub allow_unsafe_pickle: bool,
    /// May credential helpers prompt on the terminal?
    pub interactive: bool,
    /// Upload nothing and move no ref: report what would be sent.
    pub dry_run: bool,
    /// Push the current branch to a Hub pull request instead.
    pub pr: Option<PrTarget<'a>>,
}

/// Where `push --pr` sends the current branch.
#[derive(Clone, Copy, Debug)]
pub enum PrTarget<'a> {
    /// A new pull request with this title (default: the branch's last commit subject).
    New { title: Option<&'a str>, description: Option<&'a str> },
    /// The open pull request of this number.
    Existing(u64),
}

/// A new pull request's ref before the Hub has numbered it.
const NEW_PR: &str = "refs/pr/new";

/// What happened to one remote ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Updated,
    Forced,
    Deleted,
    UpToDate,
    Rejected,
}

#[derive(Debug, Serialize)]
pub struct RefOutcome {
    /// The remote ref (`refs/heads/main`, `refs/tags/v1.0`).
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub action: Action,
    /// Why a ref was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<Planned> for RefOutcome {
    fn from(p: Planned) -> RefOutcome {
        RefOutcome { name: p.dst, old: p.old.map(|o| o.to_string()), new: p.new.map(|o| o.to_string()), action: p.action, reason: p.reason }
    }
}

/// How many refs ended each way.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub created: u64,
    pub updated: u64,
    pub forced: u64,
    pub deleted: u64,
    pub up_to_date: u64,
    pub rejected: u64,
}

#[derive(Debug, Serialize)]
pub struct PushOutcome {
    pub remote: String,
    /// The first ref pushed, short (`main`, `v1.0`); `old`, `new` are its.
    pub branch: String,
    pub created: bool,
    pub old: Option<String>,
    pub new: Option<String>,
    /// Every ref was already where it was to be.
    pub up_to_date: bool,
    pub uploaded_objects: u64,
    pub uploaded_bytes: u64,
    pub skipped_objects: u64,
    pub skipped_bytes: u64,
    /// Xet storage: bytes sent, deduplicated and saved by compression, per file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xet: Option<crate::xet::upload::Report>,
    /// Pickle-based files pushed that are not safe (pushed only with `--allow-unsafe-pickle`).
    pub pickle_warnings: Vec<crate::weights::scan::FileReport>,
    pub refs: Vec<RefOutcome>,
    pub totals: Totals,
    /// What went wrong without stopping the push.
    pub warnings: Vec<String>,
    /// The pull request pushed to (`--pr`): its number and web page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<crate::hub::api::PullRequest>,
    /// The remote is the Hub (whose refusals have a way out: a pull request).
    #[serde(skip)]
    pub hub: bool,
}

impl PushOutcome {
    /// The error to exit with when the remote (or git's rules) refused a ref; the others were
    /// pushed.
    pub fn rejection(&self) -> Option<Error> {
        let rejected: Vec<&RefOutcome> = self.refs.iter().filter(|r| r.action == Action::Rejected).collect();
        let first = rejected.first()?;
        let why = |r: &RefOutcome| format!("{} ({})", short_name(&r.name), r.reason.as_deref().unwrap_or("rejected"));
        let non_ff = rejected.iter().any(|r| r.reason.as_deref() == Some(NON_FF));
        if self.hub && rejected.iter().any(|r| r.reason.as_deref().is_some_and(|m| m.contains("DENIED") && m.contains("forbidden"))) {
            return Some(Error::with_hint(
                format!(
                    "the Hub refused {}: your token has no write access to {}",
                    rejected.iter().map(|r| why(r)).collect::<Vec<_>>().join(", "),
                    self.remote
                ),
                "open a pull request with your commits instead: `hfgit push --pr` (or use a token with write access)",
            ));
        }
        let pr = first.name.strip_prefix("refs/pr/").filter(|_| rejected.len() == 1 && non_ff);
        let hint = match (non_ff, pr) {
            (true, Some(n)) => format!(
                "bring them in with `hfgit fetch --pr {n}` and `hfgit merge <REMOTE>/pr/{n}`, then push again (or `hfgit push --pr {n} --force` to overwrite them)"
            ),
            (true, None) => "run `hfgit pull` to bring them in, then push again (or `hfgit push --force` to overwrite them)".to_string(),
            (false, _) => "a tag on the remote is never moved without `--force` (`hfgit push --force <REMOTE> <TAG>`)".to_string(),
        };
        let message = match (rejected.len(), first.reason.as_deref()) {
            (1, Some(NON_FF)) => format!(
                "rejected: {} on {} has commits that are not in your branch (non-fast-forward)",
                short_name(&first.name),
                self.remote
            ),
            _ => format!("rejected on {}: {}", self.remote, rejected.iter().map(|r| why(r)).collect::<Vec<_>>().join(", ")),
        };
        Some(match rejected.iter().all(|r| matches!(r.reason.as_deref(), Some(NON_FF) | Some(TAG_EXISTS))) {
            true => Error::with_hint(message, hint),
            false => Error::failed(message),
        })
    }
}

const NON_FF: &str = "non-fast-forward";
const TAG_EXISTS: &str = "already exists";

/// `refs/heads/main` → `main`, `refs/tags/v1` → `v1`; other refs stay whole.
pub fn short_name(full: &str) -> &str {
    full.strip_prefix("refs/heads/").or_else(|| full.strip_prefix("refs/tags/")).unwrap_or(full)
}

/// LFS objects reachable from `tips` but not from `hide`, each with one path that uses it.
pub fn pointers_to_send(repo: &Repository, tips: &[git2::Oid], hide: &[git2::Oid]) -> Result<BTreeMap<Oid, (String, Pointer)>> {
    let walk = git::new_commits(repo, tips, hide)?;
    let mut cache = HashMap::new();
    let mut out = BTreeMap::new();
    for id in walk {
        let commit = repo.find_commit(id.context("walking history")?).context("reading commit")?;
        let tree = commit.tree().context("reading tree")?;
        for (path, p, _) in git::tree_pointers(repo, &tree, &mut cache)? {
            if p.size > 0 {
                out.entry(p.oid).or_insert((path, p));
            }
        }
    }
    Ok(out)
}

/// One refspec, resolved on the local side.
struct Spec {
    /// As the user wrote it (for messages).
    text: String,
    /// What to send and the local ref it is, when it is one; `None` deletes `dst`.
    src: Option<(git2::Oid, Option<String>)>,
    /// The destination as written; `None`: the source ref's own name.
    dst: Option<String>,
    force: bool,
}

/// One remote ref to change.
struct Planned {
    dst: String,
    old: Option<git2::Oid>,
    new: Option<git2::Oid>,
    /// The local branch sent, when it is one (`refs/heads/<b>`).
    local: Option<String>,
    action: Action,
    reason: Option<String>,
}

/// The object a local source names, and the local ref it is (when it is one), as git resolves
/// a push source: `HEAD`, a full ref name, a branch or a tag (both: ambiguous), else any
/// revision (`HEAD~1`, a commit id).
fn resolve_src(repo: &Repository, src: &str) -> Result<(git2::Oid, Option<String>)> {
    let target = |name: &str| -> Result<git2::Oid> {
        let r = repo.find_reference(name).context(format!("reading {name}"))?;
        r.resolve().context(format!("reading {name}"))?.target().ok_or_else(|| Error::failed(format!("{name} names no object")))
    };
    if src == "HEAD" {
        let id = git::head_commit(repo)?
            .ok_or_else(|| Error::with_hint("nothing to push: HEAD has no commits", "commit first: hfgit commit -m \"...\""))?
            .id();
        return Ok((id, git::head_branch(repo)?.map(|b| format!("refs/heads/{b}"))));
    }
    if src.starts_with("refs/") && repo.find_reference(src).is_ok() {
        return Ok((target(src)?, Some(src.to_string())));
    }
    let branch = format!("refs/heads/{src}");
    let tag = format!("refs/tags/{src}");
    match (repo.find_reference(&branch).is_ok(), repo.find_reference(&tag).is_ok()) {
        (true, true) => Err(Error::with_hint(
            format!("`{src}` is both a branch and a tag here"),
            format!("name the one to push: `refs/heads/{src}` or `refs/tags/{src}`"),
        )),
        (true, false) => Ok((target(&branch)?, Some(branch))),
        (false, true) => Ok((target(&tag)?, Some(tag))),
        (false, false) => match repo.revparse_single(src) {
            Ok(obj) => Ok((obj.id(), None)),
            Err(_) => Err(Error::with_hint(
                format!("`{src}` names no branch, tag or commit here"),
                "push a branch, a tag or a commit (`hfgit branch`, `hfgit tag` and `hfgit log` list them)",
            )),
        },
    }
}

fn parse_spec(repo: &Repository, text: &str, force: bool) -> Result<Spec> {
    let (plus, body) = match text.strip_prefix('+') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let (src, dst) = match body.split_once(':') {
        Some((s, d)) => (s, Some(d.to_string())),
        None => (body, None),
    };
    if src.is_empty() && dst.is_none() || dst.as_deref() == Some("") {
        return Err(Error::BadInput(format!("refspec `{text}` names no destination (write `<src>:<dst>`, or `:<dst>` to delete)")));
    }
    let src = match src.is_empty() {
        true => None,
        false => Some(resolve_src(repo, src)?),
    };
    Ok(Spec { text: text.to_string(), src, dst, force: force || plus })
}

/// What the user asked for, resolved locally: the refspecs, every branch (`all`), every tag
/// (`tags`), or else the current branch.
fn specs(repo: &Repository, opts: &PushOptions<'_>) -> Result<Vec<Spec>> {
    let mut out = Vec::new();
    for text in opts.refspecs {
        out.push(parse_spec(repo, text, opts.force)?);
    }
    let mut every = |glob: &str| -> Result<()> {
        for r in repo.references_glob(glob).context("listing refs")?.flatten() {
            if let (Some(name), Some(id)) = (r.name(), r.resolve().ok().and_then(|r| r.target())) {
                out.push(Spec { text: name.to_string(), src: Some((id, Some(name.to_string()))), dst: None, force: opts.force });
            }
        }
        Ok(())
    };
    if opts.all {
        every("refs/heads/*")?;
    }
    if opts.tags {
        every("refs/tags/*")?;
    }
    if out.is_empty() && (opts.all || opts.tags) {
        return Err(Error::BadInput(format!("nothing to push: no local {}", if opts.all { "branches" } else { "tags" })));
    }
    if out.is_empty() {
        if git::head_branch(repo)?.is_none() {
            let at = repo.head().ok().and_then(|h| h.target()).map(|id| id.to_string()[..12].to_string()).unwrap_or_default();
            return Err(Error::with_hint(
                format!("HEAD is detached at {at}; there is no branch to push"),
                format!(
                    "name where it goes: `hfgit push {} HEAD:refs/heads/<name>`, or switch to a branch first (`hfgit switch <branch>`)",
                    opts.remote
                ),
            ));
        }
        let branch = git::current_branch(repo)?;
        let head = git::head_commit(repo)?.ok_or_else(|| {
            Error::with_hint(format!("nothing to push: branch {branch} has no commits"), "commit first: hfgit commit -m \"...\"")
        })?;
        let name = format!("refs/heads/{branch}");
        out.push(Spec { text: branch, src: Some((head.id(), Some(name))), dst: None, force: opts.force });
    }
    Ok(out)
}

/// The full remote ref a spec writes, as git qualifies it: a full name stays; a short one is
/// the remote's branch or tag of that name, else takes the kind of the local source ref.
fn destination(spec: &Spec, remote: &HashMap<String, git2::Oid>, remote_arg: &str) -> Result<String> {
    let local = spec.src.as_ref().and_then(|(_, l)| l.as_deref());
    let dst = match (&spec.dst, local) {
        (Some(d), _) => d.clone(),
        (None, Some(l)) if l.starts_with("refs/") => l.to_string(),
        _ => {
            let src = spec.text.trim_start_matches('+');
            return Err(Error::with_hint(
                format!("`{src}` is not a branch or a tag, so it has no name on the remote"),
                format!("name where it goes: `hfgit push {remote_arg} {src}:refs/heads/<name>`"),
            ));
        }
    };
    let full = if dst.starts_with("refs/") {
        dst.clone()
    } else {
        let known: Vec<String> =
            ["refs/heads/", "refs/tags/"].iter().map(|p| format!("{p}{dst}")).filter(|n| remote.contains_key(n)).collect();
        match (known.as_slice(), local) {
            ([one], _) => one.clone(),
            ([_, _], _) => {
                return Err(Error::with_hint(
                    format!("`{dst}` is both a branch and a tag on the remote"),
                    format!("name the one you mean: `refs/heads/{dst}` or `refs/tags/{dst}`"),
                ))
            }
            (_, Some(l)) if spec.src.is_some() && l.starts_with("refs/heads/") => format!("refs/heads/{dst}"),
            (_, Some(l)) if spec.src.is_some() && l.starts_with("refs/tags/") => format!("refs/tags/{dst}"),
            _ if spec.src.is_none() => {
                return Err(Error::BadInput(format!("cannot delete `{dst}`: the remote has no branch or tag of that name")))
            }
            _ => {
                return Err(Error::with_hint(
                    format!("the destination `{dst}` is not a full ref name and the remote has no branch or tag of that name"),
                    format!("say what it is: `refs/heads/{dst}` or `refs/tags/{dst}`"),
                ))
            }
        }
    };
    if !git2::Reference::is_valid_name(&full) || full == "refs/heads/HEAD" {
        return Err(Error::BadInput(format!("`{full}` is not a valid ref name (refspec `{}`)", spec.text)));
    }
    if spec.src.is_none() && !remote.contains_key(&full) {
        return Err(Error::BadInput(format!("cannot delete `{full}`: the remote has no such ref")));
    }
    Ok(full)
}

/// How a ref would move, by git's rules: a branch only fast-forwards, a tag never moves,
/// unless forced.
fn judge(repo: &Repository, dst: &str, old: Option<git2::Oid>, new: Option<git2::Oid>, force: bool) -> (Action, Option<String>) {
    let commit = |id: git2::Oid| repo.find_object(id, None).and_then(|o| o.peel_to_commit()).map(|c| c.id()).ok();
    match (old, new) {
        (_, None) => (Action::Deleted, None),
        (None, Some(_)) => (Action::Created, None),
        (Some(o), Some(n)) if o == n => (Action::UpToDate, None),
        (Some(_), Some(_)) if force => (Action::Forced, None),
        (Some(_), Some(_)) if dst.starts_with("refs/tags/") => (Action::Rejected, Some(TAG_EXISTS.to_string())),
        (Some(o), Some(n)) => match (commit(o), commit(n)) {
            (Some(oc), Some(nc)) if oc == o && repo.graph_descendant_of(nc, oc).unwrap_or(false) => (Action::Updated, None),
            _ => (Action::Rejected, Some(NON_FF.to_string())),
        },
    }
}

/// The commit each id names (annotated tags peeled); ids unknown here are left out.
fn commits_of(repo: &Repository, ids: impl Iterator<Item = git2::Oid>) -> Vec<git2::Oid> {
    ids.filter_map(|id| repo.find_object(id, None).and_then(|o| o.peel_to_commit()).map(|c| c.id()).ok()).collect()
}

/// A Hub repository's first commit as the server makes it: no parents, and only
/// `.gitattributes` and/or `README.md`.
fn is_hub_initial_commit(repo: &Repository, id: git2::Oid) -> bool {
    let Ok(c) = repo.find_commit(id) else { return false };
    let Ok(tree) = c.tree() else { return false };
    c.parent_count() == 0 && tree.iter().all(|e| matches!(e.name(), Some(".gitattributes") | Some("README.md")))
}

/// Makes sure a local remote exists (creating it with `create`) and is bare.
fn prepare_local(path: &Path, opts: &PushOptions<'_>, branch: &str) -> Result<bool> {
    let mut created = false;
    if !path.exists() {
        if !opts.create {
            return Err(Error::with_hint(
                format!("remote repository {} does not exist", path.display()),
                format!("create it with `hfgit push {} --create`", opts.remote),
            ));
        }
        let mut o = RepositoryInitOptions::new();
        o.bare(true).initial_head(branch).mkpath(true);
        git::create_repository_atomically(path, &mut o, |_| Ok(()))?;
        created = true;
    }
    let remote_repo = Repository::open(path).context(format!("opening remote repository {}", path.display()))?;
    if !remote_repo.is_bare() {
        return Err(Error::with_hint(
            format!("{} is not a bare repository; pushing into a checked-out branch would desynchronise its work tree", path.display()),
            "push to a bare repository instead (`hfgit push <path>.git --create`)",
        ));
    }
    Ok(created)
}

pub fn push(repo: &Repository, opts: &PushOptions<'_>, cwd: &Path, progress: &dyn Progress) -> Result<PushOutcome> {
    let _lock = git::lock(repo)?;
    let specs = specs(repo, opts)?;
    let implicit = opts.refspecs.is_empty() && !opts.tags && !opts.all;
    let (name, url) = remote::remote_url(repo, opts.remote, cwd, true)?;
    let shown = remote::redact(&url);
    let hub = crate::hub::api::HubRepo::from_url(&url);
    let endpoint = remote::hub_endpoint();
    let token = crate::net::credentials::hf_token();
    let existing_pr = match (opts.pr, &hub) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::with_hint(
                format!("--pr opens pull requests on the Hub, and {shown} is not a Hub repository"),
                format!("push a branch instead: `hfgit push {} <BRANCH>`", opts.remote),
            ))
        }
        (Some(PrTarget::New { .. }), Some(_)) => None,
        (Some(PrTarget::Existing(n)), Some(h)) => Some(crate::hub::api::open_pull_request(&endpoint, token.as_ref(), h, n)?),
    };
    let mut specs = specs;
    if let (Some(_), Some(first)) = (opts.pr, specs.first_mut()) {
        first.dst = Some(existing_pr.as_ref().map_or(NEW_PR.to_string(), |p| format!("refs/pr/{}", p.num)));
    }
    let store = Store::for_git_dir(repo.path());
    let tips = |ids: &mut dyn Iterator<Item = git2::Oid>| commits_of(repo, ids);
    // With --create, refuse before creating anything remotely: check all history now, and
    // again below only if the remote turns out to have refs already.
    let sources = tips(&mut specs.iter().filter_map(|s| s.src.as_ref().map(|(id, _)| *id)));
    let checked_all = match opts.create {
        true => Some(crate::weights::policy::check(repo, &sources, &[], &store, opts.allow_unsafe_pickle)?),
        false => None,
    };
    let first_branch = specs
        .iter()
        .filter_map(|s| s.src.as_ref()?.1.as_deref()?.strip_prefix("refs/heads/"))
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| "main".to_string());
    let created = match remote::location(&url)? {
        Location::Local(p) => prepare_local(&p, opts, &first_branch)?,
        Location::Http(_) => match (&hub, opts.create) {
            (Some(h), true) => {
                let token = token
                    .as_ref()
                    .ok_or_else(|| Error::with_hint("creating a Hub repository needs a token", "run `hfgit login`, or set HF_TOKEN"))?;
                crate::hub::api::create_repo(&endpoint, token, h, opts.private)? == crate::hub::api::Created::New
            }
            // generic hosts create repositories on first push, or not at all
            _ => false,
        },
    };
    let pr_ref = existing_pr.as_ref().map(|p| format!("refs/pr/{}", p.num));
    let refs = match (git::remote_refs(repo, &url, opts.interactive, hub.is_none(), pr_ref.as_deref()), &hub) {
        (Ok(r), _) => r,
        (Err(e), Some(h)) => return Err(crate::hub::api::explain(h, e)),
        (Err(e), None) => return Err(e),
    };
    let current = git::head_branch(repo)?.map(|b| format!("refs/heads/{b}"));
    let mut plan: Vec<Planned> = Vec::new();
    for spec in &specs {
        if let (Some(_), Some(d)) = (&hub, spec.dst.as_deref().filter(|d| d.starts_with("refs/convert/"))) {
            return Err(Error::BadInput(format!("{d} is made by the Hub itself (a conversion); hfgit never pushes or deletes it")));
        }
        let dst = destination(spec, &refs, opts.remote)?;
        if plan.iter().any(|p| p.dst == dst) {
            return Err(Error::BadInput(format!("{dst} is named twice in this push")));
        }
        // a new pull request starts at the Hub's `main`
        let old = refs.get(if dst == NEW_PR { "refs/heads/main" } else { &dst }).copied();
        let new = spec.src.as_ref().map(|(id, _)| *id);
        let local = spec.src.as_ref().and_then(|(_, l)| l.clone()).filter(|l| l.starts_with("refs/heads/"));
        let (mut action, mut reason) = judge(repo, &dst, old, new, spec.force);
        let mut new = new;
        let old_commit = old.filter(|o| repo.find_commit(*o).is_ok());
        if let (Action::Rejected, Some(o), Some(n), Some(_)) = (action, old_commit, new, &hub) {
            // A new Hub repository holds the server's own first commit: join the histories
            // (only into the checked-out branch: the join writes its work tree).
            if local.is_some() && local == current && is_hub_initial_commit(repo, o) && repo.merge_base(n, o).is_err() {
                let b = local.as_deref().and_then(|l| l.strip_prefix("refs/heads/")).expect("a local branch ref");
                new = Some(crate::hub::merge::land_on(repo, n, o, b)?);
                (action, reason) = (Action::Updated, None);
            }
        }
        plan.push(Planned { dst, old, new, local, action, reason });
    }
    let first = plan.first().expect("specs() yields at least one ref");
    if first.dst == NEW_PR {
        match first.action {
            Action::UpToDate => {
                return Err(Error::with_hint(
                    "nothing to propose: the branch has no commits that main on the Hub lacks",
                    "commit your changes first (`hfgit commit -m \"...\"`), then `hfgit push --pr`",
                ))
            }
            Action::Rejected => {
                return Err(Error::with_hint(
                    "main on the Hub has commits that are not in your branch, so a pull request could not take it",
                    "bring them in with `hfgit pull`, then `hfgit push --pr` again",
                ))
            }
            _ => {}
        }
    }
    let mut outcome = PushOutcome {
        remote: shown.clone(),
        branch: short_name(&first.dst).to_string(),
        created,
        old: first.old.map(|o| o.to_string()),
        new: first.new.map(|o| o.to_string()),
        up_to_date: plan.iter().all(|p| p.action == Action::UpToDate),
        uploaded_objects: 0,
        uploaded_bytes: 0,
        skipped_objects: 0,
        skipped_bytes: 0,
        xet: None,
        pickle_warnings: Vec::new(),
        refs: Vec::new(),
        totals: Totals::default(),
        warnings: Vec::new(),
        pull_request: existing_pr,
        hub: hub.is_some(),
    };
    let sending = |a: Action| matches!(a, Action::Created | Action::Updated | Action::Forced);
    let new_tips = tips(&mut plan.iter().filter(|p| sending(p.action)).filter_map(|p| p.new));
    // Everything the remote's refs already reach is assumed to have its objects there...
    let hide = tips(&mut refs.values().copied());
    let mut needed = match new_tips.is_empty() {
        true => BTreeMap::new(),
        false => pointers_to_send(repo, &new_tips, &hide)?,
    };
    let new_objects = needed.len();
    if !new_tips.is_empty() {
        let new_objects: Vec<(String, Pointer)> = needed.values().cloned().collect();
        outcome.pickle_warnings = match checked_all {
            Some(all) if hide.is_empty() && new_tips == sources => all,
            _ => crate::weights::policy::check(repo, &new_tips, &hide, &store, opts.allow_unsafe_pickle)?,
        };
        if let Some(h) = &hub {
            crate::hub::rules::check(repo, &new_tips, &hide, &new_objects, &store)?;
            // then the Hub's own word, where it offers it, still before any byte is sent
            let rev = match plan.iter().find(|p| sending(p.action)).map(|p| p.dst.as_str()) {
                None | Some(NEW_PR) => "main".to_string(),
                // the API names a pull request's ref with its slashes encoded
                Some(d) if d.starts_with("refs/pr/") => d.replace('/', "%2F"),
                Some(d) => short_name(d).to_string(),
            };
            crate::hub::rules::ask_the_hub(repo, &new_tips, &hide, &endpoint, token.as_ref(), h, &rev)?;
        }
    }
    if opts.dry_run {
        // what would move, from what is known here: every object the pushed commits add, and
        // for a Hub remote (Xet storage) the bytes of chunks the local chunk index does not know
        outcome.uploaded_objects = needed.len() as u64;
        outcome.uploaded_bytes = needed.values().map(|(_, p)| p.size).sum();
        if hub.is_some() && repo.config().ok().and_then(|c| c.get_bool("hfgit.xet").ok()).unwrap_or(true) {
            let index = crate::xet::index::Index::for_git_dir(repo.path());
            let sources: Vec<crate::xet::upload::Source> = needed
                .values()
                .filter(|(_, p)| store.contains(p))
                .map(|(path, p)| crate::xet::upload::Source {
                    path: path.clone(),
                    file: store.object_path(&p.oid),
                    sha256: *p.oid.as_bytes(),
                    size: p.size,
                })
                .collect();
            let present = |oid: &[u8; 32]| store.object_path(&crate::lfs::oid::Oid::from_bytes(*oid)).exists();
            outcome.xet = Some(crate::xet::upload::plan(&sources, &index, &present)?);
        }
        outcome.refs.extend(plan.into_iter().map(RefOutcome::from));
        return Ok(outcome);
    }
    // ...but a plain `git push` (no hook) may have left it without them: the objects of what
    // the pushed refs already hold there (with `all_objects`, of every ref on either side) that
    // this repository has are checked too, in the same batch, and sent when missing.
    let repair = match opts.all_objects {
        true => {
            let local = repo.references().context("listing refs")?.flatten().filter_map(|r| r.resolve().ok()?.target());
            tips(&mut local.chain(refs.values().copied()))
        }
        false => tips(&mut plan.iter().filter(|p| !matches!(p.action, Action::Rejected | Action::Deleted)).filter_map(|p| p.old)),
    };
    if !repair.is_empty() {
        for (oid, (path, p)) in pointers_to_send(repo, &repair, &[])? {
            if store.contains(&p) {
                needed.entry(oid).or_insert((path, p));
            }
        }
    }
    if !needed.is_empty() {
        // a pull request's batches name no ref: the Hub would apply that branch's permissions
        let ref_name = plan.iter().find(|p| sending(p.action)).or(plan.first()).map(|p| p.dst.clone()).filter(|_| opts.pr.is_none());
        let upload = LfsRemote::for_remote(repo, name.as_deref(), &url, Operation::Upload, ref_name, opts.interactive)
            .and_then(|lfs| lfs.upload_all(&store, needed.into_values().collect(), progress));
        match upload {
            Ok(sum) => {
                outcome.uploaded_objects = sum.uploaded_objects;
                outcome.uploaded_bytes = sum.uploaded_bytes;
                outcome.skipped_objects = sum.skipped_objects;
                outcome.skipped_bytes = sum.skipped_bytes;
                outcome.xet = sum.xet;
            }
            // only the repair check failed: nothing new depends on it, so the push goes on
            Err(e) if new_objects == 0 => outcome.warnings.push(format!("could not check the LFS objects already on the remote: {e}")),
            Err(e) => return Err(e),
        }
    }

    if let (Some(PrTarget::New { title, description }), Some(h), Some(p)) = (opts.pr, &hub, plan.first_mut()) {
        // the objects are up: now the pull request, and its ref is where the branch goes
        let token =
            token.as_ref().ok_or_else(|| Error::with_hint("opening a pull request needs a token", "run `hfgit login`, or set HF_TOKEN"))?;
        let subject = p.new.and_then(|n| repo.find_commit(n).ok()).and_then(|c| c.summary().map(str::to_string));
        let title = title.map(str::to_string).or(subject).unwrap_or_else(|| "Update".to_string());
        let pr = crate::hub::api::create_pull_request(&endpoint, token, h, &title, description.unwrap_or(""))?;
        p.dst = format!("refs/pr/{}", pr.num);
        outcome.branch = short_name(&p.dst).to_string();
        outcome.pull_request = Some(pr);
    }
    let to_send: Vec<&Planned> = plan.iter().filter(|p| sending(p.action) || p.action == Action::Deleted).collect();
    let refused = if to_send.is_empty() { HashMap::new() } else { send_refs(repo, &url, &to_send, opts.interactive)? };
    for p in &mut plan {
        if let Some(msg) = refused.get(&p.dst) {
            (p.action, p.reason) = (Action::Rejected, Some(msg.clone()));
        }
    }
    for p in &plan {
        let Some(name) = name.as_deref().filter(|_| sending(p.action) || p.action == Action::Deleted) else { continue };
        // a branch, or a pull request (`refs/remotes/<remote>/pr/N`, as `hfgit fetch --pr` makes it)
        let Some(b) = p.dst.strip_prefix("refs/heads/").or(p.dst.strip_prefix("refs/").filter(|r| r.starts_with("pr/"))) else {
            continue;
        };
        let tracking = format!("refs/remotes/{name}/{b}");
        match p.new.and_then(|n| commits_of(repo, std::iter::once(n)).pop()) {
            Some(id) => {
                repo.reference(&tracking, id, true, "push").context("updating the remote-tracking branch")?;
            }
            None => {
                if let Ok(mut r) = repo.find_reference(&tracking) {
                    r.delete().context(format!("deleting {tracking}"))?;
                }
            }
        }
        if implicit && p.local.as_deref() == Some(p.dst.as_str()) {
            let mut cfg = repo.config().context("opening git config")?;
            if cfg.get_string(&format!("branch.{b}.remote")).is_err() {
                cfg.set_str(&format!("branch.{b}.remote"), name).context("setting upstream")?;
                cfg.set_str(&format!("branch.{b}.merge"), &p.dst).context("setting upstream")?;
            }
        }
    }
    for p in plan {
        let t = &mut outcome.totals;
        *match p.action {
            Action::Created => &mut t.created,
            Action::Updated => &mut t.updated,
            Action::Forced => &mut t.forced,
            Action::Deleted => &mut t.deleted,
            Action::UpToDate => &mut t.up_to_date,
            Action::Rejected => &mut t.rejected,
        } += 1;
        outcome.refs.push(RefOutcome::from(p));
    }
    Ok(outcome)
}

/// Moves the remote refs in one libgit2 push, after every object is there. Each object is sent
/// from a temporary ref (`refs/hfgit/push/<n>`), so what was checked is what goes, whatever
/// names it. Returns the refs the remote refused, with its reason.
fn send_refs(repo: &Repository, url: &str, plan: &[&Planned], interactive: bool) -> Result<HashMap<String, String>> {
    const NS: &str = "refs/hfgit/push/";
    git::clear_refs(repo, NS)?;
    let mut specs = Vec::new();
    for (i, p) in plan.iter().enumerate() {
        match p.new {
            Some(id) => {
                let tmp = format!("{NS}{i}");
                repo.reference(&tmp, id, true, "push").context("preparing the git push")?;
                let plus = if p.action == Action::Forced { "+" } else { "" };
                specs.push(format!("{plus}{tmp}:{}", p.dst));
            }
            None => specs.push(format!(":{}", p.dst)),
        }
    }
    let refused = std::cell::RefCell::new(HashMap::new());
    // what the server's hooks say (`remote: ...`): the Hub's "DENIED update <ref>: forbidden"
    let said = std::cell::RefCell::new(String::new());
    let result = (|| -> Result<()> {
        let mut r = repo.remote_anonymous(url).context("preparing the git push")?;
        let mut cb = git::remote_callbacks(url, interactive);
        cb.push_update_reference(|name, status| {
            if let Some(s) = status {
                refused.borrow_mut().insert(name.to_string(), s.to_string());
            }
            Ok(())
        });
        cb.sideband_progress(|data| {
            let mut said = said.borrow_mut();
            if said.len() < 64 << 10 {
                said.push_str(&String::from_utf8_lossy(data));
            }
            true
        });
        let mut po = git2::PushOptions::new();
        po.remote_callbacks(cb);
        let headers = git::extra_headers(repo, url);
        po.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
        let names: Vec<&str> = plan.iter().map(|p| short_name(&p.dst)).collect();
        r.push(&specs, Some(&mut po)).context(format!("pushing {} to {}", names.join(", "), remote::redact(url)))
    })();
    git::clear_refs(repo, NS)?;
    result?;
    let said = said.into_inner();
    let mut refused = refused.into_inner();
    for (name, reason) in refused.iter_mut() {
        if let Some(line) = said.lines().map(str::trim).find(|l| l.contains("DENIED") && l.contains(name.as_str())) {
            *reason = remote::escape_text(line);
        }
    }
    Ok(refused)
}

/// `git push`'s pre-push hook (`hfgit lfs-pre-push <remote> <url>`): uploads the LFS objects of
/// the commits git is about to send — `lines` as git writes them on the hook's stdin
/// (`<local ref> <local sha> <remote ref> <remote sha>`) — that the remote lacks, so git sends
/// the refs only after the objects are there. What the remote's refs (and this repository's
/// remote-tracking refs for it) already reach is taken as there, as git-lfs does.
pub fn pre_push(
    repo: &Repository,
    remote: &str,
    url: &str,
    lines: &str,
    interactive: bool,
    progress: &dyn Progress,
) -> Result<crate::lfs::remote::UploadSummary> {
    let name = repo.find_remote(remote).ok().map(|_| remote.to_string());
    let (mut sent, mut hide, mut first_ref) = (Vec::new(), Vec::new(), None);
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || Error::BadInput(format!("not a pre-push line from git: {:?}", crate::net::remote::escape_text(line)));
        let [_, local, dst, old] = line.split_whitespace().collect::<Vec<_>>()[..] else { return Err(bad()) };
        let (local, old) = (git2::Oid::from_str(local).map_err(|_| bad())?, git2::Oid::from_str(old).map_err(|_| bad())?);
        if !old.is_zero() {
            hide.push(old);
        }
        if !local.is_zero() {
            sent.push(local);
            first_ref.get_or_insert_with(|| dst.to_string());
        }
    }
    if let Some(n) = &name {
        let known = repo.references_glob(&format!("refs/remotes/{n}/*")).context("listing remote-tracking refs")?;
        hide.extend(known.flatten().filter_map(|r| r.resolve().ok()?.target()));
    }
    let (sent, hide) = (commits_of(repo, sent.into_iter()), commits_of(repo, hide.into_iter()));
    if sent.is_empty() {
        return Ok(Default::default());
    }
    let needed: Vec<(String, Pointer)> = pointers_to_send(repo, &sent, &hide)?.into_values().collect();
    if needed.is_empty() {
        return Ok(Default::default());
    }
    let lfs = LfsRemote::for_remote(repo, name.as_deref(), url, Operation::Upload, first_ref, interactive)?;
    lfs.upload_all(&Store::for_git_dir(repo.path()), needed, progress)
}
