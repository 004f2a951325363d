use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Fetch, fast-forward the current branch and download the LFS content it needs
///
/// --include/--exclude replace the saved selection (lfs.fetchinclude / lfs.fetchexclude) from
/// now on: newly selected files are downloaded and written; files already written stay.
#[derive(clap::Args)]
pub struct Args {
    /// Remote name (default: the branch's upstream, else origin)
    remote: Option<String>,
    #[command(flatten)]
    select: super::LfsSelection,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, select: super::LfsSelection { include, exclude }, json } = args;
    let repo = super::open_repo()?;
    if !include.is_empty() || !exclude.is_empty() {
        // files already written stay; only what is downloaded from now on changes
        hfgit::lfs::select::replace_selection(&repo, &include, &exclude)?;
    }
    let out = hfgit::ops::pull::pull(&repo, remote.as_deref(), ui.interactive(), &ui.progress())?;
    if json {
        ui::print_json(&out);
        return Ok(ExitCode::SUCCESS);
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
