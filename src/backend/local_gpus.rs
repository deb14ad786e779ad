//! Which GPUs the local backend hands out, one per worker slot (as SLURM gives each job step
//! its own): the devices in `CUDA_VISIBLE_DEVICES` when it is set, else one per line of
//! `nvidia-smi -L`, else none.

use std::process::{Command, Stdio};

/// Environment variable through which the local backend gives its agent the device list; the
/// agent sets `CUDA_VISIBLE_DEVICES` of slot `i` to entry `i mod n`.
pub const SLOT_GPUS_ENV: &str = "BLOCKORCH_SLOT_GPUS";

/// The devices visible to this process, from `cuda_visible_devices` (the variable's value) or,
/// when it is unset, `nvidia-smi -L`.
pub fn visible_gpus(cuda_visible_devices: Option<&str>) -> Vec<String> {
    match cuda_visible_devices {
        Some(list) => parse_device_list(list),
        None => nvidia_smi_gpus(),
    }
}

/// The entries of a `CUDA_VISIBLE_DEVICES` value (indices or UUIDs), blanks dropped. An empty
/// value or `NoDevFiles` means no device.
pub fn parse_device_list(list: &str) -> Vec<String> {
    if list.trim() == "NoDevFiles" {
        return Vec::new();
    }
    list.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

fn nvidia_smi_gpus() -> Vec<String> {
    let Ok(out) = Command::new("nvidia-smi")
        .arg("-L")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    let count = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("GPU "))
        .count();
    (0..count).map(|i| i.to_string()).collect()
}

/// The device of slot `slot` given the agent's device list (round robin), if any.
pub fn slot_gpu(gpus: &[String], slot: u32) -> Option<&str> {
    if gpus.is_empty() {
        return None;
    }
    Some(gpus[slot as usize % gpus.len()].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_and_round_robin() {
        assert_eq!(parse_device_list("0, 2,,3"), ["0", "2", "3"]);
        assert!(parse_device_list("").is_empty());
        assert!(parse_device_list("NoDevFiles").is_empty());
        let gpus = parse_device_list("4,6");
        assert_eq!(slot_gpu(&gpus, 0), Some("4"));
        assert_eq!(slot_gpu(&gpus, 1), Some("6"));
        assert_eq!(slot_gpu(&gpus, 2), Some("4"));
        assert_eq!(slot_gpu(&[], 0), None);
    }
}
