"""Dask arrays chunked along rows: the helpers every Dask-aware layer shares.

Dask is an optional dependency (the ``dask`` extra): nothing here imports it until a Dask array
is actually in hand, and :func:`is_dask_collection` answers without importing it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .errors import DataError, OptionError

__all__ = ["compute_all", "dask_client", "distinct_values", "held_out", "is_dask_collection", "map_rows",
           "row_aligned", "row_groups", "rows_chunked", "weighted_accuracy", "weights_per_class"]


def is_dask_collection(a: Any) -> bool:
    """Whether ``a`` is a Dask collection (without importing Dask when it is not loaded)."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(a)


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - the dask extra is installed by make test
        raise ImportError("Dask arrays need the dask extra: pip install 'mnist-logreg[dask]'") from exc
    return dask, da


def rows_chunked(X: Any, name: str = "X") -> Any:
    """``X`` as a 2-D Dask array chunked along rows only (one chunk across the columns)."""
    _, da = _dask()
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_samples, n_features), found {X.ndim}-D {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name}: the row chunks have unknown sizes; call {name}.compute_chunk_sizes() first")
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def row_aligned(a: Any, row_chunks: tuple[int, ...], name: str) -> Any:
    """A 1-D array (numpy or Dask) as a Dask array with the given row chunks."""
    _, da = _dask()
    n = sum(row_chunks)
    if not is_dask_collection(a):
        a = np.asarray(a)
        if a.ndim != 1 or a.shape[0] != n:
            raise ValueError(f"{name}: expected shape ({n},), found {a.shape}")
        return da.from_array(a, chunks=(row_chunks,))
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},), found {a.shape}")
    return a.rechunk((row_chunks,)) if a.chunks[0] != tuple(row_chunks) else a


def held_out(groups: Any, k: int, fold: int, *, weight_of_held_out: float = 1.0,
             weight_of_others: float = 0.0) -> Any:
    """Weights that mark the rows fold ``fold`` of ``k`` holds out, as a lazy float64 Dask
    array chunked as ``groups``: ``weight_of_held_out`` for the rows whose group id
    ``g`` has ``g % k == fold``, ``weight_of_others`` for the rest.

    ``groups`` (integers, one per row) keeps the copies of one digit together: an augmented
    store's row ``i`` is training digit ``i % n_source``, so that is its group, and a digit and
    its distorted copies always fall in the same fold. Each call makes its own tasks (a fresh
    name), so that concurrent fits never share keys; persist ``groups`` once beforehand.
    """
    import uuid

    def block(g: np.ndarray) -> np.ndarray:
        return np.where(g % k == fold, weight_of_held_out, weight_of_others)

    return groups.map_blocks(block, dtype=np.float64, name=f"held-out-{uuid.uuid4().hex}")


def row_groups(row_chunks: tuple[int, ...], period: int | None = None) -> Any:
    """Group ids ``i % period`` of rows ``i`` (every row its own group without ``period``), as a
    Dask array with the given row chunks."""
    _, da = _dask()
    rows = da.arange(int(sum(row_chunks)), chunks=(tuple(row_chunks),))
    return rows % period if period else rows


def compute_all(*values: Any) -> tuple[Any, ...]:
    """Compute Dask collections (numpy values pass through) in one pass over the data."""
    dask, _ = _dask()
    return dask.compute(*values)


def distinct_values(y: Any, lazy: bool = False) -> Any:
    """The sorted distinct values of a 1-D Dask array (computed, or a Dask array if ``lazy``)."""
    _, da = _dask()
    values = da.unique(y)
    return values if lazy else np.asarray(values.compute())


def weights_per_class(codes: Any, weights: Any, n_classes: int) -> Any:
    """The total weight of each class 0..n_classes-1 (lazy)."""
    _, da = _dask()
    return da.bincount(codes, weights=weights, minlength=n_classes)


def weighted_accuracy(predicted: Any, y: Any, sample_weight: Any = None) -> float:
    """The (weighted) share of ``predicted == y``, reduced where the chunks are."""
    _, da = _dask()
    predicted = da.asarray(predicted)
    y = row_aligned(y, predicted.chunks[0], "y")
    hits = (predicted == y).astype(np.float64)
    if sample_weight is None:
        return float(hits.mean().compute())
    w = row_aligned(sample_weight, predicted.chunks[0], "sample_weight")
    total, correct = compute_all(w.sum(), (w * hits).sum())
    return float(correct / total)


def map_rows(X: Any, fn: Callable[[np.ndarray], np.ndarray], n_out: int | None, dtype: Any) -> Any:
    """``fn`` (numpy rows -> rows of results) applied to each chunk of rows of the Dask array ``X``.

    ``n_out`` is the number of result columns, or None for one value per row (a 1-D result).
    """
    X = rows_chunked(X)
    dtype = np.dtype(dtype)
    if n_out is None:
        return X.map_blocks(fn, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(fn, chunks=(X.chunks[0], (n_out,)), dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive
# mmap threshold: every temporary above 128 KB is then mmapped and page-faulted afresh, and a
# chunk's loss and gradient took 4.5x as long in a worker as in this process (54 ms against 12 ms
# for 10,000 digits, measured). With a 64 MB mmap threshold they come from the heap again.
WORKER_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**20)}


#: seconds to wait for a scheduler to answer, the handshake included
CONNECT_TIMEOUT_S = 10
#: the least memory a local worker is given: below it the loss's chunks do not fit and the fit
#: stalls while Dask pauses the worker (5 bytes, 1 KiB and 250 MiB were accepted and hung)
MIN_WORKER_MEMORY = 512 * 2**20


