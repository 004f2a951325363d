use crate::ui::{self, Ui};
use hfgit::ops::checkout::{self, Source};
use hfgit::ops::merge::{self, MergeOptions, MergeOutcome};
use hfgit::Result;
use std::process::ExitCode;

/// Join another branch or commit into the current one, with LFS content
///
/// A fast-forward moves the work tree as `hfgit checkout` does. Otherwise libgit2 merges the
/// trees: a clean result is written (LFS content from the store or the remote, verified first)
/// and committed with two parents, unless --no-commit. A weights file changed on both sides never
/// gets conflict markers: the index records the conflict, the work tree keeps our content, and
/// `hfgit checkout --ours|--theirs <PATH>` picks a side; text files get git's usual markers.
/// Local changes the merge would overwrite stop it before anything is written. Exits 1 when the
/// merge stopped with conflicts.
#[derive(clap::Args)]
pub struct Args {
    /// The branch, tag or commit to merge
    #[arg(required_unless_present = "abort")]
    rev: Option<String>,
    /// The merge commit's message (default: "Merge branch '<REV>'")
    #[arg(short, long)]
    message: Option<String>,
    /// Stop before committing a clean merge (conclude it with `hfgit commit`)
    #[arg(long)]
    no_commit: bool,
    /// Refuse unless the merge is a fast-forward
    #[arg(long)]
    ff_only: bool,
    /// Abandon the merge in progress: the index and the files it touched back as HEAD has them
    #[arg(long, conflicts_with_all = ["rev", "message", "no_commit", "ff_only"])]
    abort: bool,
    /// Where to download LFS objects the local store lacks (a remote name or TARGET; default origin)
    #[arg(long, value_name = "NAME|TARGET")]
    remote: Option<String>,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { rev, message, no_commit, ff_only, abort, remote, json } = args;
    let repo = super::open_repo()?;
    let cwd = super::cwd()?;
    let src = Source { remote: remote.as_deref(), cwd: &cwd, interactive: ui.interactive() };
    let Some(rev) = rev.filter(|_| !abort) else {
        let out = merge::abort(&repo, &src, &ui.progress())?;
        if json {
            ui::print_json(&out);
        } else {
            ui.status(format!("Merge aborted: {} path(s) back as {} has them", out.restored.len(), &out.head[..7]));
        }
        return Ok(ExitCode::SUCCESS);
    };
    let theirs = checkout::commit_of(&repo, &rev)?;
    let opts = MergeOptions { message: message.as_deref(), no_commit, ff_only };
    let out = merge::merge(&repo, theirs, &rev, &opts, &src, None, &ui.progress())?;
    report(&out, json, ui)
}

/// What a merge prints (also after `hfgit pull --merge`); exit 1 when it stopped with conflicts.
pub fn report(out: &MergeOutcome, json: bool, ui: &Ui) -> Result<ExitCode> {
    let code = if out.conflicts.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if json {
        ui::print_json(out);
        return Ok(code);
    }
    if out.up_to_date {
        println!("Already up to date.");
        return Ok(code);
    }
    let short = |id: &str| id[..7].to_string();
    match (&out.commit, out.fast_forward) {
        (Some(c), true) => println!("Fast-forward to {}", short(c)),
        (Some(c), false) => println!(
            "Merge made: {} (parents {} and {})",
            short(c),
            out.previous.as_deref().map(short).unwrap_or_default(),
            short(&out.theirs)
        ),
        (None, _) if out.conflicts.is_empty() => println!("Merged without committing, as asked; conclude with `hfgit commit -m ...`"),
        (None, _) => {}
    }
    for c in &out.conflicts {
        let how = if c.lfs {
            "LFS file: no markers, the work tree keeps ours; pick a side with `hfgit checkout --ours|--theirs`"
        } else if c.markers {
            "conflict markers written"
        } else {
            "the work tree keeps one side"
        };
        println!("CONFLICT {} ({how})", c.path);
    }
    println!(
        "{} file(s) changed; LFS: downloaded {} object(s) ({}), wrote {} file(s)",
        out.files_changed,
        out.downloaded_objects,
        ui::bytes(out.downloaded_bytes),
        out.files_written
    );
    if !out.conflicts.is_empty() {
        ui.status("Automatic merge failed; resolve the conflicts, then `hfgit commit -m ...` (or `hfgit merge --abort`)");
    }
    Ok(code)
}
