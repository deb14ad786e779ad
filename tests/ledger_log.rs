//! Log files: frame round trip, torn and garbage tails, writer recovery, ENOSPC.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use blockorch::ledger::{
    AppendRecovery, AttemptStats, FailureKind, GarbageReason, LedgerError, LogFile, LogReader,
    LogWriter, OutboxRecord, Outcome, Tail, WarningKind, FILE_HEADER_LEN,
};

fn records(n: usize) -> Vec<OutboxRecord> {
    (0..n)
        .map(|i| match i % 4 {
            0 => OutboxRecord::Hello {
                worker_id: format!("slurm-123_{i}"),
                host: "node7".into(),
                pid: 4000 + i as u32,
                backend_job: Some("123_7".into()),
                slots: 4,
                time_us: i as u64,
            },
            1 => OutboxRecord::Started {
                task: 1,
                block: 1 << 33 | i as u64,
                attempt: 2,
                slot: 3,
                time_us: i as u64,
            },
            2 => OutboxRecord::Finished {
                task: 1,
                block: i as u64,
                attempt: 2,
                outcome: Outcome::Failed {
                    kind: FailureKind::OutOfMemory,
                    message: "killed by oom".into(),
                },
                stats: AttemptStats {
                    start_us: 1,
                    end_us: 2,
                    wall_s: 1.5,
                    cpu_s: 0.25,
                    peak_rss_bytes: 1 << 30,
                    exit_code: None,
                    signal: Some(9),
                },
                log_path: "workers/x/slot-3.stderr.log".into(),
            },
            _ => OutboxRecord::Heartbeat { time_us: i as u64 },
        })
        .collect()
}

fn write_log(path: &Path, recs: &[OutboxRecord]) -> Vec<u64> {
    let mut w = LogWriter::<OutboxRecord>::open_append(path).unwrap();
    let mut ends = vec![w.committed_len()];
    for r in recs {
        w.append(r).unwrap();
        w.commit().unwrap();
        ends.push(w.committed_len());
    }
    ends
}

#[test]
fn round_trip_with_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w/outbox.log");
    let recs = records(40);
    let mut w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
    for r in &recs[..25] {
        w.append(r).unwrap();
    }
    assert_eq!(w.pending_records(), 25);
    // Nothing is in the file before commit.
    assert_eq!(fs::metadata(&path).unwrap().len(), FILE_HEADER_LEN);
    assert_eq!(w.commit().unwrap(), 25);
    for r in &recs[25..] {
        w.append(r).unwrap();
    }
    assert_eq!(w.commit().unwrap(), 15);
    assert_eq!(w.commit().unwrap(), 0);
    assert_eq!(fs::metadata(&path).unwrap().len(), w.committed_len());
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!(got.records, recs);
    assert_eq!(got.warning, None);
    assert_eq!(got.end_offset, w.committed_len());
}

#[test]
fn torn_tail_at_every_byte_of_the_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.log");
    let recs = records(6);
    let ends = write_log(&full, &recs);
    let bytes = fs::read(&full).unwrap();
    let (last_start, last_end) = (ends[5], ends[6]);
    for cut in last_start..last_end {
        let path = dir.path().join(format!("cut-{cut}.log"));
        fs::write(&path, &bytes[..cut as usize]).unwrap();
        let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
        assert_eq!(got.records, recs[..5], "cut at {cut}");
        assert_eq!(got.end_offset, last_start);
        if cut == last_start {
            assert_eq!(got.warning, None);
        } else {
            let w = got.warning.expect("torn tail reported");
            assert_eq!(w.kind, WarningKind::TornTail, "cut at {cut}");
            assert_eq!((w.offset, w.bytes), (last_start, cut - last_start));
        }
        // While tailing, the same state is "not yet", and completing the frame delivers it.
        let mut tail = LogReader::<OutboxRecord>::new(&path);
        assert_eq!(tail.poll().unwrap().records.len(), 5);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&bytes[cut as usize..]).unwrap();
        let p = tail.poll().unwrap();
        assert_eq!((p.records, p.tail), (vec![recs[5].clone()], Tail::Clean));
    }
}

