//! The LSF output parsers against what the simulator prints right now (the unit tests beside
//! the parsers use stored simulator output and documented samples): bsub replies, bjobs rows in
//! every state the simulator produces, not-found lines, bkill replies, bparams.

mod lsf_common;

use blockorch::backend::lsf::{
    bjobs_args, job_status, only_already_finished, only_not_found, parse_bjobs,
    parse_max_job_array_size, parse_submission, BjobsFormat, LsfJobId,
};
use blockorch::backend::{JobEnd, JobStatus};
use lsf_common::Sim;
use std::time::{Duration, Instant};

fn submitted(sim: &Sim, args: &[&str]) -> u64 {
    let out = sim.ok("bsub", args);
    parse_submission(&out)
        .unwrap_or_else(|| panic!("no job id in {out:?}"))
        .job_id
}

/// bjobs as the backend runs it, parsed; waits until `done` holds for the rows.
fn poll_until(
    sim: &Sim,
    ids: &[String],
    done: impl Fn(&blockorch::backend::lsf::BjobsOutput) -> bool,
) -> blockorch::backend::lsf::BjobsOutput {
    let start = Instant::now();
    loop {
        let out = sim.run(
            "bjobs",
            &bjobs_args(ids, BjobsFormat::WithExitReason)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || only_not_found(&stdout, &stderr),
            "bjobs failed: {stdout}{stderr}"
        );
        let parsed = parse_bjobs(&stdout, &stderr, BjobsFormat::WithExitReason)
            .unwrap_or_else(|e| panic!("{e}\n{stdout}"));
        if done(&parsed) {
            return parsed;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "bjobs never showed the expected states: {parsed:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bsub_replies() {
    let sim = Sim::new();
    let out = sim.ok("bsub", &["true"]);
    assert!(
        out.ends_with("is submitted to default queue <normal>.\n"),
        "{out}"
    );
    let s = parse_submission(&out).unwrap();
    assert!(s.default_queue);
    assert_eq!(s.queue, "normal");
    let out = sim.ok("bsub", &["-q", "short", "-P", "lab", "true"]);
    assert!(
        out.starts_with("Job is submitted to <lab> project.\n"),
        "{out}"
    );
    let s = parse_submission(&out).unwrap();
    assert_eq!((s.queue.as_str(), s.default_queue), ("short", false));
    let refused = sim.run("bsub", &["-q", "nosuch", "true"]);
    assert_eq!(refused.status.code(), Some(255));
    assert_eq!(
        parse_submission(&String::from_utf8_lossy(&refused.stdout)),
        None
    );
}

#[test]
fn bjobs_rows_in_every_state() {
    let sim = Sim::new();
    let done = submitted(&sim, &["-J", "d[1-2]", "true"]);
    let failed = submitted(&sim, &["-J", "f[1]", "exit 7"]);
    let limited = submitted(&sim, &["-J", "w[1]", "-W", "1", "sleep 30"]);
    let running = submitted(&sim, &["-J", "r[1-3]%1", "sleep 30"]);
    let held = submitted(&sim, &["-J", "h[1-2]", "sleep 30"]);
    let ids: Vec<String> = [done, failed, limited, running, held, 99999]
        .iter()
        .map(u64::to_string)
        .collect();
    let el = |job, index| LsfJobId::element(job, index);
    // Let the run limit pass, then stop and lose hosts.
    poll_until(&sim, &ids, |o| {
        o.rows
            .iter()
            .any(|r| r.id == el(limited, 1) && r.stat == "EXIT")
            && o.rows
                .iter()
                .filter(|r| r.id.job == held)
                .all(|r| r.stat == "RUN")
    });
    sim.ok("bstop", &[&format!("{held}[1]")]);
    sim.ok("bstop", &[&format!("{running}[3]")]);
    let host = sim.ok("lsf-sim", &["lose-host-of", &format!("{held}[2]")]);
    let out = poll_until(&sim, &ids, |o| {
        o.rows
            .iter()
            .any(|r| r.id == el(held, 1) && r.stat == "USUSP")
    });
    let row = |id: LsfJobId| {
        out.rows
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no row for {id}: {out:?}"))
    };
    let status = |id| {
        let r = row(id);
        job_status(&r.stat, r.exit_code, r.exit_reason.as_deref())
    };
    assert_eq!(status(el(done, 1)), JobStatus::Ended(JobEnd::Completed));
    assert_eq!(row(el(done, 2)).exit_code, None);
    assert_eq!(
        status(el(failed, 1)),
        JobStatus::Ended(JobEnd::Failed {
            exit_code: Some(7),
            signal: None
        })
    );
    assert_eq!(status(el(limited, 1)), JobStatus::Ended(JobEnd::Timeout));
    assert_eq!(row(el(limited, 1)).exit_code, Some(140));
    assert_eq!(status(el(running, 1)), JobStatus::Running);
    assert_eq!(row(el(running, 2)).stat, "PEND");
    assert_eq!(row(el(running, 2)).exec_host, None);
    assert_eq!(row(el(running, 3)).stat, "PSUSP");
    assert_eq!(status(el(running, 3)), JobStatus::Suspended);
    assert_eq!(status(el(held, 1)), JobStatus::Suspended);
    let lost = row(el(held, 2));
    assert_eq!(lost.stat, "UNKWN");
    assert_eq!(lost.exec_host.as_deref(), Some(host.trim()));
    assert_eq!(status(el(held, 2)), JobStatus::Running);
    assert_eq!(out.not_found, ["99999"]);

    // bkill of a job on a lost host: ZOMBI, still not an end.
    sim.ok("bkill", &[&format!("{held}[2]")]);
    let out = poll_until(&sim, &ids, |o| {
        o.rows
            .iter()
            .any(|r| r.id == el(held, 2) && r.stat == "ZOMBI")
    });
    assert!(out.rows.iter().any(
        |r| r.id == el(held, 2) && job_status(&r.stat, r.exit_code, None) == JobStatus::Running
    ));
    sim.ok("lsf-sim", &["host-back", host.trim()]);
    let out = poll_until(&sim, &ids, |o| {
        o.rows
            .iter()
            .any(|r| r.id == el(held, 2) && r.stat == "EXIT")
    });
    let r = out.rows.iter().find(|r| r.id == el(held, 2)).unwrap();
    assert_eq!(
        job_status(&r.stat, r.exit_code, r.exit_reason.as_deref()),
        JobStatus::Ended(JobEnd::Cancelled)
    );

    // bkill's replies, mixed: terminated, already finished, unknown.
    let out = sim.run(
        "bkill",
        &[&running.to_string(), &format!("{done}[1]"), "99999"],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(stdout, format!("Job <{running}> is being terminated\n"));
    assert!(stderr.contains(&format!("Job <{done}[1]>: Job has already finished")));
    assert!(stderr.contains("Job <99999>: No matching job found"));
    assert!(only_already_finished(&stdout, &stderr));
    sim.ok("bkill", &[&held.to_string()]);
}

#[test]
fn bparams_shows_the_array_limit() {
    let sim = Sim::new();
    sim.ok("lsf-sim", &["config", "max_job_array_size=7"]);
    assert_eq!(
        parse_max_job_array_size(&sim.ok("bparams", &["-a"])),
        Some(7)
    );
    let refused = sim.run("bsub", &["-J", "big[1-8]", "true"]);
    assert_eq!(refused.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("MAX_JOB_ARRAY_SIZE"));
}
