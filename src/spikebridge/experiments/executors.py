"""Executors: run independent units of work in local processes or as Ray tasks.

Both run the same picklable function on the same arguments and hand each result to a callback in
the driver process as soon as it is ready, so the driver alone writes to the results store.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from spikebridge.errors import SpikebridgeConfigError

EXECUTORS = ("local", "ray", "inline")


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args)`` under the name ``key``.

    ``wants_gpu`` marks work that runs faster on a GPU (model fitting and prediction): under Ray it
    asks for one GPU when the cluster has any, and for none otherwise.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    wants_gpu: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


# glibc's allocator hands large freed blocks (a recording's predictions, its scores) back to the
# kernel at once and maps fresh zeroed pages for the next one, so a worker that scores cell after cell
# spends about a quarter of its time in page faults. Keeping freed memory in the process (it is reused
# by the next cell of the same size) removes most of them: a matrix scoring unit took 8.7 s instead of
# 11.1 s (medians, system time 0.5 s instead of 2.7 s; benchmarks/bench_allocator.py on 2 CPU cores).
# The driver's environment is set, so only processes it starts afterwards (the local workers) see it;
# a variable the user set wins.
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024**2),
    "MALLOC_TRIM_THRESHOLD_": str(16 * 1024**3),
    "MALLOC_TOP_PAD_": str(1024**3),
}


def _worker_environment() -> None:
    """Set the allocator variables (:data:`ALLOCATOR_ENV`) that spawned workers inherit, unless set."""
    for name, value in ALLOCATOR_ENV.items():
        os.environ.setdefault(name, value)


def _init_worker(threads: int) -> None:
    """Limit this worker to ``threads`` threads: torch's and the native pools numpy already loaded.

    The environment variable reaches only libraries loaded later; numpy's BLAS is usually loaded
    already, while the task's function was unpickled (its module imports numpy), and would
    otherwise run one thread per core in every worker.
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # stays in force for the life of the worker process
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _call(task_fn: Callable[..., Any], args: tuple, threads: int) -> Any:
    _init_worker(threads)
    return task_fn(*args)


Then = Callable[[Task, Any], Sequence[Task]]


def run_tasks(
    tasks: Sequence[Task],
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    then: Then | None = None,
) -> Iterator[tuple[Task, Any]]:
    """Run ``tasks`` and yield ``(task, result)`` pairs in completion order.

    Parameters
    ----------
    executor : {"local", "ray", "inline"}
        "local": a pool of ``workers`` processes (default: one per core, at most one per task
        unless ``then`` may add more);
        "ray": Ray tasks on a local instance or on the cluster at ``address``;
        "inline": in this process, one after another (debugging, tiny runs).
    then : callable, optional
        ``then(task, result)`` is called in the driver after each pair has been handed over and
        returns tasks that have become ready (e.g. work that needed that result on disk); they run
        on the same workers after the tasks already submitted.
    """
    if executor not in EXECUTORS:
        raise SpikebridgeConfigError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if not tasks:
        return
    follow = then or (lambda task, result: ())
    if executor == "inline":
        queue = deque(tasks)
        while queue:
            task = queue.popleft()
            result = task.fn(*task.args)
            yield task, result
            queue.extend(follow(task, result))
    elif executor == "local":
        yield from _run_local(tasks, workers, follow, grows=then is not None)
    else:
        yield from _run_ray(tasks, workers, address, follow)


def _run_local(
    tasks: Sequence[Task], workers: int | None, then: Then, grows: bool
) -> Iterator[tuple[Task, Any]]:
    import multiprocessing as mp

    cores = os.cpu_count() or 1
    requested = max(1, workers or cores)
    # Threads per task follow the requested pool size, not the number of tasks left: a resumed run
    # with fewer cells must compute each cell exactly as the first run did (thread count changes
    # floating-point reduction order, and so the trained weights).
    threads = max(1, cores // requested)
    workers = requested if grows else min(requested, len(tasks))
    _worker_environment()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending = {pool.submit(_call, t.fn, t.args, threads): t for t in tasks}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    result = fut.result()
                    yield task, result
                    pending.update({pool.submit(_call, t.fn, t.args, threads): t for t in then(task, result)})
        finally:
            for fut in pending:
                fut.cancel()


def _run_ray(
    tasks: Sequence[Task], workers: int | None, address: str | None, then: Then
) -> Iterator[tuple[Task, Any]]:
    try:
        import ray
    except ImportError as exc:
        raise SpikebridgeConfigError("--executor ray needs Ray: pip install 'spikebridge[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"address": address, "log_to_driver": False}
        if address is None:
            kwargs.update(num_cpus=workers or os.cpu_count(), include_dashboard=False)
        ray.init(**kwargs)
    try:
        remote = ray.remote(_call)
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0

        def submit(batch: Sequence[Task]) -> dict:
            gpus = {t.key: 1 if (t.wants_gpu and has_gpu) else 0 for t in batch}
            return {
                remote.options(num_cpus=1, num_gpus=gpus[t.key]).remote(t.fn, t.args, 1): t for t in batch
            }

        refs = submit(tasks)
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                task = refs.pop(ref)
                result = ray.get(ref)
                yield task, result
                refs.update(submit(then(task, result)))
    finally:
        if started_here:
            ray.shutdown()
