//! `blockorch report`: the HTML report of a run, written to a file.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::args::ReportArgs;
use super::exit::ExitCode;
use super::status_cmd::{failure, resolve_ledger};
use crate::report::{collect, write_page, ReportError};

/// Runs `blockorch report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let root = resolve_ledger(args.ledger.as_deref())?;
    // Read everything before creating the output, so a bad ledger leaves no file behind.
    let data = collect(&root).map_err(failure)?;
    // Written next to the output, then renamed: a reader never sees half a page.
    let mut tmp = args.output.clone().into_os_string();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = File::create(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))
        .and_then(|file| match write_page(data, &mut BufWriter::new(file)) {
            Ok(bytes) => Ok(bytes),
            Err(ReportError::Status(e)) => Err(failure(e)),
            Err(ReportError::Write(e)) => {
                Err(anyhow::Error::new(e).context(format!("writing {}", tmp.display())))
            }
        })
        .and_then(|bytes| {
            fs::rename(&tmp, &args.output)
                .with_context(|| format!("renaming {} to {}", tmp.display(), args.output.display()))
                .map(|()| bytes)
        });
    match written {
        Ok(bytes) => {
            crate::console::eprint_line(format_args!(
                "wrote {} ({} kB)",
                args.output.display(),
                bytes.div_ceil(1000)
            ));
            Ok(ExitCode::Success)
        }
        Err(err) => {
            let _ = fs::remove_file(&tmp);
            Err(err)
        }
    }
}
