"""A real standalone Spark cluster on this machine, for tests.

`standalone_cluster()` starts Spark's own daemons from the installed PySpark package
(``pyspark/bin/spark-class``, SPARK_HOME = the package folder): a master and, by
default, two workers of one core each, all bound to 127.0.0.1 on ports the kernel
picks (port 0, read back from the daemons' logs: no race for a "free" port). It waits
until the master's web UI JSON lists every worker ALIVE, yields the master URL, and on
exit kills each daemon's process group (the JVM, the executors it launched and their
Python workers) and removes the temporary folder holding conf, logs, work and
scratch (shuffle) dirs.

    with standalone_cluster() as cluster:
        os.environ.update(cluster.driver_env)              # before the SparkContext starts
        spark = (SparkSession.builder.master(cluster)      # "spark://127.0.0.1:PORT"
                 .config(map=cluster.driver_conf).getOrCreate())

The yielded value is the master URL (a `str`) with attributes: `web_ui`, `root`,
`logs` (daemon name -> log path), `driver_conf` (the settings a driver needs to work
with this cluster: see `driver_conf`), `driver_env` (PYSPARK_PYTHON, SPARK_LOCAL_IP)
and `tails()` (the daemons' and executors' last log lines) for diagnostics. The
`spark_master` fixture below is the same for a whole pytest session:

    from tests.spark_cluster import spark_master  # noqa: F401 - a fixture

The executors' Python is the driver's choice, not the cluster's: PySpark ships the
interpreter path with every Python function, and that path is the driver process's
PYSPARK_PYTHON environment variable when its SparkContext starts, else "python3"
(PySpark 4.0 reads no `spark.pyspark.python` setting given to `SparkSession.builder`:
only spark-submit turns that setting into the variable). So the workers here run with
this interpreter's folder first on PATH: a driver that leaves PYSPARK_PYTHON unset gets
"python3" = this environment's Python (numba, pyarrow, journeymap) on the executors.
`driver_env` is the variable to set for an explicit choice.

Failures raise `ClusterError` whose message ends with the tails of the daemons' logs.
Needs Java 17+ (JAVA_HOME or `java` on PATH); no network beyond loopback. On Linux
the daemons also die with the thread that started them (PR_SET_PDEATHSIG), so a
killed test run leaves no JVMs behind: start the cluster from a thread that lives as
long as the cluster (pytest's main thread does).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ClusterError", "Cluster", "driver_conf", "spark_home", "spark_master", "standalone_cluster"]

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"

#: the daemons' and executors' logs: INFO for Spark's deploy classes (the ports and
#: registrations are read from them), WARN otherwise. Executors find this file too:
#: SPARK_CONF_DIR is on their classpath.
_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n%ex
logger.deploy.name = org.apache.spark.deploy
logger.deploy.level = info
logger.utils.name = org.apache.spark.util.Utils
logger.utils.level = info
logger.executor.name = org.apache.spark.executor
logger.executor.level = info
"""

_MASTER_URL = re.compile(r"Starting Spark master at (spark://\S+)")
_MASTER_UI = re.compile(r"Successfully started service 'MasterUI' on port (\d+)")
_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The cluster did not start (or stop) as asked; the message has the logs' tails."""


class Cluster(str):
    """The master URL, with where to look when something goes wrong."""

    web_ui: str
    root: Path
    logs: dict[str, Path]
    driver_conf: dict[str, str]
    driver_env: dict[str, str]

    def tails(self, lines: int = 40) -> str:
        """The last lines of the daemons' logs and of every executor's stderr so far."""
        executors = {f"executor {f.parent.parent.name}/{f.parent.name}": f
                     for f in sorted(self.root.glob("work-*/*/*/stderr"))}
        return _tails({**self.logs, **executors}, lines)


