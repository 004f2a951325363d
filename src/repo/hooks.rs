//! The `pre-push` hook hfgit installs (`init`, `clone`) so that a plain `git push` cannot leave
//! the remote without its LFS objects: it hands git's pre-push lines to `hfgit lfs-pre-push`,
//! which uploads what the pushed commits need before git sends them.
//!
//! A hook that exists is never touched (the user's own, or git-lfs's: that one uploads from the
//! same store, so either is enough). Nothing is installed when `core.hooksPath` is set (the
//! user manages hooks elsewhere) or when `.git/hooks` is not a real directory.

use crate::error::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The hfgit to run: the binary installing the hook, found again by its absolute path; if that
/// is gone (moved, reinstalled elsewhere), `hfgit` on PATH; if neither, the push stops with a
/// message saying what to do.
fn script(exe: Option<&Path>) -> String {
    let quoted = exe.map(|p| format!("'{}'", p.display().to_string().replace('\'', r"'\''"))).unwrap_or_else(|| "''".into());
    format!(
        r#"#!/bin/sh
# Installed by hfgit: uploads the LFS objects of the commits `git push` sends, before it sends
# them (`hfgit lfs-pre-push`). Remove this file to push without it.
HFGIT={quoted}
if [ ! -x "$HFGIT" ]; then
  HFGIT=$(command -v hfgit) || {{
    echo >&2 "error: this repository's pre-push hook needs hfgit to upload LFS objects, and hfgit is not on PATH"
    echo >&2 "hint: install hfgit, or remove .git/hooks/pre-push to push without uploading LFS objects"
    exit 1
  }}
fi
exec "$HFGIT" lfs-pre-push "$@"
"#
    )
}

/// The running binary, when it is hfgit (not a test harness linking the library).
fn hfgit_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let name = exe.file_name()?.to_str()?;
    (name == "hfgit").then_some(exe)
}

/// Installs `.git/hooks/pre-push` unless one exists (or hooks live elsewhere). Returns whether it
/// did. Written to a temp file, then linked into place: a hook appears whole or not at all, and
/// one that appeared meanwhile is kept.
pub fn install_pre_push(repo: &git2::Repository) -> Result<bool> {
    let cfg = repo.config().context("reading git config")?;
    if cfg.get_path("core.hooksPath").is_ok() {
        return Ok(false);
    }
    let dir = repo.path().join("hooks");
    match dir.symlink_metadata() {
        Ok(m) if !m.is_dir() => return Ok(false),
        Ok(_) => {}
        Err(_) => fs::create_dir(&dir).context(format!("creating {}", dir.display()))?,
    }
    let dest = dir.join("pre-push");
    if dest.symlink_metadata().is_ok() {
        return Ok(false);
    }
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).context(format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(script(hfgit_exe().as_deref()).as_bytes()).context("writing the pre-push hook")?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).context("making the pre-push hook executable")?;
    }
    match fs::hard_link(tmp.path(), &dest) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).context(format!("installing {}", dest.display())),
    }
}
