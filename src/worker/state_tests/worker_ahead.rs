//! Write-ahead into the worker program beside a persistent check program: blocks checked not
//! done wait in the worker's stdin, blocks it reported wait for their post-check in the check
//! program's stdin, and every timeout, death and stop keeps its guarantee.

use super::check_ahead::{check_died_for, checks_ahead, finished, sigterm_stops_both};
use super::checks::{checker_spawned, sent_to};
use super::*;

/// The actions' `CloseStdin` targets.
fn closed(actions: &[Action]) -> Vec<ProcId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CloseStdin(p) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Blocks 1..=6 with short blocks: 1 was checked not done and reported, 2 runs in the worker,
/// 3 waits in the worker's stdin, 1 waits for its post-check behind the pre-checks of 4, 5, 6
/// in the check program's stdin.
fn pipelined() -> (AgentState, Clock, ProcId, ProcId) {
    let (mut st, clock, prog, checker) = checks_ahead();
    for (b, to_worker) in [(1, [1]), (2, [2]), (3, [3])] {
        let a = answer(&mut st, checker, b, "not_done", clock.now());
        assert_eq!(sent_to(&a, prog), to_worker, "{a:?}");
        assert!(
            records(&a).is_empty(),
            "not started before the worker takes it: {a:?}"
        );
    }
    let a = answer(&mut st, prog, 1, "done", clock.now());
    assert_eq!(sent_to(&a, checker), [1]);
    assert_eq!(
        started(&a),
        [2],
        "the worker takes up the next block at once"
    );
    assert!(finished(&a).is_empty());
    (st, clock, prog, checker)
}

#[test]
fn the_worker_gets_the_next_block_while_the_last_one_waits_for_its_check() {
    let (mut st, clock, prog, checker) = pipelined();
    let a = answer(&mut st, prog, 2, "done", clock.now());
    assert_eq!(sent_to(&a, checker), [2]);
    assert_eq!(started(&a), [3]);
    assert_eq!(
        st.slots()[0].post.len(),
        2,
        "1 and 2 wait for their post-check"
    );
    for b in [4, 5, 6] {
        let a = answer(&mut st, checker, b, "done", clock.now());
        assert_eq!(finished(&a), [(b, Outcome::Skipped)]);
        assert!(
            sent_to(&a, prog).is_empty(),
            "a skipped block never reaches the worker"
        );
    }
    for b in [1, 2] {
        let a = answer(&mut st, checker, b, "done", clock.now());
        assert_eq!(finished(&a), [(b, Outcome::Done)]);
    }
}

#[test]
fn answer_about_another_block_fails_the_post_check_it_owed() {
    let (mut st, clock, prog, checker) = pipelined();
    for b in [4, 5, 6] {
        answer(&mut st, checker, b, "done", clock.now());
    }
    answer(&mut st, prog, 2, "done", clock.now());
    // The check program owes block 1's answer and gives block 2's.
    let a = answer(&mut st, checker, 2, "done", clock.now());
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    assert!(
        finished(&a).is_empty(),
        "ends with the program's exit: {a:?}"
    );
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    let done = finished(&a);
    assert_eq!(done.len(), 1, "{a:?}");
    let (kind, msg) = failure(&a);
    assert_eq!((done[0].0, kind), (1, FailureKind::CheckFailed));
    assert!(msg.contains("block 2") && msg.contains("block 1"), "{msg}");
    // Block 2's post-check goes to the next check program; the worker was not touched.
    let second = checker_spawned(&a);
    assert_eq!(sent_to(&a, second), [2]);
    assert!(!a.contains(&Action::Terminate(prog)));
    let a = answer(&mut st, second, 2, "done", clock.now());
    assert_eq!(finished(&a), [(2, Outcome::Done)]);
}

