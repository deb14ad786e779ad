#[path = "fixtures/workers/harness.rs"]
mod harness;
use harness::*;
use serde_json::json;
use std::time::{Duration, Instant};
#[test]
fn bench() {
    let mut h = Harness::new(json!({
        "name": "t",
        "total_roi": {"offset": [0], "shape": [3000]},
        "read_roi": {"offset": [0], "shape": [10]},
        "write_roi": {"offset": [0], "shape": [10]},
        "read_write_conflict": false,
        "worker": python_worker("for_loop.py", &[], false),
    }));
    let agent = h.spawn_agent(h.options());
    h.wait_for("hello", Duration::from_secs(10), |r| !r.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let blocks: Vec<u64> = (5..300).collect();
    h.assign(&blocks);
    h.wait_for("all", Duration::from_secs(60), |r| finished(r).len() == blocks.len());
    eprintln!("{} blocks in {:?}", blocks.len(), t.elapsed());
    h.stop();
    join(agent, Duration::from_secs(10));
}
