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

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
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
        let end = last.checked_add(1).and_then(|e| e.checked_mul(self.dtype.size())).ok_or_else(|| bad("its extent overflows"))?;
        if end > self.layout.storage_len {
            return Err(bad(&format!("needs {end} bytes of its storage, which has {}", self.layout.storage_len)));
        }
        Ok(())
    }
}

/// Chunk size for streaming: large enough to amortise syscalls, small enough to stay in cache.
pub const CHUNK: usize = 4 << 20;

/// Non-contiguous tensors whose elements span at most this many bytes of storage are read into
/// memory once and gathered there, instead of one read per element.
pub const MAX_SPAN: u64 = 256 << 20;

/// Reads a tensor's elements in C order, any range at a time.
pub struct TensorReader<'a> {
    file: &'a File,
    t: &'a Tensor,
    /// For gathered tensors: the file offset of the first byte held, and the bytes.
    span: Option<(u64, Vec<u8>)>,
}

impl<'a> TensorReader<'a> {
    pub fn new(file: &'a File, t: &'a Tensor) -> io::Result<TensorReader<'a>> {
        let mut span = None;
        let es = t.dtype.size();
        if !t.is_contiguous() && t.numel() > 0 {
            let last: u64 = t.layout.offset + t.shape.iter().zip(&t.layout.strides).map(|(d, s)| (d - 1) * s).sum::<u64>();
            let (first, end) = (t.layout.offset * es, (last + 1) * es);
            if end - first <= MAX_SPAN {
                let mut data = vec![0u8; (end - first) as usize];
                file.read_exact_at(&mut data, t.layout.base + first)?;
                span = Some((t.layout.base + first, data));
            }
        }
        Ok(TensorReader { file, t, span })
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match &self.span {
            Some((start, data)) => {
                let at = (offset - start) as usize;
                buf.copy_from_slice(&data[at..at + buf.len()]);
                Ok(())
            }
            None => self.file.read_exact_at(buf, offset),
        }
    }

    /// Reads `count` elements starting at element `start` (C order) into `buf`.
    pub fn read(&self, start: u64, count: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let t = self.t;
        let es = t.dtype.size();
        buf.resize((count * es) as usize, 0);
        if t.is_contiguous() {
            return self.read_at(buf, t.layout.base + (t.layout.offset + start) * es);
        }
        let rank = t.shape.len();
        let (row_len, row_stride) = (t.shape[rank - 1], t.layout.strides[rank - 1]);
        let mut i = 0u64;
        while i < count {
            // the position of element start + i
            let mut rem = start + i;
            let mut pos = t.layout.offset;
            for k in (0..rank).rev() {
                pos += (rem % t.shape[k]) * t.layout.strides[k];
                rem /= t.shape[k];
            }
            let run = (row_len - (start + i) % row_len).min(count - i);
            let dst = &mut buf[(i * es) as usize..((i + run) * es) as usize];
            if row_stride == 1 {
                self.read_at(dst, t.layout.base + pos * es)?;
            } else {
                for (j, el) in dst.chunks_mut(es as usize).enumerate() {
                    self.read_at(el, t.layout.base + (pos + j as u64 * row_stride) * es)?;
                }
            }
            i += run;
        }
        Ok(())
    }
}

/// Streams the tensor's elements in C order to `sink`, in chunks of at most [`CHUNK`] bytes
/// (whole elements). Memory stays bounded whatever the tensor's size.
pub fn read_tensor(file: &File, t: &Tensor, sink: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    if t.is_contiguous() {
        return read_range(file, t.layout.base + t.layout.offset * t.dtype.size(), t.byte_len(), sink);
    }
    let reader = TensorReader::new(file, t)?;
    let per_chunk = (CHUNK as u64 / t.dtype.size()).max(1);
    let mut buf = Vec::new();
    let n = t.numel();
    let mut start = 0;
    while start < n {
        let count = per_chunk.min(n - start);
        reader.read(start, count, &mut buf)?;
        sink(&buf)?;
        start += count;
    }
    Ok(())
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
        Tensor { name: "t".into(), dtype: DType::U8, shape, layout: Layout { base: 0, storage_len, offset, strides } }
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
        read_tensor(&f, &t, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [1, 4, 2, 5, 3, 6]);
        let t = tensor(vec![2, 3], vec![3, 1], 1, 8);
        assert!(t.is_contiguous());
        let mut got = Vec::new();
        read_tensor(&f, &t, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
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
