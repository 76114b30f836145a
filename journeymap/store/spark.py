"""The Spark engine, all in one place: its session (local mode by default, a master URL
for a cluster), its Ibis backend, and how it reads the store's Parquet files.

PySpark is an optional extra (``pip install "journeymap[spark]"``), imported
only when the Spark engine is asked for. One session serves the whole process:
Spark allows one SparkContext per JVM, and starting it costs seconds.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import ibis
import ibis.expr.types as ir

from journeymap.errors import EngineError

__all__ = ["INSTALL_HINT", "LOCAL_MASTER", "spark_backend", "spark_session", "store_events", "store_file"]

INSTALL_HINT = 'the Spark engine needs PySpark: pip install "journeymap[spark]"'
LOCAL_MASTER = "local[2]"

#: every session: UTC wall clock (timestamps are UTC microseconds everywhere), exact
#: column names (Ibis quotes them), Arrow transfers to Python, no web UI.
_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.caseSensitive": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
#: local mode only (a cluster keeps its own spark-defaults): loopback networking (works
#: offline, no hostname lookup), few shuffle partitions, the store's files listed in the
#: driver rather than by a Spark job, quiet logs (`_driver_java_options`).
_LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
}
#: Spark's driver logs: errors only (a logger of Spark's own at ERROR too, so Spark
#: does not print its "Setting default log level" banner).
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.spark.name = org.apache.spark
logger.spark.level = error
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
"""

_lock = threading.Lock()
_session = None
_backend_class = None


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith(("local[", "local-cluster["))


def _alive(session) -> bool:
    """False once the session's SparkContext was stopped (e.g. by `con.disconnect()`)."""
    try:
        return session.sparkContext._jsc is not None
    except Exception:  # noqa: BLE001 - e.g. a Spark Connect session has no SparkContext
        return False


def _driver_java_options() -> str:
    """-Duser.timezone=UTC, and quiet logs unless the user has a Spark conf dir of their own."""
    opts = ["-Duser.timezone=UTC"]
    if not os.environ.get("SPARK_CONF_DIR"):
        path = Path(tempfile.gettempdir()) / "journeymap-spark-log4j2.properties"
        try:
            if not path.is_file() or path.read_text() != _LOG4J2:
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_text(_LOG4J2)
                os.replace(tmp, path)
            opts.append(f"-Dlog4j2.configurationFile={path.as_uri()}")
        except OSError:  # read-only temp dir: keep Spark's default logging
            pass
    return " ".join(opts)


def spark_session(master: str | None = None, conf: dict | None = None):
    """The process's SparkSession, started on first use.

    `master` is anything `SparkSession.builder.master` accepts: `local[N]`,
    `spark://host:7077`, `yarn`, `k8s://...`; default the `JOURNEYMAP_SPARK_MASTER`
    environment variable, else an already active session (a notebook's, Databricks'),
    else `local[2]`. `conf` adds Spark settings for a new session. Asking for another
    master while a session runs is an error: Spark allows one per process.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(INSTALL_HINT) from None
    global _session
    master = master or os.environ.get("JOURNEYMAP_SPARK_MASTER")
    with _lock:
        if _session is None or not _alive(_session):
            active = SparkSession.getActiveSession()
            _session = active if active is not None and _alive(active) else None
        if _session is not None:
            running = _session.sparkContext.master
            if master and running != master:
                raise EngineError(f"a Spark session with master '{running}' is already running in this "
                                  f"process; cannot also connect to '{master}' (one session per process)")
            return _session
        master = master or LOCAL_MASTER
        local = _is_local(master)
        if local:
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # UDF workers: this Python
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = {**_CONF, **(_LOCAL_CONF if local else {}), **(conf or {})}
        if local and "spark.driver.extraJavaOptions" not in settings:
            settings["spark.driver.extraJavaOptions"] = _driver_java_options()
        builder = SparkSession.builder.master(master).appName("journeymap")
        for key, value in settings.items():
            builder = builder.config(key, str(value))
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # no Java, master unreachable, ...
            hint = " (Spark needs Java 17 or newer: install it or set JAVA_HOME)" \
                if "JAVA_GATEWAY_EXITED" in str(exc) else ""
            raise EngineError(f"cannot start Spark (master '{master}'): {_first_line(exc)}{hint}") from exc
        session.sparkContext.setLogLevel("ERROR")
        _session = session
        return session


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def spark_backend(master: str | None = None):
    """An Ibis PySpark connection on the process's session (see `spark_session`)."""
    session = spark_session(master)
    return _arrow_backend().connect(session)


