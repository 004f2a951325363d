//! `hfgit add`: brings files into the work tree as `upload_folder` would (a directory's contents
//! at the root or under `--as`, with include/exclude/delete globs), a lone model state dict
//! `*.pt`/`*.pth` under its conventional name `pytorch_model.bin`, and writes or merges
//! `config.json`. A symlink named on the command line (a Hugging Face cache snapshot's files
//! are) is stored under its own name with its target's content. Everything is validated
//! before anything is written, so bad input changes nothing; each write is a temp file (under
//! `.git`, never in the work tree) plus a rename. It holds the repository lock, waiting a little
//! for another hfgit, so two `add --set` at once both land.

use crate::error::{Context, Error, Result};
use crate::ops::config_json::{self, ChangedKey, Setting};
use crate::repo::{checkout, git, path_rules};
use crate::weights::scan::{scan_file, FileReport};
use crate::weights::tensor::Tensor;
use crate::weights::{safetensors, shard, Weights};
use git2::Repository;
use globset::{GlobSet, GlobSetBuilder};
use serde::Serialize;
use serde_json::{Map, Value};
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
    /// Globs a directory's files must match to be added (all when empty), relative to it.
    pub include: &'a [String],
    /// Globs of a directory's files left out.
    pub exclude: &'a [String],
    /// Globs of files under a directory's destination to remove when the directory lacks them.
    pub delete: &'a [String],
    /// Let the `pytorch_model.bin` rename replace a different existing file.
    pub force: bool,
    /// With `--safetensors`: the largest shard (transformers' size syntax; default `5GB`).
    pub max_shard_size: Option<&'a str>,
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
    /// Work-tree files removed by `--delete`.
    pub deleted: Vec<String>,
    /// Index files written for sharded safetensors (`model.safetensors.index.json`).
    pub indexes: Vec<String>,
    /// (name dropped, name kept) for each tied tensor written once by `--safetensors`.
    pub tied: Vec<(String, String)>,
    /// (`*.pt`/`*.pth` file, why it kept its name instead of becoming `pytorch_model.bin`).
    pub kept_names: Vec<(String, String)>,
    /// Keys of the existing config.json that `--config` changed (old and new value).
    pub config_overridden: Vec<ChangedKey>,
    /// Keys `--config` and `--set` both give differently: `--set` wins (`old` is the file's).
    pub config_kept: Vec<ChangedKey>,
}

/// Whether a file with this name is renamed `pytorch_model.bin` when it is a lone model state dict.
fn is_torch_name(name: &str) -> bool {
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("pt") | Some("pth"))
}

/// The name a checkpoint converted with `--safetensors` gets without `--as`: `model.safetensors`
/// for a lone model state dict (what would be `pytorch_model.bin`), else the file's stem with
/// `.safetensors`.
pub fn safetensors_name(name: &str, lone_state_dict: bool) -> Option<String> {
    if name == "pytorch_model.bin" || (lone_state_dict && is_torch_name(name)) {
        return Some("model.safetensors".into());
    }
    let stem = Path::new(name).file_stem()?.to_str()?;
    Some(format!("{stem}.safetensors"))
}

/// Whether the file holds a model's weights: safetensors and other weights formats by name, a
/// PyTorch checkpoint when it is a state dict of tensors (not an optimizer or Trainer state).
fn is_model_weights(path: &Path, name: &str) -> bool {
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "safetensors" | "gguf" | "h5" | "msgpack" | "onnx" => true,
        "pt" | "pth" | "bin" | "ckpt" => Weights::open(path).is_ok_and(|w| w.state_dict),
        _ => false,
    }
}

/// Folders never copied out of a directory being added: version control (`upload_folder`
/// leaves out `.git` too), and the Hub client's `.cache/huggingface` (below).
const SKIPPED_DIRS: &[&str] = &[".git", ".hg", ".svn", ".bzr", "_darcs", "CVS", ".jj"];

fn skipped(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name();
    SKIPPED_DIRS.iter().any(|d| name == *d)
        || (entry.file_type().is_dir()
            && name == "huggingface"
            && entry.path().parent().and_then(|p| p.file_name()).is_some_and(|p| p == ".cache"))
}