def spark_home() -> Path:
    """The installed PySpark package, which is a complete SPARK_HOME (bin/, jars/)."""
    try:
        import pyspark
    except ImportError:
        raise ClusterError("PySpark is not installed in this environment") from None
    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").is_file() or not (home / "jars").is_dir():
        raise ClusterError(f"{home} has no bin/spark-class or jars/: not a usable SPARK_HOME")
    return home


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ClusterError("Spark needs Java 17 or newer: set JAVA_HOME or put java on PATH")
    return str(java)


def driver_conf(executor_memory: str = "1g") -> dict[str, str]:
    """What a driver must set to use a loopback standalone cluster.

    `spark.driver.host`/`bindAddress`: executors connect back to the driver on 127.0.0.1
    rather than to whatever the machine's hostname resolves to; `spark.executor.cores`
    1 so each one-core worker runs one executor; `spark.executor.memory` at most a
    worker's memory, else no executor is ever granted (the app waits forever).
    """
    return {
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.executor.cores": "1",
        "spark.executor.memory": executor_memory,
    }


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _tails(logs: dict[str, Path], lines: int = 40) -> str:
    return "\n".join(f"--- {name}: {path} (last {lines} lines) ---\n{_tail(path, lines)}"
                     for name, path in logs.items())


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: the daemon gets SIGKILL if the thread that started it dies (a killed
    test run leaves no JVMs behind); kept across exec, so the JVM inherits it."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: the context manager still cleans up
        pass


def _start(name: str, args: list[str], env: dict, root: Path, logs: dict, procs: dict) -> subprocess.Popen:
    log = root / "logs" / f"{name}.log"
    logs[name] = log
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            ["bash", str(Path(env["SPARK_HOME"], "bin", "spark-class")), *args],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
            start_new_session=True,  # its own process group: killed as one on exit
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    procs[name] = proc
    return proc


def _check_alive(procs: dict, logs: dict) -> None:
    for name, proc in procs.items():
        if proc.poll() is not None:
            raise ClusterError(f"Spark {name} exited with status {proc.returncode} while "
                               f"starting\n{_tails(logs)}")


def _wait_master(proc, logs: dict, procs: dict, deadline: float) -> tuple[str, int]:
    """The master's URL and web UI port, as its log announces them."""
    while True:
        text = logs["master"].read_text(errors="replace") if logs["master"].exists() else ""
        url, ui = _MASTER_URL.search(text), _MASTER_UI.search(text)
        if url and ui:
            return url.group(1), int(ui.group(1))
        _check_alive(procs, logs)
        if time.monotonic() > deadline:
            raise ClusterError(f"the Spark master did not announce its URL and web UI in time\n"
                               f"{_tails(logs)}")
        time.sleep(0.2)


def _master_state(web_ui: str) -> dict:
    with urllib.request.urlopen(f"{web_ui}/json/", timeout=5) as resp:
        return json.load(resp)


def _wait_workers(web_ui: str, n: int, logs: dict, procs: dict, deadline: float) -> dict:
    last = None
    while True:
        with contextlib.suppress(OSError, ValueError):
            last = _master_state(web_ui)
            alive = [w for w in last.get("workers", []) if w.get("state") == "ALIVE"]
            if len(alive) >= n:
                return last
        _check_alive(procs, logs)
        if time.monotonic() > deadline:
            seen = "no answer from the web UI" if last is None else \
                f"workers seen: {[(w.get('id'), w.get('state')) for w in last.get('workers', [])]}"
            raise ClusterError(f"{n} Spark workers did not register with the master in time "
                               f"({seen})\n{_tails(logs)}")
        time.sleep(0.25)


