//! Which ledger `status` and `cancel` look at when none is named.

use std::path::{Path, PathBuf};

use super::error::StatusError;

/// The ledger to use: `given` if set (it must exist), else the only directory named
/// `*.ledger` in `dir`.
pub fn find_ledger(given: Option<&Path>, dir: &Path) -> Result<PathBuf, StatusError> {
    if let Some(path) = given {
        if !path.exists() {
            return Err(StatusError::Missing {
                path: path.to_path_buf(),
            });
        }
        return Ok(path.to_path_buf());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| StatusError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ledger"))
        .map(|p| p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    candidates.sort();
    match candidates.len() {
        0 => Err(StatusError::NoLedger {
            dir: dir.to_path_buf(),
        }),
        1 => Ok(dir.join(candidates.remove(0))),
        _ => Err(StatusError::SeveralLedgers {
            dir: dir.to_path_buf(),
            candidates,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_only_ledger_or_names_the_candidates() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(matches!(
            find_ledger(None, d),
            Err(StatusError::NoLedger { .. })
        ));
        std::fs::write(d.join("file.ledger"), b"").unwrap();
        std::fs::create_dir(d.join("a.ledger")).unwrap();
        assert_eq!(find_ledger(None, d).unwrap(), d.join("a.ledger"));
        std::fs::create_dir(d.join("b.ledger")).unwrap();
        let err = find_ledger(None, d).unwrap_err();
        assert!(err.to_string().contains("(a.ledger, b.ledger)"), "{err}");
        assert!(matches!(
            find_ledger(Some(&d.join("nope")), d),
            Err(StatusError::Missing { .. })
        ));
        assert_eq!(
            find_ledger(Some(&d.join("b.ledger")), d).unwrap(),
            d.join("b.ledger")
        );
    }
}
