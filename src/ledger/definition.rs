//! The task definition in force. `ledger.json` holds the definition the ledger was created
//! with, and never changes; a resume may change what is operational (workers, retries,
//! timeouts, scheduler settings, environment, commands), and then its orchestrator publishes
//! the definition in force from its epoch on as `orchestrator/definition-<N>.json`, in the
//! header's format (tasks with their hash, checked on every read). Agents and status use the
//! newest one. What defines the blocks never differs from `ledger.json`: the orchestrator
//! refuses such a resume, and readers check it again (see `docs/design/ledger.md`).

use super::error::{io_err, Result};
use super::fsutil::publish_exclusive;
use super::header::{tasks_hash, LedgerHeader};
use super::layout::Layout;
use std::fs;

const PREFIX: &str = "definition-";
const SUFFIX: &str = ".json";

/// The newest published definition: its epoch and tasks (`None` if no resume changed any).
pub(crate) fn newest(layout: &Layout) -> Result<Option<(u64, serde_json::Value)>> {
    let dir = layout.orchestrator_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("list directory", &dir)(e)),
    };
    let newest = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let number = name.to_str()?.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
            number.parse::<u64>().ok()
        })
        .max();
    let Some(epoch) = newest else {
        return Ok(None);
    };
    let header = LedgerHeader::read(&path(layout, epoch))?;
    Ok(Some((epoch, header.tasks)))
}

/// The newest definition a resume published in the ledger at `root`: its epoch and tasks
/// (`None` while the one of `ledger.json` is in force). Read-only, for `status`.
pub fn definition_in_force(root: &std::path::Path) -> Result<Option<(u64, serde_json::Value)>> {
    newest(&Layout::new(root))
}

/// Publishes `tasks` as the definition in force from `epoch` on (created once; a second
/// publication by the same epoch changes nothing).
pub(crate) fn publish(layout: &Layout, epoch: u64, tasks: &serde_json::Value) -> Result<()> {
    let header = LedgerHeader::new(&tasks_hash(tasks), tasks);
    publish_exclusive(&path(layout, epoch), &header.to_bytes())?;
    Ok(())
}

fn path(layout: &Layout, epoch: u64) -> std::path::PathBuf {
    layout
        .orchestrator_dir()
        .join(format!("{PREFIX}{epoch:08}{SUFFIX}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_publication_wins_and_edits_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert!(newest(&layout).unwrap().is_none());
        fs::create_dir_all(layout.orchestrator_dir()).unwrap();
        publish(&layout, 2, &json!({"tasks": [{"num_workers": 2}]})).unwrap();
        publish(&layout, 10, &json!({"tasks": [{"num_workers": 10}]})).unwrap();
        let (epoch, tasks) = newest(&layout).unwrap().unwrap();
        assert_eq!(
            (epoch, tasks),
            (10, json!({"tasks": [{"num_workers": 10}]}))
        );
        let file = path(&layout, 10);
        let text = fs::read_to_string(&file).unwrap().replace("10", "11");
        fs::write(&file, text).unwrap();
        assert!(newest(&layout).is_err(), "an edited definition is refused");
    }
}
