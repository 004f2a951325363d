//! The library's error type. Every error names what failed and on what; `hint()` says what the
//! user can do next. The CLI renders `error:` / `hint:` lines and picks the exit code.

use std::fmt::Display;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {}", .source.message())]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    #[error("not inside an hfgit repository: {}", .0.display())]
    NotARepo(PathBuf),
    #[error("another hfgit process is working on this repository (lock held on {})", .0.display())]
    Locked(PathBuf),
    /// The user's input is wrong; nothing was changed.
    #[error("{0}")]
    BadInput(String),
    #[error("nothing to commit, working tree clean")]
    NothingToCommit,
    #[error("{} changed while hfgit was reading it", .0.display())]
    ChangedWhileReading(PathBuf),
    #[error("{message}")]
    Failed { message: String, hint: Option<String> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed { message: message.into(), hint: None }
    }

    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Failed { message: message.into(), hint: Some(hint.into()) }
    }

    /// What the user can do next, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotARepo(_) => Some("run `hfgit init` to create one, or use -C <DIR>".into()),
            Error::Locked(_) => Some("wait for the other hfgit command to finish; the lock is released when it exits".into()),
            Error::ChangedWhileReading(_) => Some("wait until whatever is writing the file has finished, then retry".into()),
            Error::NothingToCommit => Some("change or add files first (`hfgit add`), or pass --allow-empty".into()),
            Error::Failed { hint, .. } => hint.clone(),
            Error::Git { source, .. } if source.code() == git2::ErrorCode::Locked => Some(git_lock_hint(source.message())),
            Error::Io { source, .. } if matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) => Some(
                "the disk (or your quota) is full: free space there, then retry; `hfgit du` shows what `hfgit prune` would free of \
                 the LFS store (objects no recent or unpushed commit needs)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A git lock file (`index.lock`, `refs/heads/main.lock`, …) is in the way: git or hfgit is
/// running on this repository, or one was killed and left it (as git itself leaves them).
fn git_lock_hint(message: &str) -> String {
    let file = message.split('\'').find(|p| p.ends_with(".lock"));
    match file {
        Some(f) => format!("another git command is running here, or one was killed and left {f}: if no git is running, remove it (`rm '{f}'`) and retry"),
        None => "another git command is running here, or one was killed and left a .lock file under .git (`.git/index.lock` for the index): if no git is running, remove it and retry".into(),
    }
}

/// Adds "what we were doing" to lower-level errors.
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|source| Error::Io { context: what.to_string(), source })
    }
}

impl<T> Context<T> for std::result::Result<T, git2::Error> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|source| Error::Git { context: what.to_string(), source })
    }
}

impl From<git2::Error> for Error {
    fn from(source: git2::Error) -> Error {
        Error::Git { context: "git".into(), source }
    }
}
