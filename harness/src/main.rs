fn main() {
    std::process::exit(isoprobe::cli::main_with_args(std::env::args_os()));
}
