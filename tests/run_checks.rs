//! `check.command` (skipped blocks), per-block workers with placeholders, and the per-attempt
//! statistics agents record in the ledger.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use serde_json::json;
use std::collections::BTreeMap;

#[test]
fn check_command_skips_blocks_it_says_are_done() {
    let t = task(
        "t",
        (&[0], &[120]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": blockwork(None),
               "check": python_command("check.py", &[], &[])}),
    );
    let job = Job::new(&[t]);
    let skipped = [1u64, 4, 7];
    for id in skipped {
        job.ctl(&format!("skip-t-{id}"));
    }
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [12, 9, 3, 0, 0]);

    // The program never saw the skipped blocks; every other block ran once.
    let attempts = job.attempts();
    assert_skipped_or_ran_once(&job, &plan, "t", &skipped);
    assert_status_agrees(&job, &plan, &attempts);
    let status = status_blocks(&job);
    for id in skipped {
        assert_eq!(status[&("t".to_string(), id)]["state"], "skipped");
    }
    // The check ran before every block (0: not done yet, 1: skip) and after every processed
    // block (1: done).
    let mut calls: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for line in read(&job.path("checks.log")).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let id: u64 = parts[0].strip_prefix("t-").unwrap().parse().unwrap();
        calls.entry(id).or_default().push(parts[2].parse().unwrap());
    }
    for b in &plan.blocks {
        let want = if skipped.contains(&b.id) {
            vec![1]
        } else {
            vec![0, 1]
        };
        assert_eq!(
            calls.get(&b.id),
            Some(&want),
            "check calls of block {}",
            b.id
        );
    }
    // Skipped blocks have no output.
    let values = job.output(plan.task("t"));
    for b in &plan.blocks {
        let written = b
            .write
            .cells()
            .iter()
            .all(|c| values[c[0] as usize] == f(c));
        assert_eq!(written, !skipped.contains(&b.id), "block {}", b.id);
    }

    // A resume keeps them skipped and runs nothing.
    let again = job.submit(&["--quiet"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    assert_eq!(summary_row(&again, "t"), [12, 9, 3, 0, 0]);
    assert_eq!(job.attempts().len(), attempts.len());
}

#[test]
fn per_block_workers_get_placeholders_and_block_env() {
    let worker = {
        let mut w = python_command(
            "per_block.py",
            &[
                "--id",
                "{block_id}",
                "--read={read_roi}",
                "--write",
                "{write_roi}",
                "{task}/{attempt}",
                "{unknown}",
            ],
            &[],
        );
        w["per_block"] = json!(true);
        w
    };
    let job = Job::new(&[task(
        "pb",
        (&[-5, 3], &[23, 19]),
        (&[0, 0], &[7, 6]),
        (&[1, 2], &[5, 3]),
        json!({"fit": "shrink", "num_workers": 3, "worker": worker}),
    )]);
    let plan = job.plan();
    let victim = plan.blocks_of("pb").nth(5).unwrap().id;
    job.ctl(&format!("fail-once-pb-{victim}"));
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let n = plan.blocks.len() as u64;
    assert_eq!(summary_row(&out, "pb"), [n, n, 0, 0, 0]);
    assert_volumes(&job, &plan);
    assert_ledger_all(&job, &plan, BlockState::Done);

    let status = status_blocks(&job);
    for b in &plan.blocks {
        let attempts = if b.id == victim { 2 } else { 1 };
        for attempt in 1..=attempts {
            let path = job.path(&format!("pb/{}-{attempt}.json", b.id));
            let rec: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
            let want = [
                "--id".to_string(),
                b.id.to_string(),
                format!("--read={}", b.read.placeholder()),
                "--write".to_string(),
                b.write.placeholder(),
                format!("pb/{attempt}"),
                "{unknown}".to_string(),
            ];
            assert_eq!(rec["argv"], json!(want), "block {}", b.id);
            let env = &rec["env_block"];
            assert_eq!(env["block_id"], b.id);
            assert_eq!(env["attempt"], attempt);
            assert_eq!(env["task"], "pb");
            assert_eq!(Roi::from_json(&env["read_roi"]), b.read, "block {}", b.id);
            assert_eq!(Roi::from_json(&env["write_roi"]), b.write, "block {}", b.id);
            assert_eq!(Roi::from_json(&env["total_roi"]), plan.task("pb").total);
        }
        assert!(
            !job.path(&format!("pb/{}-{}.json", b.id, attempts + 1))
                .exists(),
            "block {} ran too often",
            b.id
        );
        // Per-block processes are measured by wait4: exit code 0 and a peak RSS.
        let line = &status[&("pb".to_string(), b.id)];
        let last = line["attempts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["outcome"], "done", "{line}");
        assert_eq!(last["exit_code"], 0, "{line}");
        assert!(last["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{line}");
        if b.id == victim {
            let first = &line["attempts"][0];
            assert_eq!(first["outcome"], "failed", "{line}");
            assert_eq!(first["exit_code"], 2, "{line}");
            assert!(
                first["error"]
                    .as_str()
                    .unwrap()
                    .contains("first attempt of block"),
                "{line}"
            );
        }
    }
}

#[test]
fn every_attempt_has_its_statistics_in_the_ledger() {
    let job = Job::new(&[task(
        "s",
        (&[0, 0], &[20, 20]),
        (&[0, 0], &[10, 10]),
        (&[0, 0], &[10, 10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": blockwork(Some((5, 15)))}),
    )]);
    let plan = job.plan();
    let busy = plan.blocks[1].id;
    job.ctl(&format!("busy-s-{busy}"));
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let attempts = job.attempts();
    assert_outputs(&job, &plan, &attempts);
    // Worker, start/end µs (containing the program's own times), wall, CPU and peak RSS per
    // attempt, from `status --blocks`.
    assert_status_agrees(&job, &plan, &attempts);
    let status = status_blocks(&job);
    let workers: Vec<String> = job
        .ledger_state()
        .workers()
        .iter()
        .map(|w| w.worker_id.clone())
        .collect();
    for b in &plan.blocks {
        let line = &status[&("s".to_string(), b.id)];
        let list = line["attempts"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{line}");
        let a = &list[0];
        assert!(workers.iter().any(|w| w == a["worker"].as_str().unwrap()));
        assert!(a["start_us"].as_u64().unwrap() > 0);
        assert!(a["wall_s"].as_f64().unwrap() >= 0.005, "{line}");
        assert!(a["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{line}");
        let cpu = a["cpu_s"].as_f64().unwrap();
        if b.id == busy {
            assert!(cpu >= 0.2, "the busy block used {cpu} s of CPU: {line}");
        } else {
            assert!(cpu < 0.2, "{line}");
        }
    }
    // The same numbers, read with the library from the outboxes.
    let records = finished_records(&job, &plan, "s", busy);
    assert_eq!(records.len(), 1);
    let stats = &records[0].2;
    assert!(stats.cpu_s >= 0.2 && stats.wall_s >= 0.3, "{stats:?}");
    assert!(stats.peak_rss_bytes > 1 << 20 && stats.end_us > stats.start_us);
}
