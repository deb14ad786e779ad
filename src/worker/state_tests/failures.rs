//! A program that dies, hangs past its timeout or closes its report channel: the block fails, the program is restarted, and crashes in a row give up.

use super::*;

#[test]
fn timeout_terminates_then_fails_and_restarts() {
    let (mut st, mut clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    assign(&mut st, 2, clock.now());
    clock.advance(Duration::from_secs(5));
    assert!(!st
        .handle_event(Event::Tick, clock.now())
        .contains(&Action::Terminate(prog)));
    clock.advance(Duration::from_secs(6));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::Timeout));
    let Some(OutboxRecord::Finished { stats, .. }) = records(&a).first().copied() else {
        panic!()
    };
    assert_eq!(stats.signal, Some(15));
    // Block 2 goes to a new program.
    let spawns = spawned(&a);
    assert_eq!(spawns.len(), 1);
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == spawns[0].0 && block.block_id == 2)
    ));
}

#[test]
fn program_death_fails_block_and_crash_bound_gives_up() {
    let (mut st, clock, mut prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    let death = |proc| Event::Exited {
        proc,
        exit: exit(Some(1), None),
        stderr_tail: "ImportError: no module named torch".into(),
    };
    let a = st.handle_event(death(prog), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::ProgramDied));
    let Some(Outcome::Failed { message, .. }) = outcome(&a) else {
        panic!()
    };
    assert!(message.contains("ImportError"), "{message}");
    prog = spawned(&a)[0].0;
    let a = st.handle_event(death(prog), clock.now());
    prog = spawned(&a)[0].0;
    let a = st.handle_event(death(prog), clock.now());
    let bye = records(&a)
        .into_iter()
        .find_map(|r| match r {
            OutboxRecord::Bye { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .expect("Bye after three crashes");
    assert!(
        bye.contains("3 times") && bye.contains("ImportError"),
        "{bye}"
    );
    assert_eq!(
        a.last(),
        Some(&Action::Exit(crate::worker::AgentExit::GaveUp))
    );
}

#[test]
fn announced_exit_is_not_a_crash() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    assign(&mut st, 2, clock.now());
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":1,"status":"failed","error":"tb","exit":true}"#,
        ),
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    assert!(a.contains(&Action::CloseStdin(prog)));
    assert!(
        !a.iter().any(|x| matches!(x, Action::Send { .. })),
        "block 2 waits for a new program: {a:?}"
    );
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(st.slots()[0].crashes, 0);
    let new = spawned(&a)[0].0;
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == new && block.block_id == 2)
    ));
}

#[test]
fn a_program_that_closes_its_report_channel_fails_its_block_and_is_restarted() {
    let (mut st, clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    let a = st.handle_event(Event::ReportClosed(prog), clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::BlockError);
    assert!(msg.contains("closed its report channel"), "{msg}");
    assert_eq!(spawned(&a).len(), 1, "a fresh program: {a:?}");
}

#[test]
fn an_idle_program_that_closes_its_report_channel_counts_as_a_crash() {
    let (mut st, clock, mut prog) = persistent(false);
    for _ in 0..policy(false, false).max_program_crashes {
        let a = st.handle_event(Event::ReportClosed(prog), clock.now());
        assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
        let a = st.handle_event(signalled(prog, 15), clock.now());
        if let Some((next, _)) = spawned(&a).first() {
            prog = *next;
        } else {
            assert!(
                records(&a)
                    .iter()
                    .any(|r| matches!(r, OutboxRecord::Bye { reason, .. } if reason.contains("report channel"))),
                "{a:?}"
            );
            return;
        }
    }
    panic!("the agent never gave up");
}