#[test]
fn timeout_of_the_running_block_leaves_the_blocks_waiting_in_stdins_unstarted() {
    let (mut st, mut clock, prog, checker) = pipelined();
    for b in [4, 5, 6, 1] {
        answer(&mut st, checker, b, "done", clock.now());
    }
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    assert!(!a.contains(&Action::Terminate(checker)), "{a:?}");
    assert!(finished(&a).is_empty() && started(&a).is_empty(), "{a:?}");
    let a = st.handle_event(signalled(prog, libc::SIGTERM), clock.now());
    assert_eq!(finished(&a).len(), 1, "{a:?}");
    assert_eq!(finished(&a)[0].0, 2);
    assert_eq!(failure(&a).0, FailureKind::Timeout);
    // Block 3 waited in the worker's stdin: it never started, so it did not time out; it is
    // checked again and runs in a new worker program.
    assert_eq!(started(&a), [3]);
    assert_eq!(sent_to(&a, checker), [3]);
    assert_eq!(spawned(&a)[0].1, ProcKind::Program);
}

#[test]
fn worker_death_fails_only_its_running_block_and_requeues_the_others_once_it_is_gone() {
    let (mut st, clock, prog, checker) = pipelined();
    // It dies running 2 with 3 in its stdin: 3 never started, it is checked again.
    let a = st.handle_event(signalled(prog, libc::SIGKILL), clock.now());
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::ProgramDied);
    assert!(msg.contains("while running block 2"), "{msg}");
    assert_eq!(finished(&a).len(), 1, "{a:?}");
    assert!(!started(&a).contains(&3), "{a:?}");
    assert_eq!(sent_to(&a, checker), [3], "3 is checked again");
    assert!(!a.contains(&Action::Terminate(checker)), "{a:?}");
    let new_prog = spawned(&a)[0].0;
    // A block written ahead is revoked: the worker holding it must end before the running
    // block is given back.
    for b in [4, 5, 6] {
        answer(&mut st, checker, b, "not_done", clock.now());
    }
    let a = st.handle_event(Event::Revoke(key(6)), clock.now());
    assert_eq!(
        a,
        [Action::Terminate(new_prog)],
        "6 is in its stdin: it must end first"
    );
    let a = st.handle_event(signalled(new_prog, libc::SIGTERM), clock.now());
    assert_eq!(
        abandoned_blocks(&a),
        [4],
        "the running block goes back, once its program is gone"
    );
    assert!(finished(&a).is_empty(), "{a:?}");
    assert_eq!(
        sent_to(&a, checker),
        [5],
        "5 never started: it is checked again"
    );
    assert_eq!(
        started(&a),
        [3],
        "3's pre-check is next: the slot's attempt now"
    );
}

#[test]
fn check_program_death_with_pre_and_post_checks_pending() {
    let (mut st, clock, prog, checker) = pipelined();
    answer(&mut st, prog, 2, "done", clock.now());
    // It holds the pre-checks of 4, 5, 6 and the post-checks of 1 and 2; it dies on 4.
    let a = st.handle_event(signalled(checker, libc::SIGKILL), clock.now());
    assert_eq!(check_died_for(&a), 4);
    assert!(
        !a.contains(&Action::Terminate(prog)),
        "the worker runs on: {a:?}"
    );
    let second = checker_spawned(&a);
    assert_eq!(sent_to(&a, second), [1, 2, 5, 6]);
    // It dies on block 1's post-check: 1 fails, 2 goes on to the third.
    let a = st.handle_event(signalled(second, libc::SIGKILL), clock.now());
    assert_eq!(check_died_for(&a), 1);
    let third = checker_spawned(&a);
    assert_eq!(sent_to(&a, third), [2, 5, 6]);
    for (b, outcome) in [
        (2, Outcome::Done),
        (5, Outcome::Skipped),
        (6, Outcome::Skipped),
    ] {
        let a = answer(&mut st, third, b, "done", clock.now());
        assert_eq!(finished(&a), [(b, outcome)]);
    }
}

