"""The collector under load: Segment batches over HTTP on loopback, the dashboard read meanwhile.

    .venv/bin/python benchmarks/collector_load.py                           # 8 clients, 30 s (the README's run)
    .venv/bin/python benchmarks/collector_load.py --seconds 5 --clients 4   # a quick look
    .venv/bin/python benchmarks/collector_load.py --seconds 10 --profile    # where the server's time goes

It writes a fresh small demo workspace (`journeymap demo`, default 2,000 users, so the
dashboard has a map to draw), creates a write key, starts `journeymap serve` on it in
its own process (env JOURNEYMAP_FLUSH_EVERY from --flush-every) and, from this process:

- N clients (threads, one keep-alive connection each) POST /v1/batch with 100 track
  messages a request, each the next as soon as the previous is acknowledged, for a
  bounded time (--seconds) and/or number of events (--events); every messageId unique;
- a reader asks for the dashboard's `/api/map` and `/api/meta` about every second (202,
  "still working", is an answer too: counted), timing each request;
- a monitor samples the server's CPU (/proc/<pid>/stat) and the collector's
  `/v1/status` (journal segments pending, events stored) every second.

Then it waits until the store holds every acknowledged event (the time from the last
acknowledgement is "visible after") and checks it with DuckDB: each acknowledged
messageId stored exactly once (no loss, no duplicate).

Measured: acknowledged events/s (over the run, and per whole second), request latency
p50/p90/p99/max, errors, the dashboard's latencies, server and machine CPU. Writes
COLLECTOR.md and collector.json into --out (default: next to this file); not with
--profile, whose figures are slowed by the profiler. The target on the 2-core
reference machine: >= 20,000 events/s sustained, p99 < 100 ms, zero loss.

--profile profiles the server over the load only (from the first batch until every
acknowledged event is stored): with py-spy when it is on PATH or next to this Python
(attached, sampling every thread; waits on locks, queues and the selector left out),
else with cProfile in every thread (`python -m cProfile` follows only the main thread,
the event loop, while `Collector.accept` runs on worker threads and the journal and the
flusher on threads of their own) on each thread's CPU clock (--profile-clock wall to
see waits such as fdatasync), snapshots taken at the start and the end of the load. It
prints the phases (HTTP, JSON parsing, per-message checks, the journal's write +
fdatasync, the flusher's move into the store, the dashboard's measure), the threads
(py-spy) and the top functions. Kept in the workspace folder: ``py-spy.txt`` or
``server.prof.start`` / ``.end``, and ``profile.txt``. Profilers slow the server
(cProfile several times over): read the shares, not the throughput.

Other work on the machine shows as "other processes' share" (busy cores not the
server's nor this process's) and in the CPU pressure (Linux PSI); the report says so
when other work took more than 0.2 cores.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
EXE = Path(sys.executable).with_name("journeymap")
TICK = os.sysconf("SC_CLK_TCK")
# the demo journey's stages, in order: each bench user walks through them
STAGE_EVENTS = ("landing_view", "pricing_view", "signup", "onboarding_completed", "first_booking",
                "subscription_started", "weekly_active", "referral_sent")
TARGET = {"events_per_s": 20_000, "p99_ms": 100}


# ---- measuring helpers ---------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]


def spread(seconds: list[float]) -> dict:
    """Latency summary in milliseconds."""
    ms = [1000 * s for s in seconds]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": pct(ms, 0.5), "p90_ms": pct(ms, 0.9), "p99_ms": pct(ms, 0.99),
            "max_ms": max(ms), "mean_ms": statistics.fmean(ms)}


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads, waited-for children) of process `pid` and
    of its live descendants (the collector's worker process moves the journal into the
    store: its CPU is the server's)."""
    total, children = 0.0, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), fields))
    todo = [pid]
    own = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total += sum(int(x) for x in own[11:15]) / TICK  # utime stime cutime cstime
    while todo:
        for child, fields in children.get(todo.pop(), []):
            total += sum(int(x) for x in fields[11:15]) / TICK
            todo.append(child)
    return total


def proc_peak_rss_mib(pid: int) -> float | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(vals)
    return (total - vals[3] - vals[4]) / TICK, total / TICK  # minus idle, iowait


