//! Symposiums and reward activities (000 3.9, 002 §3): what an activity and
//! an invitation are, and the year's figures per unit — the share of the
//! unit's VIPs invited to at least one activity (coverage, 002's target 100%)
//! and the share of invitations to activities held that were attended
//! (participation, 002's target 85% or more).
//!
//! ```toml
//! [scheduling.activities]
//! coverage_target_percent = 100
//! participation_target_percent = 85
//! ```
//!
//! Targets are kept in basis points and compared in integers, so a unit at
//! exactly 85% meets an 85% target and one a hair below does not.

use serde::Deserialize;

use super::care::SectionError;

/// What an activity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    /// Leaders meet VIP customers to hear their views (000 3.9).
    Symposium,
    /// A reward (回馈) activity for VIP customers (002 §3).
    Reward,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Symposium => "symposium",
            Self::Reward => "reward",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "symposium" => Some(Self::Symposium),
            "reward" => Some(Self::Reward),
            _ => None,
        }
    }
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Invited,
    Attended,
    Absent,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Attended => "attended",
            Self::Absent => "absent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "invited" => Some(Self::Invited),
            "attended" => Some(Self::Attended),
            "absent" => Some(Self::Absent),
            _ => None,
        }
    }
}

/// A target share in basis points (10000 = 100%).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target(u32);

impl Target {
    /// From a percentage with at most two decimals that count (85, 99.5).
    pub fn from_percent(percent: f64) -> Option<Self> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return None;
        }
        Some(Self((percent * 100.0).round() as u32))
    }

    pub fn basis_points(self) -> u32 {
        self.0
    }

    /// As a rate, 0 to 1.
    pub fn rate(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

/// `part` of `whole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    pub part: u64,
    pub whole: u64,
}

impl Share {
    /// The rate, 0 to 1; `None` when there is nothing to measure.
    pub fn rate(self) -> Option<f64> {
        (self.whole > 0).then(|| self.part as f64 / self.whole as f64)
    }

    /// Whether the share reaches `target`; never when there is nothing to
    /// measure (a unit with no VIP has covered no one).
    pub fn meets(self, target: Target) -> bool {
        self.whole > 0
            && u128::from(self.part) * 10_000 >= u128::from(target.0) * u128::from(self.whole)
    }
}

/// The `[scheduling.activities]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivitySection {
    pub coverage_target: Target,
    pub participation_target: Target,
}

/// 002's targets: every VIP reached by the year's activities, and at least
/// 85% of those invited taking part.
impl Default for ActivitySection {
    fn default() -> Self {
        Self {
            coverage_target: Target(10_000),
            participation_target: Target(8_500),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    #[serde(default = "hundred")]
    coverage_target_percent: f64,
    #[serde(default = "eighty_five")]
    participation_target_percent: f64,
}

fn hundred() -> f64 {
    100.0
}

fn eighty_five() -> f64 {
    85.0
}

impl ActivitySection {
    /// Reads and checks `section` (the `[scheduling.activities]` table).
    pub fn from_toml(section: &toml::Value) -> Result<Self, SectionError> {
        const AT: &str = "scheduling.activities";
        let raw: RawSection = section
            .clone()
            .try_into()
            .map_err(|e| SectionError::unreadable(AT, e))?;
        let mut problems = Vec::new();
        let mut target = |field: &str, percent: f64| {
            Target::from_percent(percent).unwrap_or_else(|| {
                problems.push((
                    format!("{AT}.{field}"),
                    format!("{percent} is not a percentage from 0 to 100"),
                ));
                Target(0)
            })
        };
        let section = Self {
            coverage_target: target("coverage_target_percent", raw.coverage_target_percent),
            participation_target: target(
                "participation_target_percent",
                raw.participation_target_percent,
            ),
        };
        if problems.is_empty() {
            Ok(section)
        } else {
            Err(SectionError { problems })
        }
    }
}

/// What was counted for one unit over a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnitCounts {
    /// Live customers with a tier.
    pub vips: u64,
    /// Of those, invited to at least one of the year's activities.
    pub vips_invited: u64,
    /// Invitations to the year's activities that have begun.
    pub invitations_held: u64,
    /// Of those, attended.
    pub attended: u64,
}

/// One unit's figures against the policy's targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitFigures {
    pub counts: UnitCounts,
    pub coverage: Share,
    pub coverage_met: bool,
    pub participation: Share,
    pub participation_met: bool,
}

