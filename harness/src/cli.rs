//! The `isoprobe` command line.

use crate::agent_binary::read_agent;
use crate::checks::{self, Check};
use crate::engine::{self, RunOptions};
use crate::error::{exit, HarnessError};
use crate::report::{self, ControlStatus, Format, Report};
use crate::rootfs::PreparedRootfs;
use crate::runtime;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// `isoprobe --version`: the crate's version and the commit it was built from (`unknown` when
/// built outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ISOPROBE_GIT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "isoprobe",
    version = VERSION,
    about = "Does this container actually isolate, on this kernel, with this runtime?",
    after_help = "Exit codes: 0 all passed; 1 a check failed or a negative control was missed \
                  or inconclusive (or anything skipped, with --require-all); 2 bad input or \
                  setup error, found before any container starts (the message says what to \
                  do); 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the checks: id, what they assert, what they need, how their control sabotages.
    List {
        #[arg(long, value_enum, default_value_t = CheckListFormat::Text)]
        format: CheckListFormat,
    },
    /// Run the checks (and with --negative-controls, each check's control). Run by a user
    /// other than root, it runs rootless: from a user namespace of its own, skipping what
    /// needs root with the reason.
    Run(RunArgs),
    /// Run the checks and their controls under several runtimes and print one matrix: checks
    /// as rows, runtimes as columns.
    #[command(
        after_help = "Exit codes: 0 every control that ran was detected; 1 a control was \
                            missed or inconclusive under some runtime, or (with --require-all) \
                            a check or a control was skipped under some runtime; a failed check \
                            alone is not exit 1 (runtimes differ); 2 bad usage or setup error; \
                            130 interrupted."
    )]
    Compare(CompareArgs),
    /// Show the kernel feature inventory: namespace types, cgroup layout and files, clone3,
    /// pidfd, the mount API, seccomp notification, Landlock... each found by trying it. Runs
    /// without root; entries that need root to be tried say "needs root".
    Features {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// List the Debian kernels the matrix knows (5.10, 6.1, 6.12, sid), resolved from the
    /// archive through a private apt configuration under the cache directory
    /// ($XDG_CACHE_HOME/isoprobe or ~/.cache/isoprobe). The system's apt is not touched.
    Kernels(KernelsArgs),
    /// Boot each kernel (and cgroup mode) under QEMU, run the suite inside, and print one
    /// matrix: checks and features as rows, kernel × cgroup mode as columns.
    Matrix(MatrixArgs),
    /// Measure what a container costs: start-to-exit of the agent under each runtime against
    /// a plain fork+exec, the suite's wall time with and without controls, the CPU check's
    /// spread, peak RSS. Prints figures; asserts nothing.
    Bench(crate::bench::BenchArgs),
    /// Remove what runs that died (SIGKILL, the OOM killer, a crash) left behind:
    /// their containers, cgroups, mounts and temporary directories, as each run recorded them
    /// before making them. A run that is still alive is never touched. Every `run` and
    /// `compare` does the same at its start.
    Clean {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Put JSON reports from several machines, kernels and runtimes into one matrix: checks
    /// and features as rows, machine × kernel × runtime as columns, and the reasons of what
    /// differs. Takes reports of `run --format json`, and the JSON of `compare` and `matrix`.
    #[command(
        after_help = "Exit codes: 0 the matrix was printed (whatever it shows: the runs that \
                      made the reports judged them); 2 a file is missing, is not JSON, is not an \
                      isoprobe report, or two reports make the same column."
    )]
    Merge(MergeArgs),
    /// Print a completion script for SHELL, generated from this command line's definition
    /// (e.g. `isoprobe completions bash > /etc/bash_completion.d/isoprobe`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page isoprobe(1) in roff, generated from this command line's
    /// definition (e.g. `isoprobe man > /usr/local/share/man/man1/isoprobe.1`).
    Man {
        /// Instead, write isoprobe.1 and a page per subcommand (isoprobe-run.1, ...) into
        /// this existing directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Reports to merge, each `FILE` or `MACHINE=FILE` (MACHINE names the machine it came
    /// from, which reports do not record).
    #[arg(value_name = "[MACHINE=]REPORT.json", required = true)]
    pub reports: Vec<String>,
    #[arg(long, value_enum, default_value_t = MatrixFormat::Text)]
    pub format: MatrixFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct MatrixArgs {
    /// Kernels to boot: `all` or a comma list of names from `isoprobe kernels`.
    #[arg(long, default_value = "all")]
    pub kernels: String,
    /// Boot these kernel images you built (arch/x86/boot/bzImage, comma-separated) instead of
    /// Debian's. Exit status for `git bisect run`: 0 every check passed, 1 a check failed,
    /// 125 the kernel could not be tested (it did not boot or report), 2 not a kernel image.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "PATH",
        conflicts_with_all = ["kernels", "refresh"]
    )]
    pub kernel: Vec<std::path::PathBuf>,
    /// cgroup modes to mount in the guest.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "v2")]
    pub cgroup: Vec<crate::kmatrix::GuestCgroup>,
    /// Only `native` runs inside the guest.
    #[arg(long, default_value = "native")]
    pub runtime: String,
    #[arg(long, value_enum, default_value_t = MatrixFormat::Text)]
    pub format: MatrixFormat,
    /// Boots at a time.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Give up on a boot (and record the console's tail) after this many seconds.
    #[arg(long, default_value_t = 240, value_name = "SECONDS")]
    pub boot_timeout: u64,
    /// Re-resolve the kernels from the archive first.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, clap::Args)]
