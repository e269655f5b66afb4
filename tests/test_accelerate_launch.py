"""`accelerate launch` must shard a run like torchrun does: same numbers, one result file.

accelerate has two multi-process modes. `--multi_gpu` hands over to torchrun (RANK / WORLD_SIZE
set, on a CPU-only machine the processes use gloo). `--cpu --num_processes N` starts one process
unless it is given `--mpirun_hostfile`, and then mpirun starts N processes that carry only their
MPI's own rank variables. Both modes are checked against a single-process run, bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.hardening import expected_stem
from helpers.runs import run_task

TASK = "mini-video-retrieval"
MODEL = "builtin:effnet-minilm"
BIN = Path(sys.executable).parent
ACCELERATE = BIN / "accelerate"
#: flags every launch passes so that no user or machine accelerate config changes the run
FIXED_FLAGS = ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
#: variables a launcher sets; inherited ones would make a child join a group it is not part of
LAUNCHER_VARIABLES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "PMI_RANK",
    "PMI_SIZE",
    "MPI_LOCALRANKID",
    "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_LOCAL_RANK",
)


def free_port() -> int:
    """A TCP port that was free a moment ago (the rendezvous port of one launch)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_env(tmp_path: Path) -> dict[str, str]:
    """The parent environment without launcher variables, with HF_HOME (where accelerate looks for
    its default config) and the mmbench cache in `tmp_path`, and the venv's bin on PATH (accelerate
    finds mpirun there)."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.update(
        HF_HOME=str(tmp_path / "hf"),
        MMBENCH_CACHE=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def mmbench_args(output_dir: Path) -> list[str]:
    """`-m mmbench run ...` as the launched processes receive it."""
    return [
        "-m",
        "mmbench",
        "run",
        "--model",
        MODEL,
        "--task",
        TASK,
        "--batch-size",
        "3",
        "--output-dir",
        str(output_dir),
        "--quiet",
    ]


def failure(done: subprocess.CompletedProcess) -> str:
    """mmbench's own error lines, then the end of stderr (the launcher's summary)."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("mmbench:")]
    return "\n".join([*errors, done.stderr[-2000:]])


def assert_matches_single(output_dir: Path, single: dict) -> None:
    """One result file with world size 2, whose metrics and samples equal the 1-process run's."""
    stem = expected_stem("mini-video-retrieval", "builtin:effnet-minilm")
    assert sorted(p.name for p in output_dir.iterdir()) == [
        f"{stem}.json",
        f"{stem}.samples.jsonl",
    ]
    result = json.loads((output_dir / f"{stem}.json").read_text())
    assert result["config"]["world_size"] == 2
    assert result["metrics"] == single["metrics"]
    samples = (output_dir / f"{stem}.samples.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in samples] == single["samples"]


def accelerate_launch(tmp_path: Path, *mode: str) -> subprocess.CompletedProcess:
    """`accelerate launch MODE... --num_processes 2` of the mmbench run, results in tmp_path/out."""
    command = [str(ACCELERATE), "launch", *mode, "--num_processes", "2", *FIXED_FLAGS]
    command += ["--main_process_port", str(free_port()), *mmbench_args(tmp_path / "out")]
    return subprocess.run(
        command, capture_output=True, text=True, env=launch_env(tmp_path), timeout=300, check=False
    )


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_task(tmp_path_factory.mktemp("single"), TASK, MODEL, batch_size=3)


@pytest.mark.slow
def test_accelerate_multi_process_launch_matches_one_process(tmp_path: Path, single: dict) -> None:
    done = accelerate_launch(tmp_path, "--multi_gpu")
    assert done.returncode == 0, failure(done)
    assert_matches_single(tmp_path / "out", single)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("mpirun", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") is None,
    reason="accelerate's --cpu multi-process mode needs mpirun (the dev extra installs mpich)",
)
def test_accelerate_cpu_launch_matches_one_process(tmp_path: Path, single: dict) -> None:
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost\n")
    done = accelerate_launch(tmp_path, "--cpu", "--mpirun_hostfile", str(hostfile))
    assert done.returncode == 0, failure(done)
    assert_matches_single(tmp_path / "out", single)


JOIN = (
    "import os; from mmbench.runner import init_distributed; d = init_distributed();"
    " print(d.rank, d.world_size, os.environ['LOCAL_RANK'])"
)


@pytest.mark.parametrize(
    "names",
    [
        ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),  # MPICH, Intel MPI
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ],
    ids=["mpich", "openmpi"],
)
def test_mpi_rank_variables_join_one_group(tmp_path: Path, names: tuple[str, str, str]) -> None:
    rank_name, size_name, local_name = names
    env = {**launch_env(tmp_path), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", JOIN],
            env={**env, rank_name: str(rank), size_name: "2", local_name: str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert [out.split() for out, _ in outputs] == [["0", "2", "0"], ["1", "2", "1"]]
