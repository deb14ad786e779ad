mod run_common;
use run_common::*;
use serde_json::json;
#[test]
fn mutation() {
    let sleep = Some((2, 12));
    let tasks = [task(
        "a",
        (&[0, 0, 0], &[26, 26, 26]),
        (&[0, 0, 0], &[8, 8, 8]),
        (&[1, 1, 1], &[6, 6, 6]),
        json!({"read_write_conflict": false, "num_workers": 3, "worker": blockwork(sleep)}),
    )];
    let job = Job::new(&tasks);
    let mut plan = job.plan();
    let out = job.submit(&[]);
    assert_eq!(out.code, Some(0));
    plan.tasks[0].conflict = true;
    let attempts = job.attempts();
    let r = std::panic::catch_unwind(|| assert_no_conflicting_overlap(&plan, &attempts));
    assert!(r.is_err());
    // corrupt output
    let mut bytes = std::fs::read(job.path("out/a.raw")).unwrap();
    bytes[800] ^= 1;
    std::fs::write(job.path("out/a.raw"), bytes).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_outputs(&job, &plan, &attempts)));
    assert!(r.is_err());
}
