use crate::ui::Ui;
use hfgit::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Create a staging repository on `main` with the Hub's LFS rules
#[derive(clap::Args)]
pub struct Args {
    /// Directory to create (default: the current directory)
    dir: Option<PathBuf>,
    /// Remote to push to: a path, a URL or a Hub repo id (owner/name)
    #[arg(long, value_name = "TARGET")]
    remote: Option<String>,
    /// Initial branch name
    #[arg(long, default_value = "main", value_name = "NAME")]
    branch: String,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { dir, remote, branch } = args;
    let cwd = super::cwd()?;
    let dir = cwd.join(dir.unwrap_or_else(|| PathBuf::from(".")));
    let out = hfgit::init::init(&dir, remote.as_deref(), &branch, &cwd)?;
    if out.created {
        ui.status(format!("Initialized empty hfgit repository in {}", out.path));
    } else {
        ui.status(format!("Reinitialized existing repository in {} (nothing existing was changed)", out.path));
    }
    if out.wrote_gitattributes {
        ui.status(format!("Wrote .gitattributes with the Hub's {} LFS patterns", hfgit::track::HUB_MODEL_PATTERNS.len()));
    }
    if let Some(url) = &out.remote_url {
        ui.status(format!("origin: {}", hfgit::remote::redact(url)));
    }
    Ok(ExitCode::SUCCESS)
}