pub struct KernelsArgs {
    /// Resolve the kernels from the archive again instead of reading the cached list.
    #[arg(long)]
    pub refresh: bool,
    /// Also download and extract the vmlinuz of these kernels (`all` or a comma list), so
    /// that a later `matrix` run needs no network for them.
    #[arg(long, value_name = "NAMES")]
    pub fetch: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Comma-separated runtimes (names of `--runtime`, or oci:PATH); default: every known one.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub runtimes: Vec<String>,
    /// Compare only this check (repeatable); default: all.
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
    /// Say why each check that did not pass did not.
    #[arg(long)]
    pub reasons: bool,
    /// Skip the negative controls (they run by default here).
    #[arg(long)]
    pub no_controls: bool,
    /// Run the engines (podman, docker) as they come out of the box, each control being the
    /// engine's own escape hatch; default list: both engines.
    #[arg(long)]
    pub engine_defaults: bool,
    /// Count every skip, of a check or of a control, under any runtime as a failure (exit 1).
    /// A runtime that is not installed then fails too: every check of it is skipped.
    #[arg(long, env = "ISOPROBE_REQUIRE_ALL", value_parser = clap::builder::FalseyValueParser::new())]
    pub require_all: bool,
    /// Kill a container that runs longer than this many seconds (at least 1).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = crate::preflight::parse_timeout,
          allow_hyphen_values = true)]
    pub timeout: u64,
    /// Checks and controls run at a time, each in a stand-in host of its own (the report's
    /// order does not change); default: the number of cores.
    #[arg(long, value_name = "N", value_parser = crate::preflight::parse_jobs,
          allow_hyphen_values = true)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

/// `isoprobe list` also renders the README's check table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckListFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The runtime that starts the containers.
    #[arg(long, default_value = "native")]
    pub runtime: String,
    /// Run only this check (repeatable); default: all.
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,
    /// Run in a view of this rootfs (an unpacked distro image, say) that nothing writes
    /// through; default: a fresh minimal rootfs holding only the agent.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Use this agent binary instead of the one built into isoprobe.
    #[arg(long, value_name = "PATH")]
    pub agent: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the report (in --format) to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Count every skip as a failure.
    #[arg(long, env = "ISOPROBE_REQUIRE_ALL", value_parser = clap::builder::FalseyValueParser::new())]
    pub require_all: bool,
    /// Also run each check's negative control: the sabotaged setup that must make it fail.
    #[arg(long)]
    pub negative_controls: bool,
    /// With an engine (podman, docker): run it as it comes out of the box, each control
    /// being the engine's own escape hatch (`--privileged`-style flags).
    #[arg(long)]
    pub engine_defaults: bool,
    /// Kill a container that runs longer than this many seconds (at least 1).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = crate::preflight::parse_timeout,
          allow_hyphen_values = true)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Checks and controls run at a time, each in a stand-in host of its own (the report's
    /// order does not change); default: the number of cores.
    #[arg(long, value_name = "N", value_parser = crate::preflight::parse_jobs,
          allow_hyphen_values = true)]
    pub jobs: Option<usize>,
}

