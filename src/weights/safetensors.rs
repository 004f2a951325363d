//! The safetensors format: an 8-byte little-endian header length, a JSON header, and the data
//! buffer. Reading enforces the reference implementation's validation (header ≤ 100 MB, tensors
//! tiling the buffer from 0 without holes or overlaps, sizes matching shapes, the file fully
//! covered). Writing converts any tensor list, streaming each tensor's bytes into place.

use super::tensor::{numel, read_tensor, DType, Layout, Tensor};
use super::FormatError;
use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

/// The reference reader's bound on the header length.
pub const MAX_HEADER: u64 = 100_000_000;

pub struct SafeTensors {
    pub tensors: Vec<Tensor>,
    pub metadata: Map<String, Value>,
}

/// Whether the file looks like safetensors: a plausible header length followed by `{`.
pub fn sniff(head: &[u8]) -> bool {
    head.len() >= 9 && u64::from_le_bytes(head[..8].try_into().unwrap()) <= MAX_HEADER && head[8] == b'{'
}

pub fn read(file: &File) -> Result<SafeTensors, FormatError> {
    let file_len = file.metadata()?.len();
    let mut n = [0u8; 8];
    file.read_exact_at(&mut n, 0).map_err(|_| FormatError::bad("shorter than a safetensors header"))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER {
        return Err(FormatError::bad(format!("header length {n} exceeds the {MAX_HEADER}-byte limit")));
    }
    if 8 + n > file_len {
        return Err(FormatError::bad(format!("header length {n} runs past the end of the {file_len}-byte file")));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact_at(&mut header, 8)?;
    if header.first() != Some(&b'{') {
        return Err(FormatError::bad("the header does not start with '{'"));
    }
    let text = std::str::from_utf8(&header).map_err(|_| FormatError::bad("the header is not UTF-8"))?;
    let map: Map<String, Value> =
        serde_json::from_str(text.trim_end_matches(' ')).map_err(|e| FormatError::bad(format!("the header is not a JSON object: {e}")))?;
    let data_start = 8 + n;
    let data_len = file_len - data_start;
    let mut metadata = Map::new();
    let mut tensors = Vec::new();
    let mut spans = Vec::new();
    for (name, info) in map {
        if name == "__metadata__" {
            let m = info.as_object().ok_or_else(|| FormatError::bad("__metadata__ is not an object"))?;
            if m.values().any(|v| !v.is_string()) {
                return Err(FormatError::bad("__metadata__ values must be strings"));
            }
            metadata = m.clone();
            continue;
        }
        let bad = |what: &str| FormatError::bad(format!("tensor {name:?}: {what}"));
        let dtype = info["dtype"].as_str().ok_or_else(|| bad("no dtype"))?;
        let dtype = DType::from_name(dtype).ok_or_else(|| bad(&format!("unsupported dtype {dtype:?}")))?;
        let shape: Vec<u64> = info["shape"]
            .as_array()
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<_>>()
            .ok_or_else(|| bad("shape entries must be non-negative integers"))?;
        let offsets: Vec<u64> = info["data_offsets"]
            .as_array()
            .filter(|a| a.len() == 2)
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect())
            .ok_or_else(|| bad("data_offsets must be two non-negative integers"))?;
        let (begin, end) = (offsets[0], offsets[1]);
        let size = numel(&shape).and_then(|n| n.checked_mul(dtype.size())).ok_or_else(|| bad("its size overflows"))?;
        if end < begin || end - begin != size {
            return Err(bad(&format!("data_offsets [{begin}, {end}] do not hold {size} bytes")));
        }
        let strides = c_strides(&shape);
        spans.push((begin, end, name.clone()));
        tensors.push(Tensor { name, dtype, shape, layout: Layout { base: data_start + begin, storage_len: size, offset: 0, strides } });
    }
    spans.sort();
    let mut at = 0;
    for (begin, end, name) in &spans {
        if *begin != at {
            return Err(FormatError::bad(format!(
                "tensor {name:?} starts at {begin}, expected {at} (holes or overlaps in the data buffer)"
            )));
        }
        at = *end;
    }
    if at != data_len {
        return Err(FormatError::bad(format!("the tensors cover {at} bytes of a {data_len}-byte data buffer (file not fully covered)")));
    }
    Ok(SafeTensors { tensors, metadata })
}

pub fn c_strides(shape: &[u64]) -> Vec<u64> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1u64;
    for (i, d) in shape.iter().enumerate().rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(*d);
    }
    strides
}

