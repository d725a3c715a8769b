//! `/proc/<pid>/cmdline`: the arguments, NUL-separated.

/// Whether a command line names the directory `dir` or something under it, as an argument of
/// its own or inside one (`--root=DIR/runc`, `k8s-file:DIR/ctr.log`): an occurrence followed by
/// the end of the argument or by `/`, so that `DIR-2` is another directory.
pub fn cmdline_names(cmdline: &[u8], dir: &[u8]) -> bool {
    if dir.is_empty() {
        return false;
    }
    cmdline.split(|b| *b == 0).any(|arg| {
        arg.windows(dir.len())
            .enumerate()
            .any(|(at, w)| w == dir && matches!(arg.get(at + dir.len()), None | Some(b'/')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const CONMON: &[u8] = include_bytes!("../../../fixtures/proc/cmdline-conmon");

    #[rstest]
    #[case::the_store("/tmp/isoprobe-podman-17583-3-11c3e369", true)]
    #[case::inside_an_argument("/tmp/isoprobe-podman-17583-3-11c3e369/runc", true)]
    #[case::after_a_prefix("/tmp/isoprobe-podman-17583-3-11c3e369/root/overlay-containers", true)]
    #[case::a_shorter_name("/tmp/isoprobe-podman-17583-3-11c3e36", false)]
    #[case::a_parent_by_name("/tmp/isoprobe-podman-17583-3", false)]
    #[case::nothing("", false)]
    fn conmon_names_its_store_in_every_form_podman_gives_it(
        #[case] dir: &str,
        #[case] named: bool,
    ) {
        assert_eq!(cmdline_names(CONMON, dir.as_bytes()), named);
    }
}
