//! `hfgit init`: a repository on `main` with the Hub's default LFS `.gitattributes` and an
//! optional `origin`. Re-running it changes nothing that exists.

use crate::error::{Context, Error, Result};
use crate::lfs::track;
use git2::{Repository, RepositoryInitOptions};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct InitOutcome {
    pub path: String,
    pub created: bool,
    pub wrote_gitattributes: bool,
    pub wrote_model_card: bool,
    /// `.git/hooks/pre-push` was installed (there was none).
    pub pre_push_hook: bool,
    pub remote_url: Option<String>,
}

/// `card`: the model card to write as `README.md` when there is none (`None`: no card).
pub fn init(
    dir: &Path,
    remote_target: Option<&str>,
    branch: &str,
    cwd: &Path,
    card: Option<&crate::hub::model_card::CardMeta>,
) -> Result<InitOutcome> {
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(Error::BadInput(format!("invalid branch name `{branch}`")));
    }
    let remote_url = match remote_target {
        Some(t) => {
            let url = crate::net::remote::resolve_target(t, cwd)?;
            let (clean, creds) = crate::net::credentials::split_url_credentials(&url);
            if creds.is_some() {
                return Err(Error::with_hint(
                    "the remote URL contains a password or token; hfgit does not write secrets into .git/config",
                    format!("use `--remote {}` and a git credential helper (or HF_TOKEN for the Hub)", crate::net::remote::redact(&clean)),
                ));
            }
            Some(url)
        }
        None => None,
    };
    let (repo, created) = match Repository::open(dir) {
        Ok(r) if r.workdir().is_some_and(|w| same_dir(w, dir)) => (r, false),
        _ => {
            let mut o = RepositoryInitOptions::new();
            o.initial_head(branch).mkdir(true).mkpath(true);
            (Repository::init_opts(dir, &o).context(format!("creating a repository in {}", dir.display()))?, true)
        }
    };
    if let Some(url) = &remote_url {
        match repo.find_remote("origin") {
            Ok(r) if r.url() == Some(url.as_str()) => {}
            Ok(r) => {
                return Err(Error::with_hint(
                    format!("remote origin is already {}", crate::net::remote::redact(r.url().unwrap_or("?"))),
                    format!("change it with `git remote set-url origin {}`", crate::net::remote::redact(url)),
                ))
            }
            Err(_) => {
                repo.remote("origin", url).context("adding remote origin")?;
            }
        }
    }
    let cfg = repo.config().context("opening git config")?;
    if cfg.get_i64("lfs.repositoryformatversion").is_err() {
        cfg.open_level(git2::ConfigLevel::Local)
            .and_then(|mut c| c.set_i64("lfs.repositoryformatversion", 0))
            .context("writing lfs.repositoryformatversion")?;
    }
    let pre_push_hook = crate::repo::hooks::install_pre_push(&repo)?;
    let workdir = crate::repo::git::workdir(&repo)?;
    let attrs = workdir.join(".gitattributes");
    let store = crate::lfs::store::Store::for_git_dir(repo.path());
    let wrote = if attrs.symlink_metadata().is_err() {
        track::write_atomic(&store, &attrs, track::default_gitattributes().as_bytes())?;
        true
    } else {
        false
    };
    let readme = workdir.join("README.md");
    let wrote_card = match card {
        Some(meta) if readme.symlink_metadata().is_err() => {
            let name = workdir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "model".into());
            track::write_atomic(&store, &readme, crate::hub::model_card::render(meta, &name).as_bytes())?;
            true
        }
        _ => false,
    };
    Ok(InitOutcome {
        path: workdir.display().to_string(),
        created,
        wrote_gitattributes: wrote,
        wrote_model_card: wrote_card,
        pre_push_hook,
        remote_url,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
