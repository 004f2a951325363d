use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Fetch, fast-forward the current branch and download the LFS content it needs
#[derive(clap::Args)]
pub struct Args {
    /// Remote name (default: the branch's upstream, else origin)
    remote: Option<String>,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, json } = args;
    let repo = super::open_repo()?;
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
