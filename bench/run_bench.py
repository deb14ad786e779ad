#!/usr/bin/env python3
"""blockorch benchmarks against daisy 2.0.0 (run through scripts/bench.sh, not by hand).

Three benchmarks, each measured against daisy in the same run:

1. planning: `blockorch plan` summary of a 10^8-block 3-D task and streaming `plan --json` of
   10^6 blocks, vs daisy's BlockwiseDependencyGraph (num_blocks/num_levels; and
   enumerate_all_dependencies on 10^6 blocks).
2. throughput: a no-op 3-D conflict task (n^3 blocks, context 2, 2 workers, a Python worker whose
   body does nothing) with `blockorch submit` (local backend, fresh ledger on the work
   directory's file system) and with daisy.run_blockwise (tracking_path set), alternated.
3. ledger at scale: `blockorch status` and a resume (`submit` on a finished ledger) with 10^6
   done blocks (the ledger is written by benches/ledger_build.rs through the library), vs
   daisy.run_blockwise on a tracking store with 10^6 blocks marked done.

Every external command runs as a child whose wall time, CPU time and peak RSS come from
os.wait4 (ru_maxrss covers the child and the descendants it waited for). Results go to
OUT/results.json (everything) and OUT/results.md (the tables); the tables are also printed.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
RESULTS = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "benchmarks": {}}


# ---------------------------------------------------------------------------------------------
# running things


def loadavg():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return None


def run(name, cmd, *, cwd=None, stdout_path=None, env=None, timeout=None, check=True):
    """Runs cmd to its end; returns wall/cpu/rss and (if stdout_path) its stdout text."""
    logdir = os.path.join(ARGS.out, "logs")
    os.makedirs(logdir, exist_ok=True)
    err_path = os.path.join(logdir, name + ".stderr")
    out_file = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    load = loadavg()
    # Peak RSS through /usr/bin/time: Linux carries a process's RSS high-water mark across
    # exec, so ru_maxrss of a child forked from this (20+ MB) interpreter would never be
    # smaller than the interpreter itself. GNU time is small, so its child starts clean.
    rss_path = os.path.join(logdir, name + ".maxrss")
    wrapped = [TIME, "-f", "%M", "-o", rss_path] + list(cmd) if TIME else list(cmd)
    start = time.perf_counter()
    with open(err_path, "wb") as err:
        p = subprocess.Popen(
            wrapped, cwd=cwd, env=env, stdout=out_file, stderr=err, start_new_session=True
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out_file.close()
    maxrss_kb = ru.ru_maxrss
    if TIME:
        try:
            maxrss_kb = int(open(rss_path).read().split()[-1])
        except (OSError, ValueError, IndexError):
            maxrss_kb = None
    m = {
        "cmd": " ".join(str(c) for c in cmd),
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_mb": None if maxrss_kb is None else maxrss_kb / 1024.0,
        "rc": p.returncode,
        "load1_before": load,
    }
    if stdout_path and os.path.getsize(stdout_path) < (1 << 20):
        m["stdout"] = open(stdout_path, errors="replace").read()
    if check and p.returncode != 0:
        tail = open(err_path, errors="replace").read()[-2000:]
        raise SystemExit(f"bench: {name} failed (exit {p.returncode}): {m['cmd']}\n{tail}")
    log(f"  {name}: {wall:.3f} s, {m['cpu_s']:.2f} s cpu, {m['maxrss_mb'] or 0:.1f} MB peak rss"
        f" (load {load})")
    return m


PERF_EVENTS = [
    "syscalls:sys_enter_fdatasync",
    "syscalls:sys_enter_openat",
    "raw_syscalls:sys_enter",
    "context-switches",
    "task-clock",
]


def perf_counts(name, cmd, **kw):
    """Runs cmd under `perf stat` (children included) and returns the counts, or None when
    perf or its syscall tracepoints are not available."""
    if not shutil.which("perf"):
        return None
    out = os.path.join(ARGS.out, "logs", name + ".perf")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    probe = subprocess.run(["perf", "stat", "-x,", "-e", ",".join(PERF_EVENTS), "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or "not supported" in probe.stderr or "<not" in probe.stderr:
        log(f"  {name}: skipped (perf stat cannot count syscalls here)")
        return None
    m = run(name, ["perf", "stat", "-x,", "-o", out, "-e", ",".join(PERF_EVENTS), "--"] + cmd, **kw)
    counts = {}
    for line in open(out):
        parts = line.strip().split(",")
        if len(parts) > 2 and parts[2]:
            try:
                counts[parts[2]] = float(parts[0])
            except ValueError:
                pass
    m["counts"] = counts
    return m


def last_json(m):
    lines = [l for l in m.get("stdout", "").splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "runs": len(values),
        "spread_pct": 100.0 * (max(values) - min(values)) / med if med else 0.0,
        "values": values,
    }


def fresh(path):
    if os.path.lexists(path):
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    return path


# ---------------------------------------------------------------------------------------------
# task files (geometry shared with bench/daisy_noop.py: write 10^3 at +2, read 14^3)


def task_file(path, nx, ny, nz, *, workers=2, command=None):
    task = {
        "name": "noop",
        "total_roi": {"offset": [0, 0, 0], "shape": [10 * nx + 4, 10 * ny + 4, 10 * nz + 4]},
        "read_roi": {"offset": [0, 0, 0], "shape": [14, 14, 14]},
        "write_roi": {"offset": [2, 2, 2], "shape": [10, 10, 10]},
        "fit": "valid",
        "read_write_conflict": True,
        "num_workers": workers,
        "worker": {"command": command or [ARGS.python, os.path.join(HERE, "noop_worker.py")]},
    }
    with open(path, "w") as f:
        json.dump(task, f, indent=1)
    return path


# ---------------------------------------------------------------------------------------------
# machine


def machine():
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    fs = subprocess.run(
        ["df", "-T", ARGS.work], capture_output=True, text=True
    ).stdout.splitlines()[-1].split()
    info = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": subprocess.run(
            [ARGS.python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True, text=True,
        ).stdout.strip(),
        "daisy": subprocess.run(
            [ARGS.python, "-c", "from importlib.metadata import version; print(version('daisy'))"],
            capture_output=True, text=True,
        ).stdout.strip(),
        "blockorch_commit": subprocess.run(
            ["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
        "work_dir": ARGS.work,
        "work_fs": fs[1] if len(fs) > 1 else "?",
        "load1_at_start": loadavg(),
        "peak_rss_from": "/usr/bin/time -f %M" if TIME else "wait4 ru_maxrss (inflated by the driver's own RSS)",
        "fdatasync_us": {ARGS.work: fsync_probe(ARGS.work)},
    }
    if os.path.isdir("/dev/shm"):
        info["fdatasync_us"]["/dev/shm"] = fsync_probe("/dev/shm")
    return info


def fsync_probe(directory, n=500):
    """Median µs of a 100-byte append + fdatasync (what one ledger commit costs at least)."""
    path = os.path.join(directory, f".bench-fsync-probe-{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    times = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 100)
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return round(statistics.median(times), 1)


# ---------------------------------------------------------------------------------------------
# 1. planning


def bench_planning():
    log("== planning")
    w = ARGS.work
    big = task_file(os.path.join(w, "plan_1e8.json"), 1000, 1000, 100)
    mid = task_file(os.path.join(w, "plan_1e6.json"), 100, 100, 100)
    daisy = [ARGS.python, os.path.join(HERE, "daisy_noop.py")]
    r = {"summary": {"blockorch": [], "daisy": []}, "json": {"blockorch": [], "daisy": []}}
    for i in range(ARGS.runs):
        m = run(f"plan-summary-blockorch-{i}", [ARGS.blockorch, "plan", big],
                stdout_path=os.path.join(w, "plan_summary.txt"))
        r["summary"]["blockorch"].append(m)
        m = run(f"plan-summary-daisy-{i}", daisy + ["plan-summary", "1000", "1000", "100"],
                stdout_path=os.path.join(w, "daisy_summary.json"))
        m["result"] = last_json(m)
        r["summary"]["daisy"].append(m)
    r["summary"]["blockorch_output"] = r["summary"]["blockorch"][0].get("stdout", "")

    n_daisy = ARGS.daisy_enum_n
    for i in range(ARGS.runs):
        m = run(f"plan-json-blockorch-{i}", [ARGS.blockorch, "plan", "--json", mid],
                stdout_path="/dev/null")
        r["json"]["blockorch"].append(m)
        m = run(f"plan-json-daisy-{i}", daisy + ["plan-enumerate", str(n_daisy)],
                stdout_path=os.path.join(w, "daisy_enum.json"))
        m["result"] = last_json(m)
        r["json"]["daisy"].append(m)
    r["json"]["daisy_blocks"] = n_daisy ** 3
    # What the 10^6 JSON holds (not timed): lines, bytes, dependency edges.
    p = subprocess.Popen([ARGS.blockorch, "plan", "--json", mid], stdout=subprocess.PIPE)
    lines = nbytes = ids = 0
    while True:
        chunk = p.stdout.read(1 << 22)
        if not chunk:
            break
        nbytes += len(chunk)
        lines += chunk.count(b"\n")
        ids += chunk.count(b'"block_id"')
    p.wait()
    r["json"]["blockorch_output"] = {"lines": lines, "bytes": nbytes, "edges": ids - lines}
    RESULTS["benchmarks"]["planning"] = r


# ---------------------------------------------------------------------------------------------
# 2. throughput


def timeline(ledger):
    m = run("timeline-" + os.path.basename(ledger), [ARGS.bin["ledger_timeline"], ledger, "--json"],
            stdout_path=os.path.join(ARGS.work, "timeline.json"))
    return last_json(m)


def bench_throughput():
    log("== throughput")
    w = ARGS.work
    n = ARGS.tp_n
    tp = task_file(os.path.join(w, "throughput.json"), n, n, n)
    daisy = [ARGS.python, os.path.join(HERE, "daisy_noop.py")]
    r = {"blocks": n ** 3, "blockorch": [], "daisy": [], "diagnostics": {}}
    for i in range(ARGS.runs):
        ledger = fresh(os.path.join(w, f"tp-{i}.ledger"))
        m = run(f"submit-blockorch-{i}", [ARGS.blockorch, "submit", "-q", tp, "--ledger", ledger],
                stdout_path=os.path.join(w, "submit.txt"))
        m["blocks_per_s"] = n ** 3 / m["wall_s"]
        m["timeline"] = timeline(ledger)
        r["blockorch"].append(m)
        shutil.rmtree(ledger)
        ddir = fresh(os.path.join(w, f"daisy-tp-{i}"))
        os.makedirs(ddir)
        m = run(f"run_blockwise-daisy-{i}", daisy + ["run", str(n), os.path.join(ddir, "tracking")],
                cwd=ddir, stdout_path=os.path.join(w, "daisy_run.json"))
        m["result"] = last_json(m)
        m["blocks_per_s"] = n ** 3 / m["wall_s"]
        r["daisy"].append(m)
        shutil.rmtree(ddir)

    if ARGS.diagnostics:
        d = r["diagnostics"]
        if os.path.isdir("/dev/shm"):
            ledger = fresh(f"/dev/shm/blockorch-bench-{os.getpid()}.ledger")
            m = run("submit-blockorch-tmpfs", [ARGS.blockorch, "submit", "-q", tp, "--ledger", ledger],
                    stdout_path=os.path.join(w, "submit.txt"))
            m["blocks_per_s"] = n ** 3 / m["wall_s"]
            m["timeline"] = timeline(ledger)
            d["ledger_on_tmpfs"] = m
            shutil.rmtree(ledger)
        for pf in ARGS.prefetch:
            ledger = fresh(os.path.join(w, f"tp-prefetch-{pf}.ledger"))
            m = run(f"submit-tuned-prefetch-{pf}",
                    [ARGS.bin["submit_tuned"], tp, ledger, "--prefetch", str(pf),
                     "--blockorch", ARGS.blockorch],
                    stdout_path=os.path.join(w, "tuned.json"))
            m["blocks_per_s"] = n ** 3 / m["wall_s"]
            m["result"] = last_json(m)
            m["timeline"] = timeline(ledger)
            d[f"prefetch_{pf}"] = m
            shutil.rmtree(ledger)
        ledger = fresh(os.path.join(w, "tp-perf.ledger"))
        m = perf_counts("perf-blockorch", [ARGS.blockorch, "submit", "-q", tp, "--ledger", ledger],
                        stdout_path=os.path.join(w, "submit.txt"))
        if m:
            d["perf_blockorch"] = m
            ddir = fresh(os.path.join(w, "daisy-perf"))
            os.makedirs(ddir)
            m = perf_counts("perf-daisy", daisy + ["run", str(n), os.path.join(ddir, "tracking")],
                            cwd=ddir, stdout_path=os.path.join(w, "daisy_run.json"))
            d["perf_daisy"] = m
            shutil.rmtree(ddir)
        if os.path.exists(ledger):
            shutil.rmtree(ledger)
        for window in (1, 5):
            m = run(f"protocol-window-{window}",
                    [ARGS.bin["protocol_roundtrip"], "--blocks", "20000", "--window", str(window),
                     "--", ARGS.python, os.path.join(HERE, "noop_worker.py")],
                    stdout_path=os.path.join(w, "protocol.json"))
            m["result"] = last_json(m)
            d[f"protocol_window_{window}"] = m
    RESULTS["benchmarks"]["throughput"] = r


# ---------------------------------------------------------------------------------------------
# 3. ledger at scale


def daisy_done_store(n, tracking):
    """A daisy tracking store of the n^3 task with every block marked done: start a run whose
    blocks never end (so daisy creates the store with its own metadata and task hash), stop
    it, then set the done byte of every block (C order, block coords 0..n-1 per axis)."""
    daisy = [ARGS.python, os.path.join(HERE, "daisy_noop.py")]
    cwd = os.path.dirname(tracking)
    p = subprocess.Popen(daisy + ["hang", str(n), tracking], cwd=cwd, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = os.path.join(tracking, "done", "zarr.json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not os.path.exists(meta):
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(p.pid, signal.SIGINT)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    spec = json.load(open(meta))
    shape = spec["shape"]
    chunk = spec["chunk_grid"]["configuration"]["chunk_shape"]
    if shape != chunk or spec["data_type"] != "uint8":
        raise SystemExit(f"bench: unexpected daisy tracking layout {shape} / {chunk}")
    X, Y, Z = shape
    buf = bytearray(X * Y * Z)
    row = bytes([1] * n + [0] * (Z - n))
    for x in range(n):
        for y in range(n):
            o = (x * Y + y) * Z
            buf[o:o + Z] = row
    path = os.path.join(tracking, "done", "c", "0", "0", "0")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(buf)


def bench_ledger():
    log("== ledger at scale")
    w = ARGS.work
    n = ARGS.ledger_n
    tf = task_file(os.path.join(w, "ledger.json"), n, n, n)
    r = {"blocks": n ** 3, "status": [], "status_json": [], "resume": [], "daisy_resume": []}
    ledger = fresh(os.path.join(w, "done.ledger"))
    m = run("ledger-build", [ARGS.bin["ledger_build"], tf, ledger],
            stdout_path=os.path.join(w, "build.json"))
    m["result"] = last_json(m)
    r["build"] = m
    for i in range(ARGS.runs):
        r["status"].append(run(f"status-{i}", [ARGS.blockorch, "status", ledger],
                               stdout_path=os.path.join(w, "status.txt")))
    r["status_json"].append(run("status-json", [ARGS.blockorch, "status", "--json", ledger],
                                stdout_path=os.path.join(w, "status.json")))
    for i in range(ARGS.runs):
        r["resume"].append(run(f"resume-{i}", [ARGS.blockorch, "submit", "-q", tf, "--ledger", ledger],
                               stdout_path=os.path.join(w, "resume.txt")))
    shutil.rmtree(ledger)

    # Without the final snapshot (an orchestrator killed before writing it): the whole log
    # is folded. The first resume writes a snapshot, so only one run of each is meaningful.
    ledger = fresh(os.path.join(w, "done-nosnap.ledger"))
    m = run("ledger-build-nosnap", [ARGS.bin["ledger_build"], tf, ledger, "--no-snapshot"],
            stdout_path=os.path.join(w, "build.json"))
    r["build_no_snapshot"] = m
    r["status_no_snapshot"] = run("status-nosnap", [ARGS.blockorch, "status", ledger],
                                  stdout_path=os.path.join(w, "status.txt"))
    r["resume_no_snapshot"] = run("resume-nosnap", [ARGS.blockorch, "submit", "-q", tf, "--ledger", ledger],
                                  stdout_path=os.path.join(w, "resume.txt"))
    shutil.rmtree(ledger)

    # The same on the ledger of a real run: submit the n^3 no-op task (fresh ledger), then
    # status and resume on what it left.
    if ARGS.real_ledger:
        ledger = fresh(os.path.join(w, "real.ledger"))
        real = {"status": [], "resume": []}
        m = run("submit-real", [ARGS.blockorch, "submit", "-q", tf, "--ledger", ledger],
                stdout_path=os.path.join(w, "submit.txt"))
        m["blocks_per_s"] = n ** 3 / m["wall_s"]
        real["run"] = m
        for i in range(ARGS.runs):
            real["status"].append(run(f"status-real-{i}", [ARGS.blockorch, "status", ledger],
                                      stdout_path=os.path.join(w, "status.txt")))
        for i in range(ARGS.runs):
            real["resume"].append(run(f"resume-real-{i}",
                                      [ARGS.blockorch, "submit", "-q", tf, "--ledger", ledger],
                                      stdout_path=os.path.join(w, "resume.txt")))
        real["bytes"] = sum(os.path.getsize(os.path.join(d, f))
                            for d, _, fs in os.walk(ledger) for f in fs)
        r["real"] = real
        shutil.rmtree(ledger)

    ddir = fresh(os.path.join(w, "daisy-done"))
    os.makedirs(ddir)
    tracking = os.path.join(ddir, "tracking")
    daisy_done_store(n, tracking)
    daisy = [ARGS.python, os.path.join(HERE, "daisy_noop.py")]
    for i in range(ARGS.daisy_resume_runs):
        m = run(f"resume-daisy-{i}", daisy + ["run", str(n), tracking], cwd=ddir,
                stdout_path=os.path.join(w, "daisy_resume.json"))
        m["result"] = last_json(m)
        if m["result"].get("skipped") != n ** 3:
            raise SystemExit(f"bench: daisy did not skip every block: {m['result']}")
        r["daisy_resume"].append(m)
    shutil.rmtree(ddir)
    RESULTS["benchmarks"]["ledger"] = r


# ---------------------------------------------------------------------------------------------
# report


def med(ms, key="wall_s"):
    return summarize([m[key] for m in ms])


def fmt_s(s):
    if s is None:
        return "–"
    def one(v):
        if v < 0.001:
            return f"{v * 1e6:.0f} µs"
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    txt = one(s["median"])
    if s["runs"] > 1:
        txt += f" ({one(s['min'])} – {one(s['max'])})"
    return txt


def fmt_mb(s):
    if s is None:
        return "–"
    return f"{s['median']:.0f} MB" if s["median"] >= 10 else f"{s['median']:.1f} MB"


def fmt_rate(s):
    if s is None:
        return "–"
    txt = f"{s['median']:,.0f}/s"
    if s["runs"] > 1:
        txt += f" ({s['min']:,.0f}–{s['max']:,.0f})"
    return txt


def yes(ok):
    return "yes" if ok else "**no**"


def report():
    b = RESULTS["benchmarks"]
    mach = RESULTS["machine"]
    out = []
    out.append(f"machine: {mach['nproc']} cpus ({mach['cpu_model']}), {mach['mem_gb']} GB, "
               f"kernel {mach['kernel']}, python {mach['python']}, daisy {mach['daisy']}, "
               f"blockorch {mach['blockorch_commit']}")
    out.append(f"work dir {mach['work_dir']} ({mach['work_fs']}); fdatasync of a 100-byte append: "
               + ", ".join(f"{k} {v} µs" for k, v in mach["fdatasync_us"].items())
               + f"; load average at start {mach['load1_at_start']}")
    out.append(f"runs per measurement: {RESULTS['args']['runs']}; values are medians (min – max); "
               f"peak RSS from {mach.get('peak_rss_from', 'wait4')}")
    out.append("")
    if "planning" in b:
        p = b["planning"]
        bs, ds = med(p["summary"]["blockorch"]), med(p["summary"]["daisy"])
        brss, drss = med(p["summary"]["blockorch"], "maxrss_mb"), med(p["summary"]["daisy"], "maxrss_mb")
        dg = summarize([m["result"].get("graph_s") for m in p["summary"]["daisy"]])
        bj, dj = med(p["json"]["blockorch"]), med(p["json"]["daisy"])
        bjr, djr = med(p["json"]["blockorch"], "maxrss_mb"), med(p["json"]["daisy"], "maxrss_mb")
        de = summarize([m["result"].get("enumerate_s") for m in p["json"]["daisy"]])
        dblocks = p["json"]["daisy_blocks"]
        scale = 10 ** 6 / dblocks
        extrap = "" if scale == 1 else f" (measured on {dblocks:,} blocks, ×{scale:g} extrapolated)"
        dj_1e6 = dj["median"] * scale
        out.append("### 1. Planning")
        out.append("")
        out.append("| measurement | blockorch | daisy 2.0.0 | daisy/blockorch | target | met? |")
        out.append("|---|---|---|---|---|---|")
        out.append(f"| summary of 10^8 blocks, process wall | {fmt_s(bs)} | {fmt_s(ds)} "
                   f"(graph alone {fmt_s(dg)}) | {ds['median'] / bs['median']:.1f}× | < 2 s | "
                   f"{yes(bs['median'] < 2)} |")
        out.append(f"| summary of 10^8 blocks, peak RSS | {fmt_mb(brss)} | {fmt_mb(drss)} | "
                   f"{drss['median'] / brss['median']:.1f}× | < 256 MB | {yes(brss['median'] < 256)} |")
        out.append(f"| 10^6 blocks + deps, wall | {fmt_s(bj)} (`plan --json` to /dev/null) | "
                   f"{dj_1e6:.2f} s{extrap} (enumerate_all_dependencies, in memory; "
                   f"enumeration alone {fmt_s(de)}) | {dj_1e6 / bj['median']:.1f}× | report | – |")
        out.append(f"| 10^6 blocks + deps, peak RSS | {fmt_mb(bjr)} | {fmt_mb(djr)}{extrap and ' (at the measured size)'} | "
                   f"{djr['median'] / bjr['median']:.0f}× | report | – |")
        jo = p["json"]["blockorch_output"]
        de_edges = p["json"]["daisy"][0]["result"].get("edges")
        out.append("")
        out.append(f"`plan --json` output: {jo['lines']:,} lines, {jo['bytes'] / 1e6:.0f} MB, "
                   f"{jo['edges']:,} dependency edges; daisy enumerates {de_edges:,} edges for "
                   f"{dblocks:,} blocks (blockorch lists every conflicting lower-level neighbour, "
                   f"daisy only the previous level's).")
        out.append("")
    if "throughput" in b:
        t = b["throughput"]
        br, dr = med(t["blockorch"], "blocks_per_s"), med(t["daisy"], "blocks_per_s")
        ratio = br["median"] / dr["median"]
        pair = [a["blocks_per_s"] / d["blocks_per_s"] for a, d in zip(t["blockorch"], t["daisy"])]
        out.append(f"### 2. Throughput ({t['blocks']:,} no-op blocks, 2 workers)")
        out.append("")
        out.append("| measurement | blockorch | daisy 2.0.0 | blockorch/daisy | target | met? |")
        out.append("|---|---|---|---|---|---|")
        out.append(f"| blocks/s, whole command | {fmt_rate(br)} | {fmt_rate(dr)} | {ratio:.2f}× "
                   f"(per pair: {', '.join(f'{x:.2f}' for x in pair)}) | ≥ 3× | {yes(ratio >= 3)} |")
        out.append(f"| wall | {fmt_s(med(t['blockorch']))} | {fmt_s(med(t['daisy']))} | | | |")
        bc = summarize([m["cpu_s"] * 1e6 / t["blocks"] for m in t["blockorch"]])
        dc = summarize([m["cpu_s"] * 1e6 / t["blocks"] for m in t["daisy"]])
        out.append(f"| CPU per block (all processes) | {bc['median']:.0f} µs | {dc['median']:.0f} µs | | | |")
        out.append(f"| peak RSS (largest process) | {fmt_mb(med(t['blockorch'], 'maxrss_mb'))} | "
                   f"{fmt_mb(med(t['daisy'], 'maxrss_mb'))} | | | |")
        out.append(f"| load average before runs | {', '.join(str(m['load1_before']) for m in t['blockorch'])} | "
                   f"{', '.join(str(m['load1_before']) for m in t['daisy'])} | | | |")
        out.append("")
        tl = [m["timeline"] for m in t["blockorch"] if m.get("timeline")]
        rows = [("ledger on " + RESULTS["machine"]["work_fs"] + " (median run)", sorted(
            tl, key=lambda x: x["blocks_per_s"])[len(tl) // 2])] if tl else []
        d = t.get("diagnostics", {})
        if "ledger_on_tmpfs" in d:
            rows.append(("ledger on tmpfs (/dev/shm)", d["ledger_on_tmpfs"]["timeline"]))
        for k, v in d.items():
            if k.startswith("prefetch_"):
                rows.append((f"fixed window: {k.split('_')[1]} blocks queued per slot (default: adaptive, 2–256)", v["timeline"]))
        if rows:
            out.append("Where a block's time goes (from the ledger's own timestamps; mean / p90 ms):")
            out.append("")
            out.append("| run | blocks/s (steady) | slots busy | assign→started | started→reported | "
                       "reported→recorded | slot gap |")
            out.append("|---|---|---|---|---|---|---|")
            for name, x in rows:
                def mp(k):
                    v = x.get(k) or {}
                    return f"{v.get('mean_ms', 0):.2f} / {v.get('p90_ms', 0):.2f}"
                out.append(f"| {name} | {x['blocks_per_s']:,.0f} | {100 * x['slot_busy_fraction']:.0f}% | "
                           f"{mp('assign_to_started')} | {mp('started_to_reported')} | "
                           f"{mp('reported_to_recorded')} | {mp('slot_gap_end_to_next_start')} |")
            out.append("")
        extra = []
        if "ledger_on_tmpfs" in d:
            m = d["ledger_on_tmpfs"]
            extra.append(f"blockorch with the ledger on tmpfs (fdatasync ≈ free): "
                         f"{m['blocks_per_s']:,.0f} blocks/s ({m['blocks_per_s'] / dr['median']:.2f}× daisy)")
        for k, v in d.items():
            if k.startswith("prefetch_"):
                extra.append(f"`submit_tuned --prefetch {k.split('_')[1]}` (fixed window of {k.split('_')[1]} queued blocks per slot): {v['blocks_per_s']:,.0f} blocks/s")
            if k.startswith("protocol_window_"):
                res = v["result"]
                extra.append(f"worker protocol alone (Python helper, window {res['window']}): "
                             f"{res['us_per_block']:.1f} µs/block = {res['blocks_per_s']:,.0f} blocks/s per program")
        if d.get("perf_blockorch"):
            per = {}
            for who in ("blockorch", "daisy"):
                c = (d.get("perf_" + who) or {}).get("counts", {})
                per[who] = {k: v / t["blocks"] for k, v in c.items()}
            def cnt(who, ev, unit=""):
                v = per[who].get(ev)
                return "–" if v is None else f"{v:.2f}{unit}"
            extra.append(
                "per block, all processes (`perf stat`, one extra run each): fdatasync "
                f"{cnt('blockorch', 'syscalls:sys_enter_fdatasync')} vs daisy "
                f"{cnt('daisy', 'syscalls:sys_enter_fdatasync')}; syscalls "
                f"{cnt('blockorch', 'raw_syscalls:sys_enter')} vs {cnt('daisy', 'raw_syscalls:sys_enter')}; "
                f"openat {cnt('blockorch', 'syscalls:sys_enter_openat')} vs "
                f"{cnt('daisy', 'syscalls:sys_enter_openat')}; context switches "
                f"{cnt('blockorch', 'context-switches')} vs {cnt('daisy', 'context-switches')}; "
                f"CPU {per['blockorch'].get('task-clock', 0) * 1000:.0f} µs vs "
                f"{per['daisy'].get('task-clock', 0) * 1000:.0f} µs")
        for e in extra:
            out.append(f"- {e}")
        if extra:
            out.append("")
    if "ledger" in b:
        l = b["ledger"]
        st, rs = med(l["status"]), med(l["resume"])
        drs = med(l["daisy_resume"])
        out.append(f"### 3. Ledger at scale ({l['blocks']:,} done blocks)")
        out.append("")
        br = l["build"]["result"]
        out.append(f"Ledger written by `benches/ledger_build.rs` (library `Journal` + `LogWriter`): "
                   f"{br['orchestrator_records']:,} orchestrator, {br['outbox_records']:,} outbox and "
                   f"{br['inbox_records']:,} inbox records, {br['bytes'] / 1e6:.0f} MB, "
                   f"{br['build_s']:.1f} s; ends with a snapshot like a finished run.")
        out.append("")
        out.append("| measurement | blockorch | daisy 2.0.0 | daisy/blockorch | target | met? |")
        out.append("|---|---|---|---|---|---|")
        out.append(f"| `status` | {fmt_s(st)}, {fmt_mb(med(l['status'], 'maxrss_mb'))} | no equivalent | – | "
                   f"< 1 s | {yes(st['median'] < 1)} |")
        sj = med(l["status_json"])
        out.append(f"| `status --json` | {fmt_s(sj)} | no equivalent | – | < 1 s | {yes(sj['median'] < 1)} |")
        out.append(f"| resume (nothing to do) | {fmt_s(rs)}, {fmt_mb(med(l['resume'], 'maxrss_mb'))} | "
                   f"{fmt_s(drs)}, {fmt_mb(med(l['daisy_resume'], 'maxrss_mb'))} (run_blockwise skips "
                   f"every block via its tracking store) | {drs['median'] / rs['median']:.1f}× | < 1 s | "
                   f"{yes(rs['median'] < 1)} |")
        out.append(f"| `status`, no final snapshot (whole log folded) | "
                   f"{fmt_s(summarize([l['status_no_snapshot']['wall_s']]))} | – | – | (< 1 s) | "
                   f"{yes(l['status_no_snapshot']['wall_s'] < 1)} |")
        out.append(f"| first resume, no final snapshot | "
                   f"{fmt_s(summarize([l['resume_no_snapshot']['wall_s']]))} | – | – | (< 1 s) | "
                   f"{yes(l['resume_no_snapshot']['wall_s'] < 1)} |")
        if "real" in l:
            real = l["real"]
            rst = med(real["status"])
            rrs = med(real["resume"])
            out.append(f"| `status`, ledger of a real run | {fmt_s(rst)}, "
                       f"{fmt_mb(med(real['status'], 'maxrss_mb'))} | no equivalent | – | < 1 s | "
                       f"{yes(rst['median'] < 1)} |")
            out.append(f"| resume, ledger of a real run | {fmt_s(rrs)}, "
                       f"{fmt_mb(med(real['resume'], 'maxrss_mb'))} | {fmt_s(drs)} | "
                       f"{drs['median'] / rrs['median']:.1f}× | < 1 s | {yes(rrs['median'] < 1)} |")
            out.append("")
            out.append(f"The real run: `blockorch submit` of the {l['blocks']:,}-block no-op task "
                       f"(2 workers, fresh ledger) took {real['run']['wall_s']:.1f} s "
                       f"({real['run']['blocks_per_s']:,.0f} blocks/s) and left a "
                       f"{real['bytes'] / 1e6:.0f} MB ledger (slot logs included).")
        out.append("")
    out.append(f"total bench time: {RESULTS['total_s']:.0f} s")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blockorch", required=True, help="the release blockorch binary")
    ap.add_argument("--python", required=True, help="python with daisy 2.0.0")
    ap.add_argument("--bin", action="append", default=[], metavar="NAME=PATH",
                    help="bench executables (ledger_build, ledger_timeline, submit_tuned, "
                         "protocol_roundtrip)")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--work", help="scratch directory [OUT/work]; ledgers go here")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="planning,throughput,ledger")
    ap.add_argument("--quick", action="store_true",
                    help="smaller sizes (daisy enumeration 50^3, throughput 20^3, 1 run)")
    ap.add_argument("--tp-n", type=int, default=40, help="throughput blocks per axis [40]")
    ap.add_argument("--ledger-n", type=int, default=100, help="ledger blocks per axis [100]")
    ap.add_argument("--daisy-enum-n", type=int, default=100,
                    help="daisy enumerate_all_dependencies blocks per axis [100]")
    ap.add_argument("--daisy-resume-runs", type=int, default=None)
    ap.add_argument("--no-diagnostics", dest="diagnostics", action="store_false")
    ap.add_argument("--no-real-ledger", dest="real_ledger", action="store_false",
                    help="skip status/resume on the ledger of a real n^3-block run")
    ap.add_argument("--prefetch", type=int, action="append", default=None,
                    help="also run submit_tuned with the window fixed at this many queued blocks per slot [16]")
    a = ap.parse_args()
    a.bin = dict(kv.split("=", 1) for kv in a.bin)
    if a.quick:
        a.runs, a.tp_n, a.daisy_enum_n = 1, 20, 50
    if a.daisy_resume_runs is None:
        a.daisy_resume_runs = a.runs
    if a.prefetch is None:
        a.prefetch = [16]
    a.out = os.path.abspath(a.out)
    a.work = os.path.abspath(a.work or os.path.join(a.out, "work"))
    a.blockorch = os.path.abspath(a.blockorch)
    a.python = os.path.abspath(a.python) if os.sep in a.python else a.python
    return a


def main():
    global ARGS, RESULTS
    if len(sys.argv) == 3 and sys.argv[1] == "--report-only":
        # Re-render the tables of an earlier run: run_bench.py --report-only results.json
        RESULTS = json.load(open(sys.argv[2]))
        print(report())
        return
    ARGS = parse_args()
    os.makedirs(ARGS.work, exist_ok=True)
    t0 = time.perf_counter()
    RESULTS["args"] = {k: v for k, v in vars(ARGS).items()}
    RESULTS["machine"] = machine()
    only = ARGS.only.split(",")
    if "planning" in only:
        bench_planning()
    if "throughput" in only:
        bench_throughput()
    if "ledger" in only:
        bench_ledger()
    RESULTS["total_s"] = time.perf_counter() - t0
    with open(os.path.join(ARGS.out, "results.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)
    md = report()
    with open(os.path.join(ARGS.out, "results.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"results: {os.path.join(ARGS.out, 'results.md')} and results.json")


if __name__ == "__main__":
    main()
