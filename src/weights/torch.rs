//! Reads PyTorch checkpoints written by `torch.save` without running their pickle: the zip
//! format (PyTorch ≥ 1.6) and the legacy pickle stream (`_use_new_zipfile_serialization=False`).
//! The pickle is interpreted symbolically ([`super::pickle`]); a checkpoint that imports anything
//! PyTorch's `weights_only` loader would refuse is refused here too. Tensors come out with
//! their storage located in the file, so their bytes can be streamed without loading the file.

use super::pickle::{self, Id, Node, Pickle};
use super::tensor::{numel, DType, Layout, Tensor};
use super::FormatError;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

/// The largest `data.pkl` read into memory (the same bound burn's reader uses).
pub const MAX_PICKLE: u64 = 100 << 20;
const MAX_DEPTH: usize = 64;

pub struct Checkpoint {
    pub tensors: Vec<Tensor>,
    pub format: super::Format,
    /// The object is a model state dict: a mapping of names to tensors and nothing else (not
    /// an optimizer, scheduler or Trainer state, which nest or hold other values).
    pub state_dict: bool,
}

/// The globals PyTorch's `weights_only` unpickler allows by default
/// (`_get_allowed_globals` in torch/_weights_only_unpickler.py): `collections.OrderedDict` and
/// `Counter`, `torch.nn.parameter.Parameter`, `torch.serialization._get_layout`, `torch.Size`,
/// `torch.Tensor`, `torch.device`, `_codecs.encode`, `builtins.bytearray`, `set` and `complex`,
/// every dtype (`str(dtype)`: canonical names only), the tensor and storage classes, the
/// quantization schemes, the `torch._utils._rebuild_*` functions it lists and
/// `torch._tensor._rebuild_from_type_v2`. This list decides what `hfgit scan` calls safe.
pub fn weights_only_allowed(module: &str, name: &str) -> bool {
    const REBUILD: &[&str] = &[
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_sparse_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    ];
    match module {
        "collections" => matches!(name, "OrderedDict" | "Counter"),
        "torch.nn.parameter" => name == "Parameter",
        "torch.serialization" => name == "_get_layout",
        "_codecs" => name == "encode",
        "builtins" => matches!(name, "bytearray" | "set" | "complex"),
        "torch._utils" => REBUILD.contains(&name),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch" => {
            matches!(name, "Size" | "Tensor" | "device" | "UntypedStorage" | "TypedStorage")
                || ALLOWED_DTYPES.contains(&name)
                || QSCHEMES.contains(&name)
                || legacy_class(name, "Storage")
                || legacy_class(name, "Tensor")
        }
        "torch.storage" => matches!(name, "TypedStorage" | "UntypedStorage"),
        "torch.cuda" => legacy_class(name, "Storage") || legacy_class(name, "Tensor"),
        "torch.sparse" | "torch.cuda.sparse" => legacy_class(name, "Tensor"),
        _ => false,
    }
}

/// `str(dtype)` of every dtype PyTorch's allowlist enumerates (storage dtypes, the newer ones,
/// `uint1`..`uint7`, `int1`..`int7`).
const ALLOWED_DTYPES: &[&str] = &[
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex128",
    "complex64",
    "complex32",
    "quint8",
    "qint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e5m2fnuz",
    "float8_e4m3fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "bits8",
    "bits16",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "uint16",
    "uint32",
    "uint64",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
];

const QSCHEMES: &[&str] =
    &["per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric", "per_channel_affine_float_qparams"];

/// `<Scalar>Storage` / `<Scalar>Tensor`: the legacy typed classes (`torch._storage_classes`,
/// `torch._tensor_classes`).
fn legacy_class(name: &str, suffix: &str) -> bool {
    const SCALARS: &[&str] = &[
        "Double",
        "Float",
        "Half",
        "BFloat16",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
        "ComplexDouble",
        "ComplexFloat",
        "QUInt8",
        "QInt8",
        "QInt32",
        "QUInt4x2",
        "QUInt2x4",
    ];
    name.strip_suffix(suffix).is_some_and(|s| SCALARS.contains(&s))
}

