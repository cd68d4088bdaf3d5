"""The local executor's workers: allocator settings inherited from the driver, a user's value kept."""

import os

from spikebridge.experiments.executors import ALLOCATOR_ENV, Task, run_tasks


def _environment(names):
    return {name: os.environ.get(name) for name in names}


def test_local_workers_inherit_the_allocator_settings_and_keep_a_users_value(monkeypatch):
    for name in ALLOCATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MALLOC_TOP_PAD_", "4096")  # set by the user: must win
    tasks = [Task(f"env{i}", _environment, (tuple(ALLOCATOR_ENV),)) for i in range(2)]
    seen = [result for _, result in run_tasks(tasks, "local", 2)]
    expected = {**ALLOCATOR_ENV, "MALLOC_TOP_PAD_": "4096"}
    assert seen == [expected, expected]
    assert ALLOCATOR_ENV == {
        "MALLOC_MMAP_THRESHOLD_": "33554432",
        "MALLOC_TRIM_THRESHOLD_": "17179869184",
        "MALLOC_TOP_PAD_": "1073741824",
    }
