use blockorch::ledger::{LogReader, OrchestratorRecord, OutboxRecord};
#[test]
fn dump() {
    let root = std::path::Path::new("/tmp/to_fail/task.ledger");
    let mut lines = vec![];
    for r in LogReader::<OrchestratorRecord>::read_closed(root.join("orchestrator/epoch-00000001.log")).unwrap().records {
        let t = match &r { OrchestratorRecord::Assigned{time_us,..} | OrchestratorRecord::Finished{time_us,..} | OrchestratorRecord::Returned{time_us,..} | OrchestratorRecord::WorkerEnded{time_us,..} | OrchestratorRecord::WorkerRegistered{time_us,..} => *time_us, _ => 0 };
        lines.push((t, format!("ORCH {:?}", r).chars().take(150).collect::<String>()));
    }
    for w in ["local-e1-t-1", "local-e1-t-2"] {
        for r in LogReader::<OutboxRecord>::read_closed(root.join("workers").join(w).join("outbox.log")).unwrap().records {
            lines.push((r.time_us(), format!("OUT {w} {:?}", r).chars().take(150).collect()));
        }
    }
    lines.sort();
    let t0 = lines.iter().find(|l| l.0 > 0).unwrap().0;
    for (t, l) in lines { println!("{:>8} {}", (t as i64 - t0 as i64) / 1000, l); }
}