def pressure() -> dict:
    """Seconds some task waited for a CPU / for I/O since boot (Linux PSI; {} without it)."""
    out = {}
    for kind in ("cpu", "io"):
        try:
            some = Path(f"/proc/pressure/{kind}").read_text().split("\n", 1)[0]
            out[kind] = int(some.rsplit("total=", 1)[1]) / 1e6
        except (OSError, IndexError, ValueError):
            pass
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the workspace and the server --------------------------------------------------------
def workspace(path: Path, users: int) -> None:
    """A fresh demo workspace at `path` (whatever was there is removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(EXE), "demo", "--users", str(users), "--dir", str(path), "--format", "json"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write_key(path: Path) -> str:
    out = subprocess.run([str(EXE), "keys", "create", "--name", "bench", "-w", str(path)],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0]


# Run as `python -c PROFILE_BOOT OUT CLOCK serve ...`: cProfile in every Python thread
# (threading.setprofile starts one profiler per new thread; `python -m cProfile` follows
# only the main thread). SIGUSR1 / SIGUSR2 write the calls completed so far, all threads
# merged, to OUT.start / OUT.end: the profile of the load is their difference.
PROFILE_BOOT = r"""
import cProfile, gc, os, pstats, signal, sys, threading, time
out, clock = sys.argv.pop(1), sys.argv.pop(1)
timer = time.thread_time if clock == "cpu" else time.perf_counter
profiles, lock = [], threading.Lock()
def start(*_):
    p = cProfile.Profile(timer)
    with lock:
        profiles.append(p)
    p.enable()
class Snap:  # a profiler's completed calls, read without stopping it (its thread's clock)
    def __init__(self, p):
        p.snapshot_stats()
        self.stats, p.stats = p.stats, {}
    def create_stats(self):
        pass
def dump(signum, _):
    name = out + (".start" if signum == signal.SIGUSR1 else ".end")
    main.disable()
    gc.disable()  # no finalizer may let another thread run while its profiler is read
    try:
        with lock:
            pstats.Stats(*[Snap(p) for p in profiles]).dump_stats(name + ".tmp")
    finally:
        gc.enable()
        main.enable()
    os.replace(name + ".tmp", name)
signal.signal(signal.SIGUSR1, dump)
signal.signal(signal.SIGUSR2, dump)
threading.setprofile(start)
main = cProfile.Profile(timer)
profiles.append(main)
main.enable()
from journeymap.cli.main import main as cli
sys.exit(cli(sys.argv[1:]))
"""


def py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


class Server:
    """`journeymap serve` on the workspace, in its own process (group)."""

    def __init__(self, ws: Path, flush_every: float, cprofile_clock: str | None = None):
        self.ws, self.port = ws, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "JOURNEYMAP_FLUSH_EVERY": str(flush_every)}
        serve = ["serve", "-w", str(ws), "--port", str(self.port)]
        if cprofile_clock:
            cmd = [sys.executable, "-c", PROFILE_BOOT, str(ws / "server.prof"), cprofile_clock, *serve]
        else:
            cmd = [str(EXE), *serve]
        self.log = (ws / "server.log").open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid
        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: see {ws / 'server.log'}")
            try:
                if httpx.get(self.url + "/api/meta", timeout=60).status_code in (200, 202):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")

    def stop(self) -> int:
        """SIGINT (the server stops gracefully, moving what is journaled); its exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.log.close()
        return code


class Profiler:
    """The server's profile over the load only: py-spy attached, or cProfile's snapshots."""

    def __init__(self, kind: str, server: Server, rate: int, gil: bool = False):
        self.kind, self.server, self.rate, self.gil = kind, server, rate, gil
        self.file = server.ws / ("py-spy.txt" if kind == "py-spy" else "server.prof")
        self.proc: subprocess.Popen | None = None

    def _signal(self, sig: int, suffix: str) -> None:
        os.kill(self.server.pid, sig)
        path = Path(f"{self.file}.{suffix}")
        for _ in range(1200):
            if path.exists():
                return
            time.sleep(0.05)
        raise RuntimeError(f"the profiled server wrote no {path.name}")

    def start(self) -> None:
        self.began, self.cpu = time.perf_counter(), proc_cpu(self.server.pid)
        if self.kind == "py-spy":
            self.log = (self.server.ws / "py-spy.log").open("wb")
            self.proc = subprocess.Popen(
                [py_spy(), "record", "--pid", str(self.server.pid), "--rate", str(self.rate), "--format", "raw",
                 "--threads", "--nonblocking", *(["--gil"] if self.gil else []), "--output", str(self.file)],
                stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(1.0)  # attached
            if self.proc.poll() is not None:
                raise RuntimeError(f"py-spy stopped: see {self.server.ws / 'py-spy.log'}")
        else:
            self._signal(signal.SIGUSR1, "start")

    def stop(self) -> None:
        if self.kind == "py-spy":
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=120)
            self.log.close()
        else:
            self._signal(signal.SIGUSR2, "end")
        self.seconds = time.perf_counter() - self.began
        self.cpu = proc_cpu(self.server.pid) - self.cpu


# ---- the load --------------------------------------------------------------------------------
class Budget:
    """At most `total` events over all clients (None: no bound)."""

    def __init__(self, total: int | None):
        self.left, self.lock = total, threading.Lock()

    def take(self, n: int) -> bool:
        if self.left is None:
            return True
        with self.lock:
            if self.left < n:
                return False
            self.left -= n
            return True