#[test]
fn sigterm_gives_back_each_block_only_after_the_program_holding_it_exited() {
    let (mut st, clock, prog, checker) = pipelined();
    sigterm_stops_both(&mut st, clock.now(), prog, checker);
    // The check program exits first: the post-check of 1 and the pre-checks of 4, 5, 6.
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert_eq!(given_back(&a), [1, 4, 5, 6]);
    assert!(!a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
    // The worker: the running block 2 and block 3 in its stdin.
    let a = st.handle_event(signalled(prog, libc::SIGTERM), clock.now());
    assert_eq!(given_back(&a), [2, 3]);
    assert!(finished(&a).is_empty(), "{a:?}");
    assert!(a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
}

#[test]
fn drain_runs_everything_held_and_closes_each_program_when_it_holds_nothing() {
    let (mut st, clock, prog, checker) = pipelined();
    let a = st.handle_event(Event::Stop("done".into()), clock.now());
    assert!(closed(&a).is_empty(), "{a:?}");
    let a = answer(&mut st, checker, 4, "not_done", clock.now());
    assert_eq!(sent_to(&a, prog), [4], "a drain keeps feeding the worker");
    for b in [5, 6, 1] {
        let a = answer(&mut st, checker, b, "done", clock.now());
        assert!(closed(&a).is_empty(), "{a:?}");
    }
    for b in [2, 3] {
        let a = answer(&mut st, prog, b, "done", clock.now());
        assert!(closed(&a).is_empty(), "{a:?}");
    }
    let a = answer(&mut st, prog, 4, "done", clock.now());
    assert_eq!(closed(&a), [prog], "the worker holds nothing more");
    for b in [2, 3] {
        let a = answer(&mut st, checker, b, "done", clock.now());
        assert!(closed(&a).is_empty(), "{a:?}");
    }
    let a = answer(&mut st, checker, 4, "done", clock.now());
    assert_eq!(finished(&a), [(4, Outcome::Done)]);
    assert_eq!(closed(&a), [checker]);
    st.handle_event(signalled(prog, 0), clock.now());
    let a = st.handle_event(signalled(checker, 0), clock.now());
    assert!(a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
}

#[test]
fn a_slow_post_check_answer_does_not_make_blocks_look_long() {
    let (mut st, mut clock, _prog, checker) = pipelined();
    for b in [4, 5, 6] {
        answer(&mut st, checker, b, "not_done", clock.now());
    }
    // Block 1 waited 20 ms for its post-check behind other checks; the worker had it for no
    // time at all, so blocks are still short and the next one is written ahead.
    clock.advance(Duration::from_millis(20));
    let a = answer(&mut st, checker, 1, "done", clock.now());
    assert_eq!(finished(&a), [(1, Outcome::Done)]);
    let a = assign(&mut st, 7, clock.now());
    assert_eq!(sent_to(&a, checker), [7], "{a:?}");
}

#[test]
fn a_post_check_past_the_timeout_terminates_the_check_program_for_it() {
    let (mut st, mut clock, prog, checker) = pipelined();
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    // Block 1 (waiting for its post-check) and block 2 (running) are both past the timeout.
    assert!(a.contains(&Action::Terminate(checker)), "{a:?}");
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    assert!(
        finished(&a).is_empty(),
        "ends with the programs' exits: {a:?}"
    );
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert_eq!(finished(&a).len(), 1, "{a:?}");
    assert_eq!(finished(&a)[0].0, 1);
    assert_eq!(failure(&a).0, FailureKind::Timeout);
    assert_eq!(st.queued(), 3, "4, 5, 6 never started: queued again");
    let a = st.handle_event(signalled(prog, libc::SIGTERM), clock.now());
    assert_eq!(finished(&a).len(), 1, "{a:?}");
    assert_eq!(finished(&a)[0].0, 2);
    assert_eq!(failure(&a).0, FailureKind::Timeout);
    // Block 3 waited in the worker's stdin: it is checked again before it runs.
    assert_eq!(started(&a), [3]);
    assert_eq!(sent_to(&a, checker_spawned(&a)), [3]);
}

#[test]
fn revoking_a_block_waiting_for_its_post_check_restarts_the_check_program_without_it() {
    let (mut st, clock, prog, checker) = pipelined();
    let a = st.handle_event(Event::Revoke(key(1)), clock.now());
    assert_eq!(
        a,
        [Action::Terminate(checker)],
        "only its exit keeps the answer from coming"
    );
    let a = st.handle_event(signalled(checker, libc::SIGTERM), clock.now());
    assert!(
        records(&a).is_empty(),
        "nothing is reported for a revoked attempt: {a:?}"
    );
    assert!(
        !a.contains(&Action::Terminate(prog)),
        "the worker runs on: {a:?}"
    );
    assert_eq!(st.queued(), 3, "4, 5, 6 never started: queued again");
}