/// Globs as `upload_folder`'s `allow_patterns`/`ignore_patterns`/`delete_patterns` read them
/// (fnmatch on the path relative to the folder: `*` crosses `/`; a trailing `/` means all
/// below).
fn glob_set(patterns: &[String], flag: &str) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = if p.ends_with('/') { format!("{p}*") } else { p.clone() };
        let glob = globset::GlobBuilder::new(&g)
            .literal_separator(false)
            .build()
            .map_err(|e| Error::BadInput(format!("invalid {flag} pattern `{p}`: {e}")))?;
        b.add(glob);
    }
    b.build().map(Some).map_err(|e| Error::BadInput(format!("invalid {flag} pattern: {e}")))
}

/// Which files of an added directory are brought in.
struct Selection {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Selection {
    fn wants(&self, rel: &Path) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(rel)) && !self.exclude.as_ref().is_some_and(|g| g.is_match(rel))
    }
}

/// The `blobs/` folder of the Hugging Face cache repository `dir` is a snapshot of (or inside
/// one): `…/models--owner--name/snapshots/<rev>/…`.
fn cache_blobs(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find_map(|a| {
        let snapshots = a.parent()?;
        let repo = snapshots.parent()?;
        let name = repo.file_name()?.to_str()?;
        let cached = ["models--", "datasets--", "spaces--"].iter().any(|p| name.starts_with(p));
        (snapshots.file_name()? == "snapshots" && cached).then(|| repo.join("blobs"))
    })
}

/// Where a path given on the command line is, without following it when it is a symlink (the
/// link's own name and folder, resolved).
fn located(src: &Path, canon: &Path, link: bool) -> Result<PathBuf> {
    match (link, src.file_name(), src.parent()) {
        (true, Some(name), Some(parent)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            Ok(parent.canonicalize().context(format!("resolving {}", parent.display()))?.join(name))
        }
        _ => Ok(canon.to_path_buf()),
    }
}

/// A work-tree path whose every directory is a real one (not a symlink), so walking it stays
/// in the work tree.
fn real_dir(workdir: &Path, rel: &Path) -> bool {
    let mut cur = workdir.to_path_buf();
    rel.components().all(|c| {
        cur.push(c);
        fs::symlink_metadata(&cur).is_ok_and(|m| m.is_dir())
    })
}

