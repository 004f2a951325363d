use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Show how much disk the local LFS store uses, how much HEAD needs and prune would free
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitCode> {
    let Args { json } = args;
    let repo = super::open_repo()?;
    let d = hfgit::ops::du::du(&repo)?;
    if json {
        ui::print_json(&d);
        return Ok(ExitCode::SUCCESS);
    }
    println!("store:    {} in {} object(s) ({})", ui::bytes(d.store_bytes), d.store_objects, d.store);
    println!(
        "HEAD:     {} in {} object(s), {} of them in the store ({})",
        ui::bytes(d.head_bytes),
        d.head_objects,
        d.head_present_objects,
        ui::bytes(d.head_present_bytes)
    );
    println!("prunable: {} in {} object(s) (`hfgit prune --dry-run` lists them)", ui::bytes(d.prunable_bytes), d.prunable_objects);
    Ok(ExitCode::SUCCESS)
}
