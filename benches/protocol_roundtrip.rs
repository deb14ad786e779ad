//! The worker-program protocol alone, without the ledger (benchmark helper, not a test): a
//! persistent worker program gets block messages on stdin (the agent's JSON, built with
//! `BlockMessage::to_json`) and reports on fd 3; the reports are parsed with `parse_report`.
//! This is the floor under the per-block cost of `blockorch submit` with that program.
//!
//!   cargo bench --bench protocol_roundtrip -- [--blocks N] [--window W] -- PROGRAM [ARGS...]
//!
//! `--window 1` is ping-pong (the agent with one slot and an empty queue); larger windows
//! keep W blocks outstanding. Prints one JSON line.

use blockorch::geometry::{Coordinate, Roi};
use blockorch::worker::{parse_report, BlockMessage};
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Serialize)]
struct Measured {
    program: Vec<String>,
    blocks: u64,
    window: u64,
    wall_s: f64,
    us_per_block: f64,
    blocks_per_s: f64,
}

fn usage() -> ! {
    eprintln!("usage: protocol_roundtrip [--blocks N] [--window W] -- PROGRAM [ARGS...]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let split = args
        .iter()
        .position(|a| a == "--")
        .unwrap_or_else(|| usage());
    let (opts, program) = (&args[..split], &args[split + 1..]);
    if program.is_empty() {
        usage();
    }
    let mut blocks = 20_000u64;
    let mut window = 1u64;
    let mut it = opts.iter();
    while let Some(a) = it.next() {
        let value = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match a.as_str() {
            "--blocks" => blocks = value,
            "--window" => window = value.max(1),
            _ => usage(),
        }
    }

    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just created them and nothing else owns them.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let w = write_end.as_raw_fd();
    let mut command = Command::new(&program[0]);
    command
        .args(&program[1..])
        .env("BLOCKORCH_REPORT_FD", "3")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    // SAFETY: only dup2, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(w, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start the worker program");
    drop(write_end);
    let mut stdin = child.stdin.take().expect("stdin pipe");
    let mut reports = BufReader::new(std::fs::File::from(read_end));

    let message = |i: u64| {
        let off = [
            (i % 40) as i64 * 10,
            (i / 40 % 40) as i64 * 10,
            (i / 1600 % 40) as i64 * 10,
        ];
        let write_off = [off[0] + 2, off[1] + 2, off[2] + 2];
        let mut line = BlockMessage {
            task: "noop".into(),
            block_id: i,
            attempt: 1,
            read_roi: Roi::new(Coordinate::new(&off), Coordinate::new(&[14, 14, 14])),
            write_roi: Roi::new(Coordinate::new(&write_off), Coordinate::new(&[10, 10, 10])),
            total_roi: Roi::new(
                Coordinate::new(&[0, 0, 0]),
                Coordinate::new(&[404, 404, 404]),
            ),
        }
        .to_json();
        line.push('\n');
        line
    };
    // Warm-up: the interpreter's start-up is not part of the per-block cost.
    let mut line = String::new();
    stdin.write_all(message(u64::MAX / 2).as_bytes()).unwrap();
    stdin.flush().unwrap();
    reports.read_line(&mut line).unwrap();

    let start = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while received < blocks {
        while sent < blocks && sent - received < window {
            stdin.write_all(message(sent).as_bytes()).unwrap();
            sent += 1;
        }
        stdin.flush().unwrap();
        line.clear();
        if reports.read_line(&mut line).unwrap() == 0 {
            panic!("the worker program closed fd 3 after {received} reports");
        }
        parse_report(&line).expect("a valid report");
        received += 1;
    }
    let wall_s = start.elapsed().as_secs_f64();
    drop(stdin);
    let _ = child.wait();
    let out = Measured {
        program: program.to_vec(),
        blocks,
        window,
        wall_s,
        us_per_block: wall_s * 1e6 / blocks as f64,
        blocks_per_s: blocks as f64 / wall_s,
    };
    println!("{}", serde_json::to_string(&out).expect("serializable"));
}