/// Parses `args`, runs, prints, and returns the exit code. Never panics on bad input.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::PASS
            };
        }
    };
    match cli.command {
        Command::List { format } => {
            print!("{}", render_list(&checks::all(), format));
            exit::PASS
        }
        Command::Features { format } => features(format),
        Command::Kernels(args) => kernels(&args),
        Command::Matrix(args) => matrix(&args),
        Command::Bench(args) => crate::bench::command(&args),
        Command::Clean { format } => crate::record::clean_command(format == ListFormat::Json),
        Command::Merge(args) => merge(&args),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "isoprobe", &mut std::io::stdout());
            exit::PASS
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::Compare(args) => match compare(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("isoprobe: {e}");
                e.exit_code()
            }
        },
        Command::Run(args) => match run(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("isoprobe: {e}");
                e.exit_code()
            }
        },
    }
}

fn merge(args: &MergeArgs) -> i32 {
    use crate::merge;
    let sources: Vec<_> = args
        .reports
        .iter()
        .map(|a| merge::Source::parse(a))
        .collect();
    let columns = match merge::merge(&sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("isoprobe: {e}");
            return exit::USAGE;
        }
    };
    print!(
        "{}",
        match args.format {
            MatrixFormat::Text => merge::render_text(&columns),
            MatrixFormat::Markdown => merge::render_markdown(&columns),
            MatrixFormat::Json => merge::render_json(&columns),
        }
    );
    exit::PASS
}

fn man(dir: Option<&std::path::Path>) -> i32 {
    if let Some(dir) = dir {
        return match clap_mangen::generate_to(Cli::command(), dir) {
            Ok(()) => exit::PASS,
            Err(e) => {
                eprintln!(
                    "isoprobe: cannot write the manual pages into `{}`: {e}; give an existing \
                     directory you can write (e.g. --dir /usr/local/share/man/man1)",
                    dir.display()
                );
                exit::USAGE
            }
        };
    }
    let mut page = Vec::new();
    match clap_mangen::Man::new(Cli::command()).render(&mut page) {
        Ok(()) => {
            let _ = std::io::stdout().write_all(&page);
            exit::PASS
        }
        Err(e) => {
            eprintln!("isoprobe: cannot render the manual page: {e}");
            exit::USAGE
        }
    }
}

fn features(format: ListFormat) -> i32 {
    // Ctrl-C then only sets the flag, so the temporary probe cgroup is always removed.
    if let Err(e) = crate::cancel::install_handlers() {
        eprintln!("isoprobe: cannot install signal handlers: {e}");
        return exit::USAGE;
    }
    if nix::unistd::geteuid().is_root() {
        if let Err(e) = own_cgroup_ready() {
            eprintln!("isoprobe: {e}");
            return exit::USAGE;
        }
    }
    // Only root makes the scratch cgroup worth recording.
    let _record = nix::unistd::geteuid()
        .is_root()
        .then(crate::record::begin)
        .and_then(Result::ok);
    let f = crate::features::detect();
    if crate::cancel::requested() {
        return exit::INTERRUPTED;
    }
    match format {
        ListFormat::Text => print!("{}", crate::features::render_text(&f)),
        ListFormat::Json => {
            // Only string-keyed maps: serialization cannot fail.
            let json = serde_json::to_string_pretty(&f).expect("features always serialize");
            println!("{json}");
        }
    }
    exit::PASS
}

