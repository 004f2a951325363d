//! Sharded checkpoints as transformers and huggingface_hub write them: the shard size parser
//! (`convert_file_size_to_int`), the split of a state dict into shards
//! (`split_state_dict_into_shards_factory`), shard file names (`model-00001-of-00003.safetensors`)
//! and the index (`{"metadata": {"total_size": N}, "weight_map": {tensor: shard}}`); and tied
//! tensors (one storage under two names), written once as safetensors' `save_model` does. Pure:
//! no I/O.

use super::tensor::Tensor;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// transformers' default `max_shard_size`.
pub const DEFAULT_MAX_SHARD_SIZE: &str = "5GB";

/// A size as transformers' `convert_file_size_to_int` reads it: an integer followed by `GIB`,
/// `MIB`, `KIB` (powers of 2), `GB`, `MB`, `KB` (powers of 10; a lowercase final `b` means
/// bits), case-insensitive; a bare integer is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size: use an integer followed by the unit, e.g. 5GB, 500MB or 2GiB");
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let units: [(&str, u64); 6] =
        [("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000)];
    for (unit, scale) in units {
        if let Some(num) = upper.strip_suffix(unit) {
            let n: u64 = num.parse().map_err(|_| bad())?;
            let bytes = n.checked_mul(scale).ok_or_else(bad)?;
            let bits = unit.len() == 2 && s.ends_with('b');
            return Ok(if bits { bytes / 8 } else { bytes });
        }
    }
    Err(bad())
}

/// Tensors that are the same storage under several names (tied embeddings): identical
/// storage, offset, shape, strides and dtype. Returns the indices to write (in order) and, for
/// each name dropped, the name kept (the first in sorted order, as safetensors keeps it).
pub fn untie(tensors: &[Tensor]) -> (Vec<usize>, BTreeMap<String, String>) {
    let key = |t: &Tensor| (t.layout.base, t.layout.storage_len, t.layout.offset, t.layout.strides.clone(), t.shape.clone(), t.dtype);
    let mut groups: BTreeMap<_, Vec<usize>> = BTreeMap::new();
    for (i, t) in tensors.iter().enumerate() {
        if t.byte_len() > 0 {
            groups.entry(key(t)).or_default().push(i);
        }
    }
    let mut aliases = BTreeMap::new();
    let mut dropped = vec![false; tensors.len()];
    for members in groups.values().filter(|m| m.len() > 1) {
        let keep = *members.iter().min_by(|a, b| tensors[**a].name.cmp(&tensors[**b].name)).expect("groups are non-empty");
        for &m in members.iter().filter(|m| **m != keep) {
            dropped[m] = true;
            aliases.insert(tensors[m].name.clone(), tensors[keep].name.clone());
        }
    }
    ((0..tensors.len()).filter(|i| !dropped[*i]).collect(), aliases)
}

/// Splits tensors (index, bytes), in order, into shards of at most `max` bytes, as
/// huggingface_hub does: a tensor that does not fit starts a new shard, and a tensor larger
/// than `max` gets a shard of its own.
pub fn split(sizes: &[(usize, u64)], max: u64) -> Vec<Vec<usize>> {
    let mut shards = Vec::new();
    let (mut current, mut current_size) = (Vec::new(), 0u64);
    for &(i, size) in sizes {
        if size > max {
            shards.push(vec![i]);
            continue;
        }
        if current_size + size > max && !current.is_empty() {
            shards.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current.push(i);
        current_size += size;
    }
    if !current.is_empty() || shards.is_empty() {
        shards.push(current);
    }
    shards
}

/// The name of shard `k` (1-based) of `n` for weights named `<stem>.safetensors`.
pub fn shard_name(stem: &str, k: usize, n: usize) -> String {
    format!("{stem}-{k:05}-of-{n:05}.safetensors")
}

/// The index file's bytes, as transformers writes it (`indent=2, sort_keys=True`, a newline).
pub fn index(total_size: u64, weight_map: &BTreeMap<String, String>) -> Vec<u8> {
    let v = json!({"metadata": {"total_size": total_size}, "weight_map": weight_map});
    let mut s = serde_json::to_string_pretty(&v).expect("JSON of plain values");
    s.push('\n');
    s.into_bytes()
}

/// The `weight_map` of an index file: tensor name → shard file name.
pub fn read_index(text: &str) -> Result<BTreeMap<String, String>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let map: &Map<String, Value> = v.get("weight_map").and_then(Value::as_object).ok_or("it has no \"weight_map\" object")?;
    map.iter()
        .map(|(k, v)| v.as_str().map(|f| (k.clone(), f.to_string())).ok_or_else(|| format!("weight_map[{k:?}] is not a file name")))
        .collect()
}

/// The safetensors shard name for a PyTorch shard name: `pytorch_model-00001-of-00002.bin`
/// becomes `model-00001-of-00002.safetensors`, as transformers names them; others keep their
/// stem.
pub fn safetensors_shard_name(bin: &str) -> String {
    let stem = bin.strip_suffix(".bin").unwrap_or(bin);
    let stem = stem.strip_prefix("pytorch_model").map(|rest| format!("model{rest}")).unwrap_or_else(|| stem.to_string());
    format!("{stem}.safetensors")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::tensor::{DType, Layout};

    #[test]
    fn sizes_parse_as_transformers_parses_them() {
        assert_eq!(parse_size("5GB").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("100kb").unwrap(), 100_000 / 8);
        assert_eq!(parse_size("100KB").unwrap(), 100_000);
        assert_eq!(parse_size("3mib").unwrap(), 3 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "GB", "1.5GB", "5 GB", "-1MB", "5TB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_split_as_huggingface_hub_splits_them() {
        assert_eq!(split(&[(0, 4), (1, 4), (2, 4)], 8), vec![vec![0, 1], vec![2]]);
        assert_eq!(split(&[(0, 3), (1, 20), (2, 3), (3, 6)], 8), vec![vec![1], vec![0, 2], vec![3]]);
        assert_eq!(split(&[], 8), vec![Vec::<usize>::new()]);
        assert_eq!(shard_name("model", 2, 3), "model-00002-of-00003.safetensors");
        assert_eq!(safetensors_shard_name("pytorch_model-00001-of-00002.bin"), "model-00001-of-00002.safetensors");
    }

    #[test]
    fn only_identical_views_of_a_storage_are_tied() {
        let t = |name: &str, offset: u64| Tensor {
            name: name.into(),
            dtype: DType::F32,
            shape: vec![2],
            layout: Layout { base: 100, storage_len: 16, offset, strides: vec![1] },
        };
        let tensors = [t("lm_head.weight", 0), t("embed.weight", 0), t("half", 2)];
        let (keep, aliases) = untie(&tensors);
        assert_eq!(keep, vec![1, 2]);
        assert_eq!(aliases.into_iter().collect::<Vec<_>>(), vec![("lm_head.weight".to_string(), "embed.weight".to_string())]);
    }
}
