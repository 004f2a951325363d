use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Show commits with the LFS files each one added or changed
///
/// From REV (default HEAD: a branch, tag, commit id, HEAD~N, …); with paths after `--`
/// (relative to the current directory; a directory means everything under it), only the
/// commits that changed them.
#[derive(clap::Args)]
pub struct Args {
    /// The revision to start from
    #[arg(value_name = "REV")]
    rev: Option<String>,
    /// Only commits that changed these paths
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<String>,
    /// Show at most N commits
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    max_count: Option<usize>,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
    /// Per commit, one line for config.json and each weights file: keys and tensors changed
    #[arg(long)]
    stat: bool,
    /// One line per commit: the short id and the message's first line
    #[arg(long)]
    oneline: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitCode> {
    let Args { rev, paths, max_count, json, stat, oneline } = args;
    let repo = super::open_repo()?;
    let cwd = super::cwd()?;
    let only = paths.iter().map(|p| hfgit::ops::checkout::repo_path(&repo, &cwd, p)).collect::<Result<Vec<_>>>()?;
    let entries = hfgit::ops::log::log(&repo, rev.as_deref(), &only, max_count, stat)?;
    if json {
        ui::print_json(&entries);
        return Ok(ExitCode::SUCCESS);
    }
    if oneline {
        for e in &entries {
            println!("{} {}", &e.commit[..7], e.message.lines().next().unwrap_or(""));
            if let Some(stat) = e.stat.as_ref() {
                for f in stat {
                    println!("    {}", super::diff::stat_line(f));
                }
            }
        }
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
