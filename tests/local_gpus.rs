//! Local backend: each worker slot gets its own GPU (`CUDA_VISIBLE_DEVICES` of slot `i` is
//! entry `i mod n` of the orchestrator's list), as SLURM gives each job step its own; without
//! devices the variable is left alone.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Runs a 3-slot task whose per-block program records `slot:device` lines; returns them.
fn slot_devices(dir: &Path, cuda_visible_devices: Option<&str>) -> Vec<(u32, String)> {
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    let task = serde_json::json!({
        "name": "gpus",
        "total_roi": {"offset": [0], "shape": [12]},
        "read_roi": {"offset": [0], "shape": [1]},
        "write_roi": {"offset": [0], "shape": [1]},
        "num_workers": 3,
        "worker": {
            "command": ["sh", "-c",
                "sleep 0.1; echo \"$BLOCKORCH_SLOT:${CUDA_VISIBLE_DEVICES-unset}\" > out/{block_id}"],
            "per_block": true
        }
    });
    fs::write(dir.join("task.json"), task.to_string()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blockorch"));
    cmd.args(["submit", "task.json", "--quiet"])
        .current_dir(dir);
    match cuda_visible_devices {
        Some(v) => cmd.env("CUDA_VISIBLE_DEVICES", v),
        None => cmd.env_remove("CUDA_VISIBLE_DEVICES"),
    };
    let status = cmd.status().unwrap();
    assert!(status.success(), "submit failed: {status}");
    let mut lines = Vec::new();
    for entry in fs::read_dir(&out).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        let (slot, device) = text.trim_end_matches('\n').split_once(':').unwrap();
        lines.push((slot.parse().unwrap(), device.to_owned()));
    }
    assert_eq!(lines.len(), 12, "every block recorded its slot and device");
    lines
}

#[test]
fn each_slot_gets_its_own_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let devices = ["4", "6"];
    let lines = slot_devices(dir.path(), Some("4, 6"));
    for (slot, device) in &lines {
        assert_eq!(device, devices[*slot as usize % 2], "slot {slot}");
    }
    let mut slots: Vec<u32> = lines.iter().map(|(s, _)| *s).collect();
    slots.sort();
    slots.dedup();
    assert!(
        slots.len() >= 2,
        "the blocks ran on one slot only: {lines:?}"
    );
}

#[test]
fn without_gpus_the_variable_is_left_alone() {
    if Command::new("nvidia-smi").arg("-L").output().is_ok() {
        eprintln!("without_gpus_the_variable_is_left_alone: skipped, nvidia-smi is installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (_, device) in slot_devices(dir.path(), None) {
        assert_eq!(device, "unset");
    }
    let dir = tempfile::tempdir().unwrap();
    for (_, device) in slot_devices(dir.path(), Some("")) {
        assert_eq!(
            device, "",
            "an empty CUDA_VISIBLE_DEVICES (no device) stays empty"
        );
    }
}
