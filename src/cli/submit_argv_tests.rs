//! `SubmitArgs::to_argv` round-trips through clap, and the detached child keeps every setting.

use super::{BackendKind, Cli, Command, SlurmModeArg, SubmitArgs};
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;

/// `blockorch <argv>` parsed into submit arguments.
fn parse<I, T>(argv: I) -> SubmitArgs
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = std::iter::once(OsString::from("blockorch"))
        .chain(argv.into_iter().map(Into::into))
        .collect();
    match Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}")) {
        Cli {
            command: Command::Submit(args),
            ..
        } => args,
        other => panic!("not a submit: {other:?}"),
    }
}

/// Parse → argv → parse gives the same arguments.
fn assert_round_trip(words: &[&str]) {
    let args = parse(words.iter().copied());
    let again = parse(args.to_argv());
    assert_eq!(again, args, "{words:?} -> {:?}", args.to_argv());
}

#[test]
fn the_defaults_round_trip() {
    assert_round_trip(&["submit", "task.json"]);
}

#[test]
fn every_flag_round_trips_alone() {
    let cases: &[&[&str]] = &[
        &["--backend", "local"],
        &["--backend", "slurm"],
        &["--backend", "lsf"],
        &["--ledger", "/runs/x.ledger"],
        &["--detach"],
        &["--quiet"],
        &["-q"],
        &["--json"],
        &["--force"],
        &["--dry-run"],
        &["--template", "my template.sbatch"],
        &["--poll-interval", "0.1"],
        &["--max-poll-interval", "123.456"],
        &["--max-failed-starts", "7"],
        &["--max-launches", "9"],
        &["--scheduler-timeout", "0"],
        &["--scheduler-timeout", "1e-3"],
        &["--hello-timeout", "2.5"],
        &["--slurm-mode", "auto"],
        &["--slurm-mode", "submit"],
        &["--slurm-mode", "allocation"],
        &["--shared-group"],
    ];
    for flags in cases {
        let mut words = vec!["submit", "task.json"];
        words.extend_from_slice(flags);
        assert_round_trip(&words);
        // And the flag was not lost on the way: it differs from the defaults.
        let default = parse(["submit", "task.json"]);
        let defaults_too = flags == &["--slurm-mode", "auto"];
        assert_eq!(
            parse(words.iter().copied()) == default,
            defaults_too,
            "{flags:?}"
        );
    }
}

#[test]
fn every_flag_at_once_round_trips() {
    assert_round_trip(&[
        "submit",
        "/data/task.json",
        "--backend",
        "lsf",
        "--ledger",
        "/runs/x.ledger",
        "--detach",
        "--quiet",
        "--json",
        "--force",
        "--dry-run",
        "--template",
        "t.bsub",
        "--poll-interval",
        "0.3",
        "--max-poll-interval",
        "17",
        "--max-failed-starts",
        "4",
        "--scheduler-timeout",
        "42.5",
        "--hello-timeout",
        "11",
        "--slurm-mode",
        "allocation",
        "--shared-group",
    ]);
}

#[test]
fn a_task_file_named_like_a_flag_round_trips() {
    assert_round_trip(&["submit", "--", "--force"]);
    assert_eq!(
        parse(["submit", "--", "--force"]).task_file,
        PathBuf::from("--force")
    );
}

#[test]
fn the_detached_child_keeps_every_setting_and_runs_in_the_foreground() {
    // The bug this guards: the non-SLURM child dropped --template and the poll intervals.
    for backend in ["local", "lsf", "slurm"] {
        let parent = parse([
            "submit",
            "task.json",
            "--backend",
            backend,
            "--detach",
            "--json",
            "--template",
            "t.tmpl",
            "--poll-interval",
            "0.5",
            "--max-poll-interval",
            "9",
            "--scheduler-timeout",
            "30",
            "--hello-timeout",
            "12",
            "--max-failed-starts",
            "3",
            "--force",
            "--shared-group",
        ]);
        let child = parent.detached_child(
            "/abs/task.json".into(),
            "/abs/task.ledger".into(),
            Some("/abs/t.tmpl".into()),
        );
        let parsed = parse(child.to_argv());
        assert_eq!(parsed, child, "{backend}");
        assert_eq!(parsed.task_file, PathBuf::from("/abs/task.json"));
        assert_eq!(parsed.ledger, Some(PathBuf::from("/abs/task.ledger")));
        assert_eq!(parsed.template, Some(PathBuf::from("/abs/t.tmpl")));
        assert!(!parsed.detach && !parsed.json && parsed.quiet, "{backend}");
        assert_eq!((parsed.poll_interval, parsed.max_poll_interval), (0.5, 9.0));
        assert_eq!(parsed.scheduler_timeout, 30.0);
        assert_eq!(parsed.hello_timeout, Some(12.0));
        assert_eq!(parsed.max_failed_starts, Some(3));
        assert!(parsed.force && parsed.shared_group && !parsed.dry_run);
        assert_eq!(parsed.backend, parent.backend);
        let mode = if parent.backend == Some(BackendKind::Slurm) {
            SlurmModeArg::Submit
        } else {
            SlurmModeArg::Auto
        };
        assert_eq!(parsed.slurm_mode, mode, "{backend}");
    }
}
