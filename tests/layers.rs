//! The library's folders are layers: a module may use its own folder and the layers below it,
//! never a layer above it or a sibling beside it. This reads every `crate::` path in `src/` and
//! fails on one that points the wrong way. The order is written once, here (and explained in
//! `src/lib.rs`).

use std::fs;
use std::path::Path;

/// Top to bottom. Names in one row are siblings: neither may use the other.
const LAYERS: &[&[&str]] =
    &[&["ops"], &["hub", "weights"], &["repo"], &["lfs"], &["xet"], &["net"], &["error", "progress", "parallel", "time", "cleanup"]];

/// The ground modules (last row) are single files; they may use each other.
fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// The top-level module of a file under `src/` (`src/lfs/http.rs` → `lfs`, `src/error.rs` →
/// `error`), or None for `lib.rs` and the binary (`src/cli`).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "cli").then_some(name)
}

/// Every `crate::NAME` in `text` outside comments, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name.is_empty() {
                // `crate::{a, b}`: every name in the braces
                if let Some(group) = after.strip_prefix('{').and_then(|g| g.split('}').next()) {
                    for part in group.split(',') {
                        let head = part.trim().split("::").next().unwrap_or("").trim().to_string();
                        if !head.is_empty() {
                            out.push((n + 1, head));
                        }
                    }
                }
            } else {
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    let mut files = 0;
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        if !e.file_type().is_file() || e.path().extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let rel = e.path().strip_prefix(&src).unwrap();
        let Some(from) = module_of(rel) else { continue };
        let from_rank = rank(&from).unwrap_or_else(|| panic!("{} is in no layer: add `{from}` to LAYERS", rel.display()));
        files += 1;
        for (line, to) in crate_paths(&fs::read_to_string(e.path()).unwrap()) {
            if to == from || to == "Error" || to == "Result" {
                continue; // own folder; the re-exported error types are ground
            }
            let to_rank = rank(&to).unwrap_or_else(|| panic!("src/{}:{line}: crate::{to} is in no layer", rel.display()));
            let ground = LAYERS.len() - 1;
            if to_rank < from_rank || (to_rank == from_rank && from_rank != ground) {
                bad.push(format!("src/{}:{line}: `{from}` uses `crate::{to}`, which is not below it", rel.display()));
            }
        }
    }
    assert!(files > 30, "read only {files} files under {}", src.display());
    assert!(bad.is_empty(), "imports that point up or sideways:\n  {}", bad.join("\n  "));
}

#[test]
fn the_checker_sees_upward_imports() {
    let text = "use crate::ops::push; // crate::hub in a comment\nlet x = crate::{lfs::oid, repo};\n";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["ops", "lfs", "repo"]);
    assert_eq!(module_of(Path::new("lfs/http.rs")).as_deref(), Some("lfs"));
    assert_eq!(module_of(Path::new("error.rs")).as_deref(), Some("error"));
    assert_eq!(module_of(Path::new("cli/main.rs")), None);
    assert!(rank("ops") < rank("lfs"));
}
