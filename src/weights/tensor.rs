//! What a tensor is to hfgit, whatever file it lives in: a name, a dtype, a shape, and where its
//! elements sit in the file (storage start, element offset, strides). Reading streams the
//! elements in C order, little-endian, in bounded chunks: contiguous tensors as one byte range,
//! others gathered row by row.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Element types, named as safetensors names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

impl DType {
    pub fn size(self) -> u64 {
        use DType::*;
        match self {
            Bool | U8 | I8 | F8E5M2 | F8E4M3 | F8E8M0 => 1,
            I16 | U16 | F16 | BF16 => 2,
            I32 | U32 | F32 => 4,
            C64 | F64 | I64 | U64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            Bool => "BOOL",
            U8 => "U8",
            I8 => "I8",
            F8E5M2 => "F8_E5M2",
            F8E4M3 => "F8_E4M3",
            F8E8M0 => "F8_E8M0",
            I16 => "I16",
            U16 => "U16",
            F16 => "F16",
            BF16 => "BF16",
            I32 => "I32",
            U32 => "U32",
            F32 => "F32",
            C64 => "C64",
            F64 => "F64",
            I64 => "I64",
            U64 => "U64",
        }
    }

    pub fn from_name(s: &str) -> Option<DType> {
        use DType::*;
        Some(match s {
            "BOOL" => Bool,
            "U8" => U8,
            "I8" => I8,
            "F8_E5M2" => F8E5M2,
            "F8_E4M3" => F8E4M3,
            "F8_E8M0" => F8E8M0,
            "I16" => I16,
            "U16" => U16,
            "F16" => F16,
            "BF16" => BF16,
            "I32" => I32,
            "U32" => U32,
            "F32" => F32,
            "C64" => C64,
            "F64" => F64,
            "I64" => I64,
            "U64" => U64,
            _ => return None,
        })
    }

