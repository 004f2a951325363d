//! Which paths are stored through Git LFS: `filter=lfs` rules in `.gitattributes` (looked up by
//! libgit2, so the answer is git's), the size threshold `hfgit.lfsThreshold`, and the exact-path
//! rules hfgit appends for large files no rule covers.

use crate::error::{Context, Result};
use crate::lfs::store::Store;
use git2::{AttrCheckFlags, AttrValue, Repository};
use std::fs;
use std::io::Write;
use std::path::Path;

/// The Hub's default `.gitattributes` patterns for model repositories (35 patterns).
pub const HUB_MODEL_PATTERNS: [&str; 35] = [
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
];

/// The attribute suffix `git lfs track` writes.
pub const LFS_ATTRS: &str = "filter=lfs diff=lfs merge=lfs -text";

/// Default size above which an unmatched file still goes to LFS (the Hub's 10 MiB rule).
pub const DEFAULT_THRESHOLD: u64 = 10 * 1024 * 1024;

/// The Hub refuses a binary file larger than this outside LFS (hub-docs storage-limits), so
/// such a file goes to LFS whatever the threshold.
pub const HUB_MAX_PLAIN_BINARY: u64 = 1024 * 1024;

/// How many leading bytes decide whether a file is binary, as git and the Hub decide it.
const BINARY_SNIFF: u64 = 8000;

/// Whether `head` (a file's first bytes) makes it binary: a NUL byte in the first 8000.
pub fn looks_binary(head: &[u8]) -> bool {
    head.iter().take(BINARY_SNIFF as usize).any(|b| *b == 0)
}

/// Whether the file at `path` is a binary file over [`HUB_MAX_PLAIN_BINARY`] bytes.
pub fn hub_needs_lfs_as_binary(path: &Path, size: u64) -> Result<bool> {
    if size <= HUB_MAX_PLAIN_BINARY {
        return Ok(false);
    }
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, BINARY_SNIFF), &mut head))
        .context(format!("reading {}", path.display()))?;
    Ok(looks_binary(&head))
}

pub fn default_gitattributes() -> String {
    HUB_MODEL_PATTERNS.iter().map(|p| format!("{p} {LFS_ATTRS}\n")).collect()
}

/// `hfgit.lfsThreshold` (git's k/m/g suffixes accepted), else 10 MiB.
pub fn threshold(repo: &Repository) -> Result<u64> {
    let cfg = repo.config().context("reading git config")?;
    match cfg.get_i64("hfgit.lfsThreshold") {
        Ok(v) if v >= 0 => Ok(v as u64),
        Ok(v) => Err(crate::Error::BadInput(format!("hfgit.lfsThreshold must not be negative (got {v})"))),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(DEFAULT_THRESHOLD),
        Err(e) => Err(crate::Error::BadInput(format!("invalid hfgit.lfsThreshold: {}", e.message()))),
    }
}

/// True when a `filter=lfs` attribute applies to `rel_path` (work tree `.gitattributes` first,
/// then the index, as git does for adding).
pub fn has_lfs_filter(repo: &Repository, rel_path: &str) -> Result<bool> {
    let v = repo
        .get_attr_bytes(Path::new(rel_path), "filter", AttrCheckFlags::FILE_THEN_INDEX)
        .context(format!("reading attributes of {rel_path}"))?;
    Ok(matches!(AttrValue::always_bytes(v), AttrValue::Bytes(b"lfs")))
}

/// A `.gitattributes` pattern that matches exactly `rel_path`, escaped the way git-lfs does
/// (glob characters backslash-escaped, spaces as `[[:space:]]`), anchored with a leading `/`.
pub fn exact_path_pattern(rel_path: &str) -> String {
    let mut s = String::from("/");
    for c in rel_path.chars() {
        match c {
            ' ' => s.push_str("[[:space:]]"),
            '*' | '?' | '[' | ']' | '\\' | '!' | '#' => {
                s.push('\\');
                s.push(c);
            }
            _ => s.push(c),
        }
    }
    s
}

/// Appends one LFS rule per path to the work tree's `.gitattributes`, atomically (temp file
/// under `.git`, then rename). Existing content is kept byte for byte.
pub fn append_rules(store: &Store, workdir: &Path, rel_paths: &[String]) -> Result<()> {
    if rel_paths.is_empty() {
        return Ok(());
    }
    let path = workdir.join(".gitattributes");
    let mut content = match fs::read(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).context(format!("reading {}", path.display())),
    };
    if !content.is_empty() && !content.ends_with(b"\n") {
        content.push(b'\n');
    }
    for p in rel_paths {
        content.extend_from_slice(format!("{} {LFS_ATTRS}\n", exact_path_pattern(p)).as_bytes());
    }
    write_atomic(store, &path, &content)
}

/// Writes the work-tree file `path` through a temp file under `.git` (`Store::write_via_temp`)
/// and a rename, keeping its permissions (0644 for a new file).
pub fn write_atomic(store: &Store, path: &Path, content: &[u8]) -> Result<()> {
    let perm = fs::metadata(path).map(|m| m.permissions()).unwrap_or_else(|_| {
        use std::os::unix::fs::PermissionsExt;
        fs::Permissions::from_mode(0o644)
    });
    store.write_via_temp(path, &|mut f| {
        f.write_all(content).context(format!("writing {}", path.display()))?;
        f.set_permissions(perm.clone()).context(format!("writing {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_five_hub_patterns() {
        assert_eq!(HUB_MODEL_PATTERNS.len(), 35);
        assert!(default_gitattributes().lines().all(|l| l.ends_with(LFS_ATTRS)));
    }

    #[test]
    fn exact_patterns_match_only_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let names = ["big data.raw", "weird[1]*.dat", "sub/dir/x?.y", "#hash"];
        append_rules(&Store::for_git_dir(repo.path()), dir.path(), &names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        for n in names {
            assert!(has_lfs_filter(&repo, n).unwrap(), "{n} not matched");
        }
        for n in ["big data.raw2", "weird1x.dat", "sub/dir/xa.y", "other/#hash"] {
            assert!(!has_lfs_filter(&repo, n).unwrap(), "{n} wrongly matched");
        }
    }
}
