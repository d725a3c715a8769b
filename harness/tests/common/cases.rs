//! Test cases generated from the code's own lists (checks, runtimes), one per entry, so that a
//! new check or runtime is tested without editing a list here.

use libtest_mimic::{Arguments, Trial};

/// A case named `name` that passes unless `body` panics.
pub fn case(name: impl Into<String>, body: impl FnOnce() + Send + 'static) -> Trial {
    Trial::test(name, move || {
        body();
        Ok(())
    })
}

/// Runs `cases` one at a time and exits with the result. One at a time because every case
/// takes the whole machine (cgroups, mounts, the leftover checks), as `#[serial(machine)]`
/// does for the ordinary tests.
pub fn run_one_at_a_time(cases: Vec<Trial>) -> ! {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    libtest_mimic::run(&args, cases).exit()
}