    /// The value of element `b` (little-endian bytes) as f64, for the floating types.
    pub fn float_value(self, b: &[u8]) -> Option<f64> {
        Some(match self {
            DType::F32 => f32::from_le_bytes(b.try_into().ok()?) as f64,
            DType::F64 => f64::from_le_bytes(b.try_into().ok()?),
            DType::F16 => half::f16::from_le_bytes(b.try_into().ok()?).to_f64(),
            DType::BF16 => half::bf16::from_le_bytes(b.try_into().ok()?).to_f64(),
            _ => return None,
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a tensor's elements are: `storage` bytes start at `base` in the file and span
/// `storage_len` bytes; element `(i0, i1, …)` is at `offset + Σ ik·strides[k]` elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub base: u64,
    pub storage_len: u64,
    pub offset: u64,
    pub strides: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub layout: Layout,
}

/// Multiplies dimensions, refusing overflow.
pub fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    pub fn numel(&self) -> u64 {
        numel(&self.shape).expect("checked when the tensor was read")
    }

    pub fn byte_len(&self) -> u64 {
        self.numel() * self.dtype.size()
    }

    /// Whether the elements are one run in C order (size-1 dimensions' strides do not matter).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1u64;
        for (d, s) in self.shape.iter().zip(&self.layout.strides).rev() {
            if *d != 1 && *s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Checks that every element lies inside the storage; `what` names the tensor's file.
    pub fn check_bounds(&self) -> Result<(), String> {
        let bad = |why: &str| format!("tensor {:?}: {why}", self.name);
        if self.shape.len() != self.layout.strides.len() {
            return Err(bad("shape and stride have different lengths"));
        }
        let n = numel(&self.shape).ok_or_else(|| bad("its element count overflows"))?;
        n.checked_mul(self.dtype.size()).ok_or_else(|| bad("its byte size overflows"))?;
        if n == 0 {
            return Ok(());
        }
        // the last element's position, computed without overflow
        let mut last = self.layout.offset;
        for (d, s) in self.shape.iter().zip(&self.layout.strides) {
            let step = (d - 1).checked_mul(*s).ok_or_else(|| bad("its strides overflow"))?;
            last = last.checked_add(step).ok_or_else(|| bad("its strides overflow"))?;
        }
        let end = last
            .checked_add(1)
            .and_then(|e| e.checked_mul(self.dtype.size()))
            .ok_or_else(|| bad("its extent overflows"))?;
        if end > self.layout.storage_len {
            return Err(bad(&format!(
                "needs {end} bytes of its storage, which has {}",
                self.layout.storage_len
            )));
        }
        Ok(())
    }
}

/// Chunk size for streaming: large enough to amortise syscalls, small enough to stay in cache.
pub const CHUNK: usize = 4 << 20;

/// Streams the tensor's elements in C order to `sink`, in chunks of at most [`CHUNK`] bytes
/// (whole elements). Memory stays bounded whatever the tensor's size.
pub fn read_tensor(file: &File, t: &Tensor, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let es = t.dtype.size();
    if t.numel() == 0 {
        return Ok(());
    }
    if t.is_contiguous() {
        let start = t.layout.base + t.layout.offset * es;
        return read_range(file, start, t.byte_len(), sink);
    }
    // Gather: iterate over every index of the leading dimensions, reading one row at a time.
    let rank = t.shape.len();
    let (row_len, row_stride) = (t.shape[rank - 1], t.layout.strides[rank - 1]);
    let mut index = vec![0u64; rank - 1];
    let mut out = Vec::with_capacity(CHUNK.min((row_len * es) as usize + CHUNK));
    let mut elem = vec![0u8; es as usize];
    loop {
        let row_start: u64 = t.layout.offset
            + index.iter().zip(&t.layout.strides).map(|(i, s)| i * s).sum::<u64>();
        if row_stride == 1 {
            read_range(file, t.layout.base + row_start * es, row_len * es, &mut |b| {
                out.extend_from_slice(b);
                if out.len() >= CHUNK {
                    sink(&out)?;
                    out.clear();
                }
                Ok(())
            })?;
        } else {
            for j in 0..row_len {
                file.read_exact_at(&mut elem, t.layout.base + (row_start + j * row_stride) * es)?;
                out.extend_from_slice(&elem);
                if out.len() >= CHUNK {
                    sink(&out)?;
                    out.clear();
                }
            }
        }
        // next index, last leading dimension fastest
        let mut k = index.len();
        loop {
            if k == 0 {
                if !out.is_empty() {
                    sink(&out)?;
                }
                return Ok(());
            }
            k -= 1;
            index[k] += 1;
            if index[k] < t.shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
}

/// Streams `len` bytes of `file` from `start`, in chunks.
pub fn read_range(file: &File, start: u64, len: u64, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        file.read_exact_at(&mut buf[..n], start + done)?;
        sink(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tensor(shape: Vec<u64>, strides: Vec<u64>, offset: u64, storage_len: u64) -> Tensor {
        Tensor {
            name: "t".into(),
            dtype: DType::U8,
            shape,
            layout: Layout { base: 0, storage_len, offset, strides },
        }
    }

    #[test]
    fn transposed_and_offset_views_read_in_c_order() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        // storage [[1,2,3],[4,5,6]] at offset 1, read transposed: shape [3,2], strides [1,3]
        let t = tensor(vec![3, 2], vec![1, 3], 1, 8);
        assert!(!t.is_contiguous());
        t.check_bounds().unwrap();
        let mut got = Vec::new();
        read_tensor(&f, &t, &mut |b| Ok(got.extend_from_slice(b))).unwrap();
        assert_eq!(got, [1, 4, 2, 5, 3, 6]);
        let t = tensor(vec![2, 3], vec![3, 1], 1, 8);
        assert!(t.is_contiguous());
        let mut got = Vec::new();
        read_tensor(&f, &t, &mut |b| Ok(got.extend_from_slice(b))).unwrap();
        assert_eq!(got, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn bounds_and_overflow_are_checked() {
        assert!(tensor(vec![3, 2], vec![1, 3], 3, 8).check_bounds().unwrap_err().contains("needs 9 bytes"));
        assert!(tensor(vec![u64::MAX, 4], vec![4, 1], 0, 8).check_bounds().unwrap_err().contains("overflow"));
        assert!(tensor(vec![2], vec![u64::MAX], 0, 8).check_bounds().unwrap_err().contains("overflow"));
        assert!(tensor(vec![0, 5], vec![5, 1], 0, 0).check_bounds().is_ok());
    }
}