/// Whether two files hold the same bytes.
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let (ma, mb) =
        (fs::metadata(a).context(format!("reading {}", a.display()))?, fs::metadata(b).context(format!("reading {}", b.display()))?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let mut fa = fs::File::open(a).context(format!("opening {}", a.display()))?;
    let mut fb = fs::File::open(b).context(format!("opening {}", b.display()))?;
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba).context(format!("reading {}", a.display()))?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n]).context(format!("reading {}", b.display()))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Where `--as` puts a directory's contents: like [`checked_dest`], `.` being the root.
fn dir_dest(name: &str) -> Result<PathBuf> {
    if Path::new(name).components().all(|c| c == Component::CurDir) {
        return Ok(PathBuf::new());
    }
    checked_dest(name)
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
    let selection = Selection { include: glob_set(opts.include, "--include")?, exclude: glob_set(opts.exclude, "--exclude")? };
    let delete = glob_set(opts.delete, "--delete")?;
    // 1. Validate everything.
    let mut copies: BTreeMap<PathBuf, Source> = BTreeMap::new(); // dest (relative) -> source
    let mut in_place = Vec::new();
    let mut conversions = Conversions::default();
    let max_shard = match opts.max_shard_size {
        Some(_) if !opts.safetensors => {
            return Err(Error::BadInput("--max-shard-size sizes the shards --safetensors writes: add --safetensors".into()))
        }
        Some(s) => shard::parse_size(s).map_err(|e| Error::BadInput(format!("--max-shard-size: {e}")))?,
        None => shard::parse_size(shard::DEFAULT_MAX_SHARD_SIZE).expect("the default parses"),
    };
    if max_shard == 0 {
        return Err(Error::BadInput("--max-shard-size must be more than 0 bytes".into()));
    }
    let mut named: Vec<(String, PathBuf, &Path)> = Vec::new(); // files given without --as: (name, content, as given)
    let mut dir_dests: Vec<PathBuf> = Vec::new(); // where each copied directory's contents go
    for src in opts.paths {
        let cannot = |e: std::io::Error| Error::BadInput(format!("cannot add {}: {e}", src.display()));
        let link = fs::symlink_metadata(src).map_err(cannot)?.file_type().is_symlink();
        let meta = fs::metadata(src).map_err(cannot)?;
        let canon = src.canonicalize().context(format!("resolving {}", src.display()))?;
        // a symlink named here is stored under its own name, with its target's content
        let at = located(src, &canon, link)?;
        let name = || at.file_name().and_then(|n| n.to_str()).ok_or_else(|| Error::BadInput(format!("cannot add {}", src.display())));
        if opts.safetensors {
            let before: Vec<PathBuf> = conversions.dests().cloned().collect();
            let index = if meta.is_dir() {
                Some(canon.join(SHARDED_INDEX))
            } else {
                canon.to_str().filter(|n| n.ends_with(".index.json")).map(|_| canon.clone())
            };
            match index {
                Some(index) => conversions.add_sharded(src, &index, &at, &wd_canon, opts, meta.is_dir())?,
                None => conversions.add_single(src, &canon, &at, &wd_canon, opts, max_shard)?,
            }
            let added: Vec<&PathBuf> = conversions.dests().skip(before.len()).collect();
            if let Some(d) = added.iter().find(|d| before.contains(d) || copies.contains_key(**d)) {
                return Err(Error::BadInput(format!("two inputs would both be stored as {}", d.display())));
            }
            continue;
        }
        if let Ok(rel) = at.strip_prefix(&wd_canon) {
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
        if meta.is_dir() {
            let dest = opts.as_name.map(dir_dest).transpose()?.unwrap_or_default();
            add_dir(&canon, &dest, &selection, &mut copies)?;
            dir_dests.push(dest);
        } else if let Some(n) = opts.as_name {
            insert_copy(&mut copies, checked_dest(n)?, Source::File(canon))?;
        } else {
            named.push((name()?.to_string(), canon, src.as_path()));
        }
    }
    if (!opts.include.is_empty() || !opts.exclude.is_empty() || delete.is_some()) && dir_dests.is_empty() {
        return Err(Error::BadInput(
            "--include, --exclude and --delete select a directory's files: give a DIR outside the work tree".into(),
        ));
    }
    // Files named on the command line keep their name, but a lone model state dict `*.pt` /
    // `*.pth` becomes `pytorch_model.bin`.
    let mut kept_names = Vec::new();
    let candidates = named.iter().filter(|(n, _, _)| is_torch_name(n)).count();
    let weights_files = if candidates == 0 {
        0
    } else {
        named
            .iter()
            .map(|(n, p, _)| (n.as_str(), p.as_path()))
            .chain(copies.iter().filter_map(|(d, s)| match s {
                Source::File(p) => Some((d.to_str().unwrap_or_default(), p.as_path())),
                Source::Link(..) => None,
            }))
            .filter(|(n, p)| is_model_weights(p, n))
            .count()
    };
    for (name, content, given) in named {
        let mut dest = PathBuf::from(&name);
        if is_torch_name(&name) {
            if !Weights::open(&content).is_ok_and(|w| w.state_dict) {
                kept_names.push((name.clone(), "not a model state dict (a mapping of names to tensors)".to_string()));
            } else if weights_files > 1 {
                kept_names.push((name.clone(), "other weights files are added with it".to_string()));
            } else {
                dest = PathBuf::from("pytorch_model.bin");
                let existing = workdir.join(&dest);
                let replaces = match fs::symlink_metadata(&existing) {
                    Ok(m) => !m.is_file() || !same_content(&existing, &content)?,
                    Err(_) => false,
                };
                if replaces && !opts.force {
                    return Err(Error::with_hint(
                        format!(
                            "{name} is a model state dict, stored as pytorch_model.bin by convention, but the work tree has a different pytorch_model.bin; nothing was changed"
                        ),
                        format!("keep both with `hfgit add {} --as {name}`, or replace pytorch_model.bin with `--force`", given.display()),
                    ));
                }
            }
        }
        insert_copy(&mut copies, dest, Source::File(content))?;
    }
    let mut config = None;
    let (mut config_overridden, mut config_kept) = (Vec::new(), Vec::new());
    if opts.config.is_some() || !opts.sets.is_empty() {
        let settings: Vec<Setting> = opts.sets.iter().map(|s| config_json::parse_setting(s)).collect::<Result<_>>()?;
        // a config.json brought in (a save_pretrained folder's) is the base --config/--set edit,
        // replacing the work tree's as any copy does
        let (path, what) = match copies.remove(Path::new("config.json")) {
            Some(Source::File(p)) => (p, "the config.json brought in"),
            Some(Source::Link(..)) => {
                return Err(Error::BadInput("config.json brought in is a symlink: --config/--set cannot edit it".into()))
            }
            None => (workdir.join("config.json"), "the existing config.json"),
        };
        let mut current = match fs::read_to_string(&path) {
            Ok(t) => config_json::parse_object(&t, what)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e).context(format!("reading {}", path.display())),
        };
        if let Some(f) = opts.config {
            let text = fs::read_to_string(f).map_err(|e| Error::BadInput(format!("cannot read --config {}: {e}", f.display())))?;
            let from = config_json::parse_object(&text, &format!("--config {}", f.display()))?;
            let before = current.clone();
            config_json::merge(&mut current, from.clone());
            // precedence: --set over --config over the existing config.json
            for s in &settings {
                if let Some(v) = config_json::lookup(&from, &s.key).filter(|v| **v != s.value) {
                    config_kept.push(ChangedKey { key: s.key.join("."), old: v.clone(), new: s.value.clone() });
                }
            }
            config_overridden = config_json::diff(&before, &current).changed;
            config_overridden.retain(|c| !settings.iter().any(|s| s.key.join(".") == c.key));
        }
        for s in &settings {
            config_json::apply(&mut current, s)?;
        }
        config = Some(config_json::render(&current));
    }
    for dest in copies.keys().chain(conversions.dests()) {
        // every name is one git can check out everywhere, before a byte is written
        let rel = rel_str(dest)?;
        let mode = if matches!(copies.get(dest), Some(Source::Link(..))) { 0o120000 } else { 0o100644 };
        path_rules::check_path(rel.as_bytes(), mode)
            .map_err(|why| Error::BadInput(format!("cannot add `{rel}`: its path has {why}; nothing was changed")))?;
        if let Ok(m) = fs::symlink_metadata(workdir.join(dest)) {
            if m.is_dir() {
                return Err(Error::BadInput(format!("{} is a directory in the work tree", dest.display())));
            }
        }
    }
    let mut to_delete = Vec::new();
    if let Some(globs) = &delete {
        let keep = |p: &Path| {
            copies.contains_key(p)
                || conversions.dests().any(|d| d == p)
                || p == Path::new(".gitattributes")
                || (config.is_some() && p == Path::new("config.json"))
        };
        for dest in &dir_dests {
            to_delete.extend(deletions(repo, &workdir, dest, globs, &keep)?);
        }
        to_delete.sort();
        to_delete.dedup();
    }

    // 2. Write: copies through temp files under .git, then renames. A file bound for LFS is
    // hashed as it is copied and its object stored from the same read, and its pointer recorded
    // with the copy's stat data, so commit (and status) need not read it again. Every
    // destination is checked (and its directories made) before any file is written; the files
    // are then copied on all cores, largest first, as commit hashes them.
    let threshold = crate::lfs::track::threshold(repo)?;
    let mut jobs = Vec::new();
    let mut links = Vec::new();
    for (dest, src) in &copies {
        let rel = rel_str(dest)?;
        let abs = checkout::prepare_dest(&workdir, &rel)?;
        match src {
            Source::File(src) => {
                let size = fs::metadata(src).context(format!("reading {}", src.display()))?.len();
                let lfs = size > 0 && (size > threshold || crate::lfs::track::has_lfs_filter(repo, &rel)?);
                jobs.push(CopyJob { rel, abs, src, size, lfs });
            }
            Source::Link(_, target) => links.push((abs, target)),
        }
    }
    let total: u64 = jobs.iter().map(|j| j.size).sum();
    if !jobs.is_empty() {
        progress.begin("Copying", total, jobs.len() as u64);
    }
    let results: BTreeMap<String, Result<Option<(fs::Metadata, crate::lfs::pointer::Pointer)>>> = crate::parallel::largest_first(
        jobs,
        |j| j.size,
        crate::parallel::default_threads(),
        |j| {
            let fp = crate::progress::FileProgress::new(progress, &j.rel, j.size);
            let r = copy_one(&store, j, &fp);
            progress.item_done();
            r
        },
    )
    .into_iter()
    .map(|(j, r)| (j.rel, r))
    .collect();
    if !results.is_empty() {
        progress.end();
    }
    // every copy that succeeded is recorded, even when another failed: its file is in place
    let mut added = crate::repo::added::Added::load(repo.path());
    let mut recorded = false;
    let mut failed = None;
    for (rel, r) in results {
        match r {
            Ok(Some((meta, pointer))) => {
                added.insert(&rel, &meta, &pointer);
                recorded = true;
            }
            Ok(None) => {}
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if recorded {
        added.save(&store, repo.path(), &workdir)?;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    for (abs, target) in links {
        // a link is made in one step: no partial state, and a rename moves it in
        let tmp = abs.with_file_name(format!(".{}link", crate::cleanup::temp_prefix()));
        crate::cleanup::watch_dir(abs.parent().expect("destinations are under the work tree"));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).context(format!("creating link {}", abs.display()))?;
        fs::rename(&tmp, &abs).context(format!("writing {}", abs.display()))?;
    }
    let copied: Vec<(String, String)> =
        copies.iter().map(|(dest, src)| (src.path().display().to_string(), dest.display().to_string())).collect();
    let mut converted = Vec::new();
    let outputs = &conversions.outputs;
    let total: u64 = outputs.iter().flat_map(|o| o.tensors.iter()).map(|t| t.byte_len()).sum();
    if !outputs.is_empty() {
        progress.begin("Converting", total, outputs.len() as u64);
    }
    for out in outputs {
        let (src, weights) = &conversions.sources[out.source];
        let abs = checkout::prepare_dest(&workdir, &rel_str(&out.dest)?)?;
        let bytes = std::cell::Cell::new(0);
        store.write_via_temp(&abs, &|f| {
            let mut to = f.try_clone().context(format!("writing {}", abs.display()))?;
            let n = safetensors::write_with_metadata(&weights.file, &out.tensors, &out.metadata, &mut to, &mut |n| progress.bytes(n))
                .map_err(|e| Error::failed(format!("converting {}: {e}", src.display())))?;
            bytes.set(n);
            // temp files are created 0600; give the result a normal file's mode
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o644)).context(format!("writing {}", abs.display()))
        })?;
        converted.push((src.display().to_string(), out.dest.display().to_string(), out.tensors.len(), bytes.get()));
        progress.item_done();
    }
    if !outputs.is_empty() {
        progress.end();
    }
    // the index last: it names shards that are all in place
    for (dest, bytes) in &conversions.indexes {
        let abs = checkout::prepare_dest(&workdir, &rel_str(dest)?)?;
        crate::lfs::track::write_atomic(&store, &abs, bytes)?;
    }
    if let Some(bytes) = &config {
        crate::lfs::track::write_atomic(&store, &workdir.join("config.json"), bytes)?;
    }
    let mut deleted = Vec::new();
    for rel in to_delete {
        let shown = rel_str(&rel)?;
        match fs::remove_file(workdir.join(&rel)) {
            Ok(()) => deleted.push(shown),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("removing {shown}")),
        }
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
    Ok(AddOutcome {
        copied,
        in_place,
        config_written: config.is_some(),
        converted,
        scans,
        deleted,
        indexes: conversions.indexes.iter().map(|(d, _)| d.display().to_string()).collect(),
        tied: conversions.tied,
        kept_names,
        config_overridden,
        config_kept,
    })
}

