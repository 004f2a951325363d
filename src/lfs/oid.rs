//! The SHA-256 object id of Git LFS. Owns parsing (strictly lowercase hex, as git-lfs requires)
//! and display; hashing helpers live in `store`.

use std::fmt;

/// A Git LFS object id: the SHA-256 of the object's content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid([u8; 32]);

impl Oid {
    /// The oid of the empty content (`e3b0c442…b855`).
    pub const EMPTY: Oid = Oid([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
    ]);

    pub fn from_bytes(bytes: [u8; 32]) -> Oid {
        Oid(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses exactly 64 lowercase hex digits; anything else is `None` (git-lfs rejects
    /// upper case and other lengths too).
    pub fn from_hex(s: &str) -> Option<Oid> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Oid(out))
    }

    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The first `n` hex digits, for display.
    pub fn short(&self, n: usize) -> String {
        let mut s = self.to_string();
        s.truncate(n.min(64));
        s
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn empty_oid_is_sha256_of_nothing() {
        let d: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(Oid::from_bytes(d), Oid::EMPTY);
        assert!(Oid::EMPTY.to_hex().starts_with("e3b0c442"));
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let hex = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
        assert_eq!(Oid::from_hex(hex).unwrap().to_hex(), hex);
        assert!(Oid::from_hex(&hex.to_uppercase()).is_none());
        assert!(Oid::from_hex(&hex[1..]).is_none());
        assert!(Oid::from_hex(&format!("{}g", &hex[1..])).is_none());
    }
}
