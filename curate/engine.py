"""Where the heavy batch steps run: in this process (`local`, the default) or on Ray Data (`ray`).

A step is a pure batch function — an Arrow table in, an Arrow table out — and both engines call
the same one. The store is read before and written after, never by a worker:

    local:  for each batch of the input table: fn(batch)
    ray:    input → Parquet snapshot in the stage folder → ray.data.read_parquet(...)
            .map_batches(fn) → the result batches come back as they finish (progress bar and the
            job's heartbeat move with them) and are written to the stage as Parquet → one table

A step that holds a model is a class (constructed once per Ray worker, so the model loads once
per worker; in the local engine once per call). The stage folder is beside the store by default;
`--stage URI` (any pyarrow filesystem URI: s3://…, gs://…, a shared mount) lets a real cluster read
it. Ray is an optional extra: `pip install 'tuneloop[scale]'`.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curate.errors import TuneloopError

ENGINES = ("local", "ray")
ENGINE_ENV, STAGE_ENV, RAY_ADDRESS_ENV = "TUNELOOP_ENGINE", "TUNELOOP_STAGE", "RAY_ADDRESS"
ENGINE_HELP = ("Where heavy batch steps run: local (this process) or ray (Ray Data: a local runtime, or the"
               " cluster at --ray-address / $RAY_ADDRESS). Default $TUNELOOP_ENGINE, else local.")
ROW = "_row"   # the input row each result row belongs to (results are put back in input order)


@dataclass(frozen=True)
class Engine:
    """Where a step's batches run, resolved: recorded with the step's job."""
    name: str = "local"
    stage: str | None = None          # folder or URI for Ray's Parquet snapshots
    ray_address: str | None = None    # a running cluster; None: a local runtime

    def run(self, step, table: pa.Table, *, batch_size: int = 4096, progress: Callable | None = None,
            step_args: tuple = ()) -> pa.Table:
        return run_batches(step, table, engine=self.name, batch_size=batch_size, stage=self.stage,
                           ray_address=self.ray_address, progress=progress, step_args=step_args)

    def describe(self) -> dict:
        return {"engine": self.name, **({"stage": self.stage} if self.name == "ray" else {})}


LOCAL = Engine()


@contextlib.contextmanager
def progress_of(what: str, total: int, show: bool = False, job=None) -> Iterator[Callable[[int, int], None]]:
    """A `progress(done, total)` callback for a step: it moves a progress bar (when `show`) and the
    job's heartbeat (when there is a job), whichever engine reports the batches."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=what, unit="row", disable=not show) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)
            if job is not None:
                job.heartbeat(done / max(total, 1), f"{what} {done:,}/{total:,}")

        yield progress


def engine_for(store_path: str, engine: str | None = None, stage: str | None = None,
               ray_address: str | None = None) -> Engine:
    """The engine a command asked for ($TUNELOOP_ENGINE when not), its stage beside the store by default."""
    name = engine_name(engine)
    if name == "local":
        return LOCAL
    return Engine(name, stage or default_stage(store_path), ray_address or os.environ.get(RAY_ADDRESS_ENV))


def engine_name(engine: str | None = None) -> str:
    name = (engine or os.environ.get(ENGINE_ENV) or "local").strip().lower()
    if name not in ENGINES:
        raise TuneloopError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")
    return name


def default_stage(store_path: str) -> str:
    return os.environ.get(STAGE_ENV) or str(Path(store_path).resolve().parent / "tuneloop_stage")


