//! The static agent, built by `build.rs` and embedded here, so that one `isoprobe` binary is
//! all a user (or a kernel-matrix initramfs) needs.

/// The bytes of the static `isoprobe-agent`.
pub const AGENT: &[u8] = include_bytes!(env!("ISOPROBE_AGENT_BIN"));
