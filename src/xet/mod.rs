//! Xet storage formats, as the public Xet specification and xet-core define them: content-defined
//! chunking, the chunk/xorb/file/verification hashes, xorb serialization and the shards that
//! register files. Pure formats: no I/O beyond reading a `Read`, no network (the CAS client
//! builds on this).
//!
//! May use ground only. Must never import `lfs`, `net`, `repo`, `hub`, `weights` or `ops`.

pub mod chunk;
pub mod hash;
pub mod shard;
pub mod xorb;

pub use chunk::{chunk_reader, Chunker};
pub use hash::{chunk_hash, file_hash, verification_hash, xorb_hash, MerkleHash};
pub use shard::{parse_shard, upload_shard, upload_shard_len, FileEntry, Shard, ShardChunk, Term, XorbEntry};
pub use xorb::{decode_chunks, Xorb, XorbBuilder};
