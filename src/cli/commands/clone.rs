use crate::ui::{self, Ui};
use hfgit::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Clone a repository and download its LFS content, verified
#[derive(clap::Args)]
pub struct Args {
    /// What to clone: a path, a file:// URL
    target: String,
    /// Directory to clone into (default: the repository's name)
    dir: Option<PathBuf>,
    /// Download only LFS files matching GLOB (repeatable)
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Do not download LFS files matching GLOB (repeatable)
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Download no LFS content (files stay pointer files)
    #[arg(long)]
    no_lfs: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { target, dir, include, exclude, no_lfs, json } = args;
    let out = hfgit::ops::clone::clone(
        &hfgit::ops::clone::CloneOptions {
            target: &target,
            dir: dir.as_deref(),
            include: &include,
            exclude: &exclude,
            no_lfs,
            interactive: ui.interactive(),
        },
        &super::cwd()?,
        &ui.progress(),
    )?;
    if json {
        ui::print_json(&out);
    } else {
        if out.resumed {
            ui.status("resumed an unfinished clone");
        }
        match &out.branch {
            None => ui.warn("you appear to have cloned an empty repository"),
            Some(b) => ui.status(format!(
                "cloned {} into {} ({b}); LFS: {} of {} file(s) selected, {} object(s) downloaded ({})",
                out.remote,
                out.dir,
                out.lfs_files_selected,
                out.lfs_files,
                out.downloaded_objects,
                ui::bytes(out.downloaded_bytes)
            )),
        }
    }
    if out.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for f in &out.failures {
        eprintln!("error: {} (sha256:{}): {}", f.path, f.oid, f.error);
    }
    let dir = ui::shell_quote(&out.dir);
    if out.failures.iter().all(|f| f.missing_on_remote) {
        eprintln!("hint: the remote does not have these objects; the files were left as pointer files: run `hfgit -C {dir} pull` once someone has pushed them");
    } else {
        eprintln!(
            "hint: the files were left as pointer files; run `hfgit -C {dir} pull` to download them again (partial downloads resume)"
        );
    }
    Ok(ExitCode::from(1))
}