/// Gives the copy `to` the source's modification time, as `cp -p` does, when it is in the past:
/// the copy then is not "racily clean" for git, so commit need not wait out the second it was
/// written in before writing the index.
fn keep_modified_time(to: &fs::File, source: &fs::Metadata) -> std::io::Result<()> {
    match source.modified() {
        Ok(t) if t < std::time::SystemTime::now() => to.set_modified(t),
        _ => Ok(()),
    }
}

/// One file of `add` to copy into the work tree.
struct CopyJob<'a> {
    rel: String,
    abs: PathBuf,
    src: &'a Path,
    size: u64,
    /// Bound for LFS: hashed and stored as it is copied.
    lfs: bool,
}

/// Copies one file into the work tree through a temp file; one bound for LFS is hashed and its
/// object stored in the same read. Gives the copy's stat data and pointer to record.
fn copy_one(
    store: &crate::lfs::store::Store,
    j: &CopyJob<'_>,
    progress: &dyn crate::progress::Progress,
) -> Result<Option<(fs::Metadata, crate::lfs::pointer::Pointer)>> {
    let (src, abs) = (j.src, &j.abs);
    let staged = std::sync::Mutex::new(None);
    store.write_via_temp(abs, &|f| {
        let mut from = fs::File::open(src).context(format!("opening {}", src.display()))?;
        let meta = from.metadata().context(format!("reading {}", src.display()))?;
        if j.lfs {
            *staged.lock().expect("staged lock") = Some(store.copy_in(&mut from, src, f, progress)?);
        } else {
            let n = std::io::copy(&mut from, &mut &*f).context(format!("copying {}", src.display()))?;
            progress.bytes(n);
        }
        keep_modified_time(f, &meta).context(format!("writing {}", abs.display()))?;
        f.set_permissions(meta.permissions()).context(format!("writing {}", abs.display()))
    })?;
    let Some(s) = staged.into_inner().expect("staged lock") else { return Ok(None) };
    let meta = fs::symlink_metadata(abs).context(format!("reading {}", abs.display()))?;
    let pointer = crate::lfs::pointer::Pointer::new(s.oid, s.size);
    // (two files of one add with the same content may both get here: the second rename puts
    // identical bytes over the first)
    if !store.contains(&pointer) {
        store.persist(s.tmp, &s.oid)?;
    }
    Ok(Some((meta, pointer)))
}