/// A unit's figures from its counts.
pub fn unit_figures(counts: UnitCounts, section: &ActivitySection) -> UnitFigures {
    let coverage = Share {
        part: counts.vips_invited.min(counts.vips),
        whole: counts.vips,
    };
    let participation = Share {
        part: counts.attended.min(counts.invitations_held),
        whole: counts.invitations_held,
    };
    UnitFigures {
        counts,
        coverage,
        coverage_met: coverage.meets(section.coverage_target),
        participation,
        participation_met: participation.meets(section.participation_target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<ActivitySection, SectionError> {
        ActivitySection::from_toml(&text.parse::<toml::Table>().unwrap().into())
    }

    fn counts(vips: u64, invited: u64, held: u64, attended: u64) -> UnitCounts {
        UnitCounts {
            vips,
            vips_invited: invited,
            invitations_held: held,
            attended,
        }
    }

    #[test]
    fn the_defaults_are_002s_targets() {
        let d = ActivitySection::default();
        assert_eq!(d.coverage_target.basis_points(), 10_000);
        assert_eq!(d.participation_target.basis_points(), 8_500);
        assert_eq!(section("").unwrap(), d);
        assert_eq!(d.participation_target.rate(), 0.85);
    }

    #[test]
    fn a_section_reads_its_targets_and_names_bad_ones() {
        let read =
            section("coverage_target_percent = 95\nparticipation_target_percent = 80.5").unwrap();
        assert_eq!(read.coverage_target.basis_points(), 9_500);
        assert_eq!(read.participation_target.basis_points(), 8_050);
        let bad = section("coverage_target_percent = 101\nparticipation_target_percent = -1")
            .unwrap_err();
        let fields: Vec<&str> = bad.problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "scheduling.activities.coverage_target_percent",
                "scheduling.activities.participation_target_percent"
            ]
        );
        let unknown = section("coverage = 100").unwrap_err();
        assert_eq!(unknown.problems[0].0, "scheduling.activities");
        assert!(Target::from_percent(f64::NAN).is_none());
    }

    #[test]
    fn coverage_is_met_only_when_every_vip_was_invited() {
        let d = ActivitySection::default();
        let all = unit_figures(counts(40, 40, 0, 0), &d);
        assert!(all.coverage_met);
        assert_eq!(all.coverage.rate(), Some(1.0));
        let one_short = unit_figures(counts(40, 39, 0, 0), &d);
        assert!(!one_short.coverage_met);
        assert_eq!(one_short.coverage.rate(), Some(0.975));
        // A unit of a million VIPs one short still misses 100%.
        assert!(!unit_figures(counts(1_000_000, 999_999, 0, 0), &d).coverage_met);
        // No VIP: nothing measured, nothing met.
        let none = unit_figures(counts(0, 0, 0, 0), &d);
        assert_eq!(none.coverage.rate(), None);
        assert!(!none.coverage_met);
    }

    #[test]
    fn participation_of_exactly_85_percent_meets_the_target() {
        let d = ActivitySection::default();
        // 17 of 20 is 85% exactly; 16 of 20 is 80%.
        let exact = unit_figures(counts(20, 20, 20, 17), &d);
        assert!(exact.participation_met);
        assert_eq!(exact.participation.rate(), Some(0.85));
        assert!(!unit_figures(counts(20, 20, 20, 16), &d).participation_met);
        // 84.99% misses it.
        assert!(!unit_figures(counts(0, 0, 10_000, 8_499), &d).participation_met);
        assert!(unit_figures(counts(0, 0, 10_000, 8_500), &d).participation_met);
        // 6 of 7 (85.7%) meets it, 5 of 6 (83.3%) does not.
        assert!(unit_figures(counts(0, 0, 7, 6), &d).participation_met);
        assert!(!unit_figures(counts(0, 0, 6, 5), &d).participation_met);
        // Nothing held: no participation to speak of.
        let none = unit_figures(counts(5, 5, 0, 0), &d);
        assert_eq!(none.participation.rate(), None);
        assert!(!none.participation_met);
    }

    #[test]
    fn a_fractional_target_compares_in_basis_points() {
        let s = section("participation_target_percent = 99.5").unwrap();
        assert!(unit_figures(counts(0, 0, 200, 199), &s).participation_met);
        assert!(!unit_figures(counts(0, 0, 1000, 994), &s).participation_met);
        assert!(unit_figures(counts(0, 0, 1000, 995), &s).participation_met);
        let zero = section("coverage_target_percent = 0").unwrap();
        assert!(unit_figures(counts(3, 0, 0, 0), &zero).coverage_met);
    }

    #[test]
    fn counts_past_their_whole_are_capped() {
        let d = ActivitySection::default();
        let odd = unit_figures(counts(2, 3, 1, 4), &d);
        assert_eq!(odd.coverage, Share { part: 2, whole: 2 });
        assert_eq!(odd.participation, Share { part: 1, whole: 1 });
    }

    #[test]
    fn names_read_back() {
        for kind in [ActivityKind::Symposium, ActivityKind::Reward] {
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(kind));
        }
        for state in [
            InvitationState::Invited,
            InvitationState::Attended,
            InvitationState::Absent,
        ] {
            assert_eq!(InvitationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ActivityKind::parse("party"), None);
        assert_eq!(InvitationState::parse(""), None);
    }
}
