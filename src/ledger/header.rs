//! `ledger.json`: the header written once when a ledger is created.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// The plan hash of a canonical task JSON: the hex SHA-256 of its compact serialization. A
/// ledger belongs to exactly one task definition.
pub fn tasks_hash(tasks: &serde_json::Value) -> String {
    let digest = Sha256::digest(tasks.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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

    /// Reads and validates `path`: format, version, and that the stored tasks hash to the
    /// stored `plan_hash` ([`LedgerError::HeaderTampered`] otherwise).
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
        let header: Self =
            serde_json::from_slice(&bytes).map_err(|source| LedgerError::BadHeader {
                path: path.to_path_buf(),
                source,
            })?;
        let actual = tasks_hash(&header.tasks);
        if actual != header.plan_hash {
            return Err(LedgerError::HeaderTampered {
                path: path.to_path_buf(),
                stored: header.plan_hash,
                actual,
            });
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_tasks_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let tasks = serde_json::json!({"tasks": [{"worker": {"command": ["./run", "0.1"]}}]});
        let header = LedgerHeader::new(&tasks_hash(&tasks), &tasks);
        std::fs::write(&path, header.to_bytes()).unwrap();
        assert_eq!(LedgerHeader::read(&path).unwrap(), header);

        let edited = String::from_utf8(header.to_bytes())
            .unwrap()
            .replace("./run", "./evil");
        std::fs::write(&path, edited).unwrap();
        let err = LedgerHeader::read(&path).unwrap_err();
        assert!(matches!(err, LedgerError::HeaderTampered { .. }), "{err}");
        assert!(err.to_string().contains("was modified"), "{err}");
    }
}
