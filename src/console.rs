//! Writing to the terminal without panicking (`println!`/`eprintln!` panic when the stream
//! cannot be written, e.g. `2>/dev/full` or a full disk under a job's log file), and log
//! lines that do not run through the progress bars.

use indicatif::MultiProgress;
use std::fmt::Display;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use tracing_subscriber::fmt::MakeWriter;

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

/// The progress bars drawn on stderr now, if any: log lines go above them.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Tells the log writer that `bars` are drawn on stderr (`None`: no more), so log lines are
/// written above them instead of through them.
pub fn set_progress_bars(bars: Option<MultiProgress>) {
    *BARS.lock().unwrap_or_else(PoisonError::into_inner) = bars;
}

/// Log lines for stderr: each line is written whole when its event is complete, with the
/// progress bars (if drawn) moved out of the way; a failed write is ignored.
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrLines;

impl<'a> MakeWriter<'a> for StderrLines {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer(Vec::new())
    }
}

/// One log event's text, written to stderr when dropped.
#[derive(Debug)]
pub struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        let bars = BARS.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }
}
