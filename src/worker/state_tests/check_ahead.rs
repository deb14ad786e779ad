//! Pre-checks written ahead to a persistent check program: answered in order, kept until
//! their block starts, and what happens to them when the program dies or the agent stops.

use super::checks::{checker_spawned, sent_to, with_checker};
use super::*;

/// The Finished outcomes in `actions`, by block, in order.
pub(super) fn finished(actions: &[Action]) -> Vec<(u64, Outcome)> {
    records(actions)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Finished { block, outcome, .. } => Some((*block, outcome.clone())),
            _ => None,
        })
        .collect()
}

/// An agent with a check program that answered block 100 quickly (blocks are short), then
/// blocks 1..=6 assigned: 1 is in its pre-check, 2..=6 written ahead to the check program.
pub(super) fn checks_ahead() -> (AgentState, Clock, ProcId, ProcId) {
    let (mut st, mut clock, prog) = with_checker();
    let a = assign(&mut st, 100, clock.now());
    let checker = checker_spawned(&a);
    clock.advance(Duration::from_micros(5));
    let a = answer(&mut st, checker, 100, "done", clock.now());
    assert_eq!(outcome(&a), Some(&Outcome::Skipped));
    let mut to_checker = Vec::new();
    for b in 1..=6 {
        to_checker.extend(sent_to(&assign(&mut st, b, clock.now()), checker));
    }
    assert_eq!(
        to_checker,
        [1, 2, 3, 4, 5, 6],
        "pre-checks are written ahead"
    );
    assert_eq!(st.queued(), 0);
    (st, clock, prog, checker)
}

#[test]
fn answers_come_in_order_with_pre_and_post_checks_interleaved() {
    let (mut st, clock, prog, checker) = checks_ahead();
    let a = answer(&mut st, checker, 1, "not_done", clock.now());
    assert_eq!(sent_to(&a, prog), [1]);
    // Block 2 is done: skipped at once, while 1 runs; it never reaches the worker.
    let a = answer(&mut st, checker, 2, "done", clock.now());
    assert_eq!(finished(&a), [(2, Outcome::Skipped)], "{a:?}");
    assert!(sent_to(&a, prog).is_empty());
    // Block 3 is not: written ahead to the worker behind 1, not started yet.
    let a = answer(&mut st, checker, 3, "not_done", clock.now());
    assert_eq!(sent_to(&a, prog), [3]);
    assert!(records(&a).is_empty(), "{a:?}");
    // Block 1 is reported: its post-check goes behind the pre-checks still unanswered (4, 5,
    // 6) and the worker takes up 3 at once.
    let a = answer(&mut st, prog, 1, "done", clock.now());
    assert_eq!(sent_to(&a, checker), [1]);
    assert_eq!(started(&a), [3]);
    assert!(finished(&a).is_empty(), "{a:?}");
    let a = answer(&mut st, checker, 4, "done", clock.now());
    assert_eq!(finished(&a), [(4, Outcome::Skipped)], "{a:?}");
    // Block 3 is reported: its post-check goes behind 5, 6 and 1; the worker is idle, so 5
    // waits for its pre-check as the slot's attempt.
    let a = answer(&mut st, prog, 3, "done", clock.now());
    assert_eq!(sent_to(&a, checker), [3]);
    assert_eq!(started(&a), [5]);
    let a = answer(&mut st, checker, 5, "not_done", clock.now());
    assert_eq!(sent_to(&a, prog), [5]);
    let a = answer(&mut st, checker, 6, "done", clock.now());
    assert_eq!(finished(&a), [(6, Outcome::Skipped)], "{a:?}");
    let a = answer(&mut st, checker, 1, "done", clock.now());
    assert_eq!(finished(&a), [(1, Outcome::Done)], "{a:?}");
    let a = answer(&mut st, checker, 3, "not_done", clock.now());
    assert_eq!(failure(&a).0, FailureKind::CheckFailed);
    let a = answer(&mut st, prog, 5, "done", clock.now());
    assert_eq!(sent_to(&a, checker), [5]);
    let a = answer(&mut st, checker, 5, "done", clock.now());
    assert_eq!(finished(&a), [(5, Outcome::Done)], "{a:?}");
    assert!(!st.is_busy());
}

/// The one attempt `actions` fail, with `CheckFailed` and a message about its own block.
pub(super) fn check_died_for(actions: &[Action]) -> u64 {
    let done = finished(actions);
    assert_eq!(done.len(), 1, "{actions:?}");
    let (block, outcome) = &done[0];
    let about = format!("the check program died (signal 9 (SIGKILL)) while checking block {block}");
    assert!(
        matches!(outcome, Outcome::Failed { kind: FailureKind::CheckFailed, message }
            if message.contains(&about)),
        "{outcome:?}"
    );
    *block
}

