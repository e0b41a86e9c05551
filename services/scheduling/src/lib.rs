//! scheduling: who is contacted, by whom and when (DOMAIN.md §4). The rules
//! are in `domain`; the service around them (store, generation job, gRPC)
//! is not built yet.

pub mod domain;
