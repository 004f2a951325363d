//! What changed between two weights files, tensor by tensor: added, removed, reshaped,
//! re-typed, and changed in content — with the number of changed values and, for floating
//! tensors, the largest absolute difference. Both files are streamed once, in lockstep, in
//! bounded chunks; equal chunks are skipped with a memcmp.

use super::tensor::{Tensor, TensorReader, CHUNK};
use super::{FormatError, Weights};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Reshaped,
    Retyped,
    Changed,
}

#[derive(Debug, Clone, Serialize)]
pub struct TensorChange {
    pub name: String,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_shape: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_shape: Option<Vec<u64>>,
    /// Same dtype and shape: how many elements differ, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_values: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numel: Option<u64>,
    /// Floating tensors: the largest |new − old| over finite pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_abs_diff: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WeightsDiff {
    pub changes: Vec<TensorChange>,
    pub unchanged: usize,
    /// Bytes of tensor data read from each side to decide.
    pub bytes_compared: u64,
}

impl WeightsDiff {
    pub fn count(&self, c: Change) -> usize {
        self.changes.iter().filter(|t| t.change == c).count()
    }

    /// One line: "2 changed, 1 added, 0 removed, 1 reshaped, 0 retyped, 5 unchanged tensors".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (c, word) in [
            (Change::Changed, "changed"),
            (Change::Added, "added"),
            (Change::Removed, "removed"),
            (Change::Reshaped, "reshaped"),
            (Change::Retyped, "retyped"),
        ] {
            let n = self.count(c);
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        parts.push(format!("{} unchanged", self.unchanged));
        let max = self.changes.iter().filter_map(|c| c.max_abs_diff).fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))));
        let mut s = format!("{} tensors", parts.join(", "));
        if let Some(m) = max {
            s.push_str(&format!(", max |Δ| {}", number(m)));
        }
        s
    }
}

/// A difference for people: plain decimals in the usual range, scientific notation outside it.
pub fn number(x: f64) -> String {
    if x == 0.0 || (1e-3..1e5).contains(&x.abs()) {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.3e}")
    }
}

fn change(name: &str, c: Change) -> TensorChange {
    TensorChange {
        name: name.to_string(),
        change: c,
        old_dtype: None,
        new_dtype: None,
        old_shape: None,
        new_shape: None,
        changed_values: None,
        numel: None,
        max_abs_diff: None,
    }
}

pub fn diff(old: &Weights, new: &Weights, progress: &dyn crate::progress::Progress) -> Result<WeightsDiff, FormatError> {
    let a: BTreeMap<&str, &Tensor> = old.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let b: BTreeMap<&str, &Tensor> = new.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut out = WeightsDiff::default();
    for (name, ta) in &a {
        let Some(tb) = b.get(name) else {
            let mut c = change(name, Change::Removed);
            c.old_dtype = Some(ta.dtype.name().into());
            c.old_shape = Some(ta.shape.clone());
            out.changes.push(c);
            continue;
        };
        if ta.dtype != tb.dtype || ta.shape != tb.shape {
            let mut c = change(name, if ta.dtype != tb.dtype { Change::Retyped } else { Change::Reshaped });
            c.old_dtype = Some(ta.dtype.name().into());
            c.new_dtype = Some(tb.dtype.name().into());
            c.old_shape = Some(ta.shape.clone());
            c.new_shape = Some(tb.shape.clone());
            out.changes.push(c);
            continue;
        }
        let cmp = compare(&old.file, ta, &new.file, tb, progress)?;
        out.bytes_compared += ta.byte_len();
        if cmp.changed == 0 {
            out.unchanged += 1;
        } else {
            let mut c = change(name, Change::Changed);
            c.old_dtype = Some(ta.dtype.name().into());
            c.old_shape = Some(ta.shape.clone());
            c.changed_values = Some(cmp.changed);
            c.numel = Some(ta.numel());
            c.max_abs_diff = cmp.max_abs_diff;
            out.changes.push(c);
        }
    }
    for (name, tb) in &b {
        if !a.contains_key(name) {
            let mut c = change(name, Change::Added);
            c.new_dtype = Some(tb.dtype.name().into());
            c.new_shape = Some(tb.shape.clone());
            out.changes.push(c);
        }
    }
    Ok(out)
}

