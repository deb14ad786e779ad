//! The task file (`task.json`): specification, parsing and validation.
