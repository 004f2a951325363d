use crate::ui::{self, Ui};
use hfgit::ops::pull::PullMode;
use hfgit::Result;
use std::process::ExitCode;

/// Fetch, fast-forward the current branch and download the LFS content it needs
///
/// Works on any branch: its upstream (`branch.<name>.remote` and `.merge`) says what to pull,
/// else the same-named branch of origin. When the branch and its upstream have diverged, pull
/// refuses unless --merge, which merges the upstream as `hfgit merge` does.
///
/// --include/--exclude replace the saved selection (lfs.fetchinclude / lfs.fetchexclude) from
/// now on: newly selected files are downloaded and written; files already written stay.
#[derive(clap::Args)]
pub struct Args {
    /// Remote name (default: the branch's upstream, else origin)
    remote: Option<String>,
    #[command(flatten)]
    select: super::LfsSelection,
    /// When the branch and its upstream have diverged, merge the upstream (`hfgit merge`)
    #[arg(long, conflicts_with = "ff_only")]
    merge: bool,
    /// Only fast-forward (the default)
    #[arg(long)]
    ff_only: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, select: super::LfsSelection { include, exclude }, merge, ff_only: _, json } = args;
    let repo = super::open_repo()?;
    if !include.is_empty() || !exclude.is_empty() {
        // files already written stay; only what is downloaded from now on changes
        hfgit::lfs::select::replace_selection(&repo, &include, &exclude)?;
    }
    let mode = if merge { PullMode::Merge } else { PullMode::FastForwardOnly };
    let out = hfgit::ops::pull::pull(&repo, remote.as_deref(), mode, ui.interactive(), &ui.progress())?;
    if let (Some(m), false) = (&out.merge, json) {
        println!("{}: merging {} from {}", out.branch, &m.theirs[..7], out.remote);
        return super::merge::report(m, false, ui);
    }
    if json {
        let code = if out.merge.as_ref().is_some_and(|m| !m.conflicts.is_empty()) { ExitCode::from(1) } else { ExitCode::SUCCESS };
        ui::print_json(&out);
        return Ok(code);
    }
    if out.up_to_date {
        println!("Already up to date.");
    } else {
        let old = out.old.as_deref().map(|o| &o[..7]).unwrap_or("(none)");
        println!("{}: {old} -> {} ({} file(s) changed)", out.branch, &out.new[..7], out.files_changed);
    }
    println!(
        "LFS: downloaded {} object(s) ({}), wrote {} file(s)",
        out.downloaded_objects,
        ui::bytes(out.downloaded_bytes),
        out.files_written
    );
    Ok(ExitCode::SUCCESS)
}