class Client(threading.Thread):
    """One sender: a batch, wait for the answer, the next batch, until time or budget is out."""

    def __init__(self, idx: int, url: str, key: str, run: str, batch: int, budget: Budget,
                 go: threading.Event, stop: threading.Event):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.idx, self.url, self.batch, self.budget, self.go, self.stop = idx, url, batch, budget, go, stop
        self.prefix = f"{run}-{idx}-"
        self.auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.seq = 0
        self.acked: list[tuple[int, int, frozenset]] = []  # (first seq, n, rejected offsets)
        self.latencies: list[float] = []
        self.acks: list[tuple[float, int]] = []  # (time of the answer, events acknowledged)
        self.errors: Counter = Counter()
        self.unanswered = 0  # events sent whose answer never came (may be stored: not loss)

    def body(self, first: int) -> bytes:
        base = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        p = self.prefix
        parts = [f'{{"type":"track","userId":"{p}u{s // 8}","event":"{STAGE_EVENTS[s % 8]}",'
                 f'"timestamp":"{base}.{9 * i:03d}Z","messageId":"{p}{s}",'
                 f'"properties":{{"channel":"loadtest","step":{s % 8}}}}}'
                 for i, s in enumerate(range(first, first + self.batch))]
        return ('{"batch":[' + ",".join(parts) + "]}").encode()

    def run(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        headers = {"Authorization": self.auth, "Content-Type": "application/json"}
        with httpx.Client(base_url=self.url, headers=headers, limits=limits, timeout=60) as http:
            self.go.wait()
            while not self.stop.is_set() and self.budget.take(self.batch):
                first, body = self.seq, self.body(self.seq)
                self.seq += self.batch
                t0 = time.perf_counter()
                try:
                    res = http.post("/v1/batch", content=body)
                    doc = res.json() if res.headers.get("content-type", "").startswith("application/json") \
                        else {}
                except httpx.HTTPError as exc:
                    self.errors[type(exc).__name__] += 1
                    self.unanswered += self.batch
                    time.sleep(0.05)
                    continue
                t1 = time.perf_counter()
                self.latencies.append(t1 - t0)
                rejected = frozenset(r["index"] for r in doc.get("rejected", []))
                accepted = doc.get("accepted", 0) if res.status_code == 200 else 0
                if res.status_code != 200 or rejected:
                    self.errors[f"HTTP {res.status_code}" + (" (rejected messages)" if rejected else "")] += 1
                if accepted:
                    if accepted != self.batch - len(rejected):  # the answer does not add up
                        self.errors["accepted count mismatch"] += 1
                    self.acked.append((first, self.batch, rejected))
                    self.acks.append((t1, accepted))

    def acked_ids(self) -> list[str]:
        p = self.prefix
        return [f"{p}{first + i}" for first, n, rej in self.acked for i in range(n) if i not in rej]


class Reader(threading.Thread):
    """The dashboard open meanwhile: /api/map and /api/meta about every `every` seconds."""

    def __init__(self, url: str, every: float, t0: float, stop: threading.Event):
        super().__init__(name="reader", daemon=True)
        self.url, self.every, self.t0, self.stop = url, every, t0, stop
        self.calls: list[dict] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as http:
            while not self.stop.is_set():
                start = time.perf_counter()
                for path in ("/api/map", "/api/meta"):
                    t = time.perf_counter()
                    try:
                        status = http.get(path).status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    self.calls.append({"t": round(t - self.t0, 3), "path": path, "status": status,
                                       "s": time.perf_counter() - t})
                self.stop.wait(max(0.0, self.every - (time.perf_counter() - start)))


class Monitor(threading.Thread):
    """Every second: the server's CPU, the machine's, the collector's status."""

    def __init__(self, url: str, key: str, pid: int, t0: float, stop: threading.Event):
        super().__init__(name="monitor", daemon=True)
        self.url, self.pid, self.t0, self.stop = url, pid, t0, stop
        self.auth = {"Authorization": f"Bearer {key}"}
        self.samples: list[dict] = []

    def sample(self, http: httpx.Client) -> dict:
        try:
            status = http.get("/v1/status").json()
        except (httpx.HTTPError, ValueError):
            status = {}
        return {"t": time.perf_counter() - self.t0, "server_cpu_s": proc_cpu(self.pid),
                "machine_cpu": system_cpu(), "load_1m": os.getloadavg()[0],
                "pending_segments": status.get("pending_segments"), "stored": status.get("stored"),
                "last_error": status.get("last_error")}

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.auth, timeout=30) as http:
            while True:
                self.samples.append(self.sample(http))
                if self.stop.wait(1.0):
                    self.samples.append(self.sample(http))
                    return


