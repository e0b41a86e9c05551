//! Where the token signing key comes from: `PATRON_JWT_SECRET` in a cluster
//! (from a Kubernetes Secret), or, on a developer's machine, a random key kept
//! in the state directory so `patron up` and `patron token` agree.

use std::path::PathBuf;

use anyhow::Context;
use patron_kit::config::{self, Secret};
use rand::RngCore;

/// The signing key: the environment's, or the local development key.
pub fn jwt_secret() -> anyhow::Result<Secret> {
    if let Some(secret) = config::env_opt("PATRON_JWT_SECRET") {
        anyhow::ensure!(
            secret.len() >= 32,
            "PATRON_JWT_SECRET must be at least 32 characters"
        );
        return Ok(Secret::new(secret));
    }
    let dir = PathBuf::from(config::env_or("PATRON_STATE_DIR", ".patron"));
    let path = dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(existing.trim()));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)?;
    eprintln!(
        "PATRON_JWT_SECRET is not set: created a local development signing key in {} (set PATRON_JWT_SECRET in production)",
        path.display()
    );
    Ok(Secret::new(secret))
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
