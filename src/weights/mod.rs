//! Understanding weights files: a non-executing pickle interpreter, PyTorch checkpoint and
//! safetensors readers, a pickle import scanner, safetensors conversion (sharded too) and tensor diffs, and
//! the pickle policy push applies to the commits it sends.
//!
//! The readers use nothing but ground (`progress`); only `policy` reads commits (`repo`, `lfs`).
//! Must never import `hub` or `ops`; `ops` uses it.

pub mod compat;
pub mod diff;
#[doc(hidden)]
pub mod fuzzing;
pub mod pickle;
pub mod policy;
pub mod safetensors;
pub mod scan;
pub mod shard;
pub mod tensor;
pub mod torch;
pub mod trace;
pub mod zipscan;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use tensor::Tensor;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Bad(String),
    /// The pickle imports something a weights-only loader refuses.
    #[error("its pickle imports {0}, which a weights-only loader refuses (run `hfgit scan` on it)")]
    Unsafe(String),
}

impl FormatError {
    pub fn bad(what: impl Into<String>) -> FormatError {
        FormatError::Bad(what.into())
    }
}

/// File extensions of pickle-bearing files: what torch.load, pickle, joblib and numpy
/// (`allow_pickle`) are given.
pub const PICKLE_EXTENSIONS: &[&str] = &["pt", "pth", "bin", "ckpt", "pkl", "pickle", "joblib", "npy", "npz", "dat", "data"];

pub fn is_pickle_path(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    PICKLE_EXTENSIONS.contains(&ext.as_str())
}

/// Whether a file's first bytes say a loader could unpickle it whatever its name: a zip (torch,
/// numpy's npz), a pickle PROTO header (protocols 2-5; the legacy torch format starts so), a
/// numpy array (object arrays hold a pickle).
pub fn is_pickle_content(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || (head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1])) || head.starts_with(b"\x93NUMPY")
}

/// Whether the file at `path` is pickle-bearing by name or by content.
pub fn is_pickle_file(path: &Path) -> bool {
    if is_pickle_path(&path.to_string_lossy()) {
        return true;
    }
    let mut head = [0u8; 8];
    File::open(path).and_then(|f| f.read_at(&mut head, 0)).is_ok_and(|n| is_pickle_content(&head[..n]))
}

/// Whether hfgit can list tensors of a file with this name.
pub fn is_weights_path(path: &str) -> bool {
    path.ends_with(".safetensors") || is_pickle_path(path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    SafeTensors,
    TorchZip,
    TorchLegacy,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::SafeTensors => "safetensors",
            Format::TorchZip => "torch zip",
            Format::TorchLegacy => "torch legacy",
        }
    }
}

/// An open weights file and its tensors (located, not read).
pub struct Weights {
    pub file: File,
    pub format: Format,
    pub tensors: Vec<Tensor>,
    /// A model's weights by name (always for safetensors; for a checkpoint, a state dict of
    /// tensors only, see [`torch::Checkpoint::state_dict`]).
    pub state_dict: bool,
}

impl Weights {
    /// Opens a safetensors file or a PyTorch checkpoint, recognised by content.
    pub fn open(path: &Path) -> Result<Weights, FormatError> {
        let file = File::open(path)?;
        Weights::from_file(file)
    }

    pub fn from_file(file: File) -> Result<Weights, FormatError> {
        let mut head = [0u8; 9];
        let n = file.read_at(&mut head, 0)?;
        if safetensors::sniff(&head[..n]) {
            let st = safetensors::read(&file)?;
            return Ok(Weights { file, format: Format::SafeTensors, tensors: st.tensors, state_dict: true });
        }
        let ck = torch::read(&file)?;
        Ok(Weights { file, format: ck.format, tensors: ck.tensors, state_dict: ck.state_dict })
    }
}