def status(url: str, key: str) -> dict:
    return httpx.get(url + "/v1/status", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()


def verify(ws: Path, run: str, acked: list[str]) -> dict:
    """Every acknowledged messageId stored exactly once? (and what else of this run is stored)"""
    import duckdb
    import pyarrow as pa

    from journeymap.store.eventstore import EventStore
    con = duckdb.connect()
    con.register("acked", pa.table({"event_id": pa.array(acked, pa.string())}))
    stored = f"""(SELECT event_id, count(*) AS n FROM {EventStore(ws / 'store').scan_sql()}
                  WHERE starts_with(event_id, '{run}-') GROUP BY event_id)"""
    con.execute(f"CREATE TEMP TABLE stored AS SELECT * FROM {stored}")
    missing, twice = con.execute("""SELECT count(*) FILTER (WHERE s.n IS NULL),
                                           count(*) FILTER (WHERE s.n > 1)
                                    FROM acked a LEFT JOIN stored s USING (event_id)""").fetchone()
    rows, distinct, extra = con.execute("""SELECT coalesce(sum(n), 0), count(*),
        count(*) FILTER (WHERE event_id NOT IN (SELECT event_id FROM acked)) FROM stored""").fetchone()
    sample = [r[0] for r in con.execute("""SELECT event_id FROM acked ANTI JOIN stored USING (event_id)
                                           LIMIT 5""").fetchall()]
    return {"acknowledged": len(acked), "acknowledged_distinct": len(set(acked)),
            "missing": missing, "stored_more_than_once": twice, "rows_of_this_run": int(rows),
            "distinct_ids_of_this_run": distinct, "stored_not_acknowledged": extra,
            "missing_sample": sample, "ok": missing == 0 and twice == 0 and rows == distinct}


def run(args) -> dict:
    ws = Path(args.dir).resolve() if args.dir else DATA / "collector-load"
    t = time.perf_counter()
    workspace(ws, args.users)
    key = write_key(ws)
    demo_s = time.perf_counter() - t
    profile = None
    if args.profile:
        profile = "py-spy" if py_spy() and not args.cprofile else "cprofile"
    server = Server(ws, args.flush_every, args.profile_clock if profile == "cprofile" else None)
    profiler = Profiler(profile, server, args.rate, args.gil) if profile else None
    out: dict = {"workspace": str(ws), "demo_users": args.users, "demo_s": round(demo_s, 1),
                 "profile": profile}
    try:
        # the dashboard was open before the load: its map is measured once first
        t = time.perf_counter()
        while (code := httpx.get(server.url + "/api/map", timeout=600).status_code) == 202:
            time.sleep(0.2)
        out["first_map_s"] = round(time.perf_counter() - t, 2)
        if code != 200:
            raise RuntimeError(f"/api/map answered {code} before the load")

        run_id = "lt" + os.urandom(4).hex()
        go, stop, stop_side = threading.Event(), threading.Event(), threading.Event()
        budget = Budget(args.events)
        clients = [Client(i, server.url, key, run_id, args.batch, budget, go, stop)
                   for i in range(args.clients)]
        for c in clients:
            c.start()
        time.sleep(0.2)  # connections opened
        if profiler:
            profiler.start()
        cpu0, mach0, own0, psi0 = proc_cpu(server.pid), system_cpu(), os.times(), pressure()
        t0 = time.perf_counter()
        reader = Reader(server.url, args.read_every, t0, stop_side)
        monitor = Monitor(server.url, key, server.pid, t0, stop_side)
        reader.start()
        monitor.start()
        go.set()
        deadline = t0 + args.seconds if args.seconds else None
        while any(c.is_alive() for c in clients):
            if deadline and time.perf_counter() >= deadline:
                stop.set()
            for c in clients:
                c.join(0.05)
        t_end = time.perf_counter()
        cpu1, mach1, own1, psi1 = proc_cpu(server.pid), system_cpu(), os.times(), pressure()
        acks = sorted(a for c in clients for a in c.acks)
        n_acked = sum(n for _, n in acks)
        t_last_ack = acks[-1][0] if acks else t_end

        # until the store holds every acknowledged event
        visible_s = None
        while time.perf_counter() - t_last_ack < args.settle:
            st = status(server.url, key)
            if (st.get("stored") or 0) >= n_acked:
                visible_s = time.perf_counter() - t_last_ack
                break
            time.sleep(0.02)
        if profiler:
            profiler.stop()
        stop_side.set()
        reader.join()
        monitor.join()
        final_status = status(server.url, key)
        peak_rss = proc_peak_rss_mib(server.pid)
    finally:
        if profiler and profiler.proc and profiler.proc.poll() is None:
            profiler.proc.kill()
        exit_code = server.stop()
    out["server_exit_code"] = exit_code

    acked_ids = [i for c in clients for i in c.acked_ids()]
    out["check"] = verify(ws, run_id, acked_ids)
    out["check"]["visible_after_last_ack_s"] = round(visible_s, 3) if visible_s is not None else None

    duration = t_end - t0
    by_sec = defaultdict(int)
    for t, n in acks:
        by_sec[int(t - t0)] += n
    whole = [by_sec[s] for s in range(int(duration))]  # whole seconds only
    steady = whole[1:] or whole  # the first second opens the journal, warms the caches
    errors = sum((c.errors for c in clients), Counter())
    lat = [x for c in clients for x in c.latencies]
    out["load"] = {
        "clients": args.clients, "batch": args.batch, "seconds": round(duration, 2),
        "flush_every_s": args.flush_every, "requests": len(lat), "acknowledged_events": n_acked,
        "events_per_s": round(n_acked / duration) if duration else None,
        "events_per_s_by_second": whole,
        "steady_events_per_s": {"median": round(statistics.median(steady)) if steady else 0,
                                "min": min(steady) if steady else 0},
        "latency": spread(lat), "errors": dict(errors), "unanswered_events": sum(c.unanswered for c in clients),
        "requests_by_second": [n for _, n in sorted(Counter(int(t - t0) for t, _ in acks).items())],
    }
    out["dashboard"] = {}
    for path in ("/api/map", "/api/meta"):  # the requests made during the load
        calls = [c for c in reader.calls if c["path"] == path and c["t"] < duration]
        out["dashboard"][path] = {"statuses": dict(Counter(str(c["status"]) for c in calls)),
                                  **spread([c["s"] for c in calls]),
                                  "ok_200": spread([c["s"] for c in calls if c["status"] == 200])}
    out["dashboard"]["calls"] = reader.calls
    server_cpu = cpu1 - cpu0
    busy = mach1[0] - mach0[0]
    wall = mach1[1] - mach0[1]
    own = (own1.user + own1.system) - (own0.user + own0.system)
    out["cpu"] = {"server_cpu_s": round(server_cpu, 2),
                  "server_cores": round(server_cpu / duration, 2) if duration else None,
                  "load_generator_cores": round(own / duration, 2) if duration else None,
                  "machine_busy_fraction": round(busy / wall, 3) if wall else None,
                  # busy cores of the machine less the server's and this process's: other work
                  "other_processes_cores": round((busy - server_cpu - own) / duration, 2) if duration else None,
                  # share of the time some runnable task waited for a CPU (for I/O): contention
                  "cpu_pressure": round((psi1["cpu"] - psi0["cpu"]) / duration, 3) if "cpu" in psi0 else None,
                  "io_pressure": round((psi1["io"] - psi0["io"]) / duration, 3) if "io" in psi0 else None,
                  "server_peak_rss_mib": peak_rss,
                  "events_per_server_cpu_s": round(n_acked / server_cpu) if server_cpu else None}
    out["collector_status_after"] = final_status
    out["timeline"] = [
        {"t": round(s["t"], 2), "server_cores": round((s["server_cpu_s"] - p["server_cpu_s"]) / (s["t"] - p["t"]), 2),
         "machine_busy": round((s["machine_cpu"][0] - p["machine_cpu"][0])
                               / max(1e-9, s["machine_cpu"][1] - p["machine_cpu"][1]), 2),
         "load_1m": round(s["load_1m"], 2), "pending_segments": s["pending_segments"], "stored": s["stored"],
         "acked": sum(n for t, n in acks if t - t0 <= s["t"]), "flusher_error": s["last_error"]}
        for p, s in zip(monitor.samples, monitor.samples[1:]) if s["t"] > p["t"]]
    loads = [s["load_1m"] for s in monitor.samples]
    out["load_1m_during"] = {"min": min(loads), "max": max(loads)} if loads else None
    rejected = ws / ".collector" / "rejected"
    out["rows_refused_by_the_store"] = sorted(p.name for p in rejected.iterdir()) if rejected.is_dir() else []
    lat_ok = out["load"]["latency"].get("p99_ms")
    out["meets_target"] = bool(out["load"]["events_per_s"] and out["load"]["events_per_s"] >= TARGET["events_per_s"]
                               and lat_ok is not None and lat_ok < TARGET["p99_ms"] and out["check"]["ok"]
                               and not errors)
    if profile:
        out["profile_text"] = profile_report(profiler, args.top, args.profile_clock, profiler.cpu,
                                             profiler.seconds)
        (ws / "profile.txt").write_text(out["profile_text"])
    return out


# ---- the profile ----------------------------------------------------------------------------
# (label, file suffix, function name, caller name or None): where a batch's time goes
PHASES = (
    ("HTTP in the event loop (uvicorn h11, Starlette, FastAPI, access check)",
     "uvicorn/protocols/http/h11_impl.py", "run_asgi", None),
    ("  access check (write key)", "journeymap/web/access.py", "_writer", None),
    ("  reading the request body", "journeymap/web/collect.py", "_body", None),
    ("Collector.accept (worker threads: whole batches)", "journeymap/store/collector.py", "accept", None),
    ("  JSON parsing (json.loads of the body)", "journeymap/store/collector.py", "_messages", None),
    ("  per-message checks (check_message)", "journeymap/store/collector.py", "check_message", None),
    ("    timestamps (_timestamp_error)", "journeymap/store/collector.py", "_timestamp_error", None),
    ("  a journal line per message (json.dumps)", "json/__init__.py", "dumps", "accept"),
    ("  waiting for the journal (Journal.append)", "journeymap/store/journal.py", "append", None),
    ("journal writer: write + fdatasync (Journal._flush)", "journeymap/store/journal.py", "_flush", None),
    ("flusher: journal into the store (Collector.flush)", "journeymap/store/collector.py", "flush", None),
    ("  Segment parsing (segment_json.parse)", "journeymap/store/segment_json.py", "parse", None),
    ("  EventStore.append (dedupe, Parquet, commit)", "journeymap/store/eventstore.py", "append", None),
    ("dashboard: Workspace.measure", "journeymap/workspace.py", "measure", None),
    ("module imports (first use of a code path)", "<frozen importlib._bootstrap>", "_find_and_load", None),
)
_WRAPPERS = re.compile(r"(threading\.py|concurrent/futures/thread\.py|asyncio/(events|base_events)\.py|"
                       r"anyio/_backends/_asyncio\.py|<string>|cli/main\.py|click/core\.py|"
                       r"uvicorn/(main|server)\.py|_bootstrap(_external)?>?)$")


def _short(f: str) -> str:
    f = re.sub(r"^.*?/(site-packages|lib/python3\.\d+)/", "", f)
    return f.replace(str(HERE.parent) + "/", "")


def _diff(end: dict, start: dict) -> dict:
    """pstats dicts: what was done between two snapshots."""
    out = {}
    for k, (cc, nc, tt, ct, callers) in end.items():
        c0, n0, t0, u0, callers0 = start.get(k, (0, 0, 0.0, 0.0, {}))
        if nc - n0 <= 0:
            continue
        cl = {}
        for ck, v in callers.items():
            v0 = callers0.get(ck, (0, 0, 0.0, 0.0))
            if v[1] - v0[1] > 0:
                cl[ck] = tuple(a - b for a, b in zip(v, v0))
        out[k] = (cc - c0, nc - n0, tt - t0, ct - u0, cl)
    return out


def _cprofile_phases(st: dict) -> list[tuple[str, float, int]]:
    rows = []
    for label, file, name, caller in PHASES:
        ct, calls = 0.0, 0
        for (f, _, fn), (_, nc, _, c, callers) in st.items():
            if fn != name or not f.endswith(file):
                continue
            if caller is None:
                ct, calls = ct + c, calls + nc
            else:
                for (_, _, cfn), (_, cnc, _, cct) in callers.items():
                    if cfn == caller:
                        ct, calls = ct + cct, calls + cnc
        rows.append((label, ct, calls))
    return rows


def profile_report(profiler: Profiler, top: int, clock: str, server_cpu: float, seconds: float) -> str:
    if profiler.kind == "py-spy":
        return pyspy_report(profiler.file, top, server_cpu, profiler.rate, seconds, profiler.gil)
    st = _diff(pstats.Stats(f"{profiler.file}.end").stats, pstats.Stats(f"{profiler.file}.start").stats)
    total = sum(v[2] for v in st.values())
    what = "CPU (each thread's own clock)" if clock == "cpu" else "wall-clock (waits included, per thread)"
    lines = [f"cProfile in every server thread over the load, {what}: {total:.1f} s in all "
             f"(the server process used {server_cpu:.1f} s CPU in these {seconds:.1f} s, profiler included; "
             "native threads, e.g. DuckDB's or Arrow's, are outside the profile).", "",
             "Phases (cumulative seconds; indented rows are part of the row above):"]
    for label, ct, calls in _cprofile_phases(st):
        lines.append(f"  {label:<72} {ct:8.2f} s {100 * ct / total if total else 0:5.1f}%  {calls:>9,} calls")

    def name(f, ln, fn):
        return fn if f == "~" else f"{_short(f)}:{ln}({fn})"
    lines += ["", f"Top {top} by own time (tottime):", f"  {'own s':>8} {'cum s':>8} {'calls':>10}  function"]
    for (f, ln, fn), (_, nc, tt, ct, _) in sorted(st.items(), key=lambda kv: -kv[1][2])[:top]:
        lines.append(f"  {tt:8.2f} {ct:8.2f} {nc:>10,}  {name(f, ln, fn)}")
    lines += ["", f"Top {top} by cumulative time (thread, event-loop and import wrappers left out):",
              f"  {'cum s':>8} {'own s':>8} {'calls':>10}  function"]
    rows = [kv for kv in st.items() if not _WRAPPERS.search(kv[0][0])]
    for (f, ln, fn), (_, nc, tt, ct, _) in sorted(rows, key=lambda kv: -kv[1][3])[:top]:
        lines.append(f"  {ct:8.2f} {tt:8.2f} {nc:>10,}  {name(f, ln, fn)}")
    return "\n".join(lines) + "\n"


_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>.*?)(?::\d+)?\)$")
# a sample whose innermost Python frame is one of these is a thread waiting (on a lock,
# a queue, the selector), whatever py-spy's idle detection says
_WAITS = {("wait", "threading.py"), ("_wait_for_tstate_lock", "threading.py"), ("select", "selectors.py"),
          ("_worker", "concurrent/futures/thread.py"), ("run", "anyio/_backends/_asyncio.py"),
          ("_run", "journeymap/store/journal.py"), ("get", "queue.py")}


