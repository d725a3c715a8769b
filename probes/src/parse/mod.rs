//! Pure parsers of /proc and cgroup files (and `/etc/subuid`): text in, typed values out, no I/O.

pub mod cgroup_layout;
mod cmdline;
pub mod cpu_max;
pub mod cpu_stat;
pub mod error;
pub mod features_text;
pub mod flat_keyed;
mod mount_cover;
mod mountinfo;
pub mod net_dev;
pub mod pid_stat;
pub mod privileges;
pub mod proc_cgroups;
pub mod proc_self;
#[cfg(test)]
mod proptests;
pub mod subid;

pub use cgroup_layout::{
    parse_layout, CgroupLayout, CgroupMode, CgroupVersion, ControllerLocation, Unlocated,
};
pub use cmdline::cmdline_names;
pub use cpu_max::{parse_cfs_quota, parse_cpu_max, CpuMax};
pub use cpu_stat::{parse_cpu_stat, CpuStat};
pub use error::ParseError;
pub use features_text::{
    boot_disables_named_cgroup_v1, controller_list, lists_filesystem, sysctl_number,
};
pub use flat_keyed::flat_keyed_value;
pub use mount_cover::{mount_at, mount_covering, mounts_of_type};
pub use net_dev::{parse_net_dev, NetDev};
pub use pid_stat::{parse_pid_stat, PidStat};
pub use privileges::{has_cap, parse_cap_sets, parse_no_new_privs, parse_seccomp, CapSets};
pub use proc_cgroups::{enabled_controllers, enabled_kernel_controllers};
pub use proc_self::{cgroup_path, mount_points, parse_nspid, proc_pids};
pub use subid::{subid_range, SubIdRange};
