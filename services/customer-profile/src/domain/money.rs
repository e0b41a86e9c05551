//! Money as integer minor units of an active ISO 4217 currency, bounded: the
//! kit's one type, shared with tiering and the import.

pub use patron_kit::money::Money;
