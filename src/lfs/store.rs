//! The local Git LFS object store, laid out exactly as git-lfs lays it out:
//! `<git dir>/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>`, staging in `<git dir>/lfs/tmp`.
//! This module is the only writer of `lfs/objects`. Content is streamed (never held whole in
//! memory), hashed in the same pass that writes the staged copy, and renamed into place only
//! once complete and verified; an object that is already present is never rewritten. On a
//! copy-on-write filesystem (btrfs, XFS with reflink) the staged copy shares the source's
//! extents (FICLONE) instead of being written, and is hashed by reading it once.

use crate::error::{Context, Error, Result};
use crate::lfs::oid::Oid;
use crate::lfs::pointer::Pointer;
use crate::progress::Progress;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

const BUF_SIZE: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// A hashed copy waiting in `lfs/tmp` to be persisted (see [`Store::stage`]).
pub struct Staged {
    pub tmp: NamedTempFile,
    pub oid: Oid,
    pub size: u64,
    /// The copy shares the source's extents.
    pub shared: bool,
}

/// What `check` found for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectState {
    Ok,
    Missing,
    WrongSize { actual: u64 },
    Corrupt { actual: Oid },
}

/// The result of adding a work-tree file.
#[derive(Debug, Clone)]
pub struct Added {
    pub pointer: Pointer,
    /// False when the object was already in the store (nothing was written).
    pub newly_stored: bool,
    /// The stored object shares the work-tree file's extents (no second copy on disk).
    pub shared: bool,
}

