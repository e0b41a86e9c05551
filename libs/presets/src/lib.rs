//! Preset files: one TOML file per company scheme, a `[preset]` header and a
//! section per service (`[tiering]`, `[complaint]`, `[scheduling]`…) keyed by
//! the same tier codes. This crate reads the file and hands each service its
//! own section, typed; what a section must say is the owning service's rule,
//! checked in its own domain. No I/O here except [`read`]ing a file by path.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Complaint {
//!     deadline_hours: std::collections::BTreeMap<String, u32>,
//! }
//! let preset = patron_presets::parse(
//!     "[preset]\nid = \"x\"\ntitle = \"X\"\n\n[tiering]\ntiers = [{ code = \"A\" }]\n\n[complaint]\ndeadline_hours = { A = 24 }\n",
//! )
//! .unwrap();
//! let complaint: Complaint = preset.section("complaint").unwrap();
//! assert!(preset.unknown_tiers("complaint.deadline_hours", complaint.deadline_hours.keys()).is_empty());
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub mod shipped;

pub use shipped::{BUILT_IN, ReadError, read};

/// The section that declares the tiers every other section is keyed by.
pub const TIERS_SECTION: &str = "tiering";

/// The `[preset]` header: which scheme the file is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The policy id, e.g. `health-chain`.
    pub id: String,
    pub title: String,
    /// ISO 4217; amounts in the file are in its major unit.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The document the scheme comes from, e.g. `003`.
    #[serde(default)]
    pub source: String,
}

fn default_currency() -> String {
    "CNY".into()
}

/// Why a preset was refused: every problem, as (field, reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct PresetError {
    pub problems: Vec<(String, String)>,
}

impl PresetError {
    pub fn one(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            problems: vec![(field.into(), reason.into())],
        }
    }

    /// An error of `problems`, or `Ok` when there are none.
    pub fn check(problems: Vec<(String, String)>) -> Result<(), Self> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Self { problems })
        }
    }
}

/// A preset file read: its header, its sections as written, and the tier
/// codes it declares. Reading a section checks only its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub header: Header,
    text: String,
    sections: BTreeMap<String, toml::Value>,
    tier_codes: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    preset: Header,
    #[serde(flatten)]
    sections: BTreeMap<String, toml::Value>,
}

