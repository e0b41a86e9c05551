//! Protection of sensitive fields at rest: authenticated encryption
//! (XChaCha20-Poly1305, random 192-bit nonces) under a key ring, so keys can
//! rotate — every sealed value names the key that sealed it, new values use
//! the active key, old ones stay readable while their key is in the ring —
//! and keyed blind indexes (HMAC-SHA256) so exact look-ups still work without
//! storing the plaintext.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{self, ConfigError};

const NONCE_LEN: usize = 24;

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("key {0:?} is not in the key ring")]
    UnknownKey(String),
    #[error("the sealed value does not authenticate (tampered, or sealed for another record)")]
    Forged,
}

/// The encryption keys and the blind-index key.
#[derive(Clone)]
pub struct KeyRing {
    active: String,
    ciphers: HashMap<String, XChaCha20Poly1305>,
    index_key: Vec<u8>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.ciphers.keys().collect();
        ids.sort();
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("keys", &ids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A ring of `(id, 32-byte key)` pairs sealing with `active`.
    pub fn new(
        keys: &[(String, [u8; 32])],
        active: &str,
        index_key: &[u8],
    ) -> Result<Self, String> {
        if index_key.len() < 32 {
            return Err("the blind-index key must be at least 32 bytes".into());
        }
        let mut ciphers = HashMap::new();
        for (id, key) in keys {
            if id.is_empty()
                || id.len() > 32
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "key id {id:?} must be 1 to 32 letters, digits, - or _"
                ));
            }
            ciphers.insert(id.clone(), XChaCha20Poly1305::new(key.into()));
        }
        if !ciphers.contains_key(active) {
            return Err(format!("the active key {active:?} is not in the ring"));
        }
        Ok(Self {
            active: active.to_owned(),
            ciphers,
            index_key: index_key.to_vec(),
        })
    }

    /// From `PATRON_ENCRYPTION_KEYS` (`id:base64key,id:base64key`),
    /// `PATRON_ENCRYPTION_ACTIVE_KEY` (default: the last listed) and
    /// `PATRON_BLIND_INDEX_KEY` (base64); `None` when the keys are not set.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let (Some(keys), Some(index)) = (
            config::env_opt("PATRON_ENCRYPTION_KEYS"),
            config::env_opt("PATRON_BLIND_INDEX_KEY"),
        ) else {
            return Ok(None);
        };
        let err = |name: &str, reason: String| ConfigError {
            name: name.into(),
            reason,
        };
        let parsed = parse_keys(&keys).map_err(|r| err("PATRON_ENCRYPTION_KEYS", r))?;
        let active = config::env_opt("PATRON_ENCRYPTION_ACTIVE_KEY")
            .or_else(|| parsed.last().map(|(id, _)| id.clone()))
            .unwrap_or_default();
        let index = STANDARD
            .decode(index.trim())
            .map_err(|e| err("PATRON_BLIND_INDEX_KEY", format!("not base64: {e}")))?;
        Self::new(&parsed, &active, &index)
            .map(Some)
            .map_err(|r| err("PATRON_ENCRYPTION_KEYS", r))
    }

    /// The id of the key new values are sealed with.
    pub fn active_key(&self) -> &str {
        &self.active
    }

    /// Seals `plaintext`, bound to `context` (the record's id), so a value
    /// moved to another record does not open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let cipher = &self.ciphers[&self.active];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .unwrap_or_default();
        let id = self.active.as_bytes();
        let mut out = Vec::with_capacity(1 + id.len() + NONCE_LEN + ciphertext.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens a value [`seal`](Self::seal) made for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let id = key_id(sealed).ok_or(CryptoError::Malformed)?;
        let rest = &sealed[1 + id.len()..];
        if rest.len() < NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let cipher = self
            .ciphers
            .get(id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Forged)
    }

    /// Whether `sealed` was made with a key other than the active one.
    pub fn needs_rotation(&self, sealed: &[u8]) -> bool {
        key_id(sealed) != Some(self.active.as_str())
    }

    /// A keyed, deterministic digest of `value` for exact look-up; `kind`
    /// separates value kinds so a phone never matches an ID number.
    pub fn blind_index(&self, kind: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .expect("HMAC takes keys of any length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The key id a sealed value names.
pub fn key_id(sealed: &[u8]) -> Option<&str> {
    let len = *sealed.first()? as usize;
    sealed
        .get(1..1 + len)
        .and_then(|b| std::str::from_utf8(b).ok())
}

fn parse_keys(raw: &str) -> Result<Vec<(String, [u8; 32])>, String> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (id, key) = pair
                .trim()
                .split_once(':')
                .ok_or("each key must be written id:base64key")?;
            let bytes = STANDARD
                .decode(key)
                .map_err(|e| format!("key {id:?} is not base64: {e}"))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| format!("key {id:?} must be 32 bytes"))?;
            Ok((id.to_owned(), key))
        })
        .collect()
}

