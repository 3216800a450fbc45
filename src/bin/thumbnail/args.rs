//! The command line: options as `vipsthumbnail` spells them where it has
//! them (`-s`/`--size`, `-o`/`--output`), `--name=value`, `-sVALUE` and
//! `--` as usual.

use thumbnail::Limits;

pub const SHORT_USAGE: &str = "usage: thumbnail [-s SIZE] [-o PATTERN] [-j N] [OPTIONS] INPUT...  (thumbnail --help)";

pub const HELP: &str = "\
thumbnail: make thumbnails of JPEG, PNG, GIF and WebP images

usage: thumbnail [-s SIZE] [-o PATTERN] [-j N] [OPTIONS] INPUT...
       thumbnail --probe INPUT...
       thumbnail sign --key HEX --salt HEX [--size N] PATH

INPUT is a file, a directory (its files named .jpg, .jpeg, .png, .gif,
.webp or .avif, not recursive; with the default output, not tn_*), or -
(standard input). One bad file never stops a batch: it is reported, and
the others are still written.

  -s, --size SIZE      the box and options, in the spec grammar: 200 (a
                       200x200 box), 200x, x200, 200x100, or a whole spec
                       such as 200x200,cover,q85 (default 128, a 128x128
                       box; fit inside, keep the aspect ratio)
  -o, --output PATTERN where each thumbnail goes; %s is the input's name
                       without its extension, %d its directory, %% a %.
                       A relative PATTERN is relative to the current
                       directory. Its extension (.jpg, .jpeg, .png, .webp,
                       .avif) picks the format unless SIZE names one or
                       says auto; without one, the
                       format's extension is added. - writes to standard
                       output (one input only).
                       Default: tn_%s.EXT beside each input, EXT from the
                       format (the spec's, else the source's); for input -
                       the default is standard output.
  -j, --jobs N         files rendered at once (default: every core, N)
  -q, --quiet          no progress bar and no summary line
  -v, --verbose        a line for every file written
      --probe          print each input's header as one line of JSON
                       ({\"format\":..,\"width\":..,\"height\":..,\"orientation\":..},
                       with \"file\" first when there are several inputs)
      --max-bytes N    refuse sources larger than N bytes (default 64 MiB)
      --max-pixels N   refuse sources of more than N pixels (default 50000000)
      --max-output N   refuse thumbnails wider or taller than N (default 4096)
      --max-frames N   refuse animations (spec anim) of more than N frames
                       (default 100)
      --accept ACCEPT  resolve the spec's auto for this HTTP Accept header
                       (as a server would: WebP or AVIF if accepted, else
                       the source's format)
      --avif           with --accept: AVIF may be chosen (AVIF builds)
      --strict         refuse damaged or truncated sources instead of
                       rendering what decodes
  -h, --help           this text
  -V, --version        the version

thumbnail sign prints the imgproxy-style signature of a URL path
(thumbnail sign --help).

A batch shows a progress bar on a terminal (none when standard error is not
one) and ends with a summary line. Outputs are written whole (to a temporary
name, then renamed) and never over their own input.

Exit status: 0 every thumbnail written; 1 a usage error, or a file that
could not be read or written; 2 an image or spec error (one line on
standard error, kind: reason, with the file's name first in a batch).

Examples:
  thumbnail photo.jpg                           # tn_photo.jpg, 128x128 box
  thumbnail -s 200x -o 'out/%s_thumb.jpg' photos/*.jpg
  thumbnail -s 300x200,cover,q85 -o thumbs/%s.jpg photos/
  thumbnail - -s 200 < in.png > out.png
  thumbnail -s 200x,auto --accept 'image/webp,*/*' photo.jpg   # tn_photo.webp
";

/// A usage error: the message (without the usage line).
pub struct Usage(pub String);

pub enum Command {
    Help,
    Version,
    Run(Options),
}

pub struct Options {
    /// As given; directories are expanded later.
    pub inputs: Vec<String>,
    /// The spec text with a bare number expanded (`200` -> `200x200`).
    pub spec: String,
    /// The output pattern; `None` is the default (`tn_%s.EXT` beside each
    /// input, standard output for `-`).
    pub output: Option<String>,
    pub jobs: usize,
    pub quiet: bool,
    pub verbose: bool,
    pub probe: bool,
    pub limits: Limits,
    /// `--accept`: an Accept header that resolves the spec's `auto`.
    pub accept: Option<String>,
    /// `--avif`: the negotiation may choose AVIF.
    pub avif: bool,
}

/// The box when `-s` is not given: vipsthumbnail's default.
const DEFAULT_SIZE: &str = "128";

pub fn parse(argv: Vec<String>) -> Result<Command, Usage> {
    let mut options = Options {
        inputs: Vec::new(),
        spec: String::new(),
        output: None,
        jobs: 0,
        quiet: false,
        verbose: false,
        probe: false,
        limits: Limits::default(),
        accept: None,
        avif: false,
    };
    let mut size = None;
    let mut it = argv.into_iter();
    let mut only_inputs = false;
    while let Some(arg) = it.next() {
        if only_inputs || arg == "-" || !arg.starts_with('-') {
            options.inputs.push(arg);
            continue;
        }
        if arg == "--" {
            only_inputs = true;
            continue;
        }
        // --name=value, -nVALUE, or a name whose value is the next argument
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if arg.starts_with("--") => (name.to_owned(), Some(value.to_owned())),
            _ if !arg.starts_with("--") && arg.len() > 2 => (arg[..2].to_owned(), Some(arg[2..].to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| match &inline {
            Some(v) => Ok(v.clone()),
            None => it.next().ok_or_else(|| Usage(format!("{what} needs a value"))),
        };
        let flag = |inline: &Option<String>| match inline {
            None => Ok(()),
            Some(_) => Err(Usage(format!("{name} takes no value"))),
        };
        match name.as_str() {
            "-s" | "--size" | "--spec" => size = Some(value(&name)?),
            "-o" | "--output" => options.output = Some(value(&name)?),
            "-j" | "--jobs" => {
                let n = number(&value(&name)?, &name)?;
                if n == 0 || n > 4096 {
                    return Err(Usage(format!("{name} must be in 1..=4096")));
                }
                options.jobs = n as usize;
            }
            "--max-bytes" => options.limits.max_source_bytes = number(&value(&name)?, &name)?,
            "--max-pixels" => options.limits.max_source_pixels = number(&value(&name)?, &name)?,
            "--max-output" => {
                let side = u32::try_from(number(&value(&name)?, &name)?)
                    .map_err(|_| Usage("--max-output is too big".into()))?;
                options.limits.max_output_width = side;
                options.limits.max_output_height = side;
            }
            "--max-frames" => {
                options.limits.max_frames = u32::try_from(number(&value(&name)?, &name)?)
                    .map_err(|_| Usage("--max-frames is too big".into()))?;
            }
            "--accept" => options.accept = Some(value(&name)?),
            "--avif" => {
                flag(&inline)?;
                options.avif = true;
            }
            "-q" | "--quiet" => {
                flag(&inline)?;
                options.quiet = true;
            }
            "-v" | "--verbose" => {
                flag(&inline)?;
                options.verbose = true;
            }
            "--probe" => {
                flag(&inline)?;
                options.probe = true;
            }
            "--strict" => {
                flag(&inline)?;
                options.limits.strict = true;
            }
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            _ => return Err(Usage(format!("unknown option {arg}"))),
        }
    }
    if options.inputs.is_empty() {
        return Err(Usage("no input given".into()));
    }
    if options.inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(Usage("standard input (-) can be read only once".into()));
    }
    options.spec = expand_size(size.as_deref().unwrap_or(DEFAULT_SIZE));
    if options.jobs == 0 {
        options.jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    Ok(Command::Run(options))
}

/// `200` and `200,cover` mean a 200x200 box, as `vipsthumbnail -s 200`
/// does; anything else is the spec grammar's.
fn expand_size(size: &str) -> String {
    let (head, rest) = size.split_once(',').map_or((size, None), |(h, r)| (h, Some(r)));
    if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
        match rest {
            Some(rest) => format!("{head}x{head},{rest}"),
            None => format!("{head}x{head}"),
        }
    } else {
        size.to_owned()
    }
}

fn number(text: &str, name: &str) -> Result<u64, Usage> {
    text.parse().map_err(|_| Usage(format!("{name}: '{text}' is not a number")))
}