def _method(fn: str) -> str:
    """'Collector.accept' -> 'accept' (py-spy names methods with their class)."""
    return fn.rsplit(".", 1)[-1]


def pyspy_report(path: Path, top: int, server_cpu: float, rate: int, seconds: float, gil: bool = False) -> str:
    """Phases, threads, own and inclusive samples per function from py-spy's raw output
    (samples of threads not idle; a frame is `function (file:line)`)."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        thread = re.sub(r"^thread \(\w+\): ", "", parts[0]) if parts[0].startswith("thread (") else "?"
        frames = []
        for p in parts[1:] if thread != "?" else parts:
            m = _FRAME.match(p)
            frames.append((m["fn"], _short(m["file"])) if m else (p, ""))
        stacks.append((re.sub(r"[_-]?\d+$", "", thread), frames, int(count)))
    waiting = sum(n for _, fr, n in stacks if fr and (_method(fr[-1][0]), fr[-1][1]) in _WAITS)
    stacks = [x for x in stacks if x[1] and (_method(x[1][-1][0]), x[1][-1][1]) not in _WAITS]
    total = sum(n for _, _, n in stacks) or 1
    lines = [f"py-spy over the load ({seconds:.1f} s at {rate}/s): {total:,} samples of threads at work "
             f"(about {total / rate / seconds:.2f} cores; {waiting:,} more samples of threads waiting on a "
             f"lock, a queue or the selector left out); the server process used {server_cpu / seconds:.2f} "
             "cores meanwhile. Work includes blocking I/O (write + fdatasync: Journal._flush).",
             "", "Threads (share of the samples at work):"]
    if gil:
        lines[0] = (f"py-spy --gil over the load ({seconds:.1f} s at {rate}/s): {total:,} samples of the thread "
                    f"holding the GIL: it was held about {100 * min(1.0, total / rate / seconds):.0f}% of the time "
                    f"(the server process used {server_cpu / seconds:.2f} cores meanwhile).")
    threads = Counter()
    for t, _, n in stacks:
        threads[t] += n
    lines += [f"  {100 * n / total:5.1f}%  {t}" for t, n in threads.most_common()]
    lines += ["", "Phases (share of the samples at work; indented rows are part of the row above):"]
    for label, file, name, caller in PHASES:
        n = 0
        for _, frames, c in stacks:
            for i, (fn, f) in enumerate(frames):
                if _method(fn) == name and f.endswith(file) and \
                        (caller is None or (i and _method(frames[i - 1][0]) == caller)):
                    n += c
                    break
        lines.append(f"  {label:<72} {100 * n / total:5.1f}%")
    own, incl = Counter(), Counter()
    for _, frames, n in stacks:
        if frames:
            own[f"{frames[-1][0]} ({frames[-1][1]})"] += n
        for fn, f in set(frames):
            if not _WRAPPERS.search(f):
                incl[f"{fn} ({f})"] += n
    lines += ["", f"Top {top} by own samples:"] + [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", f"Top {top} by inclusive samples (thread and event-loop wrappers left out):"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines) + "\n"


# ---- the report -------------------------------------------------------------------------------
def machine(load_before: float) -> dict:
    mem = Path("/proc/meminfo").read_text().split()[1]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    from journeymap._version import __version__
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
            "load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "journeymap": __version__, "httpx": httpx.__version__,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def report(res: dict, host: dict) -> str:
    ld, chk, cpu = res["load"], res["check"], res["cpu"]
    lat = ld["latency"]
    during = res["load_1m_during"] or {"min": float("nan"), "max": float("nan")}
    lines = [
        "# Collector under load\n",
        f"{host['date']}, {host['cpu']}, {host['cores']} cores, {host['memory_gib']} GiB, Python "
        f"{host['python']}, journeymap {host['journeymap']}. 1-minute load before / during / after: "
        f"{host['load_1m_before']} / {during['min']:.2f}–{during['max']:.2f} / "
        f"{host['load_1m_after']}. `journeymap serve` in its own process on a fresh demo workspace "
        f"({res['demo_users']:,} users), loopback; {ld['clients']} clients (threads, one keep-alive "
        f"connection each) in another process sending {ld['batch']}-message batches to /v1/batch "
        f"back to back for {ld['seconds']:.1f} s; flush_every {ld['flush_every_s']} s; the dashboard "
        "(`/api/map`, `/api/meta`) read about every second meanwhile. Made by "
        "`benchmarks/collector_load.py`.\n",
        "| what | value |", "|---|---:|",
        f"| acknowledged events/s (over the run) | **{ld['events_per_s']:,}** |",
        f"| per whole second after the first: median / min | {ld['steady_events_per_s']['median']:,} / "
        f"{ld['steady_events_per_s']['min']:,} |",
        f"| requests ({ld['batch']} events each) | {ld['requests']:,} |",
        f"| request latency p50 / p90 / p99 / max | {lat.get('p50_ms', 0):.1f} / {lat.get('p90_ms', 0):.1f} / "
        f"**{lat.get('p99_ms', 0):.1f}** / {lat.get('max_ms', 0):.1f} ms |",
        f"| errors | {sum(ld['errors'].values()) or 0} {ld['errors'] or ''} |",
        f"| acknowledged events | {chk['acknowledged']:,} |",
        f"| missing from the store / stored more than once | **{chk['missing']}** / "
        f"**{chk['stored_more_than_once']}** |",
        f"| all visible in the store after the last acknowledgement | "
        f"{chk['visible_after_last_ack_s'] if chk['visible_after_last_ack_s'] is not None else 'NOT within the wait'} s |",
        f"| server CPU (of {host['cores']} cores) / load generator CPU | {cpu['server_cores']} / "
        f"{cpu['load_generator_cores']} cores |",
        f"| machine busy during the load; other processes' share | {100 * cpu['machine_busy_fraction']:.0f}%; "
        f"{cpu['other_processes_cores']} cores |",
        f"| CPU / I/O pressure (share of the time some task waited) | {cpu['cpu_pressure']} / {cpu['io_pressure']} |",
        f"| acknowledged events per server CPU second | {cpu['events_per_server_cpu_s']:,} |",
        f"| server peak RSS | {cpu['server_peak_rss_mib']} MiB |",
    ]
    for path in ("/api/map", "/api/meta"):
        d = res["dashboard"][path]
        if d["n"]:
            lines.append(f"| dashboard `{path}`: answers; latency p50 / p99 / max | {d['statuses']}; "
                         f"{d['p50_ms']:.0f} / {d['p99_ms']:.0f} / {d['max_ms']:.0f} ms |")
    verdict = "met" if res["meets_target"] else "NOT met"
    if (cpu["other_processes_cores"] or 0) > 0.2:
        lines += ["", f"**Other work used {cpu['other_processes_cores']} cores of the machine during the load: "
                  "these figures are not the quiet machine's.**"]
    lines += ["", f"Target (>= {TARGET['events_per_s']:,} events/s sustained, p99 < {TARGET['p99_ms']} ms, "
              f"no loss, no duplicate, no error): **{verdict}**.", "",
              "Acknowledged events per second: " + ", ".join(f"{n:,}" for n in ld["events_per_s_by_second"]) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=100, help="messages a request")
    ap.add_argument("--seconds", type=float, default=30, help="how long the load lasts (0: until --events)")
    ap.add_argument("--events", type=int, default=None, help="at most this many events in all")
    ap.add_argument("--flush-every", type=float, default=1.0, help="the server's JOURNEYMAP_FLUSH_EVERY")
    ap.add_argument("--users", type=int, default=2000, help="users of the demo workspace")
    ap.add_argument("--read-every", type=float, default=1.0, help="seconds between dashboard reads")
    ap.add_argument("--settle", type=float, default=120, help="how long to wait for the events to be stored")
    ap.add_argument("--dir", help="the workspace folder, recreated (default: benchmarks/data/collector-load)")
    ap.add_argument("--out", help="where COLLECTOR.md and collector.json go (default: benchmarks/)")
    ap.add_argument("--profile", action="store_true", help="profile the server (py-spy if on PATH, else cProfile)")
    ap.add_argument("--cprofile", action="store_true", help="with --profile: cProfile even if py-spy is there")
    ap.add_argument("--profile-clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--rate", type=int, default=200, help="py-spy's samples a second")
    ap.add_argument("--gil", action="store_true",
                    help="with py-spy: sample only the thread holding the GIL (how busy the GIL is, and with what)")
    ap.add_argument("--top", type=int, default=25, help="functions listed by the profile")
    args = ap.parse_args()
    if not args.seconds and not args.events:
        ap.error("give --seconds or --events (the load must be bounded)")
    load_before = os.getloadavg()[0]
    res = run(args)
    host = machine(load_before)
    text = report(res, host)
    print(text)
    if args.profile:
        print(res["profile_text"])
        print(f"(profiled run: figures slowed by the profiler, nothing written to COLLECTOR.md; "
              f"profile in {res['workspace']})")
        return
    out = Path(args.out).resolve() if args.out else HERE
    out.mkdir(parents=True, exist_ok=True)
    (out / "collector.json").write_text(json.dumps({"machine": host, "results": res}, indent=2))
    (out / "COLLECTOR.md").write_text(text)
    print(f"written: {out / 'COLLECTOR.md'}, {out / 'collector.json'}")


if __name__ == "__main__":
    main()
