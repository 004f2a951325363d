use crate::ui::{self, Ui};
use hfgit::ops::push::{short_name, Action};
use hfgit::Result;
use std::process::ExitCode;

/// Upload LFS objects, then update the remote branches and tags
///
/// REMOTE is a remote name (default `origin`) or a TARGET: a path or file:// URL of a bare
/// repository, an HTTP URL or a Hub repo id. REFSPEC is git's: `main`, `v1.0`, `src:dst`,
/// `+src:dst` (force that one), `:dst` (delete); with none, the current branch. Every LFS
/// object the pushed refs need that the remote lacks is uploaded before any remote ref moves.
#[derive(clap::Args)]
pub struct Args {
    /// Remote name or target
    #[arg(default_value = "origin")]
    remote: String,
    /// What to push where (`<src>[:<dst>]`, `+` to force, `:<dst>` to delete)
    refspecs: Vec<String>,
    /// Push every local tag
    #[arg(long)]
    tags: bool,
    /// Push every local branch
    #[arg(long, conflicts_with_all = ["refspecs", "tags"])]
    all: bool,
    /// Also upload every LFS object of every branch and tag (here and on the remote) that the
    /// remote lacks, even when no ref moves
    #[arg(long)]
    all_objects: bool,
    /// Create the remote repository when it does not exist
    #[arg(long)]
    create: bool,
    /// Create the repository as private (Hub remotes)
    #[arg(long)]
    private: bool,
    /// Push pickle files even when they would run dangerous code on load
    #[arg(long)]
    allow_unsafe_pickle: bool,
    /// Overwrite remote branches that are not fast-forwards, and move remote tags
    #[arg(long)]
    force: bool,
    /// Send nothing and move no ref: report what would be sent (for a Hub remote with Xet
    /// storage, per file the bytes of chunks not already known here)
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, refspecs, tags, all, all_objects, create, private, force, json, allow_unsafe_pickle, dry_run } = args;
    let repo = super::open_repo()?;
    let out = hfgit::ops::push::push(
        &repo,
        &hfgit::ops::push::PushOptions {
            remote: &remote,
            refspecs: &refspecs,
            tags,
            all,
            all_objects,
            create,
            force,
            private,
            allow_unsafe_pickle,
            interactive: ui.interactive(),
            dry_run,
        },
        &super::cwd()?,
        &ui.progress(),
    )?;
    super::scan::report_to_stderr(&out.pickle_warnings, ui);
    for w in &out.warnings {
        ui.warn(w);
    }
    if json {
        ui::print_json(&out);
    } else if dry_run {
        println!("would upload {} LFS object(s) ({}); nothing was sent", out.uploaded_objects, ui::bytes(out.uploaded_bytes));
        if let Some(x) = &out.xet {
            for f in &x.per_file {
                println!("  {}: {} of {} in chunks not stored yet", f.path, ui::bytes(f.new_bytes), ui::bytes(f.size));
            }
            println!(
                "Xet: about {} to send for {} of files ({} already stored)",
                ui::bytes(x.sent_bytes),
                ui::bytes(x.bytes),
                ui::bytes(x.deduplicated_bytes)
            );
        }
        for r in &out.refs {
            println!("{}: would be {:?}", short_name(&r.name), r.action);
        }
    } else {
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
        if let Some(x) = &out.xet {
            println!(
                "Xet: sent {} for {} of files: {} deduplicated, {} saved by compression ({} xorb(s) sent, {} already stored)",
                ui::bytes(x.sent_bytes),
                ui::bytes(x.bytes),
                ui::bytes(x.deduplicated_bytes),
                ui::bytes(x.compression_saved),
                x.xorbs_sent,
                x.xorbs_present
            );
        }
        let short = |id: &Option<String>| id.as_deref().map(|o| o[..7].to_string());
        for r in &out.refs {
            let name = short_name(&r.name);
            let kind = if r.name.starts_with("refs/tags/") { "(new tag)" } else { "(new branch)" };
            let (old, new) = (short(&r.old).unwrap_or_else(|| kind.to_string()), short(&r.new).unwrap_or_default());
            match r.action {
                Action::UpToDate => println!("{name}: everything up to date"),
                Action::Created | Action::Updated => println!("{name}: {old} -> {new} on {}", out.remote),
                Action::Forced => println!("{name}: {old} -> {new} on {} (forced)", out.remote),
                Action::Deleted => println!("{name}: deleted from {} (was {old})", out.remote),
                Action::Rejected => println!("{name}: rejected ({})", r.reason.as_deref().unwrap_or("refused by the remote")),
            }
        }
    }
    match out.rejection() {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}