/// Adds the files of the directory `root` to `copies` under `dest`. A symlink inside it is
/// stored as a symlink (as `git add` does; its target is never read, so nothing outside the
/// directory is copied in), except in a Hugging Face cache snapshot, whose files are links into
/// the cache's `blobs/`: those are stored with the blob's content.
fn add_dir(root: &Path, dest: &Path, selection: &Selection, copies: &mut BTreeMap<PathBuf, Source>) -> Result<()> {
    let blobs = cache_blobs(root).and_then(|b| b.canonicalize().ok());
    for entry in walkdir::WalkDir::new(root).follow_links(false).into_iter().filter_entry(|e| e.depth() == 0 || !skipped(e)) {
        let entry = entry.map_err(|e| Error::BadInput(format!("cannot read {}: {e}", root.display())))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).expect("walkdir stays under its root");
        if !selection.wants(rel) {
            continue;
        }
        let source = if entry.file_type().is_symlink() {
            let blob = blobs.as_ref().and_then(|b| entry.path().canonicalize().ok().filter(|t| t.starts_with(b) && t.is_file()));
            match blob {
                Some(b) => Source::File(b),
                None => {
                    let target = fs::read_link(entry.path()).context(format!("reading link {}", entry.path().display()))?;
                    Source::Link(entry.path().to_path_buf(), target)
                }
            }
        } else {
            Source::File(entry.path().to_path_buf())
        };
        insert_copy(copies, dest.join(rel), source)?;
    }
    Ok(())
}

