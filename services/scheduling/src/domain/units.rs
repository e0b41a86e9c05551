//! What a unit path means to the rules that climb it: a unit is known by
//! its path, unit ids from the company down to it, so "this unit or the
//! nearest one above it that has …" is the path read from its end.

/// The deepest unit on `path` for which `found` answers, with the answer;
/// `None` when no unit on the path does.
pub fn nearest<'p, S: AsRef<str>, T>(
    path: &'p [S],
    mut found: impl FnMut(&'p str) -> Option<T>,
) -> Option<(&'p str, T)> {
    path.iter()
        .rev()
        .map(AsRef::as_ref)
        .find_map(|unit| found(unit).map(|answer| (unit, answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: [&str; 3] = ["company", "east", "store-1"];

    fn only<'a>(units: &'a [&'a str]) -> impl FnMut(&str) -> Option<String> + 'a {
        move |unit| units.contains(&unit).then(|| format!("at {unit}"))
    }

    #[test]
    fn the_unit_itself_comes_before_those_above_it() {
        assert_eq!(
            nearest(&PATH, only(&["company", "store-1"])),
            Some(("store-1", "at store-1".to_owned()))
        );
    }

    #[test]
    fn units_without_an_answer_are_climbed_past() {
        assert_eq!(
            nearest(&PATH, only(&["company"])),
            Some(("company", "at company".to_owned()))
        );
        assert_eq!(
            nearest(&PATH, only(&["east"])),
            Some(("east", "at east".to_owned()))
        );
    }

    #[test]
    fn nothing_on_the_path_or_no_path_is_none() {
        assert_eq!(nearest(&PATH, only(&["west"])), None);
        assert_eq!(nearest::<&str, String>(&[], only(&["company"])), None);
    }
}
