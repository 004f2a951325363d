//! `hfgit xet-hash FILE...` (hidden): each file's Xet file id, as the Hub's CAS would name it,
//! from one streaming read (content-defined chunks, chunk hashes, the file hash). For checking
//! against other Xet clients (`hf_xet.hash_files`) and for the bench's chunk+hash speed.

use crate::error::{Context, Result};
use crate::xet::hash::{file_hash, MerkleHash};
use std::path::Path;

/// A file's Xet id, its size and its number of chunks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct XetHash {
    pub path: String,
    pub file_id: String,
    pub size: u64,
    pub chunks: usize,
}

pub fn xet_hash(path: &Path) -> Result<XetHash> {
    let f = std::fs::File::open(path).context(format!("reading {}", path.display()))?;
    let mut chunks: Vec<(MerkleHash, u64)> = Vec::new();
    let size =
        crate::xet::chunk::chunk_reader(f, |c, h| chunks.push((h, c.len() as u64))).context(format!("reading {}", path.display()))?;
    Ok(XetHash { path: path.display().to_string(), file_id: file_hash(&chunks).to_string(), size, chunks: chunks.len() })
}
