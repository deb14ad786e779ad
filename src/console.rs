//! Writing to the terminal without panicking (`println!`/`eprintln!` panic when the stream
//! cannot be written, e.g. `2>/dev/full` or a full disk under a job's log file).

use std::fmt::Display;
use std::io::Write;

/// Writes `line` and a newline to stderr; a failed write is ignored (there is nowhere left to
/// report it).
pub fn eprint_line(line: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Writes `text` to stdout and flushes it; a failed write is returned (the caller's output is
/// incomplete, an I/O error).
pub fn print_out(text: impl Display) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{text}")?;
    out.flush()
}
