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
        // the command that really gets them (fetch: into the store, the work tree untouched)
        let mut hint: Vec<String> = report.fetch_with.iter().map(|c| format!("download the missing objects with `{c}`")).collect();
        if report.problems.iter().any(|p| p.kind == "corrupt" || p.kind == "wrong-size") {
            let fetch = if all { "hfgit fetch --all" } else { "hfgit fetch --include '*'" };
            hint.push(format!("a damaged object: move it out of .git/lfs/objects, then download it again with `{fetch}`"));
        }
        ui.error(&hfgit::Error::with_hint(
            format!("{} problem(s) in {} LFS object(s)", report.problems.len(), report.objects_checked),
            hint.join("\n"),
        ));
        Ok(ExitCode::from(1))
    }
}