def _arrow_backend():
    """Ibis's PySpark backend, fetching results as Arrow (`DataFrame.toArrow`, PySpark >= 4).

    Ibis 12 collects through pandas (`toPandas`): nanosecond datetimes, so times outside
    1677..2262 overflow, and about twice as slow. With PySpark 3.5 the stock path is kept.
    """
    global _backend_class
    if _backend_class is not None:
        return _backend_class()
    import ibis
    from ibis.formats.pyarrow import PyArrowData
    from pyspark.sql import DataFrame

    ibis.pyspark  # noqa: B018 - loading the backend through `ibis` registers its options
    from ibis.backends.pyspark import Backend

    class ArrowBackend(Backend):
        def to_pyarrow(self, expr, /, *, params=None, limit=None, **kwargs):
            if not hasattr(DataFrame, "toArrow") or self.mode == "streaming":
                with _quiet_sockets():
                    return super().to_pyarrow(expr, params=params, limit=limit, **kwargs)
            self._run_pre_execute_hooks(expr)
            table_expr = expr.as_table()
            sql = self.compile(table_expr, params=params, limit=limit, **kwargs)
            with _quiet_sockets():
                table = self._session.sql(sql).toArrow()
            table = PyArrowData.convert_table(table, table_expr.schema())
            return expr.__pyarrow_result__(table)

        def execute(self, expr, /, *, params=None, limit=None, **kwargs):
            with _quiet_sockets():
                return super().execute(expr, params=params, limit=limit, **kwargs)

    _backend_class = ArrowBackend
    return _backend_class()


@contextlib.contextmanager
def _quiet_sockets():
    """Silence PySpark's unclosed result sockets (it leaves them to the garbage collector,
    which warns: a ResourceWarning, an error under `-W error` and in our test suite)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"unclosed <socket\.socket", ResourceWarning)
        yield


_SCHEMAS: dict[str, object] = {}  # file path -> Arrow schema (store files never change)
_CACHED: dict[tuple, tuple] = {}  # (session, store root) -> (files, view name, DataFrame)
_VIEWS: dict[tuple, str] = {}  # (session, file) -> view name, for users and identities files
_VIEWS_LOCK = threading.Lock()


def store_events(con, snap, cache: bool = True) -> ir.Table:
    """The events of a store snapshot as a Spark temporary view, cached until the
    store's files change."""
    files = snap.event_files
    if not cache:
        return _spark_view(con, _spark_frame(con._session, files))
    session = con._session
    key = (id(session), str(snap.root.resolve()))
    with _VIEWS_LOCK:
        hit = _CACHED.get(key)
        if hit is not None and hit[0] == tuple(files) and session.catalog.tableExists(hit[1]):
            return con.table(hit[1])
        if hit is not None:  # the store changed: free the old copy (its view still reads the files)
            hit[2].unpersist()
        frame = _spark_frame(session, files).cache()
        table = _spark_view(con, frame)
        _CACHED[key] = (tuple(files), table.op().name, frame)
        return table


def store_file(con, path: str) -> ir.Table:
    """One immutable store file (users, identities) as a view, made once per session."""
    key = (id(con._session), path)
    with _VIEWS_LOCK:
        name = _VIEWS.get(key)
        if name is not None and con._session.catalog.tableExists(name):
            return con.table(name)
        table = _spark_parquet(con, [path])
        _VIEWS[key] = table.op().name
        return table


def _file_schema(path: str):
    import pyarrow.parquet as pq
    schema = _SCHEMAS.get(path)
    if schema is None:
        schema = _SCHEMAS[path] = pq.read_schema(path).remove_metadata()
    return schema


def _spark_parquet(con, files: list[str]) -> ir.Table:
    """Parquet files as one Ibis table (columns unioned by name) on a PySpark connection."""
    return _spark_view(con, _spark_frame(con._session, files))


def _spark_view(con, frame) -> ir.Table:
    """A Spark DataFrame as an Ibis table, through a temporary view."""
    name = ibis.util.gen_name("journeymap_store")
    frame.createOrReplaceTempView(name)
    return con.table(name)


def _spark_frame(session, files: list[str]):
    """Parquet files as one Spark DataFrame, columns unioned by name.

    Spark's `mergeSchema` cannot widen int64 to double (the store widens numbers that
    later appends bring as floats), so files are grouped by schema, each group is read
    as is, cast to the unified schema and the groups are unioned.
    """
    import pyarrow as pa
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, from_arrow_type

    schemas = [_file_schema(f) for f in files]
    try:
        target = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise EngineError(f"the event store's files have incompatible columns: {exc}") from None
    groups: dict[pa.Schema, list[str]] = {}
    for f, s in zip(files, schemas):
        groups.setdefault(s, []).append(f)
    frames = []
    for schema, paths in groups.items():
        # an explicit schema spares Spark a job that reads footers to infer it
        df = session.read.schema(from_arrow_schema(schema, prefer_timestamp_ntz=True)).parquet(*paths)
        if schema.equals(target):
            frames.append(df)
            continue
        cols = []
        for field in target:
            spark_type = from_arrow_type(field.type, prefer_timestamp_ntz=True)
            have = schema.get_field_index(field.name) >= 0
            col = F.col(f"`{field.name}`") if have else F.lit(None)
            if not have or not schema.field(field.name).type.equals(field.type):
                col = col.cast(spark_type)
            cols.append(col.alias(field.name))
        frames.append(df.select(*cols))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out
