use crate::ui::{self, Ui};
use hfgit::Result;
use std::io::Read;
use std::process::ExitCode;

/// Upload the LFS objects `git push` is about to need (run by the pre-push hook)
///
/// Reads git's pre-push lines (`<local ref> <local sha> <remote ref> <remote sha>`) on stdin and
/// uploads every LFS object of those commits that the remote lacks. A failure stops the push.
#[derive(clap::Args)]
pub struct Args {
    /// The remote's name (or its URL when git was given one)
    remote: String,
    /// The URL git pushes to
    url: String,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { remote, url } = args;
    let repo = super::open_repo()?;
    let mut lines = String::new();
    std::io::stdin().read_to_string(&mut lines).map_err(|e| hfgit::Error::failed(format!("reading git's pre-push lines: {e}")))?;
    let sum = hfgit::ops::push::pre_push(&repo, &remote, &url, &lines, ui.interactive(), &ui.progress())?;
    if sum.uploaded_objects + sum.skipped_objects > 0 {
        ui.status(format!(
            "LFS: uploaded {} object(s) ({}), skipped {} already on the remote ({})",
            sum.uploaded_objects,
            ui::bytes(sum.uploaded_bytes),
            sum.skipped_objects,
            ui::bytes(sum.skipped_bytes)
        ));
    }
    Ok(ExitCode::SUCCESS)
}
