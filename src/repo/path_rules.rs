//! Which paths from a tree may be written into a work tree: git's `verify_path` (read-cache.c)
//! with `core.protectNTFS` and `core.protectHFS` both on, whatever the platform, plus the
//! tree-level rules git's fsck applies (no duplicate names, no file and directory of one name).
//! Pure functions on bytes; the checkout writer (`repo::checkout`) calls them before it writes
//! anything.

use std::fmt;

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    /// `.` or `..` as a component.
    DotComponent,
    /// A `/` or NUL inside one tree entry's name.
    SeparatorInName,
    /// `.git` in any spelling that names the repository on some filesystem.
    DotGit,
    /// `.gitmodules`, `.gitattributes`, `.gitignore`, `.lfsconfig` or `.mailmap` as a symlink.
    SymlinkedDotfile,
    /// Two entries of one tree with the same name (or a file and a directory).
    Duplicate,
    /// A mode git does not check out.
    BadMode(u32),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Empty => "an empty path component",
            Refusal::DotComponent => "a `.` or `..` component (outside the work tree)",
            Refusal::SeparatorInName => "a `/` or NUL inside a name",
            Refusal::DotGit => "a `.git` component (the repository itself)",
            Refusal::SymlinkedDotfile => "a git or LFS control file that is a symbolic link",
            Refusal::Duplicate => "a name that appears twice in one tree",
            Refusal::BadMode(_) => "a file mode git does not check out",
        })?;
        if let Refusal::BadMode(m) = self {
            write!(f, " ({m:o})")?;
        }
        Ok(())
    }
}

const SYMLINK: u32 = 0o120000;

/// Checks one tree entry name (a single component) with its mode.
pub fn check_name(name: &[u8], mode: u32) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::Empty);
    }
    if name.contains(&b'/') || name.contains(&0) {
        return Err(Refusal::SeparatorInName);
    }
    check_component(name, mode)
}

/// Checks a whole `/`-separated path (git's `verify_path`), each component as `check_name`.
pub fn check_path(path: &[u8], mode: u32) -> Result<(), Refusal> {
    if path.is_empty() {
        return Err(Refusal::Empty);
    }
    let parts: Vec<&[u8]> = path.split(|c| *c == b'/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if part.is_empty() {
            return Err(Refusal::Empty);
        }
        if part.contains(&0) {
            return Err(Refusal::SeparatorInName);
        }
        check_component(part, if last { mode } else { 0o040000 })?;
    }
    Ok(())
}

fn check_component(c: &[u8], mode: u32) -> Result<(), Refusal> {
    if c == b"." || c == b".." {
        return Err(Refusal::DotComponent);
    }
    // NTFS reads `\` as a separator: every piece after one is checked as a component too.
    for piece in std::iter::once(c).chain(c.split(|b| *b == b'\\').skip(1)) {
        if is_ntfs_dotgit(piece) || is_hfs_dot(piece, b"git") {
            return Err(Refusal::DotGit);
        }
        if piece.eq_ignore_ascii_case(b".git") {
            return Err(Refusal::DotGit);
        }
    }
    if mode == SYMLINK && is_protected_dotfile(c) {
        return Err(Refusal::SymlinkedDotfile);
    }
    Ok(())
}

/// `.git` or `git~1` followed only by spaces and dots, up to the end or an NTFS stream (`:`),
/// as Windows resolves them (git's `is_ntfs_dotgit`).
fn is_ntfs_dotgit(c: &[u8]) -> bool {
    let rest = if c.len() >= 4 && c[0] == b'.' && c[1..4].eq_ignore_ascii_case(b"git") {
        &c[4..]
    } else if c.len() >= 5 && c[..3].eq_ignore_ascii_case(b"git") && &c[3..5] == b"~1" {
        &c[5..]
    } else {
        return false;
    };
    for &b in rest {
        match b {
            b':' => return true,
            b' ' | b'.' => {}
            _ => return false,
        }
    }
    true
}