/// The work-tree files under `dest` that `--delete` removes: matching `globs` (relative to
/// `dest`), not kept (brought in by this command), not ignored, not under a VCS folder.
fn deletions(repo: &Repository, workdir: &Path, dest: &Path, globs: &GlobSet, keep: &dyn Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    if !real_dir(workdir, dest) {
        return Ok(Vec::new());
    }
    let base = workdir.join(dest);
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&base).follow_links(false).into_iter().filter_entry(|e| e.depth() == 0 || !skipped(e)) {
        let entry = entry.map_err(|e| Error::failed(format!("reading the work tree: {e}")))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(&base).expect("walkdir stays under its root");
        let path = dest.join(rel);
        if globs.is_match(rel) && !keep(&path) && !repo.is_path_ignored(&path).unwrap_or(false) {
            out.push(path);
        }
    }
    Ok(out)
}

/// The index transformers writes next to a sharded PyTorch checkpoint.
const SHARDED_INDEX: &str = "pytorch_model.bin.index.json";

/// What `--safetensors` writes: safetensors files, each some tensors of one source with its
/// metadata, and index files for sharded ones (written last).
#[derive(Default)]
struct Conversions {
    /// (source path, its reader).
    sources: Vec<(PathBuf, Weights)>,
    outputs: Vec<Output>,
    indexes: Vec<(PathBuf, Vec<u8>)>,
    /// (name dropped, name kept) of tied tensors.
    tied: Vec<(String, String)>,
}