/// `torch.<name>` dtype objects (as `_rebuild_tensor_v3` receives them).
fn torch_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "float64" | "double" => DType::F64,
        "float32" | "float" => DType::F32,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "bool" => DType::Bool,
        "complex64" | "cfloat" => DType::C64,
        "float8_e5m2" => DType::F8E5M2,
        "float8_e4m3fn" => DType::F8E4M3,
        "float8_e8m0fnu" => DType::F8E8M0,
        _ => return None,
    })
}

/// Legacy storage classes (torch/storage.py `_dtype_to_storage_type_map`).
fn storage_dtype(class: &str) -> Result<Option<DType>, String> {
    Ok(Some(match class {
        "DoubleStorage" => DType::F64,
        "FloatStorage" => DType::F32,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        "ShortStorage" => DType::I16,
        "CharStorage" => DType::I8,
        "ByteStorage" => DType::U8,
        "BoolStorage" => DType::Bool,
        "ComplexFloatStorage" => DType::C64,
        // raw bytes; the dtype comes from `_rebuild_tensor_v3`
        "UntypedStorage" => return Ok(None),
        other => return Err(format!("storage type torch.{other} is not supported")),
    }))
}

/// A storage referred to by a persistent id: its key and dtype.
struct StorageRef {
    key: String,
    dtype: Option<DType>,
    numel: u64,
}

/// Where each storage's bytes are in the file.
struct Storages {
    located: HashMap<String, (u64, u64)>,
}

pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

pub fn read(file: &File) -> Result<Checkpoint, FormatError> {
    let mut head = [0u8; 8];
    let n = file.read_at(&mut head, 0)?;
    if is_zip(&head[..n]) {
        read_zip(file)
    } else if n >= 2 && head[0] == 0x80 {
        read_legacy(file)
    } else if head[..n].starts_with(b"PYTORCH1") {
        Err(FormatError::bad("this is a TorchScript archive from a preview release, which is not supported"))
    } else {
        Err(FormatError::bad("not a PyTorch checkpoint (neither a zip archive nor a pickle)"))
    }
}

fn read_zip(file: &File) -> Result<Checkpoint, FormatError> {
    let file_len = file.metadata()?.len();
    let mut zip = zip::ZipArchive::new(file.try_clone()?).map_err(|e| FormatError::bad(format!("not a valid zip archive: {e}")))?;
    let names: Vec<String> = zip.file_names().filter_map(|n| n.ok()).map(|n| n.into_owned()).collect();
    let first = names.first().ok_or_else(|| FormatError::bad("the zip archive is empty"))?;
    let archive = first.split('/').next().unwrap_or_default().to_string();
    let pkl_name = format!("{archive}/data.pkl");
    let mut entries = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if !name.starts_with(&format!("{archive}/")) {
            return Err(FormatError::bad(format!("zip entry {name:?} is outside the archive directory {archive:?}")));
        }
        entries.insert(name.clone(), i);
    }
    if let Some(&i) = entries.get(&format!("{archive}/byteorder")) {
        let (start, len) = stored_entry(&mut zip, i, file_len)?;
        let mut b = vec![0u8; len.min(16) as usize];
        file.read_exact_at(&mut b, start)?;
        if b != b"little" {
            return Err(FormatError::bad(format!(
                "byte order {:?} is not supported (only little-endian checkpoints)",
                String::from_utf8_lossy(&b)
            )));
        }
    }
    let &pkl =
        entries.get(&pkl_name).ok_or_else(|| FormatError::bad(format!("the archive has no {pkl_name} (not a torch.save checkpoint)")))?;
    let (start, len) = stored_entry(&mut zip, pkl, file_len)?;
    if len > MAX_PICKLE {
        return Err(FormatError::bad(format!("{pkl_name} is {len} bytes, more than the {MAX_PICKLE} allowed")));
    }
    let mut data = vec![0u8; len as usize];
    file.read_exact_at(&mut data, start)?;
    let pk = pickle::parse(&data).map_err(|e| FormatError::bad(format!("{pkl_name}: {e}")))?;
    check_imports(&pk)?;
    let refs = tensor_storages(&pk)?;
    let mut located = HashMap::new();
    for key in refs {
        let name = format!("{archive}/data/{key}");
        let &i = entries.get(&name).ok_or_else(|| FormatError::bad(format!("storage {key:?} has no record {name:?} in the archive")))?;
        located.insert(key, stored_entry(&mut zip, i, file_len)?);
    }
    let tensors = collect_tensors(&pk, &Storages { located }, file_len)?;
    let state_dict = is_state_dict(&pk, &tensors);
    Ok(Checkpoint { tensors, format: super::Format::TorchZip, state_dict })
}

