#!/usr/bin/env bash
# Shared set-up for ci/run-suite.sh and ci/test.sh: the Debian packages the build and the tests
# need (installed only when root and missing), and a check that Rust is new enough.
set -euo pipefail

need_pkgs=()
# libc.a for the static agent, a C toolchain for linking.
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || need_pkgs+=(libc6-dev)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc)
# setpriv (tests run the CLI as an unprivileged user), unshare, mount.
command -v setpriv >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v pgrep >/dev/null 2>&1 || need_pkgs+=(procps)
# The runtimes isoprobe compares (`isoprobe compare`, harness/tests/runtimes.rs).
if [ "${ISOPROBE_SETUP_RUNTIMES:-0}" = 1 ]; then
  command -v runc >/dev/null 2>&1 || need_pkgs+=(runc)
  command -v crun >/dev/null 2>&1 || need_pkgs+=(crun)
  command -v bwrap >/dev/null 2>&1 || need_pkgs+=(bubblewrap)
  # The kernel matrix boots Debian kernels under QEMU (software emulation).
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need_pkgs+=(qemu-system-x86)
  # The initramfs writer's test reads its archive back with GNU cpio.
  command -v cpio >/dev/null 2>&1 || need_pkgs+=(cpio)
  # The engines (harness/tests/engines.rs, runtime::podman and runtime::docker): podman runs
  # its containers with runc and conmon; isoprobe starts its own dockerd when no daemon
  # answers at DOCKER_HOST (Debian's package starts none where systemd does not run).
  command -v podman >/dev/null 2>&1 || need_pkgs+=(podman conmon)
  command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
  # engines.rs compares the firewall's rules before and after.
  command -v iptables-save >/dev/null 2>&1 || need_pkgs+=(iptables)
  # youki's seccomp support links libseccomp (built below).
  [ -f /usr/include/seccomp.h ] || need_pkgs+=(libseccomp-dev pkg-config)
fi

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "isoprobe set-up: installing ${need_pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "isoprobe set-up: missing ${need_pkgs[*]} (run as root to install them)" >&2
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  for p in "$HOME/.cargo/bin" /root/.cargo/bin /usr/local/cargo/bin; do
    [ -x "$p/cargo" ] && export PATH="$p:$PATH" && break
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "isoprobe set-up: cargo not found. isoprobe needs Rust 1.85 or newer (Debian 12's rustc" >&2
  echo "is too old): install it with rustup, then run this again." >&2
  exit 2
fi

# youki is not in Debian: built from crates.io (about 3 minutes) when it is missing, or built
# without seccomp (`--version` names libseccomp when it has it): such a youki takes a
# `linux.seccomp` filter and silently runs the container without it.
youki_bin="$(command -v youki 2>/dev/null || echo "$HOME/.cargo/bin/youki")"
if [ "${ISOPROBE_SETUP_RUNTIMES:-0}" = 1 ] && [ "$(id -u)" = 0 ] \
  && ! { [ -x "$youki_bin" ] && "$youki_bin" --version 2>/dev/null | grep -q '^libseccomp:'; }; then
  echo "isoprobe set-up: installing youki (with seccomp) with cargo install (a few minutes)" >&2
  cargo install -q --locked --force youki --no-default-features --features v1,v2,seccomp >&2
fi
[ -x "$HOME/.cargo/bin/youki" ] && export PATH="$PATH:$HOME/.cargo/bin"
true
