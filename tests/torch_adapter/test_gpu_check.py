"""benchmarks/gpu_check.py (issue 12's CUDA checks) cannot rot unnoticed on CPU-only machines:
its CUDA-free parts run here as a dry run, and without CUDA every check reports SKIP."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_loop_check_passes_on_cpu(gpu_check, capsys):
    gpu_check.RESULTS.clear()
    gpu_check.table_loop_sync_free(torch.device("cpu"), steps=10)
    assert gpu_check.RESULTS == [("PASS", "table-loop-sync-free", gpu_check.RESULTS[0][2])]
    assert "applied lr/beta1 == table rows: True" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_without_cuda_every_check_is_skipped_and_the_exit_code_is_0(gpu_check, capsys):
    assert gpu_check.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "SKIP table-loop-sync-free",
        "SKIP learner-fit-sync-free",
        "SKIP cuda-graph-replay",
        "SKIP compiled-step",
    ]


def test_a_failing_check_gives_exit_code_1(gpu_check, monkeypatch, capsys):
    def learner_fit_sync_free(device):
        raise RuntimeError("boom")

    monkeypatch.setattr(gpu_check, "table_loop_sync_free", lambda device: gpu_check.report("PASS", "t", "x"))
    monkeypatch.setattr(gpu_check, "learner_fit_sync_free", learner_fit_sync_free)
    monkeypatch.setattr(
        gpu_check, "cuda_graph_replay", lambda device: gpu_check.report("SKIP", "cuda-graph-replay", "x")
    )
    monkeypatch.setattr(
        gpu_check, "compiled_step", lambda device: gpu_check.report("SKIP", "compiled-step", "x")
    )
    assert gpu_check.main(["--device", "cpu"]) == 1
    assert "FAIL learner-fit-sync-free: RuntimeError: boom" in capsys.readouterr().out