/// Reads a preset file's text: well-formed TOML with a `[preset]` header.
/// A problem is named by its line (`line 3`).
pub fn parse(text: &str) -> Result<Preset, PresetError> {
    let file: File =
        toml::from_str(text).map_err(|e| PresetError::one(place(text, &e), e.message()))?;
    let tier_codes = file
        .sections
        .get(TIERS_SECTION)
        .and_then(|s| s.get("tiers"))
        .and_then(toml::Value::as_array)
        .map(|tiers| {
            tiers
                .iter()
                .filter_map(|t| t.get("code").and_then(toml::Value::as_str))
                .map(|code| code.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    Ok(Preset {
        header: file.preset,
        text: text.to_owned(),
        sections: file.sections,
        tier_codes,
    })
}

/// Where in `text` a TOML error is: `line N`, or `file` when it cannot say.
fn place(text: &str, error: &toml::de::Error) -> String {
    error
        .span()
        .map(|s| {
            // Lines before the error's start, plus its own.
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        })
        .unwrap_or_else(|| "file".into())
}

impl Preset {
    /// The file's text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every section but the header, as written.
    pub fn sections(&self) -> &BTreeMap<String, toml::Value> {
        &self.sections
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// The section `name` read as `T`. Refused when missing (`name: the
    /// section is missing`) or when it does not fit `T`: the problem names
    /// the line, and the reason the field path and what is wrong, e.g.
    /// `line 12: complaint.deadlines.A.accept: invalid type: …`.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, PresetError> {
        // Read from the text rather than the stored value, so errors keep
        // their place in the file.
        let root = toml::de::DeTable::parse(&self.text)
            .map_err(|e| PresetError::one(place(&self.text, &e), e.message()))?;
        let value = root
            .get_ref()
            .iter()
            .find(|(key, _)| key.get_ref() == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| PresetError::one(name, "the section is missing"))?;
        let mut track = serde_path_to_error::Track::new();
        let deserializer = serde_path_to_error::Deserializer::new(
            toml::de::ValueDeserializer::from(value),
            &mut track,
        );
        T::deserialize(deserializer).map_err(|e| {
            let path = track.path().to_string();
            let field = if path.is_empty() || path == "." {
                name.to_owned()
            } else {
                format!("{name}.{path}")
            };
            PresetError::one(place(&self.text, &e), format!("{field}: {}", e.message()))
        })
    }

    /// The tier codes the file declares (`[tiering] tiers`), highest first.
    pub fn tier_codes(&self) -> &[String] {
        &self.tier_codes
    }

    /// A problem for each of `keys` (of the table at `field`, keyed by tier
    /// codes) that is not a tier the file declares.
    pub fn unknown_tiers<'k>(
        &self,
        field: &str,
        keys: impl IntoIterator<Item = &'k String>,
    ) -> Vec<(String, String)> {
        keys.into_iter()
            .filter(|key| !self.tier_codes.contains(key))
            .map(|key| {
                (
                    format!("{field}.{key}"),
                    format!(
                        "{key} is not one of the tiers ({})",
                        self.tier_codes.join(", ")
                    ),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[preset]
id = "mini"
title = "Minimal"

[tiering]
tiers = [{ code = "A" }, { code = " B " }]

[complaint.deadlines.A]
accept = 2
resolve = 24

[complaint.deadlines.B]
accept = 4
resolve = 48

[scheduling]
cadence = { A = "monthly" }
"#;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Complaint {
        deadlines: BTreeMap<String, Deadlines>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Deadlines {
        accept: u32,
        resolve: u32,
    }

    #[test]
    fn the_header_sections_and_tiers_are_read() {
        let preset = parse(FILE).unwrap();
        assert_eq!(preset.header.id, "mini");
        assert_eq!(preset.header.currency, "CNY", "the default currency");
        assert_eq!(preset.tier_codes(), ["A", "B"]);
        let names: Vec<&String> = preset.sections().keys().collect();
        assert_eq!(names, ["complaint", "scheduling", "tiering"]);
        let complaint: Complaint = preset.section("complaint").unwrap();
        assert_eq!(
            complaint.deadlines["B"],
            Deadlines {
                accept: 4,
                resolve: 48
            }
        );
        assert!(
            preset
                .unknown_tiers("complaint.deadlines", complaint.deadlines.keys())
                .is_empty()
        );
    }

    #[test]
    fn a_section_that_does_not_fit_names_the_line_and_the_field() {
        let bad = parse(&FILE.replace("accept = 2", "accept = \"soon\"")).unwrap();
        let err = bad.section::<Complaint>("complaint").unwrap_err();
        assert_eq!(err.problems.len(), 1);
        let (field, reason) = &err.problems[0];
        assert_eq!(field, "line 10");
        assert!(
            reason.starts_with("complaint.deadlines.A.accept: invalid type"),
            "{reason}"
        );
        let typo = parse(&FILE.replace("resolve = 48", "reslove = 48")).unwrap();
        let err = typo.section::<Complaint>("complaint").unwrap_err();
        assert!(err.to_string().contains("reslove"), "{err}");
        assert!(err.to_string().contains("complaint.deadlines.B"), "{err}");

        let err = bad.section::<Complaint>("care").unwrap_err();
        assert_eq!(err.to_string(), "care: the section is missing");
    }

    #[test]
    fn keys_that_are_not_tiers_are_named() {
        let preset =
            parse(&FILE.replace("[complaint.deadlines.B]", "[complaint.deadlines.Z]")).unwrap();
        let complaint: Complaint = preset.section("complaint").unwrap();
        assert_eq!(
            preset.unknown_tiers("complaint.deadlines", complaint.deadlines.keys()),
            [(
                "complaint.deadlines.Z".to_owned(),
                "Z is not one of the tiers (A, B)".to_owned()
            )]
        );
    }

    #[test]
    fn a_broken_file_or_header_says_where() {
        assert_eq!(parse("[preset").unwrap_err().problems[0].0, "line 1");
        let err = parse("[preset]\nid = \"x\"\ntitle = \"x\"\nowner = \"me\"\n").unwrap_err();
        assert_eq!(err.problems[0].0, "line 4", "{err}");
        let err = parse("[tiering]\ntiers = []\n").unwrap_err();
        assert!(err.to_string().contains("preset"), "{err}");
    }

    #[test]
    fn every_shipped_preset_reads() {
        for (name, text) in BUILT_IN {
            let preset = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(preset.header.id, *name);
            assert!(!preset.tier_codes().is_empty(), "{name}");
        }
    }
}
