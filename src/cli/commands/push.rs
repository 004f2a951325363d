use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Upload LFS objects, then update the remote branch
///
/// REMOTE is a remote name (default `origin`) or a TARGET: a path or file:// URL of a bare
/// repository. Every LFS object the pushed commits need that the remote lacks is uploaded
/// before the remote branch moves.
#[derive(clap::Args)]
pub struct Args {
    /// Remote name or target
    #[arg(default_value = "origin")]
    remote: String,
    /// Create the remote repository when it does not exist
    #[arg(long)]
    create: bool,
    /// Create the repository as private (Hub remotes)
    #[arg(long)]
    private: bool,
    /// Push pickle files even when they would run dangerous code on load
    #[arg(long)]
    allow_unsafe_pickle: bool,
    /// Overwrite the remote branch even when it is not a fast-forward
    #[arg(long)]
    force: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, create, private, force, json, allow_unsafe_pickle } = args;
    let repo = super::open_repo()?;
    let out = hfgit::ops::push::push(
        &repo,
        &hfgit::ops::push::PushOptions { remote: &remote, create, force, private, allow_unsafe_pickle, interactive: ui.interactive() },
        &super::cwd()?,
        &ui.progress(),
    )?;
    super::scan::report_to_stderr(&out.pickle_warnings, ui);
    if json {
        ui::print_json(&out);
        return Ok(ExitCode::SUCCESS);
    }
    if out.created {
        ui.status(format!("created bare repository {}", out.remote));
    }
    println!(
        "LFS: uploaded {} object(s) ({}), skipped {} already on the remote ({})",
        out.uploaded_objects,
        ui::bytes(out.uploaded_bytes),
        out.skipped_objects,
        ui::bytes(out.skipped_bytes)
    );
    if out.up_to_date {
        println!("{}: everything up to date", out.branch);
    } else {
        let old = out.old.as_deref().map(|o| &o[..7]).unwrap_or("(new branch)");
        println!("{}: {old} -> {} on {}", out.branch, &out.new[..7], out.remote);
    }
    Ok(ExitCode::SUCCESS)
}