/// `.<name>` compared as HFS+ compares names: ASCII case folded, and the Unicode code points
/// HFS+ ignores (zero-width joiners, direction marks, BOM) skipped (git's `is_hfs_dotgit`).
fn is_hfs_dot(c: &[u8], name: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(c) else { return false };
    let folded: Vec<u8> = s
        .chars()
        .filter(|ch| !matches!(*ch as u32, 0x200C..=0x200F | 0x202A..=0x202E | 0x206A..=0x206F | 0xFEFF))
        .map(|ch| if ch.is_ascii() { ch.to_ascii_lowercase() as u32 } else { ch as u32 })
        .map(|u| if u < 0x80 { u as u8 } else { 0xFF })
        .collect();
    folded.len() == name.len() + 1 && folded[0] == b'.' && &folded[1..] == name
}

/// Files git and git-lfs read from the work tree: as symlinks they could make git (or hfgit)
/// read a file outside it. git refuses `.gitmodules`; its fsck flags the others; hfgit refuses all.
fn is_protected_dotfile(c: &[u8]) -> bool {
    const NAMES: [&[u8]; 5] = [b"gitmodules", b"gitattributes", b"gitignore", b"lfsconfig", b"mailmap"];
    let trimmed: &[u8] = {
        let mut end = c.len();
        while end > 0 && matches!(c[end - 1], b' ' | b'.') {
            end -= 1;
        }
        &c[..end]
    };
    NAMES.iter().any(|n| (trimmed.len() == n.len() + 1 && trimmed[0] == b'.' && trimmed[1..].eq_ignore_ascii_case(n)) || is_hfs_dot(c, n))
        || is_ntfs_short_gitmodules(c)
}

/// `gitmod~N` (8.3 short names of `.gitmodules`; git's `is_ntfs_dotgitmodules`).
fn is_ntfs_short_gitmodules(c: &[u8]) -> bool {
    (c.len() == 8 && c[..6].eq_ignore_ascii_case(b"gitmod") && c[6] == b'~' && (b'1'..=b'4').contains(&c[7]))
        || (c.len() == 8 && c[..6].eq_ignore_ascii_case(b"gi7eba") && c[6] == b'~' && c[7].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_refuses_these_and_so_do_we() {
        for name in [
            &b""[..],
            b".",
            b"..",
            b".git",
            b".GIT",
            b".Git",
            b".git.",
            b".git ",
            b".git . .",
            b"git~1",
            b"GIT~1",
            b".git::$INDEX_ALLOCATION",
            b"a/b",
            b"a\0b",
            b"x\\.git",
            ".g\u{200c}it".as_bytes(),
            ".\u{feff}GIT".as_bytes(),
        ] {
            assert!(check_name(name, 0o100644).is_err(), "{:?} accepted", String::from_utf8_lossy(name));
        }
        for path in [&b"../x"[..], b"sub/../../x", b"a//b", b"/abs", b"a/", b".git/hooks/pre-commit", b"x/.GIT/config", b"git~1/config"] {
            assert!(check_path(path, 0o100644).is_err(), "{:?} accepted", String::from_utf8_lossy(path));
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [&b"model.safetensors"[..], b".gitattributes", b".gitignore", b".github", b".gitx", b"git", b"git~2", b"...x", b"a b"] {
            assert_eq!(check_name(name, 0o100644), Ok(()), "{:?}", String::from_utf8_lossy(name));
        }
        assert_eq!(check_path(b"a/b/c.bin", 0o100755), Ok(()));
        assert_eq!(check_path(b"link", SYMLINK), Ok(()));
    }

    #[test]
    fn control_files_may_not_be_symlinks() {
        for name in [&b".gitmodules"[..], b".GITMODULES", b".gitmodules .", b"gitmod~1", b".gitattributes", b".lfsconfig", b".gitignore"] {
            assert_eq!(check_name(name, SYMLINK), Err(Refusal::SymlinkedDotfile), "{:?}", String::from_utf8_lossy(name));
            assert_eq!(check_name(name, 0o100644), Ok(()));
        }
    }
}