/// A fresh random 32-byte key, base64-encoded (for `patron` to generate
/// local development keys).
pub fn generate_key() -> String {
    STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[(&str, u8)], active: &str) -> KeyRing {
        let keys: Vec<(String, [u8; 32])> = keys
            .iter()
            .map(|(id, b)| (id.to_string(), [*b; 32]))
            .collect();
        KeyRing::new(&keys, active, &[9u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_and_binding_to_the_record() {
        let r = ring(&[("k1", 1)], "k1");
        let sealed = r.seal(b"11010519491231002X", b"customer-1");
        assert_eq!(key_id(&sealed), Some("k1"));
        assert!(
            !sealed.windows(4).any(|w| w == b"1101"),
            "no plaintext in the sealed value"
        );
        assert_eq!(
            r.open(&sealed, b"customer-1").unwrap(),
            b"11010519491231002X"
        );
        assert_eq!(
            r.open(&sealed, b"customer-2").unwrap_err(),
            CryptoError::Forged
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            r.open(&tampered, b"customer-1").unwrap_err(),
            CryptoError::Forged
        );
        assert_eq!(r.open(&[], b"x").unwrap_err(), CryptoError::Malformed);
        assert_ne!(
            r.seal(b"same", b"c"),
            r.seal(b"same", b"c"),
            "random nonces"
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = ring(&[("k1", 1)], "k1");
        let sealed_old = old.seal(b"secret", b"c");
        let rotated = ring(&[("k1", 1), ("k2", 2)], "k2");
        assert_eq!(rotated.open(&sealed_old, b"c").unwrap(), b"secret");
        assert!(rotated.needs_rotation(&sealed_old));
        let resealed = rotated.seal(b"secret", b"c");
        assert_eq!(key_id(&resealed), Some("k2"));
        assert!(!rotated.needs_rotation(&resealed));
        let retired = ring(&[("k2", 2)], "k2");
        assert_eq!(
            retired.open(&sealed_old, b"c").unwrap_err(),
            CryptoError::UnknownKey("k1".into())
        );
    }

    #[test]
    fn blind_indexes_are_deterministic_keyed_and_separated_by_kind() {
        let r = ring(&[("k1", 1)], "k1");
        assert_eq!(
            r.blind_index("phone", "13800138000"),
            r.blind_index("phone", "13800138000")
        );
        assert_ne!(
            r.blind_index("phone", "13800138000"),
            r.blind_index("id_card", "13800138000")
        );
        let other = KeyRing::new(&[("k1".into(), [1u8; 32])], "k1", &[8u8; 32]).unwrap();
        assert_ne!(r.blind_index("phone", "1"), other.blind_index("phone", "1"));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(KeyRing::new(&[("k1".into(), [1; 32])], "k2", &[0; 32]).is_err());
        assert!(KeyRing::new(&[("k1".into(), [1; 32])], "k1", &[0; 8]).is_err());
        assert!(KeyRing::new(&[("bad id".into(), [1; 32])], "bad id", &[0; 32]).is_err());
        let key = generate_key();
        assert_eq!(parse_keys(&format!("a:{key}, b:{key}")).unwrap().len(), 2);
        assert!(parse_keys("a:notbase64!").is_err());
        assert!(parse_keys("a:AAAA").is_err());
        assert!(format!("{:?}", ring(&[("k1", 1)], "k1")).contains("k1"));
    }
}
