#!/usr/bin/env bash
# Run after the whole test suite: nothing isoprobe made may be left on the machine. Every test
# checks its own leftovers; this catches what a test forgot to look for, and what one test left
# that another's check did not name. Prints each leftover and exits 1 if there is any.
set -uo pipefail
tmp="${TMPDIR:-/tmp}"
found=0
report() { # what, then one leftover per line on stdin
	local what="$1" line
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		echo "left behind: $what: $line"
		found=1
	done
}

# Fed by process substitution, not a pipe: `report` must run in this shell to set `found`.
report "cgroup" < <(find /sys/fs/cgroup -name 'isoprobe*' 2>/dev/null)
report "mount" < <(grep isoprobe /proc/self/mountinfo)
report "temporary directory" < <(find "$tmp" -maxdepth 1 -name 'isoprobe-*' 2>/dev/null)
report "run record" < <(find /run/isoprobe -mindepth 1 -maxdepth 1 2>/dev/null)
for rt in runc crun youki; do
	command -v "$rt" >/dev/null || continue
	report "$rt container" < <("$rt" list -q 2>/dev/null | grep isoprobe)
done
# The agent, and the engines' helpers and QEMU guests started for isoprobe: their command lines
# name its binaries or its temporary directories. A zombie (state Z) holds nothing and is
# init's to reap.
report "process" < <(ps -eo pid=,stat=,args= |
	awk '$2 !~ /^Z/' |
	grep -E 'isoprobe-agent|/isoprobe-(podman|dockerd|bundle|rootfs|scratch|kernel)|qemu-system' |
	grep -v -E 'grep -E')
report "network interface" < <(ip -o link show 2>/dev/null | grep -E 'isoprobe|docker0|veth')

if [ "$found" = 0 ]; then
	echo "nothing left behind: no isoprobe cgroup, mount, temporary directory, record, runtime container, process or interface"
fi
exit "$found"