struct Comparison {
    changed: u64,
    max_abs_diff: Option<f64>,
}

fn compare(fa: &File, ta: &Tensor, fb: &File, tb: &Tensor, progress: &dyn crate::progress::Progress) -> Result<Comparison, FormatError> {
    let es = ta.dtype.size();
    let n = ta.numel();
    let per_chunk = (CHUNK as u64 / es).max(1);
    let (ra, rb) = (TensorReader::new(fa, ta)?, TensorReader::new(fb, tb)?);
    let (mut ba, mut bb) = (Vec::new(), Vec::new());
    let mut cmp = Comparison { changed: 0, max_abs_diff: None };
    let is_float = ta.dtype.is_float();
    let mut start = 0;
    while start < n {
        let count = per_chunk.min(n - start);
        ra.read(start, count, &mut ba)?;
        rb.read(start, count, &mut bb)?;
        start += count;
        progress.bytes(count * es);
        if ba == bb {
            continue;
        }
        for (x, y) in ba.chunks_exact(es as usize).zip(bb.chunks_exact(es as usize)) {
            if x == y {
                continue;
            }
            cmp.changed += 1;
            if is_float {
                let (x, y) = (ta.dtype.float_value(x).unwrap(), ta.dtype.float_value(y).unwrap());
                let d = (y - x).abs();
                if d.is_finite() {
                    cmp.max_abs_diff = Some(cmp.max_abs_diff.map_or(d, |m: f64| m.max(d)));
                }
            }
        }
    }
    if is_float && cmp.changed > 0 && cmp.max_abs_diff.is_none() {
        cmp.max_abs_diff = Some(f64::NAN);
    }
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::tensor::{DType, Layout};
    use std::io::Write;

    fn weights(values: &[(&str, Vec<f32>)]) -> Weights {
        let mut f = tempfile::tempfile().unwrap();
        let mut tensors = Vec::new();
        let mut base = 0;
        for (name, v) in values {
            for x in v {
                f.write_all(&x.to_le_bytes()).unwrap();
            }
            let n = v.len() as u64;
            tensors.push(Tensor {
                name: name.to_string(),
                dtype: DType::F32,
                shape: vec![n],
                layout: Layout { base, storage_len: n * 4, offset: 0, strides: vec![1] },
            });
            base += n * 4;
        }
        Weights { file: f, format: crate::weights::Format::SafeTensors, tensors, state_dict: true }
    }

    #[test]
    fn counts_changed_values_and_max_difference() {
        let a = weights(&[("w", vec![1.0, 2.0, 3.0, 4.0]), ("gone", vec![1.0]), ("same", vec![5.0]), ("r", vec![1.0])]);
        let b = weights(&[("w", vec![1.0, 2.5, 3.0, 3.0]), ("new", vec![1.0]), ("same", vec![5.0]), ("r", vec![1.0, 2.0])]);
        let d = diff(&a, &b, &crate::progress::Silent).unwrap();
        let w = d.changes.iter().find(|c| c.name == "w").unwrap();
        assert_eq!((w.change, w.changed_values, w.numel, w.max_abs_diff), (Change::Changed, Some(2), Some(4), Some(1.0)));
        assert_eq!(d.count(Change::Added), 1);
        assert_eq!(d.count(Change::Removed), 1);
        assert_eq!(d.count(Change::Reshaped), 1);
        assert_eq!(d.unchanged, 1);
        assert_eq!(d.summary(), "1 changed, 1 added, 1 removed, 1 reshaped, 1 unchanged tensors, max |Δ| 1");
    }
}
