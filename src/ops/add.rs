//! `hfgit add`: brings files into the work tree under their conventional names (`*.pt`/`*.pth`
//! become `pytorch_model.bin`) and writes or merges `config.json`. Everything is validated
//! before anything is written, so bad input changes nothing; each write is a temp file (under
//! `.git`, never in the work tree) plus a rename. It holds the repository lock, waiting a little
//! for another hfgit, so two `add --set` at once both land.

use crate::error::{Context, Error, Result};
use crate::ops::config_json::{self, Setting};
use crate::repo::{checkout, git};
use crate::weights::scan::{scan_file, FileReport};
use crate::weights::{safetensors, Weights};
use git2::Repository;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

pub struct AddOptions<'a> {
    pub paths: &'a [PathBuf],
    pub as_name: Option<&'a str>,
    pub config: Option<&'a Path>,
    pub sets: &'a [String],
    /// Convert PyTorch checkpoints to safetensors instead of copying them.
    pub safetensors: bool,
}

#[derive(Debug, Serialize)]
pub struct AddOutcome {
    /// (source, destination relative to the work tree) for each file copied in.
    pub copied: Vec<(String, String)>,
    /// Paths already inside the work tree, left where they are.
    pub in_place: Vec<String>,
    pub config_written: bool,
    /// (source, destination, tensors, bytes) for each checkpoint converted to safetensors.
    pub converted: Vec<(String, String, usize, u64)>,
    /// The pickle scan of every pickle-based file added.
    pub scans: Vec<FileReport>,
}

/// The conventional name of a file brought in without `--as`.
pub fn conventional_name(src: &Path) -> Option<String> {
    let name = src.file_name()?.to_str()?;
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    Some(match ext.as_deref() {
        Some("pt") | Some("pth") => "pytorch_model.bin".to_string(),
        _ => name.to_string(),
    })
}

/// The name a checkpoint converted with `--safetensors` gets without `--as`: `model.safetensors`
/// for what would be `pytorch_model.bin`, else the file's stem with `.safetensors`.
pub fn safetensors_name(src: &Path) -> Option<String> {
    let conventional = conventional_name(src)?;
    if conventional == "pytorch_model.bin" {
        return Some("model.safetensors".into());
    }
    let stem = Path::new(&conventional).file_stem()?.to_str()?;
    Some(format!("{stem}.safetensors"))
}

/// A destination given by the user, checked to stay inside the work tree and out of `.git`.
fn checked_dest(name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return Err(Error::BadInput(format!("destination `{name}` is outside the work tree"))),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::BadInput(format!("invalid destination `{name}`")));
    }
    if out.components().next().is_some_and(|c| c.as_os_str() == ".git") {
        return Err(Error::BadInput(format!("destination `{name}` is inside .git")));
    }
    Ok(out)
}

/// How long `add` waits for another hfgit to release the repository lock.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

