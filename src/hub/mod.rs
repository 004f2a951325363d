//! The Hugging Face Hub: its JSON API (whoami, repo create/info, the token file shared with
//! huggingface_hub), the rules its pre-receive hook enforces (checked before a push), joining the
//! Hub's own first commit, and the model card.
//!
//! May use `repo`, `lfs`, `net` and ground. Must never be imported by `repo`, `lfs` or `net`:
//! what those need of the Hub (its endpoint, the token as a credential) lives in `net`. `weights`
//! is a sibling and does not use it either.

pub mod api;
pub mod merge;
pub mod model_card;
pub mod rules;
