//! Unguessable identifiers (the environment id until Lambda names it, the Telemetry API
//! listener's path) without a random-number crate: 128 bits from the kernel's `/dev/urandom`,
//! or, where it cannot be read, from std's randomly keyed SipHash (its keys come from the
//! kernel too, through `getrandom`).

use std::hash::{BuildHasher, Hasher};
use std::io::Read;

/// 128 random bits as 32 lowercase hex digits.
pub(crate) fn hex128() -> String {
    bytes128().iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 random bits (also the OTLP sink's trace and span ids).
pub(crate) fn bytes128() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let from_kernel =
        std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_kernel.is_err() {
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos(),
            );
            h.write_u32(std::process::id());
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_128_bits_and_never_the_same() {
        let a = hex128();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, hex128());
    }
}