impl Store {
    /// The store of the repository whose git directory is `git_dir` (bare or not).
    /// The store of the repository whose git directory is `git_dir`. A linked worktree (`git
    /// worktree add`) shares its main repository's store, as git-lfs does: its git directory
    /// names the common directory in its `commondir` file, so `git worktree remove` never takes
    /// committed content with it.
    pub fn for_git_dir(git_dir: &Path) -> Store {
        let common = match std::fs::read_to_string(git_dir.join("commondir")) {
            Ok(rel) if !rel.trim().is_empty() => git_dir.join(rel.trim_end_matches(['\n', '\r'])),
            _ => git_dir.to_path_buf(),
        };
        Store { root: common.join("lfs") }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn object_path(&self, oid: &Oid) -> PathBuf {
        let hex = oid.to_hex();
        self.root.join("objects").join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// A fresh temp file in `lfs/tmp`, on the same filesystem as the objects, named for this
    /// process so that SIGINT removes it (`cleanup`).
    pub fn temp_file(&self) -> Result<NamedTempFile> {
        let dir = self.temp_dir()?;
        tempfile::Builder::new()
            .prefix(&crate::cleanup::temp_prefix())
            .tempfile_in(&dir)
            .context(format!("creating a temp file in {}", dir.display()))
    }

    /// `lfs/tmp`, created and registered for removal of this process's temp files on SIGINT.
    pub fn temp_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("tmp");
        fs::create_dir_all(&dir).context(format!("creating {}", dir.display()))?;
        crate::cleanup::watch_dir(&dir);
        Ok(dir)
    }

    /// Removes what killed commands left in `lfs/tmp` (files from before `before`, or of an
    /// hfgit that no longer runs) and partial downloads older than `cleanup::PART_MAX_AGE`.
    /// For callers that hold the repository lock, so nobody else is writing there.
    pub fn remove_leftovers(&self, before: std::time::SystemTime) {
        crate::cleanup::remove_stale(&self.root.join("tmp"), before);
        if let Some(t) = std::time::SystemTime::now().checked_sub(crate::cleanup::PART_MAX_AGE) {
            crate::cleanup::remove_stale(&self.root.join("incomplete"), t.min(before));
        }
    }

    /// Writes the file `dest` (in the work tree) as `fill` writes its temp file, then renames it
    /// into place. The temp file is in `lfs/tmp`, under `.git`: never in the work tree, so never
    /// committable, and removed on SIGINT. When `lfs/tmp` is on another filesystem than `dest`,
    /// a hidden temp file next to `dest`, registered likewise, is used instead.
    pub fn write_via_temp(&self, dest: &Path, fill: &dyn Fn(&File) -> Result<()>) -> Result<()> {
        let tmp = self.temp_file()?;
        fill(tmp.as_file())?;
        match tmp.persist(dest) {
            Ok(_) => Ok(()),
            Err(e) if e.error.raw_os_error() == Some(libc::EXDEV) => {
                let dir = dest.parent().unwrap_or(Path::new("."));
                crate::cleanup::watch_dir(dir);
                let t2 = tempfile::Builder::new()
                    .prefix(&format!(".{}", crate::cleanup::temp_prefix()))
                    .tempfile_in(dir)
                    .context(format!("creating a temp file in {}", dir.display()))?;
                fill(t2.as_file())?;
                t2.persist(dest).map(|_| ()).map_err(|e| e.error).context(format!("writing {}", dest.display()))
            }
            Err(e) => Err(e.error).context(format!("writing {}", dest.display())),
        }
    }

    /// True when the object is present with the pointer's size (git-lfs's own test); the
    /// empty object is always present.
    pub fn contains(&self, p: &Pointer) -> bool {
        p.size == 0 || fs::metadata(self.object_path(&p.oid)).map(|m| m.is_file() && m.len() == p.size).unwrap_or(false)
    }

    /// Streams `path` into the store: one read that hashes and writes the staged copy (or,
    /// where the filesystem can, a clone sharing the file's extents, hashed as it is read). Fails
    /// with `ChangedWhileReading` when the file's size or times move while it is read.
    pub fn add_file(&self, path: &Path, progress: &dyn Progress) -> Result<Added> {
        let mut file = File::open(path).context(format!("opening {}", path.display()))?;
        let before = file.metadata().context(format!("reading {}", path.display()))?;
        let staged = self.stage(&mut file, &format!("storing {}", path.display()), progress)?;
        let after = fs::symlink_metadata(path).context(format!("reading {}", path.display()))?;
        if staged.size != before.len() || !same_file_state(&before, &after) {
            return Err(Error::ChangedWhileReading(path.to_path_buf()));
        }
        let pointer = Pointer::new(staged.oid, staged.size);
        if staged.size == 0 || self.contains(&pointer) {
            return Ok(Added { pointer, newly_stored: false, shared: false });
        }
        self.persist(staged.tmp, &staged.oid)?;
        Ok(Added { pointer, newly_stored: true, shared: staged.shared })
    }

    /// A hashed copy of `file` in `lfs/tmp`: a clone sharing its extents where the filesystem
    /// allows, else a copy the kernel makes a block at a time (`copy_file_range`, as `cp` does).
    /// Either way the hash is of the copy, which is ours alone, so a writer of the source cannot
    /// make the hash and the copy disagree.
    pub fn stage(&self, file: &mut File, what: &str, progress: &dyn Progress) -> Result<Staged> {
        let mut tmp = self.temp_file()?;
        let shared = file.metadata().is_ok_and(|m| m.len() > 0) && reflink(file, tmp.as_file()).is_ok();
        let (oid, size) = match shared {
            true => hash_all(tmp.as_file_mut(), progress),
            false => stage_fanned_out(file, tmp.as_file(), None, progress),
        }
        .context(what)?;
        Ok(Staged { tmp, oid, size, shared })
    }

    /// Copies `from` into the empty file `to` and stages the same content as an object: where
    /// the filesystem allows, `to` and the staged copy are clones of `from` (the staged clone is
    /// hashed, as [`Store::stage`] does); else the staged copy is written as `stage` writes it,
    /// and `to` is copied from it block by block as it grows, so the hash, the object and `to`
    /// hold the same bytes whatever a writer of `from` does. Fails with `ChangedWhileReading`
    /// when `from` (at `path`) changed meanwhile.
    pub fn copy_in(&self, from: &mut File, path: &Path, to: &File, progress: &dyn Progress) -> Result<Staged> {
        let what = || format!("copying {}", path.display());
        let before = from.metadata().context(what())?;
        let mut tmp = self.temp_file()?;
        let to_shared = before.len() > 0 && reflink(from, to).is_ok();
        let shared = to_shared && reflink(from, tmp.as_file()).is_ok();
        let (oid, size) = match shared {
            true => hash_all(tmp.as_file_mut(), progress),
            false => {
                // (truncating only what the first clone filled: on ext4 a truncate to zero makes
                // the close of the file flush it)
                if to_shared {
                    to.set_len(0).context(what())?;
                }
                stage_fanned_out(from, tmp.as_file(), Some(to), progress)
            }
        }
        .context(what())?;
        let after = fs::symlink_metadata(path).context(what())?;
        if size != before.len() || !same_file_state(&before, &after) {
            return Err(Error::ChangedWhileReading(path.to_path_buf()));
        }
        Ok(Staged { tmp, oid, size, shared })
    }

    /// Moves a complete, verified temp file to the object's final path.
    pub fn persist(&self, tmp: NamedTempFile, oid: &Oid) -> Result<()> {
        let dest = self.object_path(oid);
        let dir = dest.parent().expect("object paths have a parent");
        fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
        set_object_permissions(tmp.as_file())?;
        tmp.persist(&dest).map_err(|e| e.error).context(format!("moving object into {}", dest.display()))?;
        Ok(())
    }

    /// Brings in an object from another store's file (a local remote): the source is hashed and
    /// must match `expected`; then it is hard-linked into place, or copied (through a temp
    /// file) when linking is impossible. Nothing is left behind on a mismatch.
    pub fn import_verified(&self, src: &Path, expected: &Pointer, progress: &dyn Progress) -> Result<()> {
        if self.contains(expected) {
            return Ok(());
        }
        let mut file = File::open(src).context(format!("opening {}", src.display()))?;
        let dest = self.object_path(&expected.oid);
        let dir = dest.parent().expect("object paths have a parent");
        fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
        // Try the hard link into a temp name first, verify, then rename: a corrupt source never
        // becomes visible at the final path.
        let tmp_dir = self.temp_dir()?;
        let link_tmp = tmp_dir.join(format!("{}{}.link", crate::cleanup::temp_prefix(), expected.oid));
        let _ = fs::remove_file(&link_tmp);
        if fs::hard_link(src, &link_tmp).is_ok() {
            let verified = verify_stream(&mut file, expected, progress);
            match verified {
                Ok(()) => {
                    fs::rename(&link_tmp, &dest).context(format!("moving object into {}", dest.display()))?;
                    return Ok(());
                }
                Err(e) => {
                    let _ = fs::remove_file(&link_tmp);
                    return Err(e);
                }
            }
        }
        let staged = self.stage(&mut file, &format!("copying {}", src.display()), progress)?;
        check_digest(expected, staged.oid, staged.size)?;
        self.persist(staged.tmp, &expected.oid)
    }

    /// Where a partial download of `oid` is kept between attempts (git-lfs's own place).
    pub fn incomplete_path(&self, oid: &Oid) -> PathBuf {
        self.root.join("incomplete").join(format!("{oid}.part"))
    }

    /// Moves a complete, verified file (a finished `.part`) to the object's final path.
    pub fn persist_path(&self, from: &Path, oid: &Oid) -> Result<()> {
        let dest = self.object_path(oid);
        let dir = dest.parent().expect("object paths have a parent");
        fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
        let f = File::open(from).context(format!("opening {}", from.display()))?;
        set_object_permissions(&f)?;
        fs::rename(from, &dest).context(format!("moving object into {}", dest.display()))
    }

    /// Re-hashes an object and says whether it is intact.
    pub fn check(&self, p: &Pointer, progress: &dyn Progress) -> Result<ObjectState> {
        if p.size == 0 {
            return Ok(ObjectState::Ok);
        }
        let path = self.object_path(&p.oid);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ObjectState::Missing),
            Err(e) => return Err(e).context(format!("opening {}", path.display())),
        };
        let (oid, n) = hash_all(&mut file, progress).context(format!("reading {}", path.display()))?;
        Ok(if n != p.size {
            ObjectState::WrongSize { actual: n }
        } else if oid != p.oid {
            ObjectState::Corrupt { actual: oid }
        } else {
            ObjectState::Ok
        })
    }
}

