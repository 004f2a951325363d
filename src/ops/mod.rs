//! One file per user-facing operation: what `hfgit <command>` does, as a library call that
//! returns a report (the CLI prints it). Also `config_json`, the config.json merge that `add`
//! performs.
//!
//! May use every layer below (`hub`, `weights`, `repo`, `lfs`, `net`, ground); operations may
//! call each other (pull uses clone's pieces). Only the binary (`src/cli`) uses `ops`.

pub mod add;
pub mod branch;
pub mod checkout;
pub mod clone;
pub mod commit;
pub mod config_json;
pub mod diff;
pub mod du;
pub mod fetch;
pub mod fsck;
pub mod init;
pub mod log;
pub mod merge;
pub mod prune;
pub mod pull;
pub mod push;
pub mod status;
pub mod tag;
pub mod xet_hash;
