//! The shared vocabulary of Patron's services: the words their domain rules
//! speak in common — money, the role table and how far each role reaches,
//! who made a change and when, calendar dates, text a person can see.
//!
//! Plain Rust, no I/O and no wire types: every service's `domain/` may import
//! it (and nothing else of the suite), so the rules stay testable in
//! microseconds and mean the same in every service.

pub mod calendar;
pub mod change;
pub mod money;
pub mod reach;
pub mod roles;
pub mod text;

pub use change::Change;
pub use reach::Reach;
