//! Git LFS as git-lfs defines it: SHA-256 object ids and pointer files (pure parsing), the
//! local object store (`.git/lfs/objects`, the only writer there), tracking rules
//! (`.gitattributes`, size threshold), endpoint discovery, the batch API with the `basic` and
//! `multipart` transfers (and parallel ranged downloads of large objects), the remote abstraction (local bare store or HTTP server), which files a
//! clone selects, and downloading objects (with staged work-tree copies).
//!
//! May use `net` and ground, and libgit2 for configuration only. Must never import `repo`,
//! `hub`, `weights` or `ops`.

pub mod endpoint;
pub mod fetch;
pub mod http;
pub mod oid;
pub mod pointer;
pub mod ranged;
pub mod remote;
pub mod select;
pub mod store;
pub mod track;
