use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Check that every LFS object HEAD refers to is present and intact
#[derive(clap::Args)]
pub struct Args {
    /// Check the objects of all commits reachable from any ref
    #[arg(long)]
    all: bool,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { all, json } = args;
    let repo = super::open_repo()?;
    let report = hfgit::ops::fsck::fsck(&repo, all, &ui.progress())?;
    if json {
        ui::print_json(&report);
    } else {
        for p in &report.problems {
            println!("{}: {} (sha256:{}): {}", p.kind, p.path, p.oid, p.detail);
        }
    }
    if report.problems.is_empty() {
        ui.status(format!("{} LFS object(s) checked, all OK", report.objects_checked));
        Ok(ExitCode::SUCCESS)
    } else {
        // the command that really gets them: fetch takes every file of HEAD with `--include '*'`
        // (the saved selection may leave some out), of every commit with `--all`
        let fetch = if all { "hfgit fetch --all" } else { "hfgit fetch --include '*'" };
        let damaged = report.problems.iter().any(|p| p.kind == "corrupt");
        let hint = if damaged {
            format!("move the corrupt objects out of .git/lfs/objects, then download them again with `{fetch}`")
        } else {
            format!("download missing objects with `{fetch}`, or re-add the files and commit")
        };
        ui.error(&hfgit::Error::with_hint(
            format!("{} problem(s) in {} LFS object(s)", report.problems.len(), report.objects_checked),
            hint,
        ));
        Ok(ExitCode::from(1))
    }
}
