//! `thumbnail`: the command-line face of the library (the vipsthumbnail of
//! this project).
//!
//! ```text
//! thumbnail INPUT -s SPEC -o OUTPUT [--max-bytes N] [--max-pixels N] [--max-output N] [--strict]
//! thumbnail --probe INPUT
//! ```
//! Exit status: 0 success; 2 image or spec error (stderr: `kind: reason`);
//! 1 usage or I/O error.

use std::process::ExitCode;

use thumbnail::{Format, Limits, Spec};

const USAGE: &str =
    "usage: thumbnail INPUT -s SPEC -o OUTPUT [--max-bytes N] [--max-pixels N] [--max-output N] [--strict]
       thumbnail --probe INPUT
OUTPUT '-' writes to stdout; its extension (.jpg, .jpeg, .png) picks the format unless SPEC names one.";

enum Failure {
    /// Usage or I/O (exit 1).
    Usage(String),
    /// Image or spec error (exit 2).
    Image(thumbnail::Error),
}

impl From<thumbnail::Error> for Failure {
    fn from(e: thumbnail::Error) -> Self {
        Failure::Image(e)
    }
}

#[derive(Default)]
struct Args {
    input: Option<String>,
    spec: Option<String>,
    output: Option<String>,
    probe: bool,
    limits: Limits,
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
        Err(Failure::Image(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn run(argv: Vec<String>) -> Result<(), Failure> {
    let args = parse_args(argv)?;
    let input = args.input.as_deref().ok_or_else(|| Failure::Usage(USAGE.into()))?;
    let bytes = std::fs::read(input).map_err(|e| Failure::Usage(format!("cannot read {input}: {e}")))?;
    if args.probe {
        let info = thumbnail::probe(&bytes)?;
        println!(
            "{{\"format\":\"{}\",\"width\":{},\"height\":{},\"orientation\":{}}}",
            info.format.as_str(),
            info.width,
            info.height,
            info.orientation
        );
        return Ok(());
    }
    let (Some(spec_text), Some(output)) = (args.spec.as_deref(), args.output.as_deref()) else {
        return Err(Failure::Usage(USAGE.into()));
    };
    let mut spec = Spec::parse(spec_text)?;
    if spec.format.is_none() {
        spec.format = Some(format_from_extension(output)?);
    }
    let thumb = thumbnail::render(&bytes, &spec, &args.limits)?;
    let written = if output == "-" {
        use std::io::Write;
        std::io::stdout().write_all(thumb.data())
    } else {
        std::fs::write(output, thumb.data())
    };
    written.map_err(|e| Failure::Usage(format!("cannot write {output}: {e}")))
}

fn format_from_extension(output: &str) -> Result<Format, Failure> {
    let ext = output.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg") => Ok(Format::Jpeg),
        Some("png") => Ok(Format::Png),
        _ => Err(Failure::Usage(format!(
            "cannot tell the output format from '{output}': use .jpg, .jpeg or .png, or name jpeg/png in the spec"
        ))),
    }
}

fn parse_args(argv: Vec<String>) -> Result<Args, Failure> {
    let mut args = Args::default();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| Failure::Usage(format!("{name} needs a value\n{USAGE}")));
        match arg.as_str() {
            "-s" | "--spec" => args.spec = Some(value("-s")?),
            "-o" | "--output" => args.output = Some(value("-o")?),
            "--probe" => args.probe = true,
            "--strict" => args.limits.strict = true,
            "--max-bytes" => args.limits.max_source_bytes = number(&value("--max-bytes")?)?,
            "--max-pixels" => args.limits.max_source_pixels = number(&value("--max-pixels")?)?,
            "--max-output" => {
                let side = u32::try_from(number(&value("--max-output")?)?)
                    .map_err(|_| Failure::Usage("--max-output is too big".into()))?;
                args.limits.max_output_width = side;
                args.limits.max_output_height = side;
            }
            "-h" | "--help" => return Err(Failure::Usage(USAGE.into())),
            _ if arg.starts_with('-') && arg != "-" => {
                return Err(Failure::Usage(format!("unknown option {arg}\n{USAGE}")));
            }
            _ if args.input.is_none() => args.input = Some(arg),
            _ => return Err(Failure::Usage(format!("unexpected argument {arg}\n{USAGE}"))),
        }
    }
    Ok(args)
}

fn number(text: &str) -> Result<u64, Failure> {
    text.parse().map_err(|_| Failure::Usage(format!("'{text}' is not a number")))
}