pub fn add(repo: &Repository, opts: &AddOptions<'_>, progress: &dyn crate::progress::Progress) -> Result<AddOutcome> {
    let workdir = git::workdir(repo)?;
    let _lock = git::lock_waiting(repo, LOCK_PATIENCE)?;
    let store = crate::lfs::store::Store::for_git_dir(repo.path());
    let wd_canon = workdir.canonicalize().context(format!("resolving {}", workdir.display()))?;
    if opts.as_name.is_some() && opts.paths.len() != 1 {
        return Err(Error::BadInput("--as names one destination: give exactly one PATH with it".into()));
    }
    if opts.safetensors && opts.paths.is_empty() {
        return Err(Error::BadInput("--safetensors needs the checkpoint PATH to convert".into()));
    }
    if opts.paths.is_empty() && opts.config.is_none() && opts.sets.is_empty() {
        return Err(Error::BadInput("nothing to add: give PATHs, --config FILE or --set KEY=VALUE".into()));
    }
    // 1. Validate everything.
    let mut copies: BTreeMap<PathBuf, Source> = BTreeMap::new(); // dest (relative) -> source
    let mut in_place = Vec::new();
    let mut conversions: Vec<(PathBuf, PathBuf, Weights)> = Vec::new(); // dest, source, reader
    for src in opts.paths {
        let meta = fs::metadata(src).map_err(|e| Error::BadInput(format!("cannot add {}: {e}", src.display())))?;
        let canon = src.canonicalize().context(format!("resolving {}", src.display()))?;
        if opts.safetensors {
            if meta.is_dir() {
                return Err(Error::BadInput(format!("--safetensors converts checkpoint files; {} is a directory", src.display())));
            }
            let weights =
                Weights::open(&canon).map_err(|e| Error::BadInput(format!("cannot convert {} to safetensors: {e}", src.display())))?;
            if weights.format == crate::weights::Format::SafeTensors {
                return Err(Error::BadInput(format!("{} is already safetensors; add it without --safetensors", src.display())));
            }
            let dest = match opts.as_name {
                Some(n) => checked_dest(n)?,
                None => {
                    let name = safetensors_name(&canon).ok_or_else(|| Error::BadInput(format!("cannot add {}", src.display())))?;
                    match canon.strip_prefix(&wd_canon) {
                        Ok(rel) => rel.with_file_name(name),
                        Err(_) => PathBuf::from(name),
                    }
                }
            };
            if conversions.iter().any(|(d, _, _): &(PathBuf, PathBuf, Weights)| d == &dest) || copies.contains_key(&dest) {
                return Err(Error::BadInput(format!("two inputs would both be stored as {}", dest.display())));
            }
            conversions.push((dest, canon, weights));
            continue;
        }
        if let Ok(rel) = canon.strip_prefix(&wd_canon) {
            if rel.components().next().is_some_and(|c| c.as_os_str() == ".git") {
                return Err(Error::BadInput(format!("{} is inside .git", src.display())));
            }
            if opts.as_name.is_some() {
                return Err(Error::BadInput(format!(
                    "{} is already in the work tree; --as only names files copied in (rename it with mv)",
                    src.display()
                )));
            }
            in_place.push(rel.display().to_string());
            continue;
        }
        let dest = match opts.as_name {
            Some(n) => checked_dest(n)?,
            None if meta.is_dir() => {
                PathBuf::from(canon.file_name().ok_or_else(|| Error::BadInput(format!("cannot add {}", src.display())))?)
            }
            None => PathBuf::from(conventional_name(&canon).ok_or_else(|| Error::BadInput(format!("cannot add {}", src.display())))?),
        };
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(&canon).follow_links(false) {
                let entry = entry.map_err(|e| Error::BadInput(format!("cannot read {}: {e}", src.display())))?;
                if entry.file_type().is_dir() {
                    continue;
                }
                let rel = entry.path().strip_prefix(&canon).expect("walkdir stays under its root");
                if rel.components().any(|c| c.as_os_str() == ".git") {
                    continue;
                }
                // A symlink inside DIR is stored as a symlink (as `git add` does): its target is
                // never read, so nothing outside DIR is copied in.
                let source = if entry.file_type().is_symlink() {
                    let target = fs::read_link(entry.path()).context(format!("reading link {}", entry.path().display()))?;
                    Source::Link(entry.path().to_path_buf(), target)
                } else {
                    Source::File(entry.path().to_path_buf())
                };
                insert_copy(&mut copies, dest.join(rel), source)?;
            }
        } else {
            insert_copy(&mut copies, dest, Source::File(canon))?;
        }
    }
    let mut config = None;
    if opts.config.is_some() || !opts.sets.is_empty() {
        let settings: Vec<Setting> = opts.sets.iter().map(|s| config_json::parse_setting(s)).collect::<Result<_>>()?;
        let path = workdir.join("config.json");
        let mut current = match fs::read_to_string(&path) {
            Ok(t) => config_json::parse_object(&t, "the existing config.json")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e).context(format!("reading {}", path.display())),
        };
        if let Some(f) = opts.config {
            let text = fs::read_to_string(f).map_err(|e| Error::BadInput(format!("cannot read --config {}: {e}", f.display())))?;
            config_json::merge(&mut current, config_json::parse_object(&text, &format!("--config {}", f.display()))?);
        }
        for s in &settings {
            config_json::apply(&mut current, s)?;
        }
        if copies.contains_key(Path::new("config.json")) {
            return Err(Error::BadInput("config.json is both copied in and written from --config/--set".into()));
        }
        config = Some(config_json::render(&current));
    }
    for dest in copies.keys().chain(conversions.iter().map(|c| &c.0)) {
        if let Ok(m) = fs::symlink_metadata(workdir.join(dest)) {
            if m.is_dir() {
                return Err(Error::BadInput(format!("{} is a directory in the work tree", dest.display())));
            }
        }
    }

    // 2. Write: copies through temp files under .git, then renames.
    let mut copied = Vec::new();
    for (dest, src) in &copies {
        let abs = checkout::prepare_dest(&workdir, &rel_str(dest)?)?;
        match src {
            Source::File(src) => {
                store.write_via_temp(&abs, &|f| {
                    let mut from = fs::File::open(src).context(format!("opening {}", src.display()))?;
                    std::io::copy(&mut from, &mut &*f).context(format!("copying {}", src.display()))?;
                    let perm = from.metadata().context(format!("reading {}", src.display()))?.permissions();
                    f.set_permissions(perm).context(format!("writing {}", abs.display()))
                })?;
            }
            Source::Link(_, target) => {
                // a link is made in one step: no partial state, and a rename moves it in
                let tmp = abs.with_file_name(format!(".{}link", crate::cleanup::temp_prefix()));
                crate::cleanup::watch_dir(abs.parent().expect("destinations are under the work tree"));
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(target, &tmp).context(format!("creating link {}", abs.display()))?;
                fs::rename(&tmp, &abs).context(format!("writing {}", abs.display()))?;
            }
        }
        copied.push((src.path().display().to_string(), dest.display().to_string()));
    }
    let mut converted = Vec::new();
    let total: u64 = conversions.iter().flat_map(|c| c.2.tensors.iter()).map(|t| t.byte_len()).sum();
    if !conversions.is_empty() {
        progress.begin("Converting", total, conversions.len() as u64);
    }
    for (dest, src, weights) in &conversions {
        let abs = checkout::prepare_dest(&workdir, &rel_str(dest)?)?;
        let bytes = std::cell::Cell::new(0);
        store.write_via_temp(&abs, &|f| {
            let mut out = f.try_clone().context(format!("writing {}", abs.display()))?;
            let n = safetensors::write(&weights.file, &weights.tensors, &mut out, &mut |n| progress.bytes(n))
                .map_err(|e| Error::failed(format!("converting {}: {e}", src.display())))?;
            bytes.set(n);
            // temp files are created 0600; give the result a normal file's mode
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o644)).context(format!("writing {}", abs.display()))
        })?;
        let bytes = bytes.get();
        converted.push((src.display().to_string(), dest.display().to_string(), weights.tensors.len(), bytes));
        progress.item_done();
    }
    if !conversions.is_empty() {
        progress.end();
    }
    if let Some(bytes) = &config {
        crate::lfs::track::write_atomic(&store, &workdir.join("config.json"), bytes)?;
    }
    // 3. Scan what was brought in that is pickle-based.
    let mut scans = Vec::new();
    let added = copied.iter().map(|(_, d)| d.clone()).chain(in_place.iter().cloned());
    for rel in added {
        let abs = workdir.join(&rel);
        let Ok(meta) = fs::symlink_metadata(&abs) else { continue };
        if meta.file_type().is_symlink() {
            continue; // stored as a link: there is no content of ours to scan
        }
        if meta.is_dir() {
            for entry in walkdir::WalkDir::new(&abs).into_iter().filter_map(|e| e.ok()) {
                let p = entry.path();
                let name = p.strip_prefix(&workdir).unwrap_or(p).display().to_string();
                if entry.file_type().is_file() && crate::weights::is_pickle_file(p) {
                    scans.push(scan_file(p, &name).context(format!("scanning {name}"))?);
                }
            }
        } else if crate::weights::is_pickle_file(&abs) {
            scans.push(scan_file(&abs, &rel).context(format!("scanning {rel}"))?);
        }
    }
    scans.retain(|s| s.is_pickle);
    Ok(AddOutcome { copied, in_place, config_written: config.is_some(), converted, scans })
}

/// What a destination is made from.
enum Source {
    File(PathBuf),
    /// A symlink met inside an added directory (its path, its target): stored as a symlink.
    Link(PathBuf, PathBuf),
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::File(p) | Source::Link(p, _) => p,
        }
    }
}

fn insert_copy(copies: &mut BTreeMap<PathBuf, Source>, dest: PathBuf, src: Source) -> Result<()> {
    let shown = src.path().display().to_string();
    if let Some(prev) = copies.insert(dest.clone(), src) {
        return Err(Error::BadInput(format!("{} and {shown} would both be stored as {}", prev.path().display(), dest.display())));
    }
    Ok(())
}

/// A destination as a `/`-separated work-tree path.
fn rel_str(dest: &Path) -> Result<String> {
    dest.to_str().map(str::to_string).ok_or_else(|| Error::BadInput(format!("{} is not valid UTF-8", dest.display())))
}