def run_batches(step: Callable | type, table: pa.Table, *, engine: str | None = None, batch_size: int = 4096,
                stage: str | None = None, ray_address: str | None = None, progress: Callable | None = None,
                step_args: tuple = ()) -> pa.Table:
    """The step over the table's rows in batches, on the engine; rows of the result in input order.

    `step` is a function batch → table, or a class whose instances are such functions (built with
    `step_args`). `progress(done_rows, total_rows)` is called as batches finish."""
    table = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
    if engine_name(engine) == "local":
        fn = step(*step_args) if isinstance(step, type) else step
        parts = []
        for start in range(0, table.num_rows, batch_size):
            parts.append(_keep_row(fn, table.slice(start, batch_size)))
            if progress:
                progress(min(start + batch_size, table.num_rows), table.num_rows)
        result = pa.concat_tables(parts) if parts else _keep_row(fn, table.slice(0, 0))
    else:
        if not stage:
            raise TuneloopError("the ray engine needs a stage folder or URI for its Parquet snapshots")
        result = _on_ray(step, table, batch_size, stage, ray_address, progress, step_args)
    return result.sort_by(ROW).drop_columns([ROW])


def _keep_row(fn: Callable, batch: pa.Table) -> pa.Table:
    out = fn(batch.drop_columns([ROW]))
    return out.append_column(ROW, batch.column(ROW))


class _WithRow:
    """The step wrapped for Ray: the row column passes through it."""

    def __init__(self, step, step_args: tuple):
        self.fn = step(*step_args) if isinstance(step, type) else step

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _keep_row(self.fn, batch)


def start_ray(address: str | None = None):
    """Connect to the cluster at `address` ($RAY_ADDRESS), or start a local runtime on this
    machine's cores. Says how to install Ray when it is missing."""
    try:
        import ray
    except ImportError:
        raise TuneloopError("the ray engine needs Ray: pip install 'tuneloop[scale]'") from None
    if not ray.is_initialized():
        address = address or os.environ.get(RAY_ADDRESS_ENV)
        options = {"address": address} if address else {"num_cpus": os.cpu_count() or 1, "include_dashboard": False}
        ray.init(**options, log_to_driver=False, configure_logging=False)
        import logging

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False   # progress reaches the command's own bar and the job
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


def _on_ray(step, table: pa.Table, batch_size: int, stage: str, address: str | None, progress,
            step_args: tuple) -> pa.Table:
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    try:
        filesystem, root = pafs.FileSystem.from_uri(stage) if "://" in stage else (pafs.LocalFileSystem(), stage)
        folder = f"{root.rstrip('/')}/{uuid.uuid4().hex}"
        filesystem.create_dir(folder, recursive=True)
    except (OSError, pa.ArrowException) as exc:
        raise TuneloopError(f"--stage {stage}: cannot make a folder for the snapshots there ({exc})") from None
    try:
        ray = start_ray(address)
    except BaseException:
        filesystem.delete_dir(folder)
        raise
    try:
        # the snapshot: row groups of one batch each, so Ray reads as many blocks as there are batches
        pq.write_table(table, f"{folder}/input.parquet", row_group_size=batch_size, filesystem=filesystem)
        data = ray.data.read_parquet(f"{folder}/input.parquet", filesystem=filesystem,
                                     override_num_blocks=max(1, -(-table.num_rows // batch_size)))
        if isinstance(step, type):
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))   # one model per worker
            mapped = data.map_batches(_WithRow, fn_constructor_args=(step, step_args), batch_format="pyarrow",
                                      batch_size=batch_size, concurrency=(1, workers))
        else:
            mapped = data.map_batches(_WithRow(step, step_args), batch_format="pyarrow", batch_size=batch_size)
        done, writer = 0, None
        try:
            for batch in mapped.iter_batches(batch_format="pyarrow", batch_size=None):
                part = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
                if writer is None:
                    writer = pq.ParquetWriter(f"{folder}/output.parquet", part.schema, filesystem=filesystem)
                writer.write_table(part)
                done += part.num_rows
                if progress:
                    progress(done, table.num_rows)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            return _WithRow(step, step_args)(table.slice(0, 0))
        return pq.read_table(f"{folder}/output.parquet", filesystem=filesystem)
    finally:
        filesystem.delete_dir(folder)
