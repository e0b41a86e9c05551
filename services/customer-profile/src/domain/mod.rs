//! The archive's rules in plain Rust: what makes an archive number, a name, a
//! phone number, an e-mail address, an ID-card number or a date valid. No I/O;
//! the gRPC layer parses wire values into these types once, at the edge.

pub mod archive_number;
pub mod assignment;
pub mod change_diff;
pub mod consent;
pub mod contact;
pub mod customer;
pub mod exit;
pub mod identity_card;
pub mod masking;
pub mod organisation;
pub mod placement;
pub mod review;
pub mod service_record;
pub mod transaction;
