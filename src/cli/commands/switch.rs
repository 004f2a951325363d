use crate::ui::Ui;
use hfgit::ops::checkout::{self, Resolved, Source};
use hfgit::Result;
use std::process::ExitCode;

/// Switch to a branch, or create one and switch to it, with LFS content
///
/// `hfgit switch <BRANCH>` checks the branch out as `hfgit checkout` does (local changes in the
/// way stop it; files replaced by renames; HEAD last). `hfgit switch -c <NEW> [<START>]`
/// creates NEW at START (default HEAD) and switches to it.
#[derive(clap::Args)]
pub struct Args {
    /// The branch (with -c: the start point, default HEAD)
    #[arg(value_name = "BRANCH|START")]
    target: Option<String>,
    /// Create this branch and switch to it
    #[arg(short = 'c', long = "create", value_name = "NEW")]
    create: Option<String>,
    /// Where to download LFS objects the local store lacks (a remote name or TARGET; default origin)
    #[arg(long, value_name = "NAME|TARGET")]
    remote: Option<String>,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { target, create, remote, json } = args;
    let repo = super::open_repo()?;
    let cwd = super::cwd()?;
    let src = Source { remote: remote.as_deref(), cwd: &cwd, interactive: ui.interactive() };
    let resolved = match (&create, &target) {
        (Some(_), Some(start)) => Resolved::Detached(checkout::commit_of(&repo, start)?),
        (Some(_), None) => Resolved::Detached(checkout::commit_of(&repo, "HEAD")?),
        (None, Some(b)) => super::checkout::branch_target(&repo, b)?,
        (None, None) => return Err(hfgit::Error::BadInput("name a branch: `hfgit switch <BRANCH>` or `hfgit switch -c <NEW>`".into())),
    };
    let out = checkout::checkout(&repo, &resolved, create.as_deref(), &src, &ui.progress())?;
    super::checkout::report_move(&out, json, ui)
}
