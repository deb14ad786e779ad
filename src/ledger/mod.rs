//! The ledger: the on-disk single source of truth of a run (see docs/design/ledger.md).
