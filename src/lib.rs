//! hfgit: versions machine-learning model repositories as real git repositories whose large
//! files are Git LFS objects, written and transferred without the git-lfs binary.
//!
//! The library never prints, exits or parses flags; `src/cli` does.

pub mod add;
pub mod commit;
pub mod config_json;
pub mod error;
pub mod fsck;
pub mod git;
pub mod identity;
pub mod init;
pub mod log;
pub mod oid;
pub mod pointer;
pub mod progress;
pub mod remote;
pub mod status;
pub mod store;
pub mod track;
pub mod worktree;

pub use error::{Error, Result};
pub mod clone;
pub mod lfs_checkout;
pub mod lfs_remote;
pub mod pull;
pub mod push;
pub mod credentials;
pub mod lfs_endpoint;
pub mod lfs_http;
pub mod parallel;
pub mod hub;
pub mod hub_merge;
pub mod hub_rules;
pub mod model_card;
pub mod weights;
pub mod pickle_policy;
pub mod diff;
