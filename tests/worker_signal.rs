//! SIGTERM makes the agent give its in-flight blocks back (alone in this test binary: the
//! signal reaches the whole process).

#[path = "fixtures/workers/harness.rs"]
mod harness;

use blockorch::ledger::OutboxRecord;
use blockorch::worker::AgentExit;
use harness::*;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn sigterm_gives_back_in_flight_and_queued_blocks() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[2, 3]);
    let victim: i32 = wait_file(&h.workdir.join("victim.pid"), T).parse().unwrap();
    // SAFETY: raising a signal whose handler the agent installed (it wrote Hello after that).
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    assert_eq!(join(agent, T), AgentExit::Signalled(libc::SIGTERM));
    assert_eq!(AgentExit::Signalled(libc::SIGTERM).code(), 143);
    let records = h.outbox();
    let given_back: Vec<(u64, String)> = records
        .iter()
        .filter_map(|r| match r {
            OutboxRecord::Abandoned { block, reason, .. } => Some((*block, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        given_back,
        [
            (3, "agent terminated (SIGTERM)".to_string()),
            (2, "agent terminated (SIGTERM)".to_string())
        ]
    );
    assert!(finished(&records).is_empty(), "{records:#?}");
    assert!(bye(&records).unwrap().contains("SIGTERM"));
    assert!(!running(victim));
}