def _stop(procs: dict, grace: float) -> list[str]:
    """SIGTERM each daemon's process group (workers first), then SIGKILL what is left."""
    for name in reversed(list(procs)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(procs[name].pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    stuck = []
    for name, proc in procs.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stuck.append(name)
    for proc in procs.values():  # the group may outlive its leader (executors, python workers)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    return stuck


@contextlib.contextmanager
def standalone_cluster(workers: int = 2, cores: int = 1, memory: str = "2g", *,
                       executor_memory: str = "1g", python: str | None = None,
                       timeout: float = 120.0, stop_grace: float = 15.0,
                       keep_dir: bool = False) -> Iterator[Cluster]:
    """A master and `workers` workers (`cores` cores and `memory` each) on 127.0.0.1.

    Yields the master URL (a `Cluster`, a str). `timeout` bounds the whole start
    (JVM start-up is a few seconds each); `keep_dir` keeps the temporary folder
    (conf/, logs/, work-N/ with the executors' stdout/stderr, local-N/ scratch).
    """
    home, java = spark_home(), _java()
    python = python or sys.executable
    root = Path(tempfile.mkdtemp(prefix="jm-spark-cluster-"))
    conf_dir = root / "conf"
    conf_dir.mkdir()
    (root / "logs").mkdir()
    (conf_dir / "log4j2.properties").write_text(_LOG4J2)
    (conf_dir / "spark-defaults.conf").write_text("")  # nothing of the user's, nothing of ours
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARK_", "PYSPARK_")) and k not in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS")}
    env.update({
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(conf_dir),  # our log4j2 and an empty spark-defaults, not $SPARK_HOME/conf
        "SPARK_LOCAL_IP": HOST,  # bind and advertise loopback, never the hostname's address
        "SPARK_LOCAL_HOSTNAME": HOST,
        # executors start Python workers by the name the driver sent ("python3" unless
        # the driver set PYSPARK_PYTHON): this environment's bin/ first resolves it here
        "PATH": os.pathsep.join([str(Path(python).parent), env.get("PATH", os.defpath)]),
        "PYSPARK_PYTHON": python,
        "JAVA_HOME": str(Path(java).resolve().parents[1]),
    })
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    deadline = time.monotonic() + timeout
    ok = False
    try:
        master = _start("master", [MASTER_CLASS, "--host", HOST, "--port", "0", "--webui-port", "0"],
                        env, root, logs, procs)
        url, ui_port = _wait_master(master, logs, procs, deadline)
        web_ui = f"http://{HOST}:{ui_port}"
        for i in range(1, workers + 1):
            work, local = root / f"work-{i}", root / f"local-{i}"
            work.mkdir()
            local.mkdir()
            # SPARK_LOCAL_DIRS: the worker hands it to its executors (shuffle and spill files)
            _start(f"worker-{i}", [WORKER_CLASS, "--host", HOST, "--port", "0", "--webui-port", "0",
                                   "--cores", str(cores), "--memory", memory,
                                   "--work-dir", str(work), url],
                   {**env, "SPARK_LOCAL_DIRS": str(local)}, root, logs, procs)
        _wait_workers(web_ui, workers, logs, procs, deadline)
        cluster = Cluster(url)
        cluster.web_ui, cluster.root, cluster.logs = web_ui, root, logs
        cluster.driver_conf = driver_conf(executor_memory)
        # SPARK_LOCAL_IP: the driver JVM's own address, as the daemons' (else it warns that
        # the hostname resolves to loopback and picks the first interface's address)
        cluster.driver_env = {"PYSPARK_PYTHON": python, "SPARK_LOCAL_IP": HOST}
        yield cluster
        ok = True  # not reached when the body raised
    finally:
        stuck = _stop(procs, stop_grace)
        if not keep_dir:
            shutil.rmtree(root, ignore_errors=True)
        if stuck and ok:  # not while another error is on its way out
            raise ClusterError(f"Spark daemons did not stop on SIGTERM within {stop_grace}s "
                               f"(killed): {', '.join(stuck)}")


try:
    import pytest
except ImportError:  # pragma: no cover - the helper works without pytest too
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def spark_master() -> Iterator[Cluster]:
        """A standalone cluster (master + two one-core workers) for the test session."""
        with standalone_cluster() as cluster:
            yield cluster
