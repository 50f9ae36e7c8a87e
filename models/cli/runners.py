"""Running the planned scene jobs: one after the other in this process, or as tasks on a
Dask cluster (a LocalCluster of worker processes, or an existing scheduler). Dask is imported
only by `run_on_dask`. `on_finish(job, outcome)` is called in this process as each scene
finishes, in the order they finish."""
from __future__ import annotations

import functools
import logging
import site
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InputError
from .scene_tasks import Outcome, SceneJob, assemble_windows, run_scene, run_window

FinishCallback = Callable[[SceneJob, Outcome], None]
#: seconds to wait for the scheduler, and for a first worker to join it
CONNECT_TIMEOUT_S = 30


def run_locally(jobs: Iterable[SceneJob], on_finish: FinishCallback) -> None:
    """Run every job in this process, window by window for split scenes."""
    for job in jobs:
        if job.windows:
            outcome = assemble_windows(job, *(run_window(job, plan) for plan in job.windows))
        else:
            outcome = run_scene(job)
        on_finish(job, outcome)


def import_root() -> str:
    """The folder that must be on a worker's sys.path to import this package as it is imported
    here (the plugin folder when imported as `models`, its parent as `geodistill.models`)."""
    top = __name__.split(".")[0]
    return str(Path(sys.modules[top].__file__).parent.parent)


def run_on_dask(jobs: list[SceneJob], on_finish: FinishCallback, workers: int | None = None,
                scheduler: str | None = None) -> None:
    """Run the jobs as Dask tasks: each whole scene is one task; a split scene is one task per
    window (the first before the others: it computes the whole-scene results they share) plus
    one that assembles them. With `scheduler` an existing cluster is used, else a
    LocalCluster of `workers` single-threaded worker processes on the loopback interface."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = _connect(Client, scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        # a scheduler and workers started elsewhere find this package through the shared
        # path it lives on (the scheduler unpickles task specifications too)
        client.run_on_scheduler(site.addsitedir, import_root())
        client.register_worker_callbacks(setup=functools.partial(site.addsitedir, import_root()))
        finals = {}
        for job in jobs:
            if job.windows:
                # the first window computes the whole-scene results the others load
                first = client.submit(run_window, job, job.windows[0], pure=False)
                parts = [first] + [client.submit(run_window, job, plan, first, pure=False)
                                   for plan in job.windows[1:]]
                finals[client.submit(assemble_windows, job, *parts, pure=False)] = job
            else:
                finals[client.submit(run_scene, job, pure=False)] = job
        for future in as_completed(finals):
            try:
                outcome = future.result()
            except Exception as error:  # a worker died or the task could not run there
                reason = str(error).splitlines()[0] if str(error) else ""
                outcome = Outcome(error=f"the task failed on the cluster: "
                                        f"{type(error).__name__}: {reason}")
            on_finish(finals[future], outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _connect(client_class, address: str):
    try:
        client = client_class(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as error:
        raise InputError(f"Cannot reach the Dask scheduler at {address} ({error}). Start one "
                         f"with `dask scheduler` and give the address it prints.") from error
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except TimeoutError as error:
        client.close()
        raise InputError(f"No worker joined the Dask scheduler at {address} within "
                         f"{CONNECT_TIMEOUT_S} s. Start workers with `dask worker {address}`.") from error
    return client