#[test]
fn dead_check_program_fails_only_the_block_it_checked_and_the_others_go_to_the_next() {
    let (mut st, clock, prog, checker) = checks_ahead();
    answer(&mut st, checker, 1, "not_done", clock.now());
    answer(&mut st, checker, 2, "done", clock.now());
    // Block 1's post-check waits behind the pre-checks of 3..=6; 3 is the slot's attempt.
    let a = answer(&mut st, prog, 1, "done", clock.now());
    assert_eq!(sent_to(&a, checker), [1]);
    assert_eq!(started(&a), [3]);
    // It dies while checking block 3: only 3 fails; block 1's post-check goes to the next
    // check program, and the blocks that never started are written to it again.
    let a = st.handle_event(signalled(checker, libc::SIGKILL), clock.now());
    assert_eq!(check_died_for(&a), 3);
    let second = checker_spawned(&a);
    assert_eq!(sent_to(&a, second), [1, 4, 5, 6]);
    assert_eq!(started(&a), [4]);
    // It dies while post-checking block 1 with 4, 5, 6 behind it: only block 1 fails.
    let a = st.handle_event(signalled(second, libc::SIGKILL), clock.now());
    assert_eq!(check_died_for(&a), 1);
    let third = checker_spawned(&a);
    assert_eq!(sent_to(&a, third), [4, 5, 6]);
    // Two deaths in a row without an answer; the third one gives up.
    let a = st.handle_event(signalled(third, libc::SIGKILL), clock.now());
    assert_eq!(check_died_for(&a), 4);
    assert!(a.contains(&Action::Terminate(prog)), "gives up: {a:?}");
}

/// SIGTERM terminates the worker program `prog` and the check program `checker`, and gives
/// nothing back before they are gone.
pub(super) fn sigterm_stops_both(st: &mut AgentState, now: Now, prog: ProcId, checker: ProcId) {
    let a = st.handle_event(Event::Signal(libc::SIGTERM), now);
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    assert!(
        given_back(&a).is_empty(),
        "nothing before the programs are gone"
    );
}

#[test]
fn stop_gives_back_pre_checks_written_ahead_only_once_the_check_program_is_gone() {
    let (mut st, clock, prog, checker) = checks_ahead();
    answer(&mut st, checker, 1, "not_done", clock.now());
    sigterm_stops_both(&mut st, clock.now(), prog, checker);
    let a = st.handle_event(signalled(prog, libc::SIGTERM), clock.now());
    assert_eq!(given_back(&a), [1]);
    assert!(!a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert_eq!(given_back(&a), [2, 3, 4, 5, 6]);
    assert!(a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
}

#[test]
fn answer_about_another_block_fails_the_pre_check_it_should_have_answered() {
    let (mut st, clock, _prog, checker) = checks_ahead();
    answer(&mut st, checker, 1, "not_done", clock.now());
    let a = answer(&mut st, checker, 9, "done", clock.now());
    assert_eq!(started(&a), [2]);
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::CheckFailed);
    assert!(msg.contains("block 9") && msg.contains("block 2"), "{msg}");
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert!(finished(&a).is_empty(), "{a:?}");
    assert_eq!(st.queued(), 4, "3..=6 go back to the queue");
}

#[test]
fn revoking_a_block_written_ahead_restarts_the_check_program_without_it() {
    let (mut st, clock, _prog, checker) = checks_ahead();
    answer(&mut st, checker, 1, "not_done", clock.now());
    let a = st.handle_event(Event::Revoke(key(3)), clock.now());
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert!(records(&a).is_empty(), "{a:?}");
    assert_eq!(st.queued(), 4, "2, 4, 5, 6 go back to the queue");
}

#[test]
fn timed_out_check_fails_its_attempt_and_the_pre_checks_behind_it_go_back_to_the_queue() {
    let (mut st, mut clock, _prog, checker) = checks_ahead();
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    assert!(records(&a)
        .iter()
        .all(|r| !matches!(r, OutboxRecord::Finished { .. })));
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    let done = finished(&a);
    assert_eq!(
        done.len(),
        1,
        "only the attempt that timed out fails: {a:?}"
    );
    assert_eq!(done[0].0, 1);
    assert_eq!(failure(&a).0, FailureKind::Timeout);
    // 2..=6 never started: block 2 starts with a new check program, the rest wait in the
    // queue (the long attempt makes blocks no longer short).
    let second = checker_spawned(&a);
    assert_eq!(started(&a), [2]);
    assert_eq!(sent_to(&a, second), [2]);
    assert_eq!(st.queued(), 4);
}

#[test]
fn drain_runs_the_pre_checks_written_ahead_before_closing_the_check_program() {
    let (mut st, clock, prog, checker) = checks_ahead();
    let a = st.handle_event(Event::Stop("done".into()), clock.now());
    assert!(!a.contains(&Action::CloseStdin(checker)), "{a:?}");
    for b in 1..=5 {
        let a = answer(&mut st, checker, b, "done", clock.now());
        assert!(!a.contains(&Action::CloseStdin(checker)), "{a:?}");
    }
    let a = answer(&mut st, checker, 6, "done", clock.now());
    assert_eq!(finished(&a), [(6, Outcome::Skipped)]);
    assert!(a.contains(&Action::CloseStdin(checker)), "{a:?}");
    assert!(a.contains(&Action::CloseStdin(prog)), "{a:?}");
}
