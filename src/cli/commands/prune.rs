use crate::ui::{self, Ui};
use hfgit::ops::prune::{PruneOptions, Verify};
use hfgit::Result;
use std::process::ExitCode;

/// Delete local LFS objects that nothing needs, with git-lfs's rules
///
/// Kept: the objects of HEAD, the index, work-tree pointer files, refs within the recent window
/// (lfs.fetchrecentrefsdays + lfs.pruneoffsetdays), unpushed commits (not on
/// lfs.pruneremotetocheck, default origin) and stashes. Objects a commit still reaches are
/// confirmed on the remote before they are deleted.
#[derive(clap::Args)]
pub struct Args {
    /// List what would be deleted; delete nothing
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Confirm every object on the remote before deleting it, even those no commit reaches
    #[arg(short = 'c', long, conflicts_with = "no_verify_remote")]
    verify_remote: bool,
    /// Do not ask the remote (git-lfs's default)
    #[arg(long)]
    no_verify_remote: bool,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { dry_run, verify_remote, no_verify_remote, json } = args;
    let repo = super::open_repo()?;
    let verify = match (verify_remote, no_verify_remote) {
        (true, _) => Some(Verify::All),
        (_, true) => Some(Verify::Never),
        _ => None,
    };
    let report = hfgit::ops::prune::prune(&repo, &PruneOptions { dry_run, verify, interactive: ui.interactive() }, &ui.progress())?;
    if json {
        ui::print_json(&report);
        return Ok(ExitCode::SUCCESS);
    }
    for o in &report.pruned {
        println!("{} {}", o.oid, ui::bytes(o.size));
    }
    let verb = if dry_run { "would be deleted" } else { "deleted" };
    let checked = match &report.remote {
        Some(r) if report.verified_objects > 0 => format!(", {} confirmed on {r}", report.verified_objects),
        _ => String::new(),
    };
    ui.status(format!(
        "{} of {} local LFS object(s) {verb} ({} freed{}); {} kept",
        report.pruned.len(),
        report.store_objects,
        ui::bytes(report.pruned_bytes),
        checked,
        report.retained_objects
    ));
    Ok(ExitCode::SUCCESS)
}
