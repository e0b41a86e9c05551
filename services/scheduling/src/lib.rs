//! The scheduling service: who is contacted, by whom and when.

pub mod domain;