struct Output {
    dest: PathBuf,
    source: usize,
    tensors: Vec<Tensor>,
    metadata: Map<String, Value>,
}

/// Opens a checkpoint to convert, refusing what is not one (or is safetensors already).
fn open_checkpoint(shown: &Path, path: &Path) -> Result<Weights> {
    let weights = Weights::open(path).map_err(|e| Error::BadInput(format!("cannot convert {} to safetensors: {e}", shown.display())))?;
    if weights.format == crate::weights::Format::SafeTensors {
        return Err(Error::BadInput(format!("{} is already safetensors; add it without --safetensors", shown.display())));
    }
    Ok(weights)
}

impl Conversions {
    fn dests(&self) -> impl Iterator<Item = &PathBuf> {
        self.outputs.iter().map(|o| &o.dest).chain(self.indexes.iter().map(|i| &i.0))
    }

    /// The tensors of source `source` to write, tied ones once, and the metadata naming each
    /// alias dropped (safetensors' `save_model` records `{alias: kept}` so loaders restore it).
    fn untied(&mut self, source: usize) -> (Vec<Tensor>, BTreeMap<String, String>) {
        let tensors = &self.sources[source].1.tensors;
        let (keep, aliases) = shard::untie(tensors);
        self.tied.extend(aliases.iter().map(|(a, k)| (a.clone(), k.clone())));
        (keep.iter().map(|&i| tensors[i].clone()).collect(), aliases)
    }

    fn push_output(&mut self, dest: PathBuf, source: usize, tensors: Vec<Tensor>, aliases: &BTreeMap<String, String>) {
        let mut metadata = safetensors::pt_metadata();
        for (alias, kept) in aliases {
            if tensors.iter().any(|t| &t.name == kept) {
                metadata.insert(alias.clone(), Value::String(kept.clone()));
            }
        }
        self.outputs.push(Output { dest, source, tensors, metadata });
    }

    /// One checkpoint: `model.safetensors` (see [`safetensors_name`]) or `--as NAME`, or, when
    /// its tensors exceed `max_shard` bytes, `<stem>-0000k-of-0000n.safetensors` shards and
    /// `<stem>.safetensors.index.json` beside where that file would be.
    fn add_single(&mut self, src: &Path, canon: &Path, at: &Path, wd_canon: &Path, opts: &AddOptions<'_>, max_shard: u64) -> Result<()> {
        let weights = open_checkpoint(src, canon)?;
        let dest = match opts.as_name {
            Some(n) => checked_dest(n)?,
            None => {
                let lone = weights.state_dict && opts.paths.len() == 1;
                let name = at.file_name().and_then(|n| n.to_str()).and_then(|n| safetensors_name(n, lone));
                let name = name.ok_or_else(|| Error::BadInput(format!("cannot add {}", src.display())))?;
                match at.strip_prefix(wd_canon) {
                    Ok(rel) => rel.with_file_name(name),
                    Err(_) => PathBuf::from(name),
                }
            }
        };
        let source = self.sources.len();
        self.sources.push((canon.to_path_buf(), weights));
        let (tensors, aliases) = self.untied(source);
        let sizes: Vec<(usize, u64)> = tensors.iter().enumerate().map(|(i, t)| (i, t.byte_len())).collect();
        let shards = shard::split(&sizes, max_shard);
        if shards.len() == 1 {
            self.push_output(dest, source, tensors, &aliases);
            return Ok(());
        }
        let file = dest.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let stem = file.strip_suffix(".safetensors").unwrap_or(file).to_string();
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut weight_map = BTreeMap::new();
        let n = shards.len();
        for (k, members) in shards.into_iter().enumerate() {
            let name = shard::shard_name(&stem, k + 1, n);
            let part: Vec<Tensor> = members.iter().map(|&i| tensors[i].clone()).collect();
            weight_map.extend(part.iter().map(|t| (t.name.clone(), name.clone())));
            self.push_output(dir.join(&name), source, part, &aliases);
        }
        let total = tensors.iter().map(|t| t.byte_len()).sum();
        self.indexes.push((dir.join(format!("{stem}.safetensors.index.json")), shard::index(total, &weight_map)));
        Ok(())
    }

