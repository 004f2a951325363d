use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Show commits with the LFS files each one added or changed
#[derive(clap::Args)]
pub struct Args {
    /// Show at most N commits
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    max_count: Option<usize>,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
    /// Per commit, one line for config.json and each weights file: keys and tensors changed
    #[arg(long)]
    stat: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitCode> {
    let Args { max_count, json, stat } = args;
    let repo = super::open_repo()?;
    let entries = hfgit::ops::log::log(&repo, max_count, stat)?;
    if json {
        ui::print_json(&entries);
        return Ok(ExitCode::SUCCESS);
    }
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("commit {}", e.commit);
        println!("Author: {} <{}>", e.author, e.email);
        println!("Date:   {}", ui::date(e.time, e.offset_minutes));
        println!();
        for l in e.message.trim_end().lines() {
            println!("    {l}");
        }
        if !e.lfs.is_empty() {
            println!();
            for f in &e.lfs {
                println!("    LFS {} {} sha256:{}", f.path, ui::bytes(f.size), &f.oid[..12]);
            }
        }
        if let Some(stat) = e.stat.as_ref().filter(|s| !s.is_empty()) {
            println!();
            for f in stat {
                println!("    {}", super::diff::stat_line(f));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
