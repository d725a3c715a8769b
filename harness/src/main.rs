fn main() {
    let mut args = std::env::args_os();
    // Booted as a guest's /init (the kernel-matrix initramfs), isoprobe sets the machine up and
    // runs the suite. Both conditions are required: a container that starts `isoprobe run` as
    // its PID 1 must get the CLI, not an init that mounts and powers off.
    if std::process::id() == 1 && args.next().is_some_and(|a0| a0 == "/init") {
        std::process::exit(isoprobe::kmatrix::guest::init_main());
    }
    std::process::exit(isoprobe::cli::main_with_args(std::env::args_os()));
}
