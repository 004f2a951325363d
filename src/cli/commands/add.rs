use crate::ui::Ui;
use hfgit::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Bring weights and files into the repository and write or merge config.json
///
/// A directory outside the work tree has its contents copied to the repository root (or under
/// `--as SUBDIR`), as `upload_folder` does; its `.git` and other VCS folders and
/// `.cache/huggingface` are never copied, and a symlink inside it stays a symlink (except in a
/// Hugging Face cache snapshot, whose links into `blobs/` are stored with the blob's content).
/// A file outside the work tree is copied in under its name; a symlink named here (a cache
/// snapshot's file) is stored under the link's name with its target's content. A lone model
/// state dict `*.pt` / `*.pth` becomes `pytorch_model.bin`; optimizer, scheduler, RNG and
/// Trainer states keep their names, and a rename that would replace a different
/// `pytorch_model.bin` stops (`--as` or `--force`). An existing work-tree file of the same name
/// is replaced by the new content (its committed version stays in history). Paths already
/// inside the work tree are left in place. Pickle-based files are scanned for the imports they
/// would run; `--safetensors` converts checkpoints (read without running their pickle) to
/// safetensors. In config.json, `--set` wins over `--config`, which wins over existing keys;
/// each key changed or kept that way is reported.
#[derive(clap::Args)]
pub struct Args {
    /// Files or directories to bring in
    paths: Vec<PathBuf>,
    /// Destination inside the repository: a file's name, or the folder a directory's contents go
    /// to (`.` is the root; with a single PATH)
    #[arg(long = "as", value_name = "NAME")]
    as_name: Option<String>,
    /// Add only a directory's files matching GLOB (relative to it; `*` crosses `/`; repeatable)
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out a directory's files matching GLOB (repeatable)
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Remove work-tree files under the directory's destination that match GLOB and that the
    /// directory no longer has (never .gitattributes; repeatable)
    #[arg(long, value_name = "GLOB")]
    delete: Vec<String>,
    /// Let the pytorch_model.bin rename replace a different existing pytorch_model.bin
    #[arg(long)]
    force: bool,
    /// Merge the JSON object in FILE into config.json
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a config.json key (VALUE parsed as JSON if valid, else a string; a.b=1 nests)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Store PyTorch checkpoints as safetensors (model.safetensors) instead of pickles; a sharded
    /// checkpoint (its directory or pytorch_model.bin.index.json) becomes
    /// model-0000k-of-0000n.safetensors + model.safetensors.index.json; tied tensors are written
    /// once (the alias recorded in the metadata)
    #[arg(long)]
    safetensors: bool,
    /// With --safetensors, split a single checkpoint into shards of at most SIZE (5GB, 500MB,
    /// 2GiB: transformers' syntax)
    #[arg(long, value_name = "SIZE")]
    max_shard_size: Option<String>,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { paths, as_name, include, exclude, delete, force, config, sets, safetensors, max_shard_size } = args;
    let repo = super::open_repo()?;
    let out = hfgit::ops::add::add(
        &repo,
        &hfgit::ops::add::AddOptions {
            paths: &paths,
            as_name: as_name.as_deref(),
            config: config.as_deref(),
            sets: &sets,
            safetensors,
            include: &include,
            exclude: &exclude,
            delete: &delete,
            force,
            max_shard_size: max_shard_size.as_deref(),
        },
        &ui.progress(),
    )?;
    for (src, dest) in &out.copied {
        ui.status(format!("added {src} as {dest}"));
    }
    for (name, why) in &out.kept_names {
        ui.status(format!("kept the name {name} (not renamed pytorch_model.bin: {why})"));
    }
    for p in &out.in_place {
        ui.status(format!("{p} is already in the work tree"));
    }
    for p in &out.deleted {
        ui.status(format!("deleted {p} (--delete: not in the directory added)"));
    }
    for (src, dest, tensors, bytes) in &out.converted {
        ui.status(format!("converted {src} to {dest} ({tensors} tensors, {})", crate::ui::bytes(*bytes)));
    }
    for p in &out.indexes {
        ui.status(format!("wrote {p}"));
    }
    for (alias, kept) in &out.tied {
        ui.status(format!("tied: {alias} is the same tensor as {kept}, stored once as {kept} (the alias is in the metadata)"));
    }
    super::scan::report_to_stderr(&out.scans, ui);
    for c in &out.config_overridden {
        ui.warn(format!("config.json: --config changes {} from {} to {}", c.key, c.old, c.new));
    }
    for c in &out.config_kept {
        ui.warn(format!("config.json: {} is {} from --set (--set wins over --config's {})", c.key, c.new, c.old));
    }
    if out.config_written {
        ui.status("wrote config.json");
    }
    Ok(ExitCode::SUCCESS)
}
