//! Access numbers and their keyed one-way transform.
//!
//! An access number is 128 random bits. The appliance never stores one: the
//! credential map and RocksDB hold only `AES-256_K(n) XOR n` (the
//! Matyas–Meyer–Oseas construction) under the appliance's transform key. The
//! XOR makes the transform one-way even for someone who later obtains the
//! key, and without the key the digests cannot be tested against guesses.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A 128-bit access number. `Debug` never shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessNumber(pub [u8; 16]);

impl fmt::Debug for AccessNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessNumber(<redacted>)")
    }
}

impl AsRef<[u8; 16]> for AccessNumber {
    fn as_ref(&self) -> &[u8; 16] {
        &self.0
    }
}

impl AccessNumber {
    /// The printable form used on card forms: four dash-separated groups of
    /// eight hex digits. Only ever shown to the person issuing a card.
    pub fn reveal(&self) -> String {
        let h = hex::encode(self.0);
        format!("{}-{}-{}-{}", &h[0..8], &h[8..16], &h[16..24], &h[24..32])
    }
}

/// An access number that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an access number is 32 hex digits, optionally grouped with dashes or spaces")]
pub struct BadAccessNumber;

impl FromStr for AccessNumber {
    type Err = BadAccessNumber;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let clean: String = s.chars().filter(|c| *c != '-' && *c != ' ').collect();
        if clean.len() != 32 {
            return Err(BadAccessNumber);
        }
        let bytes = hex::decode(clean).map_err(|_| BadAccessNumber)?;
        Ok(AccessNumber(bytes.try_into().map_err(|_| BadAccessNumber)?))
    }
}

/// The keyed transform of an access number: the only form ever stored.
pub type Digest = u128;

/// The appliance's transform key.
#[derive(Clone)]
pub struct Transform {
    cipher: Aes256,
}

impl fmt::Debug for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Transform(<key>)")
    }
}

impl Transform {
    /// A transform under `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256::new(key.into()),
        }
    }

    /// `AES-256_K(n) XOR n`.
    #[inline]
    pub fn digest(&self, n: &AccessNumber) -> Digest {
        let mut block = aes::Block::from(n.0);
        self.cipher.encrypt_block(&mut block);
        let e = u128::from_be_bytes(block.into());
        e ^ u128::from_be_bytes(n.0)
    }
}

/// The short credential reference written to the journal for numbers that
/// match no card: the top 64 bits of the digest. It lets troubleshooting see
/// that the same unknown card was tried twice without storing anything that
/// leads back to the number.
pub fn journal_tag(d: Digest) -> u64 {
    (d >> 64) as u64
}

/// How many numbers a generator draws before reseeding from the OS.
pub const RESEED_EVERY: u32 = 1024;

/// The access-number generator: ChaCha20 seeded from the operating system,
/// reseeded every [`RESEED_EVERY`] numbers. Never sequential, never derived
/// from the person.
pub struct Generator {
    inner: Mutex<(ChaCha20Rng, u32)>,
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Generator")
    }
}

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Generator {
    /// A generator seeded from the OS.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new((ChaCha20Rng::from_entropy(), 0)),
        }
    }

    /// A fresh access number.
    pub fn next_number(&self) -> AccessNumber {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.1 >= RESEED_EVERY {
            *g = (ChaCha20Rng::from_entropy(), 0);
        }
        g.1 += 1;
        let mut n = [0u8; 16];
        g.0.fill_bytes(&mut n);
        AccessNumber(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_reveal_round_trip() {
        let n: AccessNumber = "00112233-44556677-8899aabb-ccddeeff".parse().unwrap();
        assert_eq!(n.reveal(), "00112233-44556677-8899aabb-ccddeeff");
        assert_eq!(
            "00112233445566778899AABBCCDDEEFF".parse::<AccessNumber>(),
            Ok(n)
        );
        assert_eq!("0011".parse::<AccessNumber>(), Err(BadAccessNumber));
        assert_eq!(format!("{n:?}"), "AccessNumber(<redacted>)");
    }

    #[test]
    fn transform_is_keyed_and_not_identity() {
        let n = AccessNumber([7; 16]);
        let a = Transform::new(&[1; 32]).digest(&n);
        let b = Transform::new(&[2; 32]).digest(&n);
        assert_ne!(a, b);
        assert_ne!(a, u128::from_be_bytes(n.0));
        assert_eq!(a, Transform::new(&[1; 32]).digest(&n));
    }

    #[test]
    fn generator_does_not_repeat_across_reseeds() {
        let g = Generator::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..(RESEED_EVERY * 2 + 10) {
            assert!(seen.insert(g.next_number().0));
        }
    }
}