def check_worker_memory(text: str) -> int:
    """The bytes of a ``--worker-memory`` value such as ``"4GiB"``; ValueError when unreadable or
    below :data:`MIN_WORKER_MEMORY`."""
    from dask.utils import format_bytes, parse_bytes

    try:
        size = parse_bytes(text)
    except (ValueError, TypeError):
        raise OptionError.naming(f"$worker_memory {text!r}: expected a size such as 4GiB or 2000MB") from None
    if size < MIN_WORKER_MEMORY:
        raise OptionError.naming(f"$worker_memory {text!r}: {format_bytes(size)} is too little for a worker; give at "
                                 f"least {format_bytes(MIN_WORKER_MEMORY)} (e.g. 4GiB)")
    return size


def check_scheduler_address(text: str) -> str:
    """A scheduler address as ``tcp://HOST:PORT`` (``HOST:PORT`` alone means tcp); ValueError for
    another protocol (``tls://`` and ``ucx://`` need a security or UCX set-up this command does not
    make) or a missing port."""
    address = text if "://" in text else f"tcp://{text}"
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OptionError.naming(f"$scheduler {text!r}: expected tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")
    return address


#: seconds a task may wait with no worker to run it (a local cluster's) before the fit fails
NO_WORKERS_TIMEOUT_S = 60


class ClusterError(DataError, ValueError):
    """The Dask cluster lost its workers or its scheduler during the work."""


@contextlib.contextmanager
def _cluster_errors_as_one_line() -> Iterator[None]:
    """Turn the ways a cluster fails under a fit (a killed worker, no worker left, the scheduler
    gone) into one :class:`ClusterError` (the CLI prints one line; it was a 42-line traceback)."""
    import asyncio
    import concurrent.futures

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker, NoValidWorkerError, NoWorkerError

    try:
        yield
    except (KilledWorker, NoValidWorkerError, NoWorkerError, CommClosedError, asyncio.CancelledError,
            concurrent.futures.CancelledError) as exc:
        raise ClusterError(f"the Dask cluster stopped during the work ({type(exc).__name__}: {str(exc)[:160]}): a "
                           "worker or the scheduler died or left (out of memory, killed); run the command again, "
                           "with more worker memory or fewer digits") from None


def _probe_scheduler(address: str, timeout: float) -> None:
    """Connect to ``address`` and complete Dask's handshake within ``timeout`` seconds, or raise."""
    import asyncio

    from distributed.comm import connect

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    # in a thread of its own: the caller may already run an event loop (a notebook)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, probe()).result()


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                memory_limit: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for the block: on a new local cluster, or connected to a scheduler.

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes on 127.0.0.1 (the cores shared
        among them), closed at the end of the block.
    scheduler : str, optional
        The address of a running scheduler (``tcp://host:8786``) to connect to instead.
    memory_limit : str, optional
        Memory per local worker, e.g. ``"4GiB"`` (default: Dask's, the machine's share).

    Local workers get :data:`WORKER_ENVIRON` (a remote cluster's workers should too: see the
    README).

    Yields
    ------
    distributed.Client
        Active as Dask's default scheduler inside the block.
    """
    if workers is not None and scheduler is not None:
        raise OptionError.naming("$workers starts a local Dask cluster and $scheduler connects to a running one: "
                                 "give one of them")
    if workers is not None and workers < 1:
        raise OptionError.naming(f"$workers: expected at least 1 worker, found {workers}")
    if memory_limit is not None:
        check_worker_memory(memory_limit)
        if scheduler is not None:
            raise OptionError.naming("$worker_memory sets the memory of the local workers that $workers starts; a "
                                     "running cluster's workers have their own (drop $worker_memory, or use $workers)")
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is installed by make test
        raise ImportError("a Dask cluster needs the dask extra: pip install 'mnist-logreg[dask]'") from exc
    if scheduler is not None:
        address = check_scheduler_address(scheduler)
        timeout = f"{CONNECT_TIMEOUT_S}s"
        try:
            # the handshake too is bounded: Dask's connect timeout covers the TCP connection only,
            # and an HTTP server or a silent listener at the address held the client for minutes
            # (random bytes were read as a 2.67 EiB frame); one probe with the whole exchange
            # under one deadline first
            _probe_scheduler(address, CONNECT_TIMEOUT_S)
            with dask.config.set({"distributed.comm.timeouts.connect": timeout}):
                client = Client(address, timeout=timeout)
        except Exception as exc:  # every failure to connect is the same to the user
            raise OptionError.naming(f"$scheduler {scheduler}: no Dask scheduler answered there within "
                                     f"{CONNECT_TIMEOUT_S} s ({type(exc).__name__}: {str(exc)[:160]})") from None
        with client, _cluster_errors_as_one_line():
            yield client
        return

    threads = max(1, (os.cpu_count() or 1) // (workers or 1))
    options = {"memory_limit": memory_limit} if memory_limit else {}
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENVIRON}
    # tasks that no worker can run (the only worker died and was not replaced) fail after
    # NO_WORKERS_TIMEOUT_S instead of waiting for ever
    settings = {"distributed.nanny.pre-spawn-environ": environ,
                "distributed.scheduler.no-workers-timeout": f"{NO_WORKERS_TIMEOUT_S}s"}
    with dask.config.set(settings), \
            LocalCluster(n_workers=workers or 1, threads_per_worker=threads, processes=True, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0", **options) as cluster, Client(cluster) as client, \
            _cluster_errors_as_one_line():
        yield client
