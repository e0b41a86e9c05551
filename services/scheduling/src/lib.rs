//! scheduling: who is contacted, by whom and when (DOMAIN.md §4). The rules
//! are in `domain`; the service around them comes in later steps.

pub mod domain;