/// Makes `dst` (an empty file) a clone of `src` sharing its extents (the FICLONE ioctl): no data
/// is written and no disk space used until one side is rewritten, and a rewrite of one never
/// shows in the other (unlike a hard link). Fails where the filesystem cannot (ext4, tmpfs),
/// across filesystems, and on systems without the call; callers then copy.
pub fn reflink(src: &File, dst: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: both descriptors stay open for the call; FICLONE reads only its int argument.
        match unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (src, dst);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Copies the file at `src` over the (new, empty) file at `dst`: a clone sharing extents where
/// the filesystem allows, else a full copy. Returns whether the extents are shared.
pub fn copy_file(src: &Path, dst: &Path) -> io::Result<bool> {
    copy_into(src, &fs::OpenOptions::new().write(true).truncate(true).create(true).open(dst)?)
}

/// Copies the file at `src` into the empty open file `to`, as [`copy_file`].
pub fn copy_into(src: &Path, to: &File) -> io::Result<bool> {
    let mut from = File::open(src)?;
    if from.metadata()?.len() > 0 && reflink(&from, to).is_ok() {
        return Ok(true);
    }
    io::copy(&mut from, &mut &*to)?;
    Ok(false)
}

/// How much `stage_fanned_out` copies before the hash (and the second copy) may follow.
const STAGE_BLOCK: usize = 8 << 20;

/// Copies `from` into the empty `tmp` with the kernel, a block at a time (`copy_file_range`: the
/// bytes go from page cache to page cache, never through this process), while this thread
/// hashes each block from `tmp` as soon as it is there (mapped, so it is not copied again) and,
/// when `to` is given, another thread copies it on from `tmp` into `to`. The copies and the hash
/// run on different cores; everything derives from `tmp`, which is ours alone.
fn stage_fanned_out(from: &File, tmp: &File, to: Option<&File>, progress: &dyn Progress) -> io::Result<(Oid, u64)> {
    let len = from.metadata()?.len();
    for f in std::iter::once(tmp).chain(to) {
        preallocate(f, len)?;
    }
    let (to_hasher, staged) = std::sync::mpsc::channel::<(u64, usize)>();
    let (to_copier, copies) = std::sync::mpsc::channel::<(u64, usize)>();
    std::thread::scope(|s| {
        let stager = s.spawn(move || -> io::Result<()> {
            let mut at = 0u64;
            loop {
                let n = copy_range(from, at, tmp, at, STAGE_BLOCK)?;
                // a send fails only when the hasher or the copier failed: their error is reported
                if n > 0 && (to_hasher.send((at, n)).is_err() || (to.is_some() && to_copier.send((at, n)).is_err())) {
                    return Ok(());
                }
                at += n as u64;
                if n < STAGE_BLOCK {
                    return Ok(());
                }
            }
        });
        let copier = to.map(|to| {
            s.spawn(move || -> io::Result<()> {
                for (at, n) in copies {
                    if copy_range(tmp, at, to, at, n)? < n {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the staged copy is shorter than what was staged"));
                    }
                }
                Ok(())
            })
        });
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut hashed = Ok(());
        for (at, n) in staged {
            if let Err(e) = hash_mapped(tmp, at, n, &mut hasher) {
                hashed = Err(e);
                break;
            }
            total += n as u64;
            progress.bytes(n as u64);
        }
        let stage_result = stager.join().expect("the stager does not panic");
        let copy_result = copier.map_or(Ok(()), |c| c.join().expect("the copier does not panic"));
        stage_result.and(copy_result).and(hashed)?;
        Ok((Oid::from_bytes(hasher.finalize().into()), total))
    })
}

/// Reserves `len` bytes of disk for the empty file `f` about to be written, keeping its size:
/// ext4 then writes the copy a fifth faster than into blocks it allocates as it goes, and a
/// full disk shows before a byte is copied. Where the filesystem cannot, nothing happens.
fn preallocate(f: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the call; the call reads only its integer arguments.
    if len > 0 && unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len as libc::off_t) } != 0 {
        let e = io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG)) {
            return Err(e);
        }
    }
    Ok(())
}

