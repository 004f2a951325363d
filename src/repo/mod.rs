//! The git repository and its work tree: libgit2 plumbing (`git`: index, trees, commits, refs,
//! git transport), scanning the work tree (`worktree`, with the pointers `add` computed: `added`), the one writer of work-tree files
//! (`checkout`: every path and symlink check lives there), commit identity, and the `pre-push`
//! hook hfgit installs (`hooks`).
//!
//! May use `lfs`, `net` and ground. Must never import `ops`, `hub` or `weights`; those use it.

pub mod added;
pub mod checkout;
pub mod git;
pub mod hooks;
pub mod identity;
pub mod path_rules;
pub mod worktree;
