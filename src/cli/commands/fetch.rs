use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// Download git objects and the LFS objects of some revisions into the local store
///
/// Without REV: HEAD and the current branch's upstream tip. Files: --include/--exclude for this
/// run, else lfs.fetchinclude/lfs.fetchexclude. The work tree is not touched.
///
/// `--pr N`: also the Hub pull request N (`refs/pr/N`, not fetched otherwise) into
/// `refs/remotes/<remote>/pr/N`, with its LFS files; `hfgit checkout pr/N` then checks it out.
#[derive(clap::Args)]
pub struct Args {
    /// Remote name (default: the branch's upstream, else origin)
    remote: Option<String>,
    /// Revisions whose LFS files to download (branches, tags, commit ids)
    revs: Vec<String>,
    /// Every LFS file of every commit of every ref
    #[arg(long)]
    all: bool,
    /// Also the refs and commits within lfs.fetchrecentrefsdays / lfs.fetchrecentcommitsdays
    #[arg(long)]
    recent: bool,
    /// Also fetch the Hub pull request N (into refs/remotes/<remote>/pr/N)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pr: Option<u64>,
    #[command(flatten)]
    select: super::LfsSelection,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, revs, all, recent, pr, select: super::LfsSelection { include, exclude }, json } = args;
    let repo = super::open_repo()?;
    let out = hfgit::ops::fetch::fetch(
        &repo,
        &hfgit::ops::fetch::FetchOptions {
            remote: remote.as_deref(),
            revs: &revs,
            all,
            recent,
            include: &include,
            exclude: &exclude,
            interactive: ui.interactive(),
            pr,
        },
        &ui.progress(),
    )?;
    if json {
        ui::print_json(&out);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "LFS: {} object(s) for {} commit(s): downloaded {} ({}), {} already present",
        out.objects,
        out.commits.len(),
        out.downloaded_objects,
        ui::bytes(out.downloaded_bytes),
        out.already_present
    );
    if let (Some(r), Some(n)) = (&out.pull_request_ref, pr) {
        ui.status(format!("pull request #{n} is at {r}; `hfgit checkout pr/{n}` checks it out"));
    }
    if out.not_selected > 0 {
        ui.status(format!(
            "{} LFS object(s) of these commits are left out by lfs.fetchinclude / lfs.fetchexclude; `hfgit fetch --include '*'` downloads them too",
            out.not_selected
        ));
    }
    Ok(ExitCode::SUCCESS)
}