/// The file offset and length of a stored (uncompressed) zip entry.
fn stored_entry(zip: &mut zip::ZipArchive<File>, index: usize, file_len: u64) -> Result<(u64, u64), FormatError> {
    let entry = zip.by_index_raw(index).map_err(|e| FormatError::bad(format!("zip entry {index}: {e}")))?;
    let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
    if entry.compression() != zip::CompressionMethod::Stored {
        return Err(FormatError::bad(format!(
            "zip entry {name:?} is compressed ({}); torch.save stores entries uncompressed",
            entry.compression()
        )));
    }
    let start = entry.data_start().ok_or_else(|| FormatError::bad(format!("zip entry {name:?} has no data offset")))?;
    let len = entry.size();
    if entry.compressed_size() != len || start.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(FormatError::bad(format!(
            "zip entry {name:?} claims {len} bytes at offset {start}, past the end of the {file_len}-byte file"
        )));
    }
    Ok((start, len))
}

fn check_imports(pk: &Pickle) -> Result<(), FormatError> {
    for imp in &pk.imports {
        if !weights_only_allowed(&imp.module, &imp.name) {
            return Err(FormatError::Unsafe(imp.to_string()));
        }
    }
    Ok(())
}

/// The legacy format: pickles of a magic number, a protocol version, system info, the object,
/// and the list of storage keys; then each storage as an i64 element count and its bytes.
fn read_legacy(file: &File) -> Result<Checkpoint, FormatError> {
    let file_len = file.metadata()?.len();
    let mut data = Vec::new();
    file.take(MAX_PICKLE).read_to_end(&mut data)?;
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Pickle, FormatError> {
        let pk = pickle::parse(&data[pos..]).map_err(|e| FormatError::bad(format!("legacy checkpoint, {what}: {e}")))?;
        pos += pk.len;
        Ok(pk)
    };
    let magic = next("magic number")?;
    let is_magic = matches!(magic.node(magic.root), Node::BigInt(b) if b == &[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
    if !is_magic {
        return Err(FormatError::bad("a pickle, but not a PyTorch checkpoint (no legacy magic number)"));
    }
    let proto = next("protocol version")?;
    if proto.int(proto.root) != Some(1001) {
        return Err(FormatError::bad("legacy checkpoint with an unsupported protocol version"));
    }
    let info = next("system info")?;
    if let Node::Dict(items) = info.node(info.root) {
        for (k, v) in items {
            if info.str(*k) == Some("little_endian") && !matches!(info.node(*v), Node::Bool(true)) {
                return Err(FormatError::bad("big-endian checkpoints are not supported"));
            }
        }
    }
    let pk = next("object")?;
    check_imports(&pk)?;
    let keys = next("storage keys")?;
    let key_list: Vec<String> = keys
        .items(keys.root)
        .ok_or_else(|| FormatError::bad("legacy checkpoint: storage key list is not a list"))?
        .iter()
        .map(|&k| key_string(&keys, k))
        .collect::<Option<_>>()
        .ok_or_else(|| FormatError::bad("legacy checkpoint: a storage key is not a string"))?;
    // element sizes come from the object's persistent ids
    let mut sizes = HashMap::new();
    for r in storage_refs(&pk)? {
        sizes.insert(r.key.clone(), r.dtype.map(|d| d.size()).unwrap_or(1));
    }
    let mut offset = pos as u64;
    let mut located = HashMap::new();
    for key in key_list {
        let mut n = [0u8; 8];
        file.read_exact_at(&mut n, offset).map_err(|_| FormatError::bad(format!("legacy checkpoint ends before storage {key:?}")))?;
        let count = u64::from_le_bytes(n);
        let es = *sizes.get(&key).unwrap_or(&1);
        let len = count
            .checked_mul(es)
            .filter(|&l| l <= file_len.saturating_sub(offset + 8))
            .ok_or_else(|| FormatError::bad(format!("storage {key:?} claims {count} elements, past the end of the file")))?;
        located.insert(key, (offset + 8, len));
        offset += 8 + len;
    }
    let tensors = collect_tensors(&pk, &Storages { located }, file_len)?;
    let state_dict = is_state_dict(&pk, &tensors);
    Ok(Checkpoint { tensors, format: super::Format::TorchLegacy, state_dict })
}

fn key_string(pk: &Pickle, id: Id) -> Option<String> {
    match pk.node(id) {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Every storage persistent id in the pickle.
fn storage_refs(pk: &Pickle) -> Result<Vec<StorageRef>, FormatError> {
    let mut out = Vec::new();
    for node in &pk.nodes {
        if let Node::PersistentId(pid) = node {
            out.push(storage_ref(pk, *pid)?);
        }
    }
    Ok(out)
}

fn tensor_storages(pk: &Pickle) -> Result<Vec<String>, FormatError> {
    let mut keys: Vec<String> = storage_refs(pk)?.into_iter().map(|r| r.key).collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// `('storage', torch.FloatStorage, key, location, numel[, view_metadata])`.
fn storage_ref(pk: &Pickle, pid: Id) -> Result<StorageRef, FormatError> {
    let bad = || FormatError::bad("a persistent id is not a ('storage', type, key, location, size) tuple");
    let items = pk.items(pid).ok_or_else(bad)?;
    if items.len() < 5 || pk.str(items[0]) != Some("storage") {
        return Err(bad());
    }
    let (module, class) = pk.global(items[1]).ok_or_else(bad)?;
    if module != "torch" {
        return Err(bad());
    }
    let dtype = storage_dtype(class).map_err(FormatError::Bad)?;
    let key = key_string(pk, items[2]).ok_or_else(bad)?;
    let numel = pk.int(items[4]).and_then(|n| u64::try_from(n).ok()).ok_or_else(bad)?;
    Ok(StorageRef { key, dtype, numel })
}

/// Views may share storage (tied weights) or repeat it (stride 0), so tensors can add up to
/// more than the file; beyond this much more, the file is treated as hostile.
fn plausible_total(file_len: u64) -> u64 {
    file_len.saturating_mul(8).saturating_add(64 << 20)
}

fn collect_tensors(pk: &Pickle, storages: &Storages, file_len: u64) -> Result<Vec<Tensor>, FormatError> {
    let mut out = Vec::new();
    walk(pk, pk.root, String::new(), storages, &mut out, 0)?;
    let total = out.iter().try_fold(0u64, |acc, t| acc.checked_add(t.byte_len()));
    if total.is_none_or(|t| t > plausible_total(file_len)) {
        return Err(FormatError::bad(format!(
            "its tensors add up to more than {} bytes, implausible for a {file_len}-byte file (views repeating their storage?)",
            plausible_total(file_len)
        )));
    }
    Ok(out)
}

/// Whether the pickle's root is a non-empty dict whose every value is a tensor, under its own
/// key (`tensors` are what [`walk`] found, in the dict's order).
fn is_state_dict(pk: &Pickle, tensors: &[Tensor]) -> bool {
    let Node::Dict(items) = pk.node(pk.root) else { return false };
    !items.is_empty()
        && items.len() == tensors.len()
        && items.iter().zip(tensors).all(|((k, _), t)| matches!(pk.node(*k), Node::Str(s) if *s == t.name))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Flattens nested dicts and lists to dotted names, collecting tensors.
fn walk(pk: &Pickle, id: Id, name: String, st: &Storages, out: &mut Vec<Tensor>, depth: usize) -> Result<(), FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::bad(format!("objects nested more than {MAX_DEPTH} deep at {name:?}")));
    }
    if let Some(t) = tensor(pk, id, &name, st, 0)? {
        out.push(t);
        return Ok(());
    }
    match pk.node(id) {
        Node::Dict(items) => {
            for (k, v) in items {
                let key = match pk.node(*k) {
                    Node::Str(s) => s.clone(),
                    Node::Int(i) => i.to_string(),
                    _ => continue,
                };
                walk(pk, *v, join(&name, &key), st, out, depth + 1)?;
            }
        }
        Node::List(items) | Node::Tuple(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(pk, *v, join(&name, &i.to_string()), st, out, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn int_list(pk: &Pickle, id: Id) -> Option<Vec<u64>> {
    // torch.Size((…)) arrives as a call on a tuple
    if let Node::Call { func, args } = pk.node(id) {
        if pk.global(*func) == Some(("torch", "Size")) {
            return int_list(pk, *pk.items(*args)?.first()?);
        }
    }
    pk.items(id)?.iter().map(|&i| pk.int(i).and_then(|v| u64::try_from(v).ok())).collect()
}

/// Recognises a tensor rebuild call and locates its elements.
fn tensor(pk: &Pickle, id: Id, name: &str, st: &Storages, depth: usize) -> Result<Option<Tensor>, FormatError> {
    if depth > 8 {
        return Ok(None);
    }
    let (func, args) = match pk.node(id) {
        Node::Call { func, args } => (*func, *args),
        Node::Build { obj, .. } => return tensor(pk, *obj, name, st, depth + 1),
        _ => return Ok(None),
    };
    let Some((module, fname)) = pk.global(func) else { return Ok(None) };
    let Some(a) = pk.items(args) else { return Ok(None) };
    let bad = |what: &str| FormatError::bad(format!("tensor {name:?}: {what}"));
    match (module, fname) {
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            let inner = *a.first().ok_or_else(|| bad("parameter without data"))?;
            tensor(pk, inner, name, st, depth + 1)
        }
        ("torch._tensor", "_rebuild_from_type_v2") => {
            if a.len() < 3 {
                return Err(bad("malformed _rebuild_from_type_v2 call"));
            }
            tensor_call(pk, a[0], a[2], name, st)
        }
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor_v3" | "_rebuild_tensor") => tensor_call(pk, func, args, name, st),
        ("torch._utils", other) => Err(bad(&format!("{other} tensors are not supported"))),
        _ => Ok(None),
    }
}

fn tensor_call(pk: &Pickle, func: Id, args: Id, name: &str, st: &Storages) -> Result<Option<Tensor>, FormatError> {
    let bad = |what: &str| FormatError::bad(format!("tensor {name:?}: {what}"));
    let Some((_, fname)) = pk.global(func) else { return Ok(None) };
    let a = pk.items(args).ok_or_else(|| bad("rebuild arguments are not a tuple"))?;
    if a.len() < 4 {
        return Err(bad("too few rebuild arguments"));
    }
    let Node::PersistentId(pid) = pk.node(a[0]) else {
        return Err(bad("its storage is not a persistent reference"));
    };
    let sref = storage_ref(pk, *pid)?;
    let offset = pk.int(a[1]).and_then(|v| u64::try_from(v).ok()).ok_or_else(|| bad("bad storage offset"))?;
    let shape = int_list(pk, a[2]).ok_or_else(|| bad("bad shape"))?;
    let strides = int_list(pk, a[3]).ok_or_else(|| bad("bad stride"))?;
    let dtype = match (fname, sref.dtype) {
        ("_rebuild_tensor_v3", _) => {
            let d = a.get(6).and_then(|&d| pk.global(d)).ok_or_else(|| bad("no dtype for _rebuild_tensor_v3"))?;
            torch_dtype(d.1).ok_or_else(|| bad(&format!("dtype torch.{} is not supported", d.1)))?
        }
        (_, Some(d)) => d,
        (_, None) => return Err(bad("untyped storage without a dtype")),
    };
    let &(base, storage_len) = st.located.get(&sref.key).ok_or_else(|| bad(&format!("storage {:?} is missing from the file", sref.key)))?;
    let declared = sref.numel.checked_mul(sref.dtype.map(|d| d.size()).unwrap_or(1));
    if declared.is_none_or(|d| d > storage_len) {
        return Err(bad(&format!("storage {:?} declares {} elements but the file holds {storage_len} bytes for it", sref.key, sref.numel)));
    }
    if numel(&shape).is_none() {
        return Err(bad("its shape's element count overflows"));
    }
    let t = Tensor { name: name.to_string(), dtype, shape, layout: Layout { base, storage_len, offset, strides } };
    t.check_bounds().map_err(FormatError::Bad)?;
    Ok(Some(t))
}