fn matrix(args: &MatrixArgs) -> i32 {
    use crate::kmatrix::{kernels as k, matrix as m};
    if args.runtime != "native" {
        eprintln!(
            "isoprobe: the kernel matrix runs the native runtime only (got `{}`)",
            args.runtime
        );
        return exit::USAGE;
    }
    // The user's own images are judged before anything else: a typo is not a boot failure.
    let own: Vec<k::KernelSpec> = match args
        .kernel
        .iter()
        .map(|p| crate::kmatrix::user_kernel::spec_for(p))
        .collect()
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("isoprobe: {e}");
            return exit::USAGE;
        }
    };
    if let Err(e) = require_root("matrix") {
        eprintln!("isoprobe: {e}");
        return e.exit_code();
    }
    let _record = match crate::record::start_of_run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("isoprobe: {e}");
            return e.exit_code();
        }
    };
    if let Err(e) = crate::cancel::install_handlers() {
        eprintln!("isoprobe: cannot install signal handlers: {e}");
        return exit::USAGE;
    }
    let progress = |msg: &str| eprintln!("isoprobe: {msg}");
    let chosen = if !own.is_empty() {
        own
    } else {
        match k::known(args.refresh, &progress).and_then(|s| k::select(&s, &args.kernels)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("isoprobe: {e}");
                return exit::USAGE;
            }
        }
    };
    let isoprobe_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("isoprobe: cannot find its own binary for the guest's /init: {e}");
            return exit::USAGE;
        }
    };
    let opts = m::MatrixOptions {
        jobs: args.jobs,
        boot_timeout: Duration::from_secs(args.boot_timeout),
        isoprobe_exe,
    };
    let matrix = match m::run(&chosen, &args.cgroup, &opts, &progress) {
        Ok(x) => x,
        Err(e) if crate::cancel::requested() => {
            eprintln!("isoprobe: {e}");
            return exit::INTERRUPTED;
        }
        Err(e) => {
            eprintln!("isoprobe: {e}");
            return exit::USAGE;
        }
    };
    match args.format {
        MatrixFormat::Text => print!("{}", m::render_text(&matrix)),
        MatrixFormat::Markdown => print!("{}", m::render_markdown(&matrix)),
        MatrixFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&matrix).unwrap_or_default()
            )
        }
    }
    if !args.kernel.is_empty() {
        return bisect_exit(&matrix);
    }
    // A kernel that gave no report, a failed check or a missed control: not all green.
    let bad = matrix.cells.iter().any(|c| {
        c.report
            .as_ref()
            .is_none_or(|r| r.summary.fail > 0 || r.unproven_controls() > 0)
    });
    if bad {
        exit::FAIL
    } else {
        exit::PASS
    }
}

/// The exit status of `matrix --kernel`, as `git bisect run` reads it; the skipped checks are
/// named on stderr (a kernel built without a namespace skips its checks, which is no failure).
fn bisect_exit(matrix: &crate::kmatrix::matrix::Matrix) -> i32 {
    use crate::kmatrix::matrix::{outcome, Outcome};
    for c in &matrix.cells {
        for s in c
            .report
            .iter()
            .flat_map(|r| &r.checks)
            .filter(|r| r.status == crate::report::Status::Skip)
        {
            eprintln!("isoprobe: {}: {} skipped: {}", c.column(), s.id, s.reason);
        }
    }
    match outcome(matrix) {
        Outcome::AllPassed => exit::PASS,
        Outcome::CheckFailed => exit::FAIL,
        Outcome::Untested => {
            eprintln!(
                "isoprobe: the kernel could not be tested (exit {}, `git bisect skip`)",
                exit::UNTESTED
            );
            exit::UNTESTED
        }
    }
}

fn kernels(args: &KernelsArgs) -> i32 {
    use crate::kmatrix::kernels as k;
    let progress = |m: &str| eprintln!("isoprobe: {m}");
    let specs = match k::known(args.refresh, &progress) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("isoprobe: {e}");
            return exit::USAGE;
        }
    };
    if let Some(names) = &args.fetch {
        let chosen = match k::select(&specs, names) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("isoprobe: {e}");
                return exit::USAGE;
            }
        };
        for spec in &chosen {
            if let Err(e) = k::fetch(spec, &progress) {
                eprintln!("isoprobe: {e}");
                return exit::USAGE;
            }
        }
    }
    match args.format {
        ListFormat::Text => print!("{}", k::render_text(&specs)),
        ListFormat::Json => println!("{}", k::render_json(&specs)),
    }
    // A kernel left out (its suite unreachable) was named on stderr; the list is incomplete.
    if specs.len() < k::known_names().len() {
        exit::FAIL
    } else {
        exit::PASS
    }
}

