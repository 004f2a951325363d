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
    /// Model card: license id for README.md (e.g. apache-2.0, mit)
    #[arg(long, default_value = "unknown", value_name = "ID")]
    license: String,
    /// Model card: library_name
    #[arg(long, default_value = "pytorch", value_name = "NAME")]
    library_name: String,
    /// Model card: a tag (repeatable)
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Model card: the Hub id of the model this one derives from
    #[arg(long, value_name = "ID")]
    base_model: Option<String>,
    /// Do not write a README.md model card
    #[arg(long)]
    no_model_card: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { dir, remote, branch, license, library_name, tags, base_model, no_model_card } = args;
    let cwd = super::cwd()?;
    let dir = cwd.join(dir.unwrap_or_else(|| PathBuf::from(".")));
    let tags = if tags.is_empty() { vec![library_name.clone()] } else { tags };
    let card = hfgit::hub::model_card::CardMeta { library_name, license, tags, base_model };
    let out = hfgit::ops::init::init(&dir, remote.as_deref(), &branch, &cwd, (!no_model_card).then_some(&card))?;
    if out.created {
        ui.status(format!("Initialized empty hfgit repository in {}", out.path));
    } else {
        ui.status(format!("Reinitialized existing repository in {} (nothing existing was changed)", out.path));
    }
    if out.wrote_gitattributes {
        ui.status(format!("Wrote .gitattributes with the Hub's {} LFS patterns", hfgit::lfs::track::HUB_MODEL_PATTERNS.len()));
    }
    if out.pre_push_hook {
        ui.status("Installed a pre-push hook: plain `git push` uploads LFS objects through hfgit");
    }
    if out.wrote_model_card {
        ui.status("Wrote README.md, a model card with Hub metadata (edit it before you publish)");
    }
    if let Some(url) = &out.remote_url {
        ui.status(format!("origin: {}", hfgit::net::remote::redact(url)));
    }
    Ok(ExitCode::SUCCESS)
}
