use crate::ui::{self, Ui};
use hfgit::ops::checkout::{self, CheckoutOutcome, Resolved, Source};
use hfgit::ops::merge::{self, Side};
use hfgit::Result;
use std::process::ExitCode;

/// Move the work tree to a commit, branch or tag, or bring files back from one, with LFS content
///
/// `hfgit checkout <REV>`: a branch attaches HEAD; a tag, commit id or `HEAD~N` detaches it. LFS
/// content comes from the local store, else from the remote (verified before it is visible).
/// Local changes the checkout would overwrite stop it before anything is written. Files are
/// replaced through temp files and renames and HEAD moves last, so a killed checkout resumes.
///
/// `hfgit checkout pr/N`: the Hub pull request N fetched with `hfgit fetch --pr N`, as a new local
/// branch `pr/N` (an existing one is switched to as it is); `hfgit push --pr N` adds to it.
///
/// `hfgit checkout <REV> -- <PATH>...`: the chosen files (or directories) as REV has them, and
/// their index entries; HEAD does not move (like `hfgit restore --source <REV>`).
///
/// `hfgit checkout --ours|--theirs <PATH>...`: during a merge, each unmerged path as that side
/// has it, with content, and the path resolved in the index (unlike git, which leaves it
/// unmerged), so `hfgit commit` can conclude the merge.
#[derive(clap::Args)]
pub struct Args {
    /// The commit, branch or tag (with --ours/--theirs: the first path)
    #[arg(required = true)]
    rev: Option<String>,
    /// Paths to bring back from REV (after `--`)
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<String>,
    /// Where to download LFS objects the local store lacks (a remote name or TARGET; default origin)
    #[arg(long, value_name = "NAME|TARGET")]
    remote: Option<String>,
    /// With paths: overwrite them even when they have changes in no commit
    #[arg(short, long)]
    force: bool,
    /// Take our side of each unmerged PATH (and resolve it)
    #[arg(long, conflicts_with_all = ["theirs", "force"])]
    ours: bool,
    /// Take their side (the merged commit's) of each unmerged PATH (and resolve it)
    #[arg(long, conflicts_with = "force")]
    theirs: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { rev, paths, remote, force, ours, theirs, json } = args;
    let repo = super::open_repo()?;
    let cwd = super::cwd()?;
    let src = Source { remote: remote.as_deref(), cwd: &cwd, interactive: ui.interactive() };
    let rev = rev.expect("clap requires REV");
    if ours || theirs {
        let side = if ours { Side::Ours } else { Side::Theirs };
        let all: Vec<String> = std::iter::once(rev).chain(paths).collect();
        let rel = all.iter().map(|p| checkout::repo_path(&repo, &cwd, p)).collect::<Result<Vec<_>>>()?;
        let out = merge::pick_side(&repo, side, &rel, &src, &ui.progress())?;
        if json {
            ui::print_json(&out);
            return Ok(ExitCode::SUCCESS);
        }
        let which = if ours { "ours" } else { "theirs" };
        for p in &out.resolved {
            ui.status(format!("{p}: took {which}, resolved (marked as merged in the index)"));
        }
        println!(
            "{} path(s) resolved; LFS: downloaded {} object(s) ({}), wrote {} file(s)",
            out.resolved.len(),
            out.downloaded_objects,
            ui::bytes(out.downloaded_bytes),
            out.files_written
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !paths.is_empty() {
        let source = checkout::commit_of(&repo, &rev)?;
        let rel = paths.iter().map(|p| checkout::repo_path(&repo, &cwd, p)).collect::<Result<Vec<_>>>()?;
        let out = checkout::restore(&repo, source, &rel, force, &src, &ui.progress())?;
        return report_paths(&out, json, ui);
    }
    if force {
        return Err(hfgit::Error::BadInput("--force applies to `checkout <REV> -- <PATH>...` only".into()));
    }
    if let Some(id) = checkout::pull_request(&repo, &rev, remote.as_deref())? {
        let out = checkout::checkout(&repo, &Resolved::Detached(id), Some(&rev), &src, &ui.progress())?;
        return report_move(&out, json, ui);
    }
    let target = checkout::resolve(&repo, &rev)?;
    let out = checkout::checkout(&repo, &target, None, &src, &ui.progress())?;
    report_move(&out, json, ui)
}

/// What a move of HEAD prints.
pub fn report_move(out: &CheckoutOutcome, json: bool, ui: &Ui) -> Result<ExitCode> {
    if json {
        ui::print_json(out);
        return Ok(ExitCode::SUCCESS);
    }
    match (&out.branch, &out.created_branch) {
        (Some(b), Some(_)) => ui.status(format!("Switched to a new branch '{b}'")),
        (Some(b), None) => ui.status(format!("Switched to branch '{b}'")),
        (None, _) => ui.status(format!("HEAD is now at {} (detached)", &out.commit[..7])),
    }
    lfs_line(out);
    Ok(ExitCode::SUCCESS)
}

/// What bringing back paths prints.
pub fn report_paths(out: &CheckoutOutcome, json: bool, ui: &Ui) -> Result<ExitCode> {
    if json {
        ui::print_json(out);
        return Ok(ExitCode::SUCCESS);
    }
    ui.status(format!("Restored {} file(s) from {}", out.files_changed, &out.commit[..7]));
    lfs_line(out);
    Ok(ExitCode::SUCCESS)
}

fn lfs_line(out: &CheckoutOutcome) {
    println!(
        "{} file(s) changed; LFS: downloaded {} object(s) ({}), wrote {} file(s)",
        out.files_changed,
        out.downloaded_objects,
        ui::bytes(out.downloaded_bytes),
        out.files_written
    );
}

/// `switch` resolves only branches.
pub fn branch_target(repo: &git2::Repository, name: &str) -> Result<Resolved> {
    match checkout::resolve(repo, name)? {
        b @ Resolved::Branch(..) => Ok(b),
        Resolved::Detached(_) => Err(hfgit::Error::with_hint(
            format!("`{name}` is not a local branch"),
            format!(
                "to look at that commit, detach HEAD with `hfgit checkout {name}`; to make a branch there, `hfgit switch -c <NEW> {name}`"
            ),
        )),
    }
}
