use crate::ui::{self, Ui};
use hfgit::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print each file's Xet file id (chunked and hashed as the Hub's CAS does)
#[derive(clap::Args)]
pub struct Args {
    /// Files to hash
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitCode> {
    let out = args.files.iter().map(|f| hfgit::ops::xet_hash::xet_hash(f)).collect::<Result<Vec<_>>>()?;
    if args.json {
        ui::print_json(&out);
    } else {
        for h in &out {
            println!("{} {} {}", h.file_id, h.size, h.path);
        }
    }
    Ok(ExitCode::SUCCESS)
}