    /// A sharded checkpoint (its index, or the directory holding `pytorch_model.bin.index.json`):
    /// each `pytorch_model-0000k-of-0000n.bin` becomes `model-0000k-of-0000n.safetensors` and the
    /// index `model.safetensors.index.json`, in the directory's place in the work tree, at the
    /// root for one outside it, or under `--as DIR`. Every tensor must be where the index says.
    fn add_sharded(&mut self, src: &Path, index: &Path, at: &Path, wd_canon: &Path, opts: &AddOptions<'_>, is_dir: bool) -> Result<()> {
        if opts.max_shard_size.is_some() {
            return Err(Error::BadInput(format!(
                "{} is sharded already; its shards are kept as they are (drop --max-shard-size)",
                src.display()
            )));
        }
        let text = fs::read_to_string(index).map_err(|e| {
            let hint = if is_dir { format!(" (a directory converts when it holds {SHARDED_INDEX})") } else { String::new() };
            Error::BadInput(format!("cannot read {}: {e}{hint}", index.display()))
        })?;
        let map = shard::read_index(&text).map_err(|e| Error::BadInput(format!("{}: {e}", index.display())))?;
        let index_name = index.file_name().and_then(|n| n.to_str()).unwrap_or(SHARDED_INDEX);
        let stem = index_name.strip_suffix(".bin.index.json").unwrap_or("model");
        let stem = if stem == "pytorch_model" { "model" } else { stem };
        let dir = index.parent().expect("an index file has a directory");
        let dest_dir = match opts.as_name {
            Some(n) => dir_dest(n)?,
            None => {
                let in_tree = if is_dir { at.to_path_buf() } else { at.parent().map(Path::to_path_buf).unwrap_or_default() };
                in_tree.strip_prefix(wd_canon).map(Path::to_path_buf).unwrap_or_default()
            }
        };
        let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (tensor, file) in &map {
            by_file.entry(file.as_str()).or_default().push(tensor.as_str());
        }
        let mut weight_map = BTreeMap::new();
        let mut total = 0;
        for (file, names) in by_file {
            if file.is_empty() || file.contains('/') || file == "." || file == ".." {
                return Err(Error::BadInput(format!("{}: shard {file:?} is not a file name beside the index", index.display())));
            }
            let path = dir.join(file);
            let weights = open_checkpoint(&path, &path)?;
            for name in &names {
                if !weights.tensors.iter().any(|t| t.name == *name) {
                    return Err(Error::BadInput(format!("{}: the index puts {name} in {file}, which does not hold it", index.display())));
                }
            }
            if let Some(extra) = weights.tensors.iter().find(|t| !names.contains(&t.name.as_str())) {
                return Err(Error::BadInput(format!("{file} holds {}, which {} does not map to it", extra.name, index.display())));
            }
            let source = self.sources.len();
            self.sources.push((path, weights));
            let (tensors, aliases) = self.untied(source);
            let out = shard::safetensors_shard_name(file);
            weight_map.extend(tensors.iter().map(|t| (t.name.clone(), out.clone())));
            total += tensors.iter().map(|t| t.byte_len()).sum::<u64>();
            self.push_output(dest_dir.join(&out), source, tensors, &aliases);
        }
        self.indexes.push((dest_dir.join(format!("{stem}.safetensors.index.json")), shard::index(total, &weight_map)));
        Ok(())
    }
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
