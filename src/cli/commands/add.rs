use crate::ui::Ui;
use hfgit::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Bring weights and files into the repository and write or merge config.json
///
/// A file outside the work tree is copied in: `*.pt` / `*.pth` become `pytorch_model.bin`,
/// other files keep their name, directories are copied recursively. Paths already inside the
/// work tree are left in place. Pickle-based files are scanned for the imports they would run;
/// `--safetensors` converts checkpoints (read without running their pickle) to safetensors.
#[derive(clap::Args)]
pub struct Args {
    /// Files or directories to bring in
    paths: Vec<PathBuf>,
    /// Destination name inside the repository (with a single PATH)
    #[arg(long = "as", value_name = "NAME")]
    as_name: Option<String>,
    /// Merge the JSON object in FILE into config.json
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a config.json key (VALUE parsed as JSON if valid, else a string; a.b=1 nests)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Store PyTorch checkpoints as safetensors (model.safetensors) instead of pickles
    #[arg(long)]
    safetensors: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { paths, as_name, config, sets, safetensors } = args;
    let repo = super::open_repo()?;
    let out = hfgit::ops::add::add(
        &repo,
        &hfgit::ops::add::AddOptions { paths: &paths, as_name: as_name.as_deref(), config: config.as_deref(), sets: &sets, safetensors },
        &ui.progress(),
    )?;
    for (src, dest) in &out.copied {
        ui.status(format!("added {src} as {dest}"));
    }
    for p in &out.in_place {
        ui.status(format!("{p} is already in the work tree"));
    }
    for (src, dest, tensors, bytes) in &out.converted {
        ui.status(format!("converted {src} to {dest} ({tensors} tensors, {})", crate::ui::bytes(*bytes)));
    }
    super::scan::report_to_stderr(&out.scans, ui);
    if out.config_written {
        ui.status("wrote config.json");
    }
    Ok(ExitCode::SUCCESS)
}
