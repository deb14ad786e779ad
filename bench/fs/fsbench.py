#!/usr/bin/env python3
"""The ledger's load on a shared filesystem (issue 10), measured on latencyfs.

Run through bench/fs/run.sh (which builds what it needs); by hand:

    bench/fs/fsbench.py scale   --agents 100,300,1000    # idle and busy, table per agent count
    bench/fs/fsbench.py long    --workers 32             # workers in long blocks: ops/s per worker
    bench/fs/fsbench.py wall    --blocks 640 --workers 32 --reps 2   # latencyfs vs local disk

Every run is a real `blockorch submit --backend local` whose ledger is on a latencyfs mount
(bench/fs/mount.sh: 1 ms per metadata operation, 3 ms per fsync, --actimeo 1 unless told
otherwise), with BLOCKORCH_LOCAL_SLOTS_PER_AGENT=1 so every worker is an agent of its own with
its own inbox and outbox, as on SLURM or LSF. The worker program is bench/fs/sleep_worker.sh (a
`sh` loop: read a block, sleep, report), so 1,000 agents fit on one machine.

Measured: latencyfs's counters (metadata operations and fsyncs per second, by kind), the
orchestrator's CPU (utime + stime of the `submit` process from /proc/PID/stat) and the agents'
CPU (every `blockorch worker` child of it), over a window in the steady state. The program is
not a test: it prints tables and writes OUT/results.json.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TICKS = os.sysconf("SC_CLK_TCK")


def loadavg():
    return float(open("/proc/loadavg").read().split()[0])


def cpu_seconds(pid):
    """utime + stime of pid (seconds), or None when it is gone."""
    try:
        text = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid):
    """Pids whose parent is pid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            text = open(f"/proc/{name}/stat").read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


def rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Mount:
    """A latencyfs mount (bench/fs/mount.sh) in a fresh state directory."""

    def __init__(self, options):
        self.state = tempfile.mkdtemp(prefix="bo-fsbench-")
        subprocess.run(
            [os.path.join(HERE, "mount.sh"), self.state, *options],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.dir = os.path.join(self.state, "mnt")
        self.pid = int(open(os.path.join(self.state, "pid")).read())
        self.last_uptime = -1.0

    def stats(self):
        """A snapshot written on request (SIGUSR2), so it has the per-thread counts; newer than
        the one before (the file may still hold that one when it is first read)."""
        os.kill(self.pid, signal.SIGUSR2)
        for _ in range(250):
            time.sleep(0.02)
            try:
                snapshot = json.load(open(os.path.join(self.state, "stats.json")))
            except ValueError:
                continue
            if "by_pid" in snapshot and snapshot["uptime"] > self.last_uptime:
                self.last_uptime = snapshot["uptime"]
                return snapshot
        raise SystemExit("latencyfs wrote no snapshot on SIGUSR2")

    def close(self):
        subprocess.run([os.path.join(HERE, "umount.sh"), self.state], check=False)
        shutil.rmtree(self.state, ignore_errors=True)


class Job:
    """One `blockorch submit` of a one-task job of sleep_worker.sh blocks."""

    def __init__(self, ledger_parent, blocks, workers, block_seconds, slots_per_agent=1):
        self.dir = tempfile.mkdtemp(prefix="bo-fsjob-")
        self.marks = os.path.join(self.dir, "marks")
        os.mkdir(self.marks)
        task = {
            "name": "sleep",
            "total_roi": {"offset": [0], "shape": [blocks]},
            "read_roi": {"offset": [0], "shape": [1]},
            "write_roi": {"offset": [0], "shape": [1]},
            "num_workers": workers,
            "worker": {
                "command": ["sh", os.path.join(HERE, "sleep_worker.sh")],
                "env": {"BLOCK_SECONDS": str(block_seconds), "MARKS": self.marks},
            },
        }
        self.task_file = os.path.join(self.dir, "task.json")
        with open(self.task_file, "w") as f:
            json.dump(task, f)
        self.ledger = os.path.join(ledger_parent, os.path.basename(self.dir) + ".ledger")
        env = dict(os.environ)
        if slots_per_agent:
            env["BLOCKORCH_LOCAL_SLOTS_PER_AGENT"] = str(slots_per_agent)
        self.log = open(os.path.join(self.dir, "submit.log"), "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [ARGS.blockorch, "submit", self.task_file, "--backend", "local",
             "--ledger", self.ledger],
            cwd=self.dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def started_blocks(self):
        return len(os.listdir(self.marks))

    def wait_started(self, n, timeout):
        """Seconds until n blocks have started, or None when they have not in `timeout`."""
        deadline = time.monotonic() + timeout
        while self.started_blocks() < n:
            if self.proc.poll() is not None:
                raise SystemExit(f"submit ended early: {self.tail()}")
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return time.monotonic() - self.started

    def tail(self):
        self.log.flush()
        return open(os.path.join(self.dir, "submit.log"), errors="replace").read()[-3000:]

    def stop(self, timeout=300):
        """Ctrl-C (the orchestrator stops its agents in order), then waits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def wait(self, timeout=600):
        code = self.proc.wait(timeout)
        if code != 0:
            raise SystemExit(f"submit exited {code}: {self.tail()}")
        return time.monotonic() - self.started

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def tids(pid):
    try:
        return {int(t) for t in os.listdir(f"/proc/{pid}/task")}
    except OSError:
        return set()


def by_process(stats0, stats1, orchestrator, agents):
    """Metadata and sync ops in the window made by the orchestrator's threads, the agents'
    threads, and anything else (worker programs, threads that ended): in total, and by kind."""
    mine = tids(orchestrator)
    theirs = set().union(*(tids(a) for a in agents)) if agents else set()
    out = {"orchestrator": 0, "agents": 0, "other": 0}
    kinds = {key: {} for key in out}
    for pid, n in stats1["by_pid"].items():
        n -= stats0["by_pid"].get(pid, 0)
        key = ("orchestrator" if int(pid) in mine else
               "agents" if int(pid) in theirs else "other")
        out[key] += n
        before = stats0.get("by_pid_kind", {}).get(pid, {})
        for kind, m in stats1.get("by_pid_kind", {}).get(pid, {}).items():
            kinds[key][kind] = kinds[key].get(kind, 0) + m - before.get(kind, 0)
    return out, kinds


def measure(mount, job, seconds):
    """Rates over `seconds` now: metadata and fsync ops/s, by kind, and CPU of the run."""
    agents = children(job.proc.pid)
    stats0, cpu0 = mount.stats(), cpu_seconds(job.proc.pid)
    agents_cpu0 = {p: cpu_seconds(p) for p in agents}
    blocks0 = job.started_blocks()
    # A snapshot every second too: the busiest second shows bursts the mean hides.
    samples = [(stats0["uptime"], stats0["metadata"])]
    end = time.monotonic() + seconds
    while time.monotonic() < end - 1:
        time.sleep(1)
        snap = mount.stats()
        samples.append((snap["uptime"], snap["metadata"]))
    time.sleep(max(0.0, end - time.monotonic()))
    stats1, cpu1 = mount.stats(), cpu_seconds(job.proc.pid)
    samples.append((stats1["uptime"], stats1["metadata"]))
    per_second = sorted((m1 - m0) / (t1 - t0)
                        for (t0, m0), (t1, m1) in zip(samples, samples[1:]) if t1 > t0)
    # Agents that ended in the window are left out (their last CPU time is gone).
    agents_cpu1 = {p: cpu_seconds(p) for p in agents}
    agents_cpu = sum(agents_cpu1[p] - agents_cpu0[p] for p in agents
                     if agents_cpu0[p] is not None and agents_cpu1[p] is not None)
    dt = stats1["uptime"] - stats0["uptime"]
    kinds = {k: round((stats1["ops"][k] - stats0["ops"][k]) / dt, 1) for k in stats1["ops"]}
    who, who_kinds = by_process(stats0, stats1, job.proc.pid, children(job.proc.pid))
    return {
        "seconds": round(dt, 2),
        "metadata_per_s": round((stats1["metadata"] - stats0["metadata"]) / dt, 1),
        "metadata_busiest_second": round(per_second[-1], 1) if per_second else None,
        "metadata_p90_second": (round(per_second[int(0.9 * (len(per_second) - 1))], 1)
                                if per_second else None),
        "metadata_p99_second": (round(per_second[int(0.99 * (len(per_second) - 1))], 1)
                                if per_second else None),
        "fsync_per_s": round((stats1["sync"] - stats0["sync"]) / dt, 1),
        "by_kind_per_s": {k: v for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]) if v},
        "by_process_per_s": {k: round(v / dt, 1) for k, v in who.items()},
        "by_process_kind_per_s": {
            p: {k: round(v / dt, 1) for k, v in sorted(ks.items(), key=lambda kv: -kv[1]) if v}
            for p, ks in who_kinds.items()},
        "orchestrator_cpu_pct": round(100 * (cpu1 - cpu0) / dt, 1),
        "agents_cpu_pct": round(100 * agents_cpu / dt, 1),
        "agents": len(agents),
        "orchestrator_rss_mb": round(rss_mb(job.proc.pid), 1),
        "blocks_started_per_s": round((job.started_blocks() - blocks0) / dt, 1),
        "loadavg": loadavg(),
    }


def fs_options():
    return ["--metadata-ms", str(ARGS.metadata_ms), "--fsync-ms", str(ARGS.fsync_ms),
            "--actimeo", str(ARGS.actimeo), "--threads", "512"]


def one_phase(n, block_seconds, blocks):
    mount = Mount(fs_options())
    job = Job(mount.dir, blocks, n, block_seconds)
    try:
        startup = job.wait_started(n, timeout=ARGS.start_timeout)
        if startup is None:
            print(f"{n} agents: only {job.started_blocks()} blocks started in "
                  f"{ARGS.start_timeout} s; measuring anyway", flush=True)
        time.sleep(ARGS.settle)
        result = measure(mount, job, ARGS.window)
        result["startup_s"] = round(startup, 1) if startup is not None else None
        result["blocks_started"] = job.started_blocks()
        return result
    finally:
        job.stop()
        job.cleanup()
        mount.close()


def who(r):
    w = r["by_process_per_s"]
    return f"{w['orchestrator']:.0f} / {w['agents']:.0f} / {w['other']:.0f}"


def scale():
    """Idle (every agent in one long block) and busy (blocks of --busy-block-s) per size."""
    rows = []
    for n in [int(x) for x in ARGS.agents.split(",")]:
        row = {"agents": n}
        if "idle" in ARGS.phases.split(","):
            row["idle"] = one_phase(n, 3600, n)
            print(f"{n} agents idle: {json.dumps(row['idle'])}", flush=True)
        if "busy" in ARGS.phases.split(","):
            row["busy"] = one_phase(n, ARGS.busy_block_s, n * 1000)
            print(f"{n} agents busy: {json.dumps(row['busy'])}", flush=True)
        rows.append(row)
    RESULTS["scale"] = rows
    print("\n| agents | phase | metadata ops/s | busiest second / p99 / p90 | per agent | fsync/s | "
          "by orchestrator / agents / other | orchestrator CPU | "
          "agents' CPU (all) | agents alive | blocks started/s | all started after | load |")
    print("|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for phase in [p for p in ("idle", "busy") if p in row]:
            r = row[phase]
            startup = (f"{r['startup_s']} s" if r["startup_s"] is not None
                       else f"not in {ARGS.start_timeout:.0f} s ({r['blocks_started']} started)")
            print(f"| {row['agents']} | {phase} | {r['metadata_per_s']:.0f} | "
                  f"{r['metadata_busiest_second']:.0f} / {r['metadata_p99_second']:.0f} / "
                  f"{r['metadata_p90_second']:.0f} | "
                  f"{r['metadata_per_s'] / row['agents']:.1f} | {r['fsync_per_s']:.0f} | "
                  f"{who(r)} | "
                  f"{r['orchestrator_cpu_pct']:.0f} % | {r['agents_cpu_pct']:.0f} % | "
                  f"{r['agents']} | {r['blocks_started_per_s']:.1f} | {startup} | "
                  f"{r['loadavg']:.1f} |")


def long_blocks():
    """--workers agents each in the middle of one long block: ops/s per worker."""
    n = ARGS.workers
    rows = []
    for label, slots in (("one agent per worker (as SLURM/LSF)", 1),
                         ("local default (one agent, all slots)", 0)):
        mount = Mount(fs_options())
        job = Job(mount.dir, n, n, 3600, slots_per_agent=slots)
        try:
            if job.wait_started(n, timeout=ARGS.start_timeout) is None:
                raise SystemExit(f"the {n} workers did not all start: {job.tail()}")
            time.sleep(ARGS.settle)
            r = measure(mount, job, ARGS.window)
        finally:
            job.stop()
            job.cleanup()
            mount.close()
        r["layout"] = label
        r["per_worker"] = round(r["metadata_per_s"] / n, 1)
        print(f"{label}: {json.dumps(r)}", flush=True)
        rows.append(r)
    RESULTS["long"] = rows
    print(f"\n| {n} workers in long blocks | metadata ops/s | per worker | fsync/s | "
          "by orchestrator / agents / other (metadata + fsync) | top kinds (ops/s) |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        top = ", ".join(f"{k} {v:.0f}" for k, v in list(r["by_kind_per_s"].items())[:4])
        who = r["by_process_per_s"]
        print(f"| {r['layout']} | {r['metadata_per_s']:.0f} | {r['per_worker']:.1f} | "
              f"{r['fsync_per_s']:.0f} | {who['orchestrator']:.0f} / {who['agents']:.0f} / "
              f"{who['other']:.0f} | {top} |")


def wall():
    """--blocks blocks of 1 s on --workers workers: wall time, latencyfs vs local disk."""
    times = {"local disk": [], "latencyfs": []}
    for rep in range(ARGS.reps):
        for where in ("local disk", "latencyfs"):
            mount = Mount(fs_options()) if where == "latencyfs" else None
            parent = mount.dir if mount else tempfile.mkdtemp(prefix="bo-fslocal-")
            job = Job(parent, ARGS.blocks, ARGS.workers, 1)
            try:
                t = job.wait()
            finally:
                job.cleanup()
                if mount:
                    mount.close()
                else:
                    shutil.rmtree(parent, ignore_errors=True)
            times[where].append(round(t, 2))
            print(f"rep {rep + 1} {where}: {t:.2f} s (load {loadavg():.1f})", flush=True)
    best = {k: min(v) for k, v in times.items()}
    ratio = best["latencyfs"] / best["local disk"]
    RESULTS["wall"] = {"times": times, "best": best, "ratio": round(ratio, 3)}
    print(f"\n| {ARGS.blocks} blocks of 1 s on {ARGS.workers} workers | wall (each rep) | best |")
    print("|---|---|---:|")
    for k, v in times.items():
        print(f"| {k} | {', '.join(f'{x:.1f} s' for x in v)} | {best[k]:.1f} s |")
    print(f"| ratio latencyfs / local disk | | {ratio:.2f} |")


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["scale", "long", "wall"])
    p.add_argument("--blockorch", default=os.path.join(REPO, "target/release/blockorch"))
    p.add_argument("--agents", default="100,300,1000")
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--blocks", type=int, default=640)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--busy-block-s", type=float, default=5)
    p.add_argument("--phases", default="idle,busy", help="scale: idle, busy or both")
    p.add_argument("--metadata-ms", type=float, default=1)
    p.add_argument("--fsync-ms", type=float, default=3)
    p.add_argument("--actimeo", type=float, default=1)
    p.add_argument("--settle", type=float, default=3, help="seconds before measuring")
    p.add_argument("--window", type=float, default=10, help="seconds measured")
    p.add_argument("--start-timeout", type=float, default=240,
                   help="seconds to wait for every agent's first block")
    p.add_argument("--out", default=None, help="write results.json here")
    ARGS = p.parse_args()
    # SIGTERM unwinds like an exception, so every run is stopped and every mount unmounted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("fsbench.py: terminated"))
    {"scale": scale, "long": long_blocks, "wall": wall}[ARGS.what]()
    if ARGS.out:
        os.makedirs(ARGS.out, exist_ok=True)
        path = os.path.join(ARGS.out, f"{ARGS.what}.json")
        with open(path, "w") as f:
            json.dump(RESULTS, f, indent=1)


RESULTS = {}
ARGS = None

if __name__ == "__main__":
    sys.exit(main())
