//! The scheduling rules, in plain Rust with no I/O.

pub mod care;
pub mod contact_window;
pub mod leave;
pub mod lunar;
