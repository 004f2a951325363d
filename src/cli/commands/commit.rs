use crate::ui::{self, Ui};
use hfgit::ops::status::ChangeKind;
use hfgit::Result;
use std::process::ExitCode;

/// Record the whole work tree as a commit; large files become Git LFS pointers
#[derive(clap::Args)]
pub struct Args {
    /// The commit message
    #[arg(short, long)]
    message: String,
    /// Override the author ("Name <email>")
    #[arg(long, value_name = "NAME <EMAIL>")]
    author: Option<String>,
    /// Commit even when nothing changed
    #[arg(long)]
    allow_empty: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { message, author, allow_empty, json } = args;
    let repo = super::open_repo()?;
    let bar = ui.progress();
    let out = hfgit::ops::commit::commit(
        &repo,
        &hfgit::ops::commit::CommitOptions { message: &message, author: author.as_deref(), allow_empty },
        &bar,
    )?;
    for w in &out.warnings {
        ui.warn(w);
    }
    super::scan::report_to_stderr(&out.scans, ui);
    for p in &out.rules_added {
        if out.binary_rules_added.contains(p) {
            ui.warn(format!(
                "{p} is a binary file over 1 MiB, which the Hub refuses outside LFS: added an LFS rule for it to .gitattributes"
            ));
        } else {
            ui.warn(format!("{p} is over hfgit.lfsThreshold: added an LFS rule for it to .gitattributes"));
        }
    }
    if json {
        ui::print_json(&out);
        return Ok(ExitCode::SUCCESS);
    }
    let subject = message.lines().next().unwrap_or("");
    let root = if out.root { " (root-commit)" } else { "" };
    let on = if out.detached { "detached HEAD" } else { out.branch.as_str() };
    ui.status(format!("[{on}{root} {}] {subject}", &out.commit[..7]));
    if !out.merged.is_empty() {
        let short: Vec<&str> = out.merged.iter().map(|m| &m[..7]).collect();
        ui.status(format!(" merge commit: second parent {}", short.join(", ")));
    }
    let count = |k| out.changes.iter().filter(|c| c.status == k).count();
    ui.status(format!(
        " {} added, {} modified, {} deleted; {} LFS object(s) stored ({})",
        count(ChangeKind::Added),
        count(ChangeKind::Modified),
        count(ChangeKind::Deleted),
        out.lfs_objects_stored,
        ui::bytes(out.lfs_bytes_stored)
    ));
    if ui.verbose {
        for c in &out.changes {
            ui.status(format!("  {:?} {}{}", c.status, c.path, if c.lfs { " (LFS)" } else { "" }));
        }
        ui.status(format!(" hashed {}", ui::bytes(out.bytes_hashed)));
    }
    println!("{}", out.commit);
    Ok(ExitCode::SUCCESS)
}
