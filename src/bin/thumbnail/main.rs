//! `thumbnail`: the command-line face of the library, in the conventions of
//! `vipsthumbnail`: several inputs (files, directories, `-` for stdin), an
//! output pattern with `%s`, `-s 200` for a 200x200 box, parallel work
//! across cores, a progress bar on a terminal, a summary line, and an exit
//! status that says whether anything failed. `thumbnail --help` has it all.
//!
//! Files: `args.rs` (the command line), `naming.rs` (output paths and
//! formats), `batch.rs` (reading, rendering and writing in parallel),
//! `report.rs` (progress bar, messages, summary). Subcommands
//! (`thumbnail NAME ...`) are dispatched here, before option parsing.

mod args;
mod batch;
mod naming;
mod report;
mod sign;

use std::process::ExitCode;

use args::{Command, Options};

/// `thumbnail NAME ARGS...` runs `NAME`'s `main` with the remaining
/// arguments. A subcommand is a module of this folder with
/// `pub fn main(args: Vec<String>) -> ExitCode` (it prints its own
/// `--help`), listed here; the `sign` subcommand of issue 19 plugs in this
/// way. A file whose name is a subcommand's is given as `./NAME`.
const SUBCOMMANDS: &[(&str, Subcommand)] = &[("sign", |args| sign::main(&args))];

/// A subcommand's entry point: the arguments after its name.
type Subcommand = fn(Vec<String>) -> ExitCode;

/// Exit statuses (also in `--help`).
pub const EXIT_OK: u8 = 0;
/// A usage error, or a file that could not be read or written.
pub const EXIT_USAGE_OR_IO: u8 = 1;
/// An image or spec error (`kind: reason`), and no I/O error.
pub const EXIT_IMAGE: u8 = 2;

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = argv.first()
        && let Some((_, sub)) = SUBCOMMANDS.iter().find(|(name, _)| name == first)
    {
        argv.remove(0);
        return sub(argv);
    }
    let options = match args::parse(argv) {
        Ok(Command::Help) => {
            print!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!(
                "thumbnail {} (libthumbnail ABI {})",
                env!("CARGO_PKG_VERSION"),
                thumbnail::ffi::THUMBNAIL_ABI_VERSION
            );
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(args::Usage(message)) => {
            eprintln!("thumbnail: {message}");
            eprintln!("{}", args::SHORT_USAGE);
            return ExitCode::from(EXIT_USAGE_OR_IO);
        }
    };
    ExitCode::from(run(&options))
}

fn run(options: &Options) -> u8 {
    if options.probe {
        return batch::probe_all(options);
    }
    batch::render_all(options)
}