/// In a privileged container on a cgroup v2 host with a cgroup namespace of its own, the
/// controllers the checks need are enabled for isoprobe's cgroups (see `cgroup::leaf`); said on
/// stderr when processes were moved for it.
pub(crate) fn own_cgroup_ready() -> Result<(), HarnessError> {
    use crate::cgroup::leaf::{prepare, Prepared};
    match prepare() {
        Ok(Prepared::Moved {
            leaf,
            processes,
            controllers,
        }) => {
            eprintln!(
                "isoprobe: cgroup v2 namespace root: moved {processes} process(es) into `{}` and enabled {} for isoprobe's cgroups",
                leaf.display(),
                controllers.join(", ")
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(HarnessError::Setup(format!(
            "cannot enable the cgroup controllers in this cgroup namespace: {e}; run the container with a writable /sys/fs/cgroup (--privileged)"
        ))),
    }
}

pub(crate) fn require_root(what: &str) -> Result<(), HarnessError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(HarnessError::Usage(format!(
            "isoprobe {what} needs root: it creates namespaces, mounts and cgroups. Run it as \
             root (sudo isoprobe {what} ...), or in a privileged container"
        )))
    }
}

fn compare(args: &CompareArgs) -> Result<i32, HarnessError> {
    let names: Vec<String> = match (args.runtimes.is_empty(), args.engine_defaults) {
        (true, false) => runtime::NAMES.iter().map(|n| n.to_string()).collect(),
        (true, true) => vec!["podman".into(), "docker".into()],
        (false, _) => args.runtimes.clone(),
    };
    let make = if args.engine_defaults {
        runtime::engine_defaults
    } else {
        runtime::by_name
    };
    let runtimes = names
        .iter()
        .map(|n| make(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(HarnessError::from)?;
    let checks = checks::select(&args.checks).map_err(|e| HarnessError::Usage(e.to_string()))?;
    require_root("compare")?;
    own_cgroup_ready()?;
    // Over the default list a missing runtime is a column of skips; one the user named must be
    // there.
    if !args.runtimes.is_empty() {
        for rt in &runtimes {
            crate::preflight::require_available(rt.as_ref())?;
        }
    }
    crate::preflight::check_machine(&checks, !args.checks.is_empty())?;
    let _record = crate::record::start_of_run()?;
    // Moved into a binding made after the record's: the runtimes drop first, so that what an
    // engine removes on drop (its daemon, its store) is marked done before the record ends.
    let runtimes = runtimes;
    crate::cancel::install_handlers()
        .map_err(|e| HarnessError::Setup(format!("cannot install signal handlers: {e}")))?;
    let rootfs = PreparedRootfs::fresh(crate::agent_binary::AGENT)?;
    let opts = RunOptions {
        negative_controls: !args.no_controls,
        timeout: Duration::from_secs(args.timeout),
        jobs: args.jobs.unwrap_or_else(engine::default_jobs),
    };
    let cmp = crate::compare::compare(&runtimes, &checks, &rootfs, &opts)?;
    let out = match args.format {
        CompareFormat::Text => crate::compare::render_text(&cmp, args.reasons),
        CompareFormat::Markdown => crate::compare::render_markdown(&cmp, args.reasons),
        CompareFormat::Json => serde_json::to_string_pretty(&cmp).unwrap_or_default() + "\n",
    };
    print!("{out}");
    Ok(compare_exit_code(&cmp, args.require_all))
}

/// 1 when a control was missed or inconclusive under any runtime, or (require_all) a check or a
/// control was skipped under any. A failed check alone is not: telling runtimes apart by what
/// they fail is what compare is for.
pub fn compare_exit_code(cmp: &crate::compare::Comparison, require_all: bool) -> i32 {
    let skipped = cmp
        .reports
        .iter()
        .any(|r| r.summary.skip > 0 || r.skipped_controls() > 0);
    if crate::compare::unproven_controls(cmp) > 0 || (require_all && skipped) {
        exit::FAIL
    } else {
        exit::PASS
    }
}

fn run(args: &RunArgs) -> Result<i32, HarnessError> {
    let runtime = if args.engine_defaults {
        runtime::engine_defaults(&args.runtime)
    } else {
        runtime::by_name(&args.runtime)
    }
    .map_err(HarnessError::from)?;
    let checks = checks::select(&args.checks).map_err(|e| HarnessError::Usage(e.to_string()))?;
    let rootless = !nix::unistd::geteuid().is_root();
    if rootless {
        crate::preflight::require_rootless(runtime.as_ref())?;
    } else {
        own_cgroup_ready()?;
    }
    // The record lives in the user's directory, made before the user namespace is entered.
    let _record = crate::record::start_of_run()?;
    if rootless {
        crate::rootless::enter().map_err(|e| HarnessError::Setup(e.to_string()))?;
    }
    // Dropped before the record (see `compare`).
    let runtime = runtime;
    let agent = match &args.agent {
        Some(p) => read_agent(p)?,
        None => crate::agent_binary::AGENT.to_vec(),
    };
    if let Some(dir) = &args.rootfs {
        crate::rootfs::check_user_rootfs(dir)?;
    }
    if let Some(path) = &args.output {
        crate::preflight::check_output(path)?;
    }
    crate::preflight::require_available(runtime.as_ref())?;
    crate::preflight::check_machine(&checks, !args.checks.is_empty())?;
    crate::cancel::install_handlers()
        .map_err(|e| HarnessError::Setup(format!("cannot install signal handlers: {e}")))?;
    let rootfs = match &args.rootfs {
        Some(dir) => PreparedRootfs::user(dir, &agent)?,
        None => PreparedRootfs::fresh(&agent)?,
    };
    let opts = RunOptions {
        negative_controls: args.negative_controls,
        timeout: Duration::from_secs(args.timeout),
        jobs: args.jobs.unwrap_or_else(engine::default_jobs),
    };
    let report = engine::run_checks(runtime.as_ref(), &checks, &rootfs, &opts)?;
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let text = report::render(&report, args.format, color);
    if let Some(path) = &args.output {
        let plain = report::render(&report, args.format, false);
        std::fs::write(path, plain).map_err(|e| {
            HarnessError::Setup(format!(
                "cannot write the report to `{}`: {e}",
                path.display()
            ))
        })?;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(exit_code(&report, args.require_all))
}

/// 1 when anything failed or a control was missed or inconclusive, or (require_all) anything was
/// skipped.
pub fn exit_code(report: &Report, require_all: bool) -> i32 {
    let s = &report.summary;
    let skipped_controls = report
        .checks
        .iter()
        .filter_map(|c| c.negative_control.as_ref())
        .any(|n| n.status == ControlStatus::Skip);
    if s.fail > 0
        || report.unproven_controls() > 0
        || (require_all && (s.skip > 0 || skipped_controls))
    {
        exit::FAIL
    } else {
        exit::PASS
    }
}

fn render_list(checks: &[Box<dyn Check>], format: CheckListFormat) -> String {
    match format {
        CheckListFormat::Markdown => render_list_markdown(checks),
        CheckListFormat::Json => {
            let v: Vec<serde_json::Value> = checks
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id(),
                        "layer": c.layer().name(),
                        "description": c.description(),
                        "requirements": c.requirements().iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                        "negative_control": c.sabotage().describe(),
                    })
                })
                .collect();
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        CheckListFormat::Text => {
            let mut s = String::new();
            for c in checks {
                let reqs: Vec<String> = c.requirements().iter().map(|r| r.to_string()).collect();
                s.push_str(&format!(
                    "{}\n    layer: {}\n    {}\n    needs: {}\n    control: {}\n",
                    c.id(),
                    c.layer().name(),
                    c.description(),
                    reqs.join(", "),
                    c.sabotage().describe()
                ));
            }
            s
        }
    }
}

/// The check table of the README (`ci/update-readme-checks.sh`), with the count it would
/// otherwise state by hand.
fn render_list_markdown(checks: &[Box<dyn Check>]) -> String {
    // A `|` inside a cell would end it.
    let cell = |s: &str| s.replace('|', "\\|");
    let mut s = format!(
        "{} checks, each with the negative control that must make it fail:\n\n\
         | check | layer | what it asserts | needs | its negative control |\n\
         | --- | --- | --- | --- | --- |\n",
        checks.len()
    );
    for c in checks {
        let reqs: Vec<String> = c.requirements().iter().map(|r| r.to_string()).collect();
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            c.id(),
            c.layer().name(),
            cell(&c.description()),
            cell(&reqs.join(", ")),
            cell(&c.sabotage().describe())
        ));
    }
    s
}
