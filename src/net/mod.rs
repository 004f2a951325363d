//! Who to talk to and as whom: remote targets (URLs, local paths, Hub repo ids; the Hub
//! endpoint), URLs with credentials redacted for display, and credentials (URL userinfo, git's
//! credential helpers, `.netrc`, the Hugging Face token; cookies from `http.cookieFile`), always
//! tied to one origin.
//!
//! May use ground only. Must never import any other folder: `lfs`, `repo`, `hub` and `ops` all
//! use it.

pub mod cookies;
pub mod credentials;
pub mod http;
pub mod netrc;
pub mod remote;
