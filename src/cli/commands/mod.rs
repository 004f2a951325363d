//! One file per command: an `Args` struct whose doc comment is the help text, and `run`.

pub mod add;
pub mod branch;
pub mod checkout;
pub mod clone;
pub mod commit;
pub mod diff;
pub mod du;
pub mod fetch;
pub mod fsck;
pub mod init;
pub mod lfs_pre_push;
pub mod log;
pub mod login;
pub mod merge;
pub mod prune;
pub mod pull;
pub mod push;
pub mod restore;
pub mod scan;
pub mod status;
pub mod switch;
pub mod tag;
pub mod xet_hash;

use hfgit::Result;
use std::path::PathBuf;

/// Which LFS files get content (`fetch` for one run; `pull` saves them as lfs.fetchinclude /
/// lfs.fetchexclude). Given at all, they replace the saved selection.
#[derive(clap::Args)]
pub struct LfsSelection {
    /// Only LFS files matching GLOB (repeatable)
    #[arg(short = 'I', long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Not LFS files matching GLOB (repeatable)
    #[arg(short = 'X', long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

pub fn cwd() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| hfgit::Error::failed(format!("cannot read the current directory: {e}")))
}

pub fn open_repo() -> Result<git2::Repository> {
    hfgit::repo::git::discover(&cwd()?)
}
