//! `struct clone_args` as `clone3(2)` takes it, for the two callers that pass a cgroup: the
//! spawner (a child created inside its cgroup) and the feature inventory (whether the kernel
//! takes the flag).

/// `struct clone_args` up to its `cgroup` field (`CLONE_ARGS_SIZE_VER2`, 88 bytes, Linux 5.7).
#[repr(C)]
#[derive(Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// `CLONE_INTO_CGROUP` from linux/sched.h (a 64-bit flag: only clone3 can pass it).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[cfg(test)]
mod tests {
    #[test]
    fn the_struct_is_the_kernels_ver2_size() {
        assert_eq!(std::mem::size_of::<super::CloneArgs>(), 88);
    }
}
