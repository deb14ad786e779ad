//! A program's start-up: the ready line, the start-up limit and how it combines with the task's timeout.

use super::*;

#[test]
fn ready_line_starts_the_first_blocks_clock() {
    let (mut st, mut clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    clock.advance(Duration::from_secs(8)); // loading a model
    st.handle_event(Event::Ready(prog), clock.now());
    clock.advance(Duration::from_secs(4)); // 12 s after the hand-over, 4 s after ready
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
    clock.advance(Duration::from_secs(7)); // 11 s after ready
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let (kind, message) = failure(&a);
    assert_eq!(kind, FailureKind::Timeout);
    assert!(message.contains("timeout of 10.0s"), "{message}");
}

#[test]
fn startup_timeout_bounds_a_program_that_never_gets_ready() {
    let mut p = policy(false, false);
    p.startup_timeout = Some(Duration::from_secs(60));
    let (mut st, mut clock, mut prog) = with_policy(p);
    for round in 1..=3u64 {
        assign(&mut st, round, clock.now());
        clock.advance(Duration::from_secs(30)); // past timeout, within the start-up limit
        let a = st.handle_event(Event::Tick, clock.now());
        assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
        clock.advance(Duration::from_secs(31));
        let a = st.handle_event(Event::Tick, clock.now());
        assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
        let a = st.handle_event(signalled(prog, 15), clock.now());
        let (kind, message) = failure(&a);
        assert_eq!(kind, FailureKind::Timeout);
        assert!(message.contains("within 60.0s of starting"), "{message}");
        assert!(message.contains("worker.startup_timeout"), "{message}");
        if round < 3 {
            prog = spawned(&a)[0].0;
        } else {
            // Three start-ups in a row that never got ready: the agent gives up.
            assert!(
                matches!(
                    a.last(),
                    Some(Action::Exit(crate::worker::AgentExit::GaveUp))
                ),
                "{a:?}"
            );
        }
    }
}

#[test]
fn an_idle_fresh_program_does_not_eat_into_the_first_blocks_timeout() {
    // No ready line, no startup_timeout: the first block still gets the whole timeout from
    // its hand-over, however long the program waited for it.
    let (mut st, mut clock, prog) = persistent(false);
    clock.advance(Duration::from_secs(50));
    assign(&mut st, 1, clock.now());
    clock.advance(Duration::from_secs(9));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
    clock.advance(Duration::from_secs(2));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn a_first_report_ends_the_start_up_too() {
    // No ready line: the first block's report says the program is up, so later blocks get
    // the plain timeout (10 s), not the start-up allowance (60 s).
    let mut p = policy(false, false);
    p.startup_timeout = Some(Duration::from_secs(60));
    let (mut st, mut clock, prog) = with_policy(p);
    assign(&mut st, 1, clock.now());
    clock.advance(Duration::from_secs(20));
    st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    let a = assign(&mut st, 2, clock.now());
    assert_eq!(sent(&a), [2]);
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn a_start_up_limit_shorter_than_the_timeout_waits_for_both() {
    let mut p = policy(false, false);
    p.startup_timeout = Some(Duration::from_secs(2));
    let (mut st, mut clock, prog) = with_policy(p);
    assign(&mut st, 1, clock.now());
    clock.advance(Duration::from_secs(5)); // past the start-up limit, within the timeout
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
    clock.advance(Duration::from_secs(6));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn a_start_up_limit_without_a_task_timeout_still_bounds_the_start_up() {
    let mut p = policy(false, false);
    p.timeout = None;
    p.startup_timeout = Some(Duration::from_secs(30));
    let (mut st, mut clock, prog) = with_policy(p);
    assign(&mut st, 1, clock.now());
    clock.advance(Duration::from_secs(31));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    // Once ready, no limit at all.
    let (mut st, mut clock, prog) = {
        let mut p = policy(false, false);
        p.timeout = None;
        p.startup_timeout = Some(Duration::from_secs(30));
        with_policy(p)
    };
    assign(&mut st, 1, clock.now());
    st.handle_event(Event::Ready(prog), clock.now());
    clock.advance(Duration::from_secs(3600));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
}
