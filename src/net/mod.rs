//! Who to talk to and as whom: remote targets (URLs, local paths, Hub repo ids; the Hub
//! endpoint), URLs with credentials redacted for display, and credentials (URL userinfo, git's
//! credential helpers, the Hugging Face token), always tied to one origin.
//!
//! May use ground only. Must never import any other folder: `lfs`, `repo`, `hub` and `ops` all
//! use it.

pub mod credentials;
pub mod http;
pub mod remote;
