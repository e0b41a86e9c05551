//! Where keys come from: the environment in a cluster (from a Kubernetes
//! Secret), or, on a developer's machine, random keys kept in the state
//! directory so `patron up` and `patron token` agree across runs.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use patron_kit::config::{self, Secret};
use patron_kit::crypto::{self, KeyRing};
use rand::RngCore;

/// The token signing key: `PATRON_JWT_SECRET`, or the local development key.
pub fn jwt_secret() -> anyhow::Result<Secret> {
    if let Some(secret) = config::env_opt("PATRON_JWT_SECRET") {
        anyhow::ensure!(
            secret.len() >= 32,
            "PATRON_JWT_SECRET must be at least 32 characters"
        );
        return Ok(Secret::new(secret));
    }
    let secret = local_secret("jwt-secret", "PATRON_JWT_SECRET", || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })?;
    Ok(Secret::new(secret))
}

/// The key ring sealing sensitive fields: `PATRON_ENCRYPTION_KEYS` and
/// `PATRON_BLIND_INDEX_KEY`, or local development keys.
pub fn key_ring() -> anyhow::Result<KeyRing> {
    if let Some(ring) = KeyRing::from_env()? {
        return Ok(ring);
    }
    let keys = local_secret("encryption-keys", "PATRON_ENCRYPTION_KEYS", || {
        format!("dev1:{}", crypto::generate_key())
    })?;
    let index = local_secret(
        "blind-index-key",
        "PATRON_BLIND_INDEX_KEY",
        crypto::generate_key,
    )?;
    let (id, key) = keys
        .split_once(':')
        .context("the local encryption key is not id:base64")?;
    let key: [u8; 32] = STANDARD
        .decode(key.trim())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the local encryption key is not 32 bytes"))?;
    KeyRing::new(&[(id.to_owned(), key)], id, &STANDARD.decode(index.trim())?)
        .map_err(anyhow::Error::msg)
}

/// A secret kept in the state directory, created on first use.
fn local_secret(
    file: &str,
    variable: &str,
    make: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    let dir = PathBuf::from(config::env_or("PATRON_STATE_DIR", ".patron"));
    let path = dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret = make();
    write_private(&path, &secret)?;
    eprintln!(
        "{variable} is not set: created a local development key in {} (set {variable} in production)",
        path.display()
    );
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("creating {}", path.display()))
}
