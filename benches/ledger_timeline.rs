//! Where the time of a finished run went, read back from its ledger (benchmark helper, not a
//! test): every record carries a time, so joining the orchestrator log, the inboxes and the
//! outboxes on (task, block, attempt) gives each block's path through the system.
//!
//!   cargo bench --bench ledger_timeline -- LEDGER_DIR [--json]
//!
//! Per block: `assign` (orchestrator appends `Assigned`) → `inbox` (the `Assign` record's time,
//! taken when it was queued for the inbox) → `started` (agent's `Started`) → `ended` (the
//! program's report, `Finished.stats.end_us`) → `recorded` (orchestrator appends `Finished`).
//! Per slot: the gap between one block's end and the next block's start on the same slot,
//! which is what limits throughput when the slots are never short of prefetched work.

use blockorch::ledger::{
    InboxRecord, Layout, LogReader, OrchestratorRecord, OutboxRecord, WorkerId,
};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Default, Clone, Copy)]
struct Path5 {
    assign: Option<u64>,
    started: Option<u64>,
    start_us: Option<u64>,
    ended: Option<u64>,
    recorded: Option<u64>,
    slot: Option<(u32, u32)>,
}

type Key = (u32, u64, u32);

fn percentiles(mut v: Vec<f64>) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    serde_json::json!({
        "n": v.len(), "mean_ms": mean, "p50_ms": p(0.5), "p90_ms": p(0.9),
        "p99_ms": p(0.99), "max_ms": p(1.0),
    })
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let json = args.iter().any(|a| a == "--json");
    let Some(root) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: ledger_timeline LEDGER_DIR [--json]");
        std::process::exit(2);
    };
    let layout = Layout::new(PathBuf::from(root));
    let mut blocks: HashMap<Key, Path5> = HashMap::new();
    let mut workers_by_index: HashMap<u32, String> = HashMap::new();
    let mut orch_records = 0u64;
    for epoch in layout
        .list_orchestrator_logs()
        .expect("list orchestrator logs")
    {
        let log = LogReader::<OrchestratorRecord>::read_closed(layout.orchestrator_log_path(epoch))
            .expect("read orchestrator log");
        for r in log.records {
            orch_records += 1;
            match r {
                OrchestratorRecord::WorkerRegistered {
                    index, worker_id, ..
                } => {
                    workers_by_index.insert(index, worker_id);
                }
                OrchestratorRecord::Assigned {
                    task,
                    block,
                    attempt,
                    time_us,
                    ..
                } => blocks.entry((task, block, attempt)).or_default().assign = Some(time_us),
                OrchestratorRecord::Finished {
                    task,
                    block,
                    attempt,
                    time_us,
                    ..
                } => blocks.entry((task, block, attempt)).or_default().recorded = Some(time_us),
                _ => {}
            }
        }
    }
    let mut inbox_times: HashMap<Key, u64> = HashMap::new();
    let mut outbox_records = 0u64;
    let mut inbox_records = 0u64;
    let workers = layout.list_workers().expect("list workers");
    for (wi, w) in workers.iter().enumerate() {
        let wid = WorkerId::new(w.as_str().to_string()).expect("worker id");
        for epoch in layout.list_inboxes(&wid).expect("list inboxes") {
            let inbox = LogReader::<InboxRecord>::read_closed(layout.inbox_path(&wid, epoch))
                .expect("read inbox");
            for r in inbox.records {
                inbox_records += 1;
                if let InboxRecord::Assign {
                    task,
                    block,
                    attempt,
                    time_us,
                } = r
                {
                    inbox_times.insert((task, block, attempt), time_us);
                }
            }
        }
        let outbox =
            LogReader::<OutboxRecord>::read_closed(layout.outbox_path(&wid)).expect("read outbox");
        for r in outbox.records {
            outbox_records += 1;
            match r {
                OutboxRecord::Started {
                    task,
                    block,
                    attempt,
                    slot,
                    time_us,
                } => {
                    let e = blocks.entry((task, block, attempt)).or_default();
                    e.started = Some(time_us);
                    e.slot = Some((wi as u32, slot));
                }
                OutboxRecord::Finished {
                    task,
                    block,
                    attempt,
                    stats,
                    ..
                } => {
                    let e = blocks.entry((task, block, attempt)).or_default();
                    e.ended = Some(stats.end_us);
                    e.start_us = Some(stats.start_us);
                }
                _ => {}
            }
        }
    }
    let ms = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some((b as f64 - a as f64) / 1000.0),
        _ => None,
    };
    let mut assign_to_inbox = Vec::new();
    let mut assign_to_start = Vec::new();
    let mut start_to_end = Vec::new();
    let mut end_to_recorded = Vec::new();
    let mut assign_to_recorded = Vec::new();
    let mut per_slot: HashMap<(u32, u32), Vec<(u64, u64)>> = HashMap::new();
    let (mut first, mut last) = (u64::MAX, 0u64);
    for (k, p) in &blocks {
        if let Some(t) = inbox_times.get(k) {
            assign_to_inbox.extend(ms(p.assign, Some(*t)));
        }
        assign_to_start.extend(ms(p.assign, p.started));
        start_to_end.extend(ms(p.started, p.ended));
        end_to_recorded.extend(ms(p.ended, p.recorded));
        assign_to_recorded.extend(ms(p.assign, p.recorded));
        if let Some(a) = p.assign {
            first = first.min(a);
        }
        if let Some(r) = p.recorded {
            last = last.max(r);
        }
        if let (Some(slot), Some(s), Some(e)) = (p.slot, p.started, p.ended) {
            per_slot.entry(slot).or_default().push((s, e));
        }
    }
    let mut gaps = Vec::new();
    let mut busy_us = 0u64;
    for v in per_slot.values_mut() {
        v.sort();
        for w in v.windows(2) {
            gaps.push((w[1].0 as f64 - w[0].1 as f64) / 1000.0);
        }
        busy_us += v.iter().map(|(s, e)| e.saturating_sub(*s)).sum::<u64>();
    }
    let wall_s = if last > first {
        (last - first) as f64 / 1e6
    } else {
        0.0
    };
    let slots = per_slot.len().max(1);
    let out = serde_json::json!({
        "ledger": root,
        "attempts": blocks.len(),
        "orchestrator_records": orch_records,
        "inbox_records": inbox_records,
        "outbox_records": outbox_records,
        "workers": workers.len(),
        "slots": per_slot.len(),
        "first_assign_to_last_record_s": wall_s,
        "blocks_per_s": if wall_s > 0.0 { blocks.len() as f64 / wall_s } else { 0.0 },
        "slot_busy_fraction": busy_us as f64 / 1e6 / (wall_s * slots as f64).max(1e-9),
        "assign_to_inbox": percentiles(assign_to_inbox),
        "assign_to_started": percentiles(assign_to_start),
        "started_to_reported": percentiles(start_to_end),
        "reported_to_recorded": percentiles(end_to_recorded),
        "assign_to_recorded": percentiles(assign_to_recorded),
        "slot_gap_end_to_next_start": percentiles(gaps),
    });
    if json {
        println!("{}", serde_json::to_string(&out).unwrap());
    } else {
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    }
}
