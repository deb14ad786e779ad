//! `ledger.json`: the header written once when a ledger is created.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{io_err, LedgerError, Result};
use super::fsutil::read_small;
use super::time::now_us;

/// Value of the header's `format` field.
pub const HEADER_FORMAT: &str = "blockorch-ledger";
/// Header version written and read by this build.
pub const HEADER_VERSION: u32 = 1;

/// Contents of `ledger.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerHeader {
    /// Always [`HEADER_FORMAT`].
    pub format: String,
    /// Header and ledger format version.
    pub version: u32,
    /// Creation time (µs since the UNIX epoch).
    pub created_us: u64,
    /// SHA-256 (hex) of the plan the ledger was created for.
    pub plan_hash: String,
    /// The canonical task-file JSON given at creation; task indexes in records refer to it.
    pub tasks: serde_json::Value,
}

impl LedgerHeader {
    /// A header for a new ledger.
    pub(crate) fn new(plan_hash: &str, tasks: &serde_json::Value) -> Self {
        Self {
            format: HEADER_FORMAT.to_string(),
            version: HEADER_VERSION,
            created_us: now_us(),
            plan_hash: plan_hash.to_string(),
            tasks: tasks.clone(),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a header always serializes");
        out.push(b'\n');
        out
    }

    /// Reads and validates `path`.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let bytes = match read_small(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LedgerError::NotALedger {
                    path: path.parent().unwrap_or(path).to_path_buf(),
                    reason: "it has no ledger.json".into(),
                })
            }
            Err(e) => return Err(io_err("read", path)(e)),
        };
        #[derive(Deserialize)]
        struct Probe {
            format: Option<String>,
            version: Option<u32>,
        }
        let probe: Probe =
            serde_json::from_slice(&bytes).map_err(|source| LedgerError::BadHeader {
                path: path.to_path_buf(),
                source,
            })?;
        if probe.format.as_deref() != Some(HEADER_FORMAT) {
            return Err(LedgerError::NotALedger {
                path: path.to_path_buf(),
                reason: format!("its format field is not {HEADER_FORMAT:?}"),
            });
        }
        if probe.version != Some(HEADER_VERSION) {
            return Err(LedgerError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: probe.version.unwrap_or(0),
                supported: HEADER_VERSION,
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| LedgerError::BadHeader {
            path: path.to_path_buf(),
            source,
        })
    }
}