/// Copies up to `len` bytes of `from` at `from_at` into `to` at `to_at`, fewer only at the end of
/// `from`; returns how many. The kernel copies (`copy_file_range`) where it can, else a buffer.
fn copy_range(from: &File, from_at: u64, to: &File, to_at: u64, len: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut done = 0usize;
    while done < len {
        let (mut off_in, mut off_out) = ((from_at + done as u64) as libc::loff_t, (to_at + done as u64) as libc::loff_t);
        // SAFETY: both descriptors are open for the call, and the offsets are ours.
        let n = unsafe { libc::copy_file_range(from.as_raw_fd(), &mut off_in, to.as_raw_fd(), &mut off_out, len - done, 0) };
        match n {
            // the end, or a file the kernel cannot splice from though it has bytes (procfs and
            // other pseudo files report size 0 or give 0 here): the buffer finds out which
            0 => return Ok(done + copy_range_buffered(from, from_at + done as u64, to, to_at + done as u64, len - done)?),
            n if n > 0 => done += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // not between these files (other filesystems, FUSE, old kernels): by hand
                    Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM) => {
                        return Ok(done + copy_range_buffered(from, from_at + done as u64, to, to_at + done as u64, len - done)?)
                    }
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(done)
}

fn copy_range_buffered(from: &File, from_at: u64, to: &File, to_at: u64, len: usize) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; BUF_SIZE.min(len)];
    let mut done = 0usize;
    while done < len {
        let want = buf.len().min(len - done);
        let n = match from.read_at(&mut buf[..want], from_at + done as u64) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all_at(&buf[..n], to_at + done as u64)?;
        done += n;
    }
    Ok(done)
}

