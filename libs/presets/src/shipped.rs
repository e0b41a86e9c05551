//! The presets shipped with Patron (`deploy/presets/`), compiled in so the
//! binary can run any of them by name; a path to a file of the company's
//! own works too.

use std::path::Path;

/// (name, text) of every shipped preset.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "health-chain",
        include_str!("../../../deploy/presets/health-chain.toml"),
    ),
    (
        "retail-store",
        include_str!("../../../deploy/presets/retail-store.toml"),
    ),
    (
        "industrial-b2b",
        include_str!("../../../deploy/presets/industrial-b2b.toml"),
    ),
    (
        "postal-key-accounts",
        include_str!("../../../deploy/presets/postal-key-accounts.toml"),
    ),
    (
        "telecom-vip",
        include_str!("../../../deploy/presets/telecom-vip.toml"),
    ),
];

/// A preset that is neither shipped nor a readable file.
#[derive(Debug, thiserror::Error)]
#[error(
    "the tier preset {name} is neither a shipped preset ({shipped}) nor a readable file: {source}"
)]
pub struct ReadError {
    pub name: String,
    shipped: String,
    source: std::io::Error,
}

/// The text of a preset given by name (a shipped one) or by path.
pub fn read(name_or_path: &Path) -> Result<String, ReadError> {
    if let Some(name) = name_or_path.to_str()
        && let Some(text) = shipped(name)
    {
        return Ok(text.to_owned());
    }
    std::fs::read_to_string(name_or_path).map_err(|source| ReadError {
        name: name_or_path.display().to_string(),
        shipped: BUILT_IN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        source,
    })
}

/// The text of the shipped preset `name`.
pub fn shipped(name: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_names_read_and_anything_else_is_a_path() {
        assert!(read(Path::new("telecom-vip")).unwrap().contains("[preset]"));
        let err = read(Path::new("no-such-preset")).unwrap_err();
        assert!(
            err.to_string().contains("health-chain, retail-store"),
            "{err}"
        );
        let file = std::env::temp_dir().join(format!("preset-{}.toml", std::process::id()));
        std::fs::write(&file, "[preset]\n").unwrap();
        assert_eq!(read(&file).unwrap(), "[preset]\n");
        std::fs::remove_file(&file).unwrap();
    }
}
