//! An environment id as the attribution's map keeps it.
//!
//! About 24,000 environments are alive in a busy fleet, and every marker looks its own up. A
//! `String` key puts the id's bytes behind a pointer: a second cache miss per lookup, and an
//! allocation per new environment. Lambda's ids are 32 hex digits, so ids up to 32 bytes are
//! kept in the table itself; longer ones (other stores, tests) on the heap.

use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;

const INLINE: usize = 32;

#[derive(Debug, Clone)]
pub(super) enum EnvId {
    Inline { len: u8, bytes: [u8; INLINE] },
    Long(Box<str>),
}

impl EnvId {
    pub(super) fn new(id: &str) -> EnvId {
        match id.len() {
            len @ 0..=INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..len].copy_from_slice(id.as_bytes());
                EnvId::Inline {
                    len: len as u8,
                    bytes,
                }
            }
            _ => EnvId::Long(id.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            EnvId::Inline { len, bytes } => &bytes[..usize::from(*len)],
            EnvId::Long(id) => id.as_bytes(),
        }
    }

    pub(super) fn owned(&self) -> String {
        // Made from a `str` (see `new`), so the bytes are UTF-8.
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl PartialEq for EnvId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for EnvId {}

/// Hashed exactly as `str` hashes, so that a map of `EnvId` is looked up with a `&str`.
impl Hash for EnvId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl Equivalent<EnvId> for str {
    fn equivalent(&self, key: &EnvId) -> bool {
        self.as_bytes() == key.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn hashes_and_compares_as_its_text() {
        let hasher = rustc_hash::FxBuildHasher;
        for id in ["", "a", "0123456789abcdef0123456789abcdef", &"x".repeat(33)] {
            let key = EnvId::new(id);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(id), "{id}");
            assert!(id.equivalent(&key));
            assert_eq!(key.owned(), id);
        }
        assert_ne!(EnvId::new("ab"), EnvId::new("abc"));
    }
}