/// Hashes `len` bytes of `file` at `at` (a multiple of the page size) through a read-only
/// mapping: the page cache is hashed where it lies. For files that are ours alone (a staged
/// copy), which nobody truncates under the mapping.
fn hash_mapped(file: &File, at: u64, len: usize, hasher: &mut Sha256) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: a fresh read-only mapping of `len` bytes that exist in the file; it is
    // read only here and unmapped before this returns.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), at as libc::off_t);
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        hasher.update(std::slice::from_raw_parts(p as *const u8, len));
        libc::munmap(p, len);
    }
    Ok(())
}

/// Reads `reader` to the end once, hashing everything.
pub fn hash_all(reader: &mut dyn Read, progress: &dyn Progress) -> io::Result<(Oid, u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
        progress.bytes(n as u64);
    }
    Ok((Oid::from_bytes(hasher.finalize().into()), total))
}

fn verify_stream(reader: &mut dyn Read, expected: &Pointer, progress: &dyn Progress) -> Result<()> {
    let (oid, n) = hash_all(reader, progress).context(format!("reading object {}", expected.oid))?;
    check_digest(expected, oid, n)
}

/// The error git-lfs gives for a bad download: expected vs actual oid and size.
pub fn check_digest(expected: &Pointer, actual: Oid, n: u64) -> Result<()> {
    if n != expected.size {
        return Err(Error::failed(format!("object {} has {n} bytes, expected {}", expected.oid, expected.size)));
    }
    if actual != expected.oid {
        return Err(Error::failed(format!("object is corrupt: expected oid {}, got {actual} after {n} bytes", expected.oid)));
    }
    Ok(())
}

/// Size, modification and change times, and inode are unchanged.
pub fn same_file_state(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && a.ctime() == b.ctime()
        && a.ctime_nsec() == b.ctime_nsec()
        && a.ino() == b.ino()
}

