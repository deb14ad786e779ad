//! Checks answered by a persistent check program or by the worker program itself.

use super::*;

/// A persistent agent whose task has a persistent check program.
pub(super) fn with_checker() -> (AgentState, Clock, ProcId) {
    let mut p = policy(false, true);
    p.persistent_check = true;
    with_policy(p)
}

/// The persistent check program started by `actions`.
pub(super) fn checker_spawned(actions: &[Action]) -> ProcId {
    let spawns = spawned(actions);
    let found = spawns.iter().find(|(_, k)| *k == ProcKind::Checker);
    found.expect("a check program is started").0
}

pub(super) fn sent_to(actions: &[Action], to: ProcId) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { proc, block, .. } if *proc == to => Some(block.block_id),
            _ => None,
        })
        .collect()
}

#[test]
fn persistent_check_skips_done_blocks_and_checks_the_others_after_they_ran() {
    let (mut st, mut clock, prog) = with_checker();
    let a = assign(&mut st, 1, clock.now());
    let checker = checker_spawned(&a);
    assert_eq!(sent_to(&a, checker), [1]);
    assert!(
        sent_to(&a, prog).is_empty(),
        "the worker waits for the check"
    );
    // Block 1 is done already: skipped, the worker never sees it.
    let a = st.handle_event(
        report(checker, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Skipped));
    assert!(sent_to(&a, prog).is_empty());
    // Block 2 is not: it runs, then the same check program checks it again.
    let a = assign(&mut st, 2, clock.now());
    assert!(spawned(&a).is_empty(), "the check program is reused: {a:?}");
    assert_eq!(sent_to(&a, checker), [2]);
    let a = st.handle_event(
        report(checker, r#"{"block_id":2,"status":"not_done"}"#),
        clock.now(),
    );
    assert_eq!(sent_to(&a, prog), [2]);
    assert_eq!(outcome(&a), None);
    clock.advance(Duration::from_millis(3));
    let a = st.handle_event(
        report(prog, r#"{"block_id":2,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent_to(&a, checker), [2]);
    assert_eq!(outcome(&a), None);
    let a = st.handle_event(
        report(checker, r#"{"block_id":2,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    // Block 3 ran but its output is missing: the check fails it with its words.
    assign(&mut st, 3, clock.now());
    st.handle_event(
        report(checker, r#"{"block_id":3,"status":"not_done"}"#),
        clock.now(),
    );
    st.handle_event(
        report(prog, r#"{"block_id":3,"status":"done"}"#),
        clock.now(),
    );
    let a = st.handle_event(
        report(
            checker,
            r#"{"block_id":3,"status":"not_done","error":"no output"}"#,
        ),
        clock.now(),
    );
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::CheckFailed);
    assert!(
        msg.contains("not done") && msg.ends_with("no output"),
        "{msg}"
    );
}

#[test]
fn dead_check_program_fails_its_block_is_restarted_and_bounded() {
    let (mut st, clock, prog) = with_checker();
    let a = assign(&mut st, 1, clock.now());
    let mut checker = checker_spawned(&a);
    for block in 2..=3 {
        assign(&mut st, block, clock.now());
    }
    for crash in 1..=3u64 {
        let a = st.handle_event(
            Event::Exited {
                proc: checker,
                exit: exit(None, Some(9)),
                stderr_tail: "Segmentation fault".into(),
            },
            clock.now(),
        );
        let (kind, msg) = failure(&a);
        assert_eq!(kind, FailureKind::CheckFailed);
        assert!(
            msg.contains(&format!(
                "the check program died (signal 9 (SIGKILL)) while checking block {crash}"
            )) && msg.contains("Segmentation fault"),
            "{msg}"
        );
        if crash < 3 {
            // The next block gets a new check program (the blocks behind it are written
            // ahead to it, since the failed check was short).
            checker = checker_spawned(&a);
            assert_eq!(sent_to(&a, checker)[0], crash + 1);
        } else {
            assert!(a.contains(&Action::Terminate(prog)), "gives up: {a:?}");
            let a = st.handle_event(signalled(prog, libc::SIGTERM), clock.now());
            assert!(
                a.contains(&Action::Exit(crate::worker::AgentExit::GaveUp)),
                "three deaths in a row give up: {a:?}"
            );
            let bye = records(&a).into_iter().find_map(|r| match r {
                OutboxRecord::Bye { reason, .. } => Some(reason.clone()),
                _ => None,
            });
            assert!(
                bye.is_some_and(|r| r.contains("check program of slot 0 ended 3 times")),
                "{a:?}"
            );
        }
    }
}

#[test]
fn check_program_that_does_not_answer_times_out() {
    let (mut st, mut clock, _prog) = with_checker();
    let a = assign(&mut st, 1, clock.now());
    let checker = checker_spawned(&a);
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert_eq!(failure(&a).0, FailureKind::Timeout);
    // The next block starts a new check program.
    let a = assign(&mut st, 2, clock.now());
    assert_ne!(checker_spawned(&a), checker);
}

#[test]
fn check_program_answering_for_another_block_fails_the_check() {
    let (mut st, clock, _prog) = with_checker();
    let a = assign(&mut st, 1, clock.now());
    let checker = checker_spawned(&a);
    let a = st.handle_event(
        report(checker, r#"{"block_id":9,"status":"done"}"#),
        clock.now(),
    );
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::CheckFailed);
    assert!(msg.contains("block 9"), "{msg}");
}

#[test]
fn stop_closes_the_check_program_with_the_worker() {
    let (mut st, clock, prog) = with_checker();
    let a = assign(&mut st, 1, clock.now());
    let checker = checker_spawned(&a);
    st.handle_event(
        report(checker, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    let a = st.handle_event(Event::Stop("done".into()), clock.now());
    assert!(a.contains(&Action::CloseStdin(prog)), "{a:?}");
    assert!(a.contains(&Action::CloseStdin(checker)), "{a:?}");
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert!(
        !a.iter().any(|x| matches!(x, Action::Exit(_))),
        "waits for the check program"
    );
    let a = st.handle_event(
        Event::Exited {
            proc: checker,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert!(
        a.contains(&Action::Exit(crate::worker::AgentExit::Stopped)),
        "{a:?}"
    );
}

#[test]
fn worker_answers_the_pre_check_and_skipped_blocks_are_written_ahead() {
    let (mut st, mut clock, prog) = persistent(false);
    for b in 1..=8 {
        assign(&mut st, b, clock.now());
    }
    clock.advance(Duration::from_micros(5));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"skipped"}"#),
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Skipped));
    // A skipped block is a short block: the rest is written ahead at once.
    assert_eq!(sent(&a), [2, 3, 4, 5, 6, 7, 8], "{a:?}");
    let a = st.handle_event(
        report(prog, r#"{"block_id":2,"status":"not_done"}"#),
        clock.now(),
    );
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::BlockError);
    assert!(msg.contains("only a check program"), "{msg}");
}
