use crate::ui::{self, Ui};
use hfgit::ops::diff::{FileDiff, FileStatus, Side};
use hfgit::weights::diff::{Change, TensorChange};
use hfgit::Result;
use std::process::ExitCode;

/// Show what changed in config.json (keys) and in weights files (tensors) between revisions
///
/// With no REV: HEAD against the work tree; with one: REV against the work tree; with two:
/// A against B. Weights files (safetensors, PyTorch checkpoints read without running their
/// pickle) list tensors added, removed, reshaped, re-typed and changed, with the number of
/// changed values and the largest absolute difference. Content comes from the local LFS store.
/// Paths after `--` (relative to the current directory; a directory means everything under it)
/// limit the comparison to them.
#[derive(clap::Args)]
pub struct Args {
    /// Revisions to compare (commit ids, branch names, tags, HEAD~1, …)
    #[arg(value_name = "REV", num_args = 0..=2)]
    revs: Vec<String>,
    /// Compare only these paths
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<String>,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { revs, paths, json } = args;
    let repo = super::open_repo()?;
    let cwd = super::cwd()?;
    let only = paths.iter().map(|p| hfgit::ops::checkout::repo_path(&repo, &cwd, p)).collect::<Result<Vec<_>>>()?;
    let old = match revs.first() {
        Some(r) => Side::Tree(hfgit::ops::diff::tree(&repo, r)?, r.clone()),
        None => Side::Tree(hfgit::ops::diff::head_tree(&repo)?, "HEAD".into()),
    };
    let new = match revs.get(1) {
        Some(r) => Side::Tree(hfgit::ops::diff::tree(&repo, r)?, r.clone()),
        None => Side::WorkTree,
    };
    let files = hfgit::ops::diff::diff(&repo, &old, &new, false, &only, &ui.progress())?;
    if json {
        ui::print_json(&serde_json::json!({ "files": files }));
        return Ok(ExitCode::SUCCESS);
    }
    for f in &files {
        print_file(f);
    }
    Ok(ExitCode::SUCCESS)
}

fn status(s: FileStatus) -> &'static str {
    match s {
        FileStatus::Added => "added",
        FileStatus::Deleted => "deleted",
        FileStatus::Modified => "modified",
    }
}

fn shape(s: &Option<Vec<u64>>) -> String {
    match s {
        Some(s) => format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        None => "?".into(),
    }
}

fn tensor_line(t: &TensorChange) -> String {
    let dt = |d: &Option<String>| d.clone().unwrap_or_default();
    match t.change {
        Change::Added => format!("  + {}  {} {}", t.name, dt(&t.new_dtype), shape(&t.new_shape)),
        Change::Removed => format!("  - {}  {} {}", t.name, dt(&t.old_dtype), shape(&t.old_shape)),
        Change::Reshaped => format!("  ~ {}  shape {} -> {}", t.name, shape(&t.old_shape), shape(&t.new_shape)),
        Change::Retyped => {
            let mut s = format!("  ~ {}  dtype {} -> {}", t.name, dt(&t.old_dtype), dt(&t.new_dtype));
            if t.old_shape != t.new_shape {
                s.push_str(&format!(", shape {} -> {}", shape(&t.old_shape), shape(&t.new_shape)));
            }
            s
        }
        Change::Changed => {
            let mut s = format!(
                "  ~ {}  {} {}  {} of {} values changed",
                t.name,
                dt(&t.old_dtype),
                shape(&t.old_shape),
                t.changed_values.unwrap_or(0),
                t.numel.unwrap_or(0)
            );
            if let Some(m) = t.max_abs_diff {
                s.push_str(&format!(", max |Δ| {}", hfgit::weights::diff::number(m)));
            }
            s
        }
    }
}

fn print_file(f: &FileDiff) {
    if let Some(note) = &f.note {
        println!("{} ({}): {note}", f.path, status(f.status));
    } else if let Some(c) = &f.config {
        println!("{} ({}): {}", f.path, status(f.status), c.summary());
        for (k, v) in &c.added {
            println!("  + {k} = {v}");
        }
        for (k, v) in &c.removed {
            println!("  - {k} = {v}");
        }
        for ch in &c.changed {
            println!("  ~ {}: {} -> {}", ch.key, ch.old, ch.new);
        }
    } else if let Some(w) = &f.tensors {
        println!("{} ({}): {}", f.path, status(f.status), w.summary());
        for t in &w.changes {
            println!("{}", tensor_line(t));
        }
    } else {
        println!("{} ({})", f.path, status(f.status));
    }
}

/// One line per weights file / config.json, for `log --stat`.
pub fn stat_line(f: &FileDiff) -> String {
    let what = match (&f.note, &f.config, &f.tensors) {
        (Some(n), _, _) => n.clone(),
        (_, Some(c), _) => c.summary(),
        (_, _, Some(w)) => w.summary(),
        _ => String::new(),
    };
    format!("{} ({}): {what}", f.path, status(f.status))
}