fn set_object_permissions(f: &File) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(0o644)).context("setting object permissions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn add_file_stores_once_in_git_lfs_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::for_git_dir(&dir.path().join(".git"));
        let f = dir.path().join("w.bin");
        fs::write(&f, b"hello weights").unwrap();
        let a = store.add_file(&f, &Silent).unwrap();
        assert!(a.newly_stored);
        let hex = a.pointer.oid.to_hex();
        let expect = dir.path().join(".git/lfs/objects").join(&hex[..2]).join(&hex[2..4]).join(&hex);
        assert_eq!(fs::read(&expect).unwrap(), b"hello weights");
        let b = store.add_file(&f, &Silent).unwrap();
        assert!(!b.newly_stored);
        assert_eq!(store.check(&a.pointer, &Silent).unwrap(), ObjectState::Ok);
        // nothing is left in tmp
        assert_eq!(fs::read_dir(dir.path().join(".git/lfs/tmp")).unwrap().count(), 0);
    }

    /// Bytes that differ at every position of a block (so a block copied to the wrong offset shows).
    fn numbered(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect()
    }

    #[test]
    fn staging_block_by_block_gives_the_hash_and_two_copies_of_every_byte_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::for_git_dir(&dir.path().join(".git"));
        let b = STAGE_BLOCK;
        for len in [0, 1, 4095, b - 1, b, b + 1, 2 * b + 4097] {
            let content = numbered(len);
            let src = dir.path().join(format!("src-{len}"));
            fs::write(&src, &content).unwrap();
            let to = File::options().read(true).write(true).create_new(true).open(dir.path().join(format!("to-{len}"))).unwrap();
            let mut from = File::open(&src).unwrap();
            let staged = store.copy_in(&mut from, &src, &to, &Silent).unwrap();
            assert_eq!((staged.oid, staged.size), (Oid::from_bytes(Sha256::digest(&content).into()), len as u64), "{len}");
            assert_eq!(fs::read(staged.tmp.path()).unwrap(), content, "the staged copy of {len} bytes");
            assert_eq!(fs::read(dir.path().join(format!("to-{len}"))).unwrap(), content, "the second copy of {len} bytes");
            // the disk reserved ahead is not counted in the size
            assert_eq!(to.metadata().unwrap().len(), len as u64);
        }
    }

    #[test]
    fn the_buffered_copy_keeps_offsets_and_stops_at_the_end_of_the_source() {
        // (what copy_range falls back to between filesystems the kernel cannot copy between)
        let dir = tempfile::tempdir().unwrap();
        let content = numbered(3 * BUF_SIZE + 77);
        fs::write(dir.path().join("a"), &content).unwrap();
        let from = File::open(dir.path().join("a")).unwrap();
        let to = File::options().read(true).write(true).create_new(true).open(dir.path().join("b")).unwrap();
        assert_eq!(copy_range_buffered(&from, 5, &to, 9, 2 * BUF_SIZE + 3).unwrap(), 2 * BUF_SIZE + 3);
        let copied = fs::read(dir.path().join("b")).unwrap();
        assert_eq!(&copied[9..], &content[5..5 + 2 * BUF_SIZE + 3]);
        assert_eq!(copy_range_buffered(&from, (content.len() - 10) as u64, &to, 0, BUF_SIZE).unwrap(), 10);
        assert_eq!(&fs::read(dir.path().join("b")).unwrap()[..10], &content[content.len() - 10..]);
        assert_eq!(copy_range(&from, content.len() as u64, &to, 0, 100).unwrap(), 0, "nothing past the end");
    }

    #[test]
    fn a_file_the_kernel_will_not_copy_is_copied_by_hand() {
        // procfs reports size 0, and copy_file_range from it fails (EXDEV here) or gives 0 bytes:
        // its bytes still come
        let dir = tempfile::tempdir().unwrap();
        let want = fs::read("/proc/version").unwrap();
        assert!(!want.is_empty());
        let to = File::options().read(true).write(true).create_new(true).open(dir.path().join("v")).unwrap();
        let n = copy_range(&File::open("/proc/version").unwrap(), 0, &to, 0, STAGE_BLOCK).unwrap();
        assert_eq!((n, fs::read(dir.path().join("v")).unwrap()), (want.len(), want));
    }

    #[test]
    fn check_finds_missing_short_and_corrupt_objects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::for_git_dir(dir.path());
        let f = dir.path().join("w.bin");
        fs::write(&f, b"abcdef").unwrap();
        let p = store.add_file(&f, &Silent).unwrap().pointer;
        let obj = store.object_path(&p.oid);
        fs::write(&obj, b"abcdeX").unwrap();
        assert!(matches!(store.check(&p, &Silent).unwrap(), ObjectState::Corrupt { .. }));
        fs::write(&obj, b"abc").unwrap();
        assert_eq!(store.check(&p, &Silent).unwrap(), ObjectState::WrongSize { actual: 3 });
        assert!(!store.contains(&p));
        fs::remove_file(&obj).unwrap();
        assert_eq!(store.check(&p, &Silent).unwrap(), ObjectState::Missing);
    }

    #[test]
    fn a_file_that_changes_while_it_is_read_is_refused_and_nothing_is_stored() {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::for_git_dir(&dir.path().join(".git"));
        let f = dir.path().join("w.bin");
        fs::write(&f, vec![7u8; 64 << 20]).unwrap();
        let stop = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                // a training loop still writing its checkpoint
                let mut w = fs::OpenOptions::new().append(true).open(&f).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    w.write_all(b"x").unwrap();
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(5));
            let r = store.add_file(&f, &Silent);
            stop.store(true, Ordering::Relaxed);
            r
        });
        assert!(matches!(result, Err(Error::ChangedWhileReading(_))), "{result:?}");
        let objects = dir.path().join(".git/lfs/objects");
        assert!(!objects.exists() || walkdir::WalkDir::new(&objects).into_iter().flatten().all(|e| !e.file_type().is_file()));
        assert_eq!(fs::read_dir(dir.path().join(".git/lfs/tmp")).unwrap().count(), 0);
    }

    #[test]
    fn import_refuses_a_corrupt_source_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let src_store = Store::for_git_dir(&dir.path().join("a"));
        let dst_store = Store::for_git_dir(&dir.path().join("b"));
        let f = dir.path().join("w.bin");
        fs::write(&f, b"good content").unwrap();
        let p = src_store.add_file(&f, &Silent).unwrap().pointer;
        fs::write(src_store.object_path(&p.oid), b"evil content").unwrap();
        let err = dst_store.import_verified(&src_store.object_path(&p.oid), &p, &Silent).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(!dst_store.object_path(&p.oid).exists());
        fs::write(src_store.object_path(&p.oid), b"good content").unwrap();
        dst_store.import_verified(&src_store.object_path(&p.oid), &p, &Silent).unwrap();
        assert_eq!(fs::read(dst_store.object_path(&p.oid)).unwrap(), b"good content");
    }
}
