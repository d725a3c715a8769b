//! Nothing to build: this crate exists for `tests/isolation.rs`, the way a container runtime's
//! own repository would run isoprobe in its `cargo test`.
