//! Amounts in presets are written in major units (yuan) as people write
//! them; the engine works in integer minor units. The kit's money module is
//! the one definition of both and of the currencies.

pub use patron_kit::money::{format_minor, parse_major};

/// Minor units per major unit, as a power of ten, by ISO 4217 code (2 for a
/// code that is not one, as figures recorded before codes were checked).
pub fn exponent(currency: &str) -> u32 {
    patron_kit::money::Currency::parse(currency).map_or(2, |c| c.digits())
}
