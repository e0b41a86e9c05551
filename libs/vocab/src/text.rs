//! What counts as text a person can see: a name made only of a zero-width
//! space, a byte-order mark or a direction mark is as blank as one made of
//! spaces. Plain Rust, no I/O.

/// Format characters (Unicode category Cf) and the other code points that
/// render as nothing (fillers, variation selectors, the combining grapheme
/// joiner), as inclusive ranges.
#[rustfmt::skip]
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'), ('\u{034F}', '\u{034F}'), ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'), ('\u{06DD}', '\u{06DD}'), ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'), ('\u{08E2}', '\u{08E2}'), ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'), ('\u{180B}', '\u{180F}'), ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'), ('\u{2060}', '\u{2064}'), ('\u{2066}', '\u{206F}'),
    ('\u{2800}', '\u{2800}'), ('\u{3164}', '\u{3164}'), ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'), ('\u{FFA0}', '\u{FFA0}'), ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'), ('\u{110CD}', '\u{110CD}'), ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'), ('\u{1D173}', '\u{1D17A}'), ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'), ('\u{E0100}', '\u{E01EF}'),
];

/// Whether `c` shows nothing: white space, a control or an invisible character.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || INVISIBLE
            .binary_search_by(|(low, high)| {
                if *high < c {
                    std::cmp::Ordering::Less
                } else if *low > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// Whether `text` has nothing a reader could see.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_invisible)
}

/// `text` without invisible characters at either end.
pub fn trim(text: &str) -> &str {
    text.trim_matches(is_invisible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted() {
        assert!(INVISIBLE.windows(2).all(|w| w[0].1 < w[1].0));
        assert!(INVISIBLE.iter().all(|(l, h)| l <= h));
    }

    #[test]
    fn invisible_names_are_blank() {
        for blank in [
            "",
            "   ",
            "\u{200B}",
            "\u{200B} \u{FEFF}",
            "\u{200E}\u{2060}",
            "\u{3000}",
            "\t\n",
            "\u{E0041}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for seen in ["王丽", "a\u{200B}", " x ", "\u{200D}👍"] {
            assert!(!is_blank(seen), "{seen:?}");
        }
        assert_eq!(trim("\u{200B} 王丽\u{FEFF}"), "王丽");
    }
}