#[test]
fn torn_file_header_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    for len in 1..FILE_HEADER_LEN as usize {
        let path = dir.path().join(format!("h{len}.log"));
        let ends = write_log(&path, &records(1));
        assert_eq!(ends[0], FILE_HEADER_LEN);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..len]).unwrap();
        let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
        assert!(got.records.is_empty());
        assert_eq!(got.warning.unwrap().kind, WarningKind::TornTail);
        // The writer re-initializes it and appends cleanly.
        write_log(&path, &records(2));
        assert_eq!(
            LogReader::<OutboxRecord>::read_closed(&path)
                .unwrap()
                .records,
            records(2)
        );
    }
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_tail_is_reported_and_reading_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let recs = records(8);
    for seed in 1..60u64 {
        let path = dir.path().join(format!("g{seed}.log"));
        let ends = write_log(&path, &recs);
        let junk = noise(seed, 1 + (seed as usize * 37) % 300);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&junk)
            .unwrap();
        let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
        assert_eq!(got.records, recs, "seed {seed}");
        let w = got.warning.expect("garbage reported");
        assert_eq!(w.offset, ends[8], "seed {seed}");
        assert!(
            matches!(w.kind, WarningKind::Garbage { .. } | WarningKind::TornTail),
            "seed {seed}: {w}"
        );
    }
    // Zeros (what a crash can leave) are garbage, not empty frames.
    let path = dir.path().join("zeros.log");
    let ends = write_log(&path, &recs);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0u8; 4096])
        .unwrap();
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!(got.records, recs);
    let w = got.warning.unwrap();
    assert_eq!(
        (w.offset, w.bytes, w.kind),
        (
            ends[8],
            4096,
            WarningKind::Garbage {
                reason: GarbageReason::BadLength(0)
            }
        )
    );
}

#[test]
fn corrupt_frame_in_the_middle_stops_reading_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mid.log");
    let recs = records(6);
    let ends = write_log(&path, &recs);
    let mut bytes = fs::read(&path).unwrap();
    bytes[ends[3] as usize + 9] ^= 0xff; // a payload byte of the 4th frame
    fs::write(&path, &bytes).unwrap();
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!(got.records, recs[..3]);
    let w = got.warning.unwrap();
    assert_eq!(
        (w.offset, w.kind),
        (
            ends[3],
            WarningKind::Garbage {
                reason: GarbageReason::BadChecksum
            }
        )
    );
}

#[test]
fn writer_recovery_truncates_then_appends_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.log");
    let recs = records(10);
    let ends = write_log(&path, &recs[..5]);
    let bytes = fs::read(&path).unwrap();
    // Torn: cut the last frame in half.
    let cut = (ends[4] + ends[5]) / 2;
    fs::write(&path, &bytes[..cut as usize]).unwrap();
    let mut w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
    let rec = w.recovered_tail().expect("recovery reported").clone();
    assert_eq!((rec.offset, rec.kind), (ends[4], WarningKind::TornTail));
    assert_eq!(w.committed_len(), ends[4]);
    assert_eq!(fs::metadata(&path).unwrap().len(), ends[4]);
    for r in &recs[5..] {
        w.append(r).unwrap();
    }
    w.commit().unwrap();
    drop(w);
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    let mut want = recs[..4].to_vec();
    want.extend_from_slice(&recs[5..]);
    assert_eq!(got.records, want);
    assert_eq!(got.warning, None);

    // Garbage: appended junk is cut too.
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&noise(5, 100))
        .unwrap();
    let w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
    assert!(w.recovered_tail().is_some());
    drop(w);
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!((got.records, got.warning), (want, None));
}

#[test]
fn writer_refuses_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    fs::write(&path, b"my precious notes, do not truncate").unwrap();
    let err = match LogWriter::<OutboxRecord>::open_append(&path) {
        Err(e) => e,
        Ok(_) => panic!("opened a foreign file"),
    };
    assert!(matches!(err, LedgerError::NotALogFile { .. }), "{err}");
    assert_eq!(
        fs::read(&path).unwrap(),
        b"my precious notes, do not truncate"
    );
}

