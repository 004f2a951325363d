use crate::ui::{self, Ui};
use hfgit::ops::status::ChangeKind;
use hfgit::Result;
use std::process::ExitCode;

/// Show new, modified and deleted files against HEAD, marking LFS files
///
/// LFS files whose work-tree file is only the pointer (a `git checkout` without git-lfs,
/// `clone --no-lfs`) are listed as content not downloaded, with the command that gets it.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { json } = args;
    let repo = super::open_repo()?;
    let st = hfgit::ops::status::status(&repo, &ui.progress())?;
    if ui.verbose {
        ui.status(format!("hashed {}; refreshed the stat data of {} index entries", ui::bytes(st.bytes_hashed), st.stat_refreshed));
    }
    if json {
        ui::print_json(&st);
        return Ok(ExitCode::SUCCESS);
    }
    match (&st.head, st.detached) {
        (Some(h), true) => println!("HEAD detached at {}", &h[..7]),
        _ => println!("On branch {}", st.branch),
    }
    if st.head.is_none() {
        println!("No commits yet");
    }
    if st.merging {
        println!("A merge is in progress (commit to conclude it, or `hfgit merge --abort`)");
    }
    for p in &st.unmerged {
        println!("U  {p}  (unmerged: `hfgit checkout --ours|--theirs {p}`, or edit it and `git add {p}`)");
    }
    if st.changes.is_empty() && st.unmerged.is_empty() {
        match st.not_downloaded.len() {
            0 => println!("nothing to commit, working tree clean"),
            n => println!("nothing to commit, but {n} LFS file(s) have no content in the work tree"),
        }
    }
    for c in &st.changes {
        let code = match c.status {
            ChangeKind::Added => "A",
            ChangeKind::Modified => "M",
            ChangeKind::Deleted => "D",
        };
        let mut note = String::new();
        if c.lfs {
            note = match c.size {
                Some(n) => format!("  (LFS, {})", ui::bytes(n)),
                None => "  (LFS)".into(),
            };
        }
        if c.adds_rule {
            note.push_str(" (over the LFS threshold: a .gitattributes rule will be added)");
        }
        println!("{code}  {}{note}", c.path);
    }
    if !st.not_downloaded.is_empty() {
        println!("Content not downloaded (the work tree holds the LFS pointer):");
        for f in &st.not_downloaded {
            println!("   {}  (LFS, {})", f.path, ui::bytes(f.size));
        }
        for c in &st.fetch_with {
            println!("  (get the content with `{c}`, at the top of the work tree)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
