use crate::ui::{self, Ui};
use hfgit::error::Context;
use hfgit::weights::scan::{scan_file, FileReport, Verdict};
use hfgit::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// List the imports each pickle would perform when loaded, and judge each file safe or dangerous
///
/// Scans PyTorch checkpoints (zip and legacy), plain pickles and pickle streams without running
/// them. Safe means every import is one PyTorch's weights_only loader allows and every pickle
/// was read to its end; anything else is dangerous. With no PATH, scans the pickle-bearing files
/// of the work tree (.pt .pth .bin .ckpt .pkl .pickle .joblib .npy .npz .dat .data, and any file
/// starting like a zip or a pickle). Exits 1 when a file is not safe.
#[derive(clap::Args)]
pub struct Args {
    /// Files or directories to scan
    paths: Vec<PathBuf>,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitCode> {
    let Args { paths, json } = args;
    let targets = if paths.is_empty() { work_tree_pickles()? } else { expand(&paths)? };
    let mut reports = Vec::new();
    for (abs, display) in targets {
        reports.push(scan_file(&abs, &display).context(format!("scanning {display}"))?);
    }
    let dangerous: Vec<&FileReport> = reports.iter().filter(|r| r.is_pickle && r.verdict() != Verdict::Safe).collect();
    if json {
        ui::print_json(&serde_json::json!({
            "files": reports.iter().map(|r| serde_json::json!({
                "path": r.path, "is_pickle": r.is_pickle, "format": r.format,
                "verdict": if r.is_pickle { r.verdict().name() } else { "no pickle" },
                "pickles": r.pickles, "problems": r.problems, "note": r.note,
            })).collect::<Vec<_>>(),
        }));
    } else {
        for r in &reports {
            print_report(r);
        }
    }
    if !dangerous.is_empty() {
        return Err(Error::with_hint(
            format!(
                "{} of {} files would run code when loaded: {}",
                dangerous.len(),
                reports.len(),
                dangerous.iter().map(|r| format!("{} ({})", r.path, r.danger_summary())).collect::<Vec<_>>().join("; ")
            ),
            "do not load these with torch.load(weights_only=False) or pickle; publish weights as safetensors (`hfgit add --safetensors`)",
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one file's scan on stdout: a heading with the verdict, then one import per line.
pub fn print_report(r: &FileReport) {
    let line = |s: String| println!("{s}");
    if !r.is_pickle {
        line(format!("{}: no pickle", r.path));
        return;
    }
    let n: usize = r.pickles.iter().map(|p| p.imports.len()).sum();
    line(format!("{}: {} ({n} import{})", r.path, r.verdict().name(), if n == 1 { "" } else { "s" }));
    for p in &r.pickles {
        for f in &p.imports {
            line(format!("  {:<10}  {}  [{}]", f.verdict.name(), f.import, p.location));
        }
        if let Some(e) = &p.error {
            line(format!("  {:<10}  cannot be scanned: {e}  [{}]", "dangerous", p.location));
        }
    }
    for why in &r.problems {
        line(format!("  {:<10}  {why}", "dangerous"));
    }
}

/// Reports scans done by other commands (add, commit) on stderr: dangerous files in full, safe
/// ones in one line.
pub fn report_to_stderr(reports: &[FileReport], ui: &Ui) {
    for r in reports {
        match r.verdict() {
            Verdict::Safe => {
                ui.status(format!("scanned {}: {} imports, all safe", r.path, r.pickles.iter().map(|p| p.imports.len()).sum::<usize>()))
            }
            Verdict::Dangerous => {
                ui.warn(format!(
                    "{} would run code when loaded: {} (dangerous); `hfgit push` refuses it unless --allow-unsafe-pickle",
                    r.path,
                    r.danger_summary()
                ));
            }
        }
    }
}

fn expand(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::BadInput(format!("cannot scan {}: {e}", p.display())))?;
        if meta.is_dir() {
            for e in walkdir::WalkDir::new(p).sort_by_file_name() {
                let e = e.map_err(|e| Error::BadInput(format!("cannot read {}: {e}", p.display())))?;
                let s = e.path().display().to_string();
                if e.file_type().is_file() && !s.contains("/.git/") && hfgit::weights::is_pickle_file(e.path()) {
                    out.push((e.path().to_path_buf(), s));
                }
            }
        } else {
            out.push((p.clone(), p.display().to_string()));
        }
    }
    Ok(out)
}

fn work_tree_pickles() -> Result<Vec<(PathBuf, String)>> {
    let repo = super::open_repo()?;
    let workdir = hfgit::repo::git::workdir(&repo)?;
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(&workdir).sort_by_file_name().into_iter().filter_entry(|e| e.file_name() != ".git") {
        let e = e.map_err(|e| Error::failed(format!("cannot read the work tree: {e}")))?;
        let rel = e.path().strip_prefix(&workdir).unwrap_or(e.path());
        let s = rel.display().to_string();
        if e.file_type().is_file() && hfgit::weights::is_pickle_file(e.path()) && !is_pointer(e.path()) {
            out.push((e.path().to_path_buf(), s));
        }
    }
    Ok(out)
}

/// A file that is still an LFS pointer has no pickle to scan.
fn is_pointer(p: &Path) -> bool {
    let small = std::fs::metadata(p).is_ok_and(|m| m.len() < hfgit::lfs::pointer::MAX_POINTER_SIZE);
    small && std::fs::read(p).is_ok_and(|b| hfgit::lfs::pointer::Pointer::parse(&b).is_ok())
}
