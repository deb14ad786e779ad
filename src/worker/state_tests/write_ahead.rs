//! Short blocks written ahead to a persistent program: order, requeueing and giving back, report times, and when write-ahead is off.

use super::*;

#[test]
fn short_blocks_are_written_ahead_and_start_in_order() {
    let (mut st, mut clock, prog) = persistent(false);
    // Nothing observed yet: one block at a time.
    assign(&mut st, 1, clock.now());
    let a = assign(&mut st, 2, clock.now());
    assert!(sent(&a).is_empty(), "{a:?}");
    assert_eq!(st.queued(), 1);
    // Block 1 took 10 µs: block 2 starts, and the queue is written ahead.
    for b in 3..=6 {
        assign(&mut st, b, clock.now());
    }
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent(&a), [2, 3, 4, 5, 6], "{a:?}");
    assert_eq!(started(&a), [2]);
    assert_eq!(st.queued(), 0);
    // Block 2 goes to the idle program; those behind it are marked as written ahead.
    let ahead: Vec<(u64, bool)> = a
        .iter()
        .filter_map(|x| match x {
            Action::Send { block, ahead, .. } => Some((block.block_id, *ahead)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ahead,
        [(2, false), (3, true), (4, true), (5, true), (6, true)]
    );
    // Reporting block 2 starts block 3 without another write.
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":2,"status":"done"}"#),
        clock.now(),
    );
    assert!(sent(&a).is_empty(), "{a:?}");
    assert_eq!(started(&a), [3]);
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    // A report out of order is a protocol error.
    let a = st.handle_event(
        report(prog, r#"{"block_id":5,"status":"done"}"#),
        clock.now(),
    );
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn written_ahead_blocks_of_a_dead_program_are_run_again_not_failed() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(4);
    clock.advance(Duration::from_millis(1));
    let a = st.handle_event(signalled(prog, 9), clock.now());
    let finished: Vec<(u64, Outcome)> = records(&a)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Finished { block, outcome, .. } => Some((*block, outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "only the running block fails: {a:?}");
    assert_eq!(finished[0].0, 1);
    assert!(matches!(
        finished[0].1,
        Outcome::Failed {
            kind: FailureKind::ProgramDied,
            ..
        }
    ));
    // A new program is started and the others go to it in order, block 2 first.
    let spawns = spawned(&a);
    assert_eq!(spawns.len(), 1);
    let new_prog = spawns[0].0;
    assert_ne!(new_prog, prog);
    assert_eq!(started(&a), [2]);
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == new_prog && block.block_id == 2)
    ));
}

#[test]
fn signal_gives_back_written_ahead_blocks_once_their_program_is_gone() {
    let (mut st, clock, prog, _) = short_blocks_queued(3);
    let a = st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    assert!(
        given_back(&a).is_empty(),
        "all in the program's stdin: {a:?}"
    );
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let mut back = given_back(&a);
    back.sort();
    assert_eq!(back, [1, 2, 3]);
}

#[test]
fn timeout_of_the_running_block_requeues_those_behind_it() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::Timeout));
    let failed: Vec<u64> = records(&a)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Finished { block, .. } => Some(*block),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [1]);
    assert_eq!(started(&a), [2]);
}

#[test]
fn long_blocks_are_not_written_ahead() {
    let (mut st, mut clock, prog) = persistent(false);
    assign(&mut st, 1, clock.now());
    for b in 2..=4 {
        assign(&mut st, b, clock.now());
    }
    clock.advance(Duration::from_millis(50));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent(&a), [2], "{a:?}");
    assert_eq!(st.queued(), 2);
}

#[test]
fn revoking_a_written_ahead_block_stops_the_program() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    let a = st.handle_event(Event::Revoke(key(3)), clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let abandoned = |a: &[Action]| -> Vec<u64> {
        records(a)
            .into_iter()
            .filter_map(|r| match r {
                OutboxRecord::Abandoned { block, .. } => Some(*block),
                _ => None,
            })
            .collect()
    };
    assert!(abandoned(&a).is_empty(), "not while it may run: {a:?}");
    clock.advance(Duration::from_millis(1));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(abandoned(&a), [1], "the running block goes back: {a:?}");
    assert!(outcome(&a).is_none(), "{a:?}");
    assert_eq!(
        started(&a),
        [2],
        "block 2 runs on the new program, 3 never: {a:?}"
    );
    assert_eq!(st.queued(), 0);
}