/// The header for `tensors` laid out in writer order (descending alignment, then name), padded
/// with spaces to a multiple of 8 bytes; and that order.
pub fn header(tensors: &[Tensor], metadata: &Map<String, Value>) -> Result<(Vec<u8>, Vec<usize>), FormatError> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&tensors[a], &tensors[b]);
        tb.dtype.size().cmp(&ta.dtype.size()).then_with(|| ta.name.cmp(&tb.name))
    });
    for w in order.windows(2) {
        if tensors[w[0]].name == tensors[w[1]].name {
            return Err(FormatError::bad(format!("two tensors are named {:?}", tensors[w[0]].name)));
        }
    }
    let mut map = Map::new();
    if !metadata.is_empty() {
        map.insert("__metadata__".into(), Value::Object(metadata.clone()));
    }
    let mut offset = 0u64;
    for &i in &order {
        let t = &tensors[i];
        let end = offset + t.byte_len();
        map.insert(t.name.clone(), json!({"dtype": t.dtype.name(), "shape": t.shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut bytes = serde_json::to_vec(&map).expect("JSON of plain values");
    while !bytes.len().is_multiple_of(8) {
        bytes.push(b' ');
    }
    Ok((bytes, order))
}

/// Writes `tensors` (read from `src`) as safetensors to `out`, with `__metadata__` =
/// `{"format": "pt"}`. Contiguous tensors are copied file-to-file (the kernel's copy path when
/// it has one); others are gathered. `progress` receives byte counts.
pub fn write(src: &File, tensors: &[Tensor], out: &mut File, progress: &mut dyn FnMut(u64)) -> Result<u64, FormatError> {
    write_with_metadata(src, tensors, &pt_metadata(), out, progress)
}

/// `{"format": "pt"}`, the metadata transformers writes and expects.
pub fn pt_metadata() -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert("format".into(), Value::String("pt".into()));
    meta
}

/// [`write`] with the given `__metadata__` (string values, as the format requires).
pub fn write_with_metadata(
    src: &File,
    tensors: &[Tensor],
    meta: &Map<String, Value>,
    out: &mut File,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, FormatError> {
    let (header, order) = header(tensors, meta)?;
    out.write_all(&(header.len() as u64).to_le_bytes())?;
    out.write_all(&header)?;
    let mut written = 8 + header.len() as u64;
    for &i in &order {
        let t = &tensors[i];
        let len = t.byte_len();
        if t.is_contiguous() && len > 0 {
            let mut from = src;
            from.seek(SeekFrom::Start(t.layout.base + t.layout.offset * t.dtype.size()))?;
            let copied = io::copy(&mut from.take(len), out)?;
            if copied != len {
                return Err(FormatError::bad(format!("tensor {:?}: the file ends inside its data", t.name)));
            }
            progress(len);
        } else {
            read_tensor(src, t, &mut |b| {
                out.write_all(b)?;
                progress(b.len() as u64);
                Ok(())
            })?;
        }
        written += len;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_raw(header: &str, data: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        f.write_all(data).unwrap();
        f
    }

    #[test]
    fn validation_follows_the_reference_reader() {
        let ok = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}"#;
        let st = read(&write_raw(ok, &[0; 8])).unwrap();
        assert_eq!(st.tensors[0].shape, vec![2]);
        assert_eq!(st.metadata["format"], "pt");
        let cases = [
            (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 9, "not fully covered"),
            (r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "do not hold 12 bytes"),
            (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "holes or overlaps"),
            (r#"{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}"#, 4, "unsupported dtype"),
            (r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, 4, "overflows"),
            (r#"[1]"#, 0, "does not start with"),
            (r#"{"a":1"#, 0, "not a JSON object"),
        ];
        for (h, n, want) in cases {
            let err = read(&write_raw(h, &vec![0; n])).err().unwrap().to_string();
            assert!(err.contains(want), "{h}: {err}");
        }
        // a header length far past the file, and one past the 100 MB bound
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&1000u64.to_le_bytes()).unwrap();
        assert!(read(&f).err().unwrap().to_string().contains("past the end"));
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&u64::MAX.to_le_bytes()).unwrap();
        assert!(read(&f).err().unwrap().to_string().contains("limit"));
    }

    #[test]
    fn written_files_read_back_in_alignment_order() {
        let mut src = tempfile::tempfile().unwrap();
        src.write_all(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        let a = Tensor {
            name: "b.small".into(),
            dtype: DType::U8,
            shape: vec![2],
            layout: Layout { base: 8, storage_len: 2, offset: 0, strides: vec![1] },
        };
        let b = Tensor {
            name: "a.big".into(),
            dtype: DType::F32,
            shape: vec![2],
            layout: Layout { base: 0, storage_len: 8, offset: 0, strides: vec![1] },
        };
        let mut out = tempfile::tempfile().unwrap();
        let mut seen = 0;
        write(&src, &[a, b], &mut out, &mut |n| seen += n).unwrap();
        assert_eq!(seen, 10);
        let st = read(&out).unwrap();
        let names: Vec<_> = st.tensors.iter().map(|t| (t.name.as_str(), t.layout.base)).collect();
        let hlen = st.tensors[0].layout.base.min(st.tensors[1].layout.base);
        assert_eq!(hlen % 8, 0, "data buffer starts 8-byte aligned");
        assert_eq!(names, vec![("a.big", hlen), ("b.small", hlen + 8)]);
        let mut got = Vec::new();
        read_tensor(&out, &st.tensors[1], &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [9, 10]);
    }
}
