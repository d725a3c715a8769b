//! The /proc and /sys paths the engines' default configuration masks and makes read-only:
//! what the hardening checks ask of every runtime, and what an engine's defaults already
//! give.

/// `linux.maskedPaths` of `runc spec`, containerd's default configuration and docker 20.10's.
pub const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// `linux.readonlyPaths` of `runc spec`, containerd's default configuration and docker 20.10's.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];