#[test]
fn blocks_behind_an_announced_exit_go_to_the_next_program() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":1,"status":"failed","error":"boom","exit":true}"#,
        ),
        clock.now(),
    );
    assert_eq!(failure(&a).0, FailureKind::BlockError);
    assert!(a.contains(&Action::CloseStdin(prog)), "{a:?}");
    assert!(
        started(&a).is_empty(),
        "nothing starts on a closing program: {a:?}"
    );
    clock.advance(Duration::from_millis(1));
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert!(
        outcome(&a).is_none(),
        "an announced exit fails nothing more: {a:?}"
    );
    let new_prog = spawned(&a)[0].0;
    assert_eq!(started(&a), [2]);
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == new_prog && block.block_id == 2)
    ));
}

#[test]
fn the_programs_report_time_ends_the_block_and_starts_the_next_one() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    let started_at = clock.unix_us;
    clock.advance(Duration::from_millis(5)); // the agent reads the report late
    let t = (started_at + 1_000) as f64 / 1e6; // the program finished 1 ms after the start
    let line = format!(r#"{{"block_id":1,"status":"done","time":{t}}}"#);
    let a = st.handle_event(report(prog, &line), clock.now());
    let end = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { stats, .. } => Some(stats.end_us),
        _ => None,
    });
    let next = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Started {
            block: 2, time_us, ..
        } => Some(*time_us),
        _ => None,
    });
    assert_eq!(end, Some(started_at + 1_000), "{a:?}");
    assert_eq!(next, Some(started_at + 1_000), "{a:?}");
    // A time outside what the agent can vouch for is clamped.
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":2,"status":"done","time":4102444800.0}"#,
        ),
        clock.now(),
    );
    let end = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { stats, .. } => Some(stats.end_us),
        _ => None,
    });
    assert_eq!(
        end,
        Some(clock.unix_us),
        "a time in the future ends at the agent's now"
    );
}

#[test]
fn write_ahead_can_be_switched_off() {
    let mut p = policy(false, false);
    p.write_ahead = false;
    let (mut st, mut clock, prog) = with_policy(p);
    assign(&mut st, 1, clock.now());
    for b in 2..=5 {
        assign(&mut st, b, clock.now());
    }
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent(&a), [2], "one block at a time: {a:?}");
    assert_eq!(st.queued(), 3);
}

#[test]
fn tasks_with_a_check_get_one_block_at_a_time() {
    let (mut st, mut clock, prog) = persistent(true);
    // Block 100: pre-check says not done, the program runs it quickly, post-check passes.
    let a = assign(&mut st, 100, clock.now());
    let pre = spawned(&a)[0].0;
    for b in 1..=4 {
        assign(&mut st, b, clock.now());
    }
    st.handle_event(
        Event::Exited {
            proc: pre,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":100,"status":"done"}"#),
        clock.now(),
    );
    let post = spawned(&a)[0].0;
    // The post-check passes: block 100 took 10 µs, so blocks are short.
    let a = st.handle_event(
        Event::Exited {
            proc: post,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    let pre = spawned(&a)[0].0;
    // Block 1's pre-check says "not done": only block 1 goes to the program.
    let a = st.handle_event(
        Event::Exited {
            proc: pre,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(
        sent(&a),
        [1],
        "nothing written ahead when there is a check: {a:?}"
    );
    assert_eq!(st.queued(), 3);
}

#[test]
fn a_report_time_before_the_start_is_clamped_to_it() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(2);
    let started_at = clock.unix_us;
    clock.advance(Duration::from_millis(3));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done","time":1.5}"#),
        clock.now(),
    );
    let end = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { stats, .. } => Some(stats.end_us),
        _ => None,
    });
    assert_eq!(end, Some(started_at), "{a:?}");
}
