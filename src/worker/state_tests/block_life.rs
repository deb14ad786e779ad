//! A block's life: assigned, sent, reported done or failed, checked, revoked; heartbeats.

use super::*;

#[test]
fn assigned_block_is_sent_and_reported_done_with_stats() {
    let (mut st, mut clock, prog) = persistent(false);
    let a = assign(&mut st, 7, clock.now());
    assert!(matches!(
        records(&a)[0],
        OutboxRecord::Started {
            block: 7,
            slot: 0,
            ..
        }
    ));
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == prog && block.block_id == 7)
    ));
    clock.advance(Duration::from_millis(1500));
    let a = st.handle_event(
        report(prog, r#"{"block_id":7,"status":"done"}"#),
        clock.now(),
    );
    let Some(OutboxRecord::Finished {
        outcome,
        stats,
        log_path,
        ..
    }) = records(&a).first().copied()
    else {
        panic!("no Finished in {a:?}");
    };
    assert_eq!(*outcome, Outcome::Done);
    assert_eq!(stats.wall_s, 1.5);
    assert_eq!(stats.cpu_s, 1.25);
    assert_eq!(stats.peak_rss_bytes, 1 << 20);
    assert_eq!(log_path, "workers/w/slot-0.stderr.log");
    assert!(!st.is_busy());
}

#[test]
fn resent_assignments_are_ignored() {
    let (mut st, clock, _) = persistent(false);
    assign(&mut st, 1, clock.now());
    assign(&mut st, 2, clock.now());
    assert_eq!(st.queued(), 1);
    let a = assign(&mut st, 2, clock.now());
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(st.queued(), 1);
}

#[test]
fn reported_failure_and_invalid_report() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":1,"status":"failed","error":"Traceback: boom"}"#,
        ),
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    assign(&mut st, 2, clock.now());
    let a = st.handle_event(report(prog, "not json"), clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    // Killed by us: not a crash, and a new program starts.
    assert_eq!(st.slots()[0].crashes, 0);
    assert_eq!(spawned(&a).len(), 1);
}

#[test]
fn check_skips_and_post_check_fails() {
    let clock = Clock::new();
    let mut st = AgentState::new(policy(true, true));
    assert!(spawned(&st.start(clock.now())).is_empty());
    let a = assign(&mut st, 1, clock.now());
    let (check, kind) = spawned(&a)[0].clone();
    assert!(matches!(kind, ProcKind::Check(_)));
    let a = st.handle_event(
        Event::Exited {
            proc: check,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Skipped));

    let a = assign(&mut st, 2, clock.now());
    let check = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::Exited {
            proc: check,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    let (run, kind) = spawned(&a)[0].clone();
    assert!(matches!(kind, ProcKind::PerBlock(_)));
    let a = st.handle_event(
        Event::Exited {
            proc: run,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    let post = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::Exited {
            proc: post,
            exit: exit(Some(2), None),
            stderr_tail: "output missing".into(),
        },
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::CheckFailed));
    let Some(OutboxRecord::Finished { stats, .. }) = records(&a).first().copied() else {
        panic!()
    };
    assert_eq!(stats.exit_code, Some(2));
    assert_eq!(stats.cpu_s, 1.5, "three processes of 0.5 s each");
}

#[test]
fn per_block_exit_codes() {
    let clock = Clock::new();
    let mut st = AgentState::new(policy(true, false));
    st.start(clock.now());
    let a = assign(&mut st, 1, clock.now());
    let run = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::Exited {
            proc: run,
            exit: exit(Some(3), None),
            stderr_tail: "bad input".into(),
        },
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    let a = assign(&mut st, 2, clock.now());
    let run = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::SpawnFailed {
            proc: run,
            error: "no such file".into(),
        },
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::ProgramDied));
}

#[test]
fn revoke_kills_silently() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    let a = st.handle_event(Event::Revoke(key(1)), clock.now());
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(outcome(&a).is_none());
    assert_eq!(spawned(&a).len(), 1, "program restarted");
}

#[test]
fn heartbeat_every_interval() {
    let (mut st, mut clock, _) = persistent(false);
    clock.advance(Duration::from_secs(4));
    assert!(records(&st.handle_event(Event::Tick, clock.now())).is_empty());
    clock.advance(Duration::from_secs(2));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(matches!(records(&a)[..], [OutboxRecord::Heartbeat { .. }]));
}

#[test]
fn the_first_heartbeat_comes_after_the_agents_share_of_the_interval() {
    let mut p = policy(false, false);
    p.stagger = Stagger::HALF;
    let mut st = AgentState::new(p);
    let mut clock = Clock::new();
    st.start(clock.now());
    let beats = |a: &[Action]| {
        records(a)
            .iter()
            .filter(|r| matches!(r, OutboxRecord::Heartbeat { .. }))
            .count()
    };
    clock.advance(Duration::from_millis(2400));
    assert_eq!(beats(&st.handle_event(Event::Tick, clock.now())), 0);
    clock.advance(Duration::from_millis(200));
    assert_eq!(beats(&st.handle_event(Event::Tick, clock.now())), 1);
    // Then a whole interval (5 s) apart.
    clock.advance(Duration::from_millis(4900));
    assert_eq!(beats(&st.handle_event(Event::Tick, clock.now())), 0);
    clock.advance(Duration::from_millis(200));
    assert_eq!(beats(&st.handle_event(Event::Tick, clock.now())), 1);
}

#[test]
fn unknown_block_is_failed_right_away() {
    let (mut st, clock, _) = persistent(false);
    let a = st.handle_event(
        Event::Assign(key(99), Err("block 99 is not a block of task \"t\"".into())),
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    assert!(spawned(&a).is_empty());
}
