"""The thread policy: torch gets the cores other processes leave free."""

import json
import os
import subprocess
import sys
import time

import pytest

from singan_seg import threads

SPIN = [sys.executable, "-c", "while True: pass"]


@pytest.fixture()
def policy_env(monkeypatch):
    """No user choice in the environment (the suite sets SINGAN_SEG_THREADS for the commands it starts)."""
    for name in (threads.THREADS_ENV, threads.POLICY_ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture()
def busy_core():
    """Another process keeping one core busy, as a second job on a 2-core machine does."""
    spinner = subprocess.Popen(SPIN)
    time.sleep(0.3)  # let it be scheduled
    yield spinner
    spinner.kill()
    spinner.wait()


def test_a_busy_core_is_seen_and_left_to_its_process(policy_env, busy_core):
    assert threads.busy_cores(0.3) >= 0.7
    cores = threads.usable_cores()
    assert threads.free_cores(0.3) == max(1, cores - 1)
    assert threads.chosen_threads()[0] == max(1, cores - 1)


def test_the_users_choice_wins(policy_env, caplog):
    policy_env.setenv(threads.THREADS_ENV, "3")
    assert threads.chosen_threads() == (3, "SINGAN_SEG_THREADS=3")
    policy_env.setenv(threads.THREADS_ENV, "many")  # a bad value is ignored with a warning, not obeyed
    assert threads.chosen_threads()[0] in range(1, threads.usable_cores() + 1)
    assert "ignoring SINGAN_SEG_THREADS='many'" in caplog.text
    policy_env.delenv(threads.THREADS_ENV)
    policy_env.setenv("OMP_NUM_THREADS", "1")
    assert threads.chosen_threads() == (None, "OMP_NUM_THREADS is set")
    policy_env.delenv("OMP_NUM_THREADS")
    policy_env.setenv(threads.POLICY_ENV, "off")
    assert threads.chosen_threads()[0] is None


@pytest.mark.slow
def test_train_beside_a_busy_process_uses_the_free_core(tmp_path, phantom_files, busy_core):
    if threads.usable_cores() < 2:
        pytest.skip("needs 2 usable cores to leave one to the busy process")
    env = {k: v for k, v in os.environ.items() if k not in (threads.THREADS_ENV, "OMP_NUM_THREADS")}
    image, mask = phantom_files
    subprocess.run([sys.executable, "-m", "singan_seg.cli", "train", "--image", image, "--mask", mask, "--out",
                    tmp_path / "m", "--preset", "tiny", "--iters", "2", "--no-verbose"], env=env, check=True,
                   capture_output=True, timeout=300)
    machine = json.loads((tmp_path / "m" / "config.json").read_text())["training"]["machine"]
    assert machine["threads"] == threads.usable_cores() - 1
