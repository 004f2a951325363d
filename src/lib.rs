//! hfgit: versions machine-learning model repositories as real git repositories whose large
//! files are Git LFS objects, written and transferred without the git-lfs binary.
//!
//! The library never prints, exits or parses flags; `src/cli` (the binary) does.
//!
//! The folders are layers, listed here from top to bottom; a module may use its own folder and
//! the layers below it, never one above it or a sibling beside it (`tests/layers.rs` checks):
//!
//! | layer | owns |
//! | --- | --- |
//! | [`ops`] | one file per user-facing operation (init, add, commit, push, clone, pull, …) |
//! | [`hub`], [`weights`] | the Hugging Face Hub API and rules; understanding PyTorch/safetensors weights |
//! | [`repo`] | git plumbing (libgit2), the work tree and the one checkout writer, commit identity |
//! | [`lfs`], [`xet`] | Git LFS: oids, pointers, the local store, tracking rules, endpoints, transfers; the Xet formats: chunks, hashes, xorbs, shards |
//! | [`net`] | who to talk to and as whom: remote targets, URL redaction, credentials, `.netrc`, cookies |
//! | ground | [`error`], [`progress`], [`parallel`], [`time`], [`cleanup`] (temp files on SIGINT, leftovers) |

pub mod ops;

pub mod hub;
pub mod weights;

pub mod repo;

pub mod lfs;
pub mod xet;

pub mod net;

pub mod cleanup;
pub mod error;
pub mod parallel;
pub mod progress;
pub mod time;

pub use error::{Error, Result};
