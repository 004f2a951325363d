//! Xet storage, the Hub's content-defined chunk store: the formats as the public Xet
//! specification and xet-core define them (content-defined chunking, the chunk/xorb/file/
//! verification hashes, xorb serialization, shards: pure functions), the CAS API client, uploads
//! with deduplication, downloads with chunk reuse, and the local chunk index.
//!
//! Below `lfs` (whose `xet` transfer drives it), above `net`.

pub mod cas;
pub mod chunk;
pub mod download;
pub mod hash;
pub mod index;
pub mod shard;
pub mod upload;
pub mod xorb;

pub use chunk::chunk_reader;
pub use hash::{chunk_hash, file_hash, verification_hash, xorb_hash, MerkleHash};
pub use shard::{parse_shard, upload_shard, upload_shard_len, FileEntry, Shard, ShardChunk, Term, XorbEntry};
pub use xorb::{decode_chunks, Xorb, XorbBuilder};