/// A file that accepts `budget` more bytes, then fails writes with ENOSPC.
struct FullDisk {
    file: File,
    budget: usize,
    fail_truncate: bool,
}

impl LogFile for FullDisk {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let n = buf.len().min(self.budget);
        self.budget -= n;
        LogFile::write_all_at(&mut self.file, &buf[..n], offset)?;
        if n < buf.len() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.fail_truncate {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        LogFile::set_len(&mut self.file, len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        LogFile::sync_data(&mut self.file)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        LogFile::sync_all(&mut self.file)
    }
}

#[test]
fn enospc_truncates_back_and_keeps_earlier_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.log");
    let recs = records(12);
    let ends = write_log(&path, &recs[..4]);
    let mut w = LogWriter::<OutboxRecord, FullDisk>::open_append_with(&path, |file| FullDisk {
        file,
        budget: 50,
        fail_truncate: false,
    })
    .unwrap();
    for r in &recs[4..] {
        w.append(r).unwrap();
    }
    let err = w.commit().unwrap_err();
    match &err {
        LedgerError::AppendFailed {
            recovery, source, ..
        } => {
            assert_eq!(*recovery, AppendRecovery::TruncatedTo(ends[4]));
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err
        .to_string()
        .contains("truncated back to the last committed frame"));
    assert_eq!(fs::metadata(&path).unwrap().len(), ends[4]);
    assert_eq!(w.pending_records(), 0);
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!((got.records, got.warning), (recs[..4].to_vec(), None));
    // Space freed: the writer works again.
    drop(w);
    let mut w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
    w.append(&recs[4]).unwrap();
    w.commit().unwrap();
    assert_eq!(
        LogReader::<OutboxRecord>::read_closed(&path)
            .unwrap()
            .records,
        recs[..5]
    );
}

#[test]
fn enospc_with_failed_truncate_leaves_a_tail_readers_skip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.log");
    let recs = records(12);
    let ends = write_log(&path, &recs[..4]);
    let mut w = LogWriter::<OutboxRecord, FullDisk>::open_append_with(&path, |file| FullDisk {
        file,
        budget: 30,
        fail_truncate: true,
    })
    .unwrap();
    for r in &recs[4..] {
        w.append(r).unwrap();
    }
    let err = w.commit().unwrap_err();
    assert!(matches!(
        err,
        LedgerError::AppendFailed {
            recovery: AppendRecovery::TornTailAfter(_),
            ..
        }
    ));
    w.append(&recs[4]).unwrap();
    assert!(matches!(
        w.commit().unwrap_err(),
        LedgerError::WriterPoisoned { .. }
    ));
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!(got.records, recs[..4]);
    assert_eq!(got.warning.unwrap().offset, ends[4]);
}

/// The same on a real, full tmpfs (needs root to mount; skipped otherwise).
#[test]
fn enospc_on_a_real_full_filesystem() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let path = mnt.join("outbox.log");
    let mut w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
    let recs = records(4);
    let mut committed = Vec::new();
    let mut failed = None;
    'fill: for round in 0..100_000 {
        for r in &recs {
            w.append(r).unwrap();
        }
        match w.commit() {
            Ok(_) => committed.extend_from_slice(&recs),
            Err(e) => {
                failed = Some((round, e));
                break 'fill;
            }
        }
    }
    let (_, err) = failed.expect("a 64 KiB tmpfs fills up");
    assert!(
        matches!(&err, LedgerError::AppendFailed { source, .. } if source.raw_os_error() == Some(libc::ENOSPC)),
        "{err}"
    );
    let got = LogReader::<OutboxRecord>::read_closed(&path).unwrap();
    assert_eq!(got.records.len(), committed.len());
    assert_eq!(got.records, committed);
    assert_eq!(got.warning, None);
}
