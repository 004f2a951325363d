use crate::ui::Ui;
use hfgit::ops::checkout::{self, Source};
use hfgit::Result;
use std::process::ExitCode;

/// Bring files back as a commit has them (default HEAD), with LFS content
///
/// Each chosen file (or every file under a chosen directory) is written through a temp file and
/// a rename, its LFS content from the local store or downloaded from the remote (verified), and
/// its index entry updated. A file with changes that are in no commit is not overwritten
/// unless `--force`. HEAD does not move.
#[derive(clap::Args)]
pub struct Args {
    /// Paths to restore
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
    /// The commit, branch or tag to take the files from
    #[arg(short, long, value_name = "REV", default_value = "HEAD")]
    source: String,
    /// Where to download LFS objects the local store lacks (a remote name or TARGET; default origin)
    #[arg(long, value_name = "NAME|TARGET")]
    remote: Option<String>,
    /// Overwrite files even when they have changes in no commit
    #[arg(short, long)]
    force: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { paths, source, remote, force, json } = args;
    let repo = super::open_repo()?;
    let cwd = super::cwd()?;
    let src = Source { remote: remote.as_deref(), cwd: &cwd, interactive: ui.interactive() };
    let id = checkout::commit_of(&repo, &source)?;
    let rel = paths.iter().map(|p| checkout::repo_path(&repo, &cwd, p)).collect::<Result<Vec<_>>>()?;
    let out = checkout::restore(&repo, id, &rel, force, &src, &ui.progress())?;
    super::checkout::report_paths(&out, json, ui)
}
