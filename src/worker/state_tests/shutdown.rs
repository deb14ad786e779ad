//! Ending the agent: Stop, signals, the orchestrator gone, an unwritable ledger, the walltime.

use super::*;

#[test]
fn stop_drains_queue_then_closes_stdin_and_says_bye() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    assign(&mut st, 2, clock.now());
    let a = st.handle_event(Event::Stop("run complete".into()), clock.now());
    assert!(!a.contains(&Action::CloseStdin(prog)));
    st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    let a = st.handle_event(
        report(prog, r#"{"block_id":2,"status":"done"}"#),
        clock.now(),
    );
    assert!(a.contains(&Action::CloseStdin(prog)), "{a:?}");
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert!(matches!(records(&a)[0], OutboxRecord::Bye { .. }));
    assert_eq!(
        a.last(),
        Some(&Action::Exit(crate::worker::AgentExit::Stopped))
    );
}

#[test]
fn signal_gives_back_queued_blocks_at_once_and_the_running_one_when_its_program_is_gone() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    assign(&mut st, 2, clock.now());
    let a = st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    assert_eq!(given_back(&a), [2], "only the block no program has seen");
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(given_back(&a).is_empty(), "still running: {a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(
        outcome(&a).is_none(),
        "no Finished after giving back: {a:?}"
    );
    assert_eq!(given_back(&a), [1]);
    assert_eq!(
        a.last(),
        Some(&Action::Exit(crate::worker::AgentExit::Signalled(15)))
    );
}

#[test]
fn a_program_that_finishes_its_block_after_the_signal_gets_it_counted() {
    let (mut st, mut clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    clock.advance(Duration::from_secs(3));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(given_back(&a).is_empty(), "{a:?}");
    assert!(outcome(&a).is_none());
}

#[test]
fn a_terminated_program_is_waited_for_however_long_it_takes() {
    let (mut st, mut clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    for _ in 0..10 {
        clock.advance(Duration::from_secs(60));
        let a = st.handle_event(Event::Tick, clock.now());
        assert!(given_back(&a).is_empty(), "{a:?}");
        assert!(!a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
    }
    let a = st.handle_event(signalled(prog, 9), clock.now());
    assert_eq!(given_back(&a), [1]);
}

#[test]
fn orchestrator_gone_reports_nothing_more() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    let a = st.handle_event(Event::OrchestratorGone("parent died".into()), clock.now());
    assert!(records(&a).is_empty(), "{a:?}");
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let recs = records(&a);
    assert_eq!(recs.len(), 1);
    assert!(matches!(recs[0], OutboxRecord::Bye { reason, .. } if reason.contains("parent died")));
}

#[test]
fn an_unwritable_ledger_stops_the_agent_with_its_own_exit_code() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    let a = st.handle_event(Event::LedgerUnwritable("ENOSPC".into()), clock.now());
    assert!(records(&a).is_empty(), "nothing given back: {a:?}");
    assert!(a.contains(&Action::Terminate(prog)));
    // A SIGTERM meanwhile does not turn it into a signalled exit (charged differently).
    st.handle_event(Event::Signal(15), clock.now());
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(
        a.contains(&Action::Exit(crate::worker::AgentExit::LedgerUnwritable)),
        "{a:?}"
    );
    assert_eq!(crate::worker::AgentExit::LedgerUnwritable.code(), 5);
}

#[test]
fn walltime_refuses_blocks_that_cannot_finish() {
    let mut clock = Clock::new();
    let mut p = policy(true, false);
    let now_s = clock.unix_us as f64 / 1e6;
    p.deadline_unix = Some(now_s + 100.0);
    p.deadline_margin = Duration::from_secs(10);
    let mut st = AgentState::new(p);
    st.start(clock.now());
    let a = assign(&mut st, 1, clock.now());
    let run = spawned(&a)[0].0;
    clock.advance(Duration::from_secs(50));
    st.handle_event(
        Event::Exited {
            proc: run,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    // 50 s left, mean 50 s + margin 10 s: does not fit.
    let a = assign(&mut st, 2, clock.now());
    assert!(spawned(&a).is_empty());
    assert!(records(&a)
        .iter()
        .any(|r| matches!(r, OutboxRecord::Abandoned { block: 2, .. })));
    assert!(records(&a)
        .iter()
        .any(|r| matches!(r, OutboxRecord::Bye { reason, .. } if reason.starts_with("walltime"))));
    assert_eq!(
        a.last(),
        Some(&Action::Exit(crate::worker::AgentExit::Walltime))
    );
}
