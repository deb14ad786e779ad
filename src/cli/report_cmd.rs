//! `blockorch report`: the HTML report of a run, written to a file.

use std::fs::File;
use std::io::BufWriter;

use anyhow::{Context, Result};

use super::args::ReportArgs;
use super::exit::ExitCode;
use super::status_cmd::{failure, resolve_ledger};
use crate::report::ReportError;

/// Runs `blockorch report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let root = resolve_ledger(args.ledger.as_deref())?;
    // Read everything before creating the output, so a bad ledger leaves no empty file.
    let data = crate::report::collect(&root).map_err(failure)?;
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = BufWriter::new(file);
    match crate::report::write_page(data, &mut out) {
        Ok(bytes) => {
            crate::console::eprint_line(format_args!(
                "wrote {} ({} kB)",
                args.output.display(),
                bytes.div_ceil(1000)
            ));
            Ok(ExitCode::Success)
        }
        Err(ReportError::Status(e)) => Err(failure(e)),
        Err(ReportError::Write(e)) => {
            Err(anyhow::Error::new(e).context(format!("writing {}", args.output.display())))
        }
    }
}
