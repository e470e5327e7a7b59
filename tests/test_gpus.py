"""The local GPU allocator, tested without GPUs: a fake device count and real processes competing for locks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from qvedbench import gpus
from qvedbench.gpus import gpu_slot, visible_gpus

HOLDER = textwrap.dedent("""
    import os, sys
    from qvedbench.gpus import gpu_slot
    lock_dir, total = sys.argv[1], int(sys.argv[2])
    try:
        with gpu_slot(1, lock_dir=lock_dir, total=total, timeout=float(sys.argv[3]), poll_s=0.05) as ids:
            print(ids[0], os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
            sys.stdin.read()  # hold the slot until the test closes our stdin
    except TimeoutError:
        print("timeout", flush=True)
""")


@pytest.fixture(autouse=True)
def no_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_JOBID", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("QVEDBENCH_GPU_SLOT", raising=False)


def start_holder(lock_dir, total, timeout=5.0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir), str(total), str(timeout)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    return proc, proc.stdout.readline().split()


def stop(proc):
    proc.stdin.close()
    proc.wait(timeout=10)


def test_visible_gpus_from_fake_total_and_cuda_visible_devices(monkeypatch):
    assert visible_gpus(total=3) == ["0", "1", "2"]
    assert visible_gpus(total=0) == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == []


def test_visible_gpus_counts_nvidia_smi_devices(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\necho '  MIG 1g.10gb Device 0: (UUID: MIG-b)'\n"
                    "echo 'GPU 1: NVIDIA H100 (UUID: GPU-c)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert visible_gpus() == ["0", "1"]


def test_no_gpu_anywhere_means_no_slot(tmp_path, monkeypatch):
    monkeypatch.setattr(gpus.shutil, "which", lambda tool: None)
    monkeypatch.setattr(gpus, "_torch_count", lambda: 0)
    with gpu_slot(1, lock_dir=tmp_path) as ids:
        assert ids == [] and "CUDA_VISIBLE_DEVICES" not in os.environ


def test_slot_sets_and_restores_cuda_visible_devices(tmp_path):
    with gpu_slot(2, lock_dir=tmp_path, total=3) as ids:
        assert len(ids) == 2 and len(set(ids)) == 2
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(ids)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_picks_among_restricted_devices_and_restores_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    with gpu_slot(2, lock_dir=tmp_path) as ids:
        assert sorted(ids) == ["4", "6"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "4,6"


def test_nested_slot_keeps_the_outer_devices(tmp_path):
    with gpu_slot(1, lock_dir=tmp_path, total=1) as outer:
        with gpu_slot(1, lock_dir=tmp_path, total=1, timeout=0.2) as inner:
            assert inner == [] and os.environ["CUDA_VISIBLE_DEVICES"] == outer[0]


@pytest.mark.parametrize("n, total, slurm", [(0, 4, False), (1, 0, False), (1, 4, True)])
def test_does_nothing_without_gpu_request_without_gpus_or_inside_slurm(tmp_path, monkeypatch, n, total, slurm):
    if slurm:
        monkeypatch.setenv("SLURM_JOB_ID", "123")
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with gpu_slot(n, lock_dir=tmp_path / "locks", total=total) as ids:
        assert ids == []
        assert os.environ.get("CUDA_VISIBLE_DEVICES") == ("0" if slurm else None)
    assert not (tmp_path / "locks").exists()


def test_more_gpus_than_visible_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="asks for 3 GPU.*only 2"):
        with gpu_slot(3, lock_dir=tmp_path, total=2):
            pass


def test_competing_processes_get_distinct_slots_and_the_next_one_waits(tmp_path):
    holders = [start_holder(tmp_path, total=3) for _ in range(3)]
    try:
        got = [out for _, out in holders]
        assert all(len(out) == 2 and out[0] == out[1] for out in got), got
        assert sorted(out[0] for out in got) == ["0", "1", "2"]
        late, out = start_holder(tmp_path, total=3, timeout=0.3)
        assert out == ["timeout"]
        late.wait(timeout=10)
        stop(holders[1][0])
        late, out = start_holder(tmp_path, total=3)
        assert out == [got[1][0], got[1][0]]
        stop(late)
    finally:
        for proc, _ in holders:
            if proc.poll() is None:
                stop(proc)


def test_killed_holder_frees_its_slot(tmp_path):
    holder, out = start_holder(tmp_path, total=1)
    assert out == ["0", "0"]
    with pytest.raises(TimeoutError, match="no 1 free GPU"):
        with gpu_slot(1, lock_dir=tmp_path, total=1, timeout=0.2, poll_s=0.05):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with gpu_slot(1, lock_dir=tmp_path, total=1, timeout=5, poll_s=0.05) as ids:
        assert ids == ["0"]


def test_waiting_job_gets_the_slot_when_the_holder_finishes(tmp_path):
    holder, out = start_holder(tmp_path, total=1)
    assert out == ["0", "0"]
    waiter = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "1", "10"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    stop(holder)
    assert waiter.stdout.readline().split() == ["0", "0"]
    stop(waiter)
