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
    /// Check out branch NAME (or tag NAME, detached) instead of the remote's default branch
    #[arg(long, short = 'b', value_name = "NAME")]
    branch: Option<String>,
    /// Check out commit REV (a commit id, or a branch or tag name), detached
    #[arg(long, value_name = "REV", conflicts_with = "branch")]
    revision: Option<String>,
    /// Print a JSON summary on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { target, dir, include, exclude, no_lfs, branch, revision, json } = args;
    let out = hfgit::ops::clone::clone(
        &hfgit::ops::clone::CloneOptions {
            target: &target,
            dir: dir.as_deref(),
            include: &include,
            exclude: &exclude,
            no_lfs,
            branch: branch.as_deref(),
            revision: revision.as_deref(),
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
        let at = match (&out.branch, &out.commit) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(c)) => Some(format!("HEAD detached at {}", &c[..12])),
            (None, None) => None,
        };
        match at {
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
