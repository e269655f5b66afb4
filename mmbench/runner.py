"""One evaluation, end to end: spec -> model -> rows -> engine -> task -> result on disk.

Checks that can fail cheaply (task spec, output directory, model capabilities, dataset columns)
run before any model work, so a typo never costs a long run. Under torchrun every rank computes a
shard of the outputs, all ranks score the gathered outputs, and rank 0 alone writes the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import time
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mmbench
from mmbench.engine import Distributed, Engine, EngineConfig, resolve_num_workers
from mmbench.environment import environment_record, git_commit
from mmbench.errors import MMBenchError
from mmbench.models import load_model
from mmbench.models.args import redact_args
from mmbench.models.base import GENERATE, ModelOptions
from mmbench.results import (
    ModelInfo,
    Result,
    RunConfig,
    check_result_path,
    check_writable,
    result_stem,
    write_result,
    write_result_at,
)
from mmbench.run_checks import check_bootstrap, check_device, check_generation
from mmbench.tasks import get_task_type, load_task
from mmbench.tasks.base import TaskContext

EXIT_OK = 0
EXIT_PARTIAL = 3


@dataclass
class RunRequest:
    """Everything `mmbench run` was asked to do."""

    model: str
    task: str
    output_dir: Path = Path("results")
    #: first N rows, or a fraction in (0, 1) of the rows (lm-eval's `--limit 0.1`), recorded as
    #: the number of rows it selected
    limit: int | float | None = None
    batch_size: int | None = 32
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    #: DataLoader workers; None = auto (see `engine.resolve_num_workers`)
    num_workers: int | None = None
    data_dir: Path | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    #: "auto", "memory" or "disk" (memory-mapped); see `mmbench.embedding_matrix`
    embedding_store: str = "auto"
    bootstrap: int = 0
    on_error: str = "fail"
    trust_remote_code: bool = False
    progress: bool = True
    #: generation settings passed to generative adapters (e.g. {"max_new_tokens": 64})
    generation: dict[str, Any] = field(default_factory=dict)
    #: images with more pixels are per-sample errors (None: Pillow's `Image.MAX_IMAGE_PIXELS`)
    max_image_pixels: int | None = None
    #: `--model-args`, validated by the model's scheme (see `mmbench.models.args`)
    model_args: dict[str, Any] = field(default_factory=dict)
    #: `--output FILE`: write the result JSON exactly there (replacing it) and its samples beside
    output: Path | None = None


@dataclass
class RunOutcome:
    result: Result
    path: Path | None
    exit_code: int
    metric_errors: dict[str, str]
    failures: dict[str, str]


def run(request: RunRequest, models: Any = None) -> RunOutcome:
    """Evaluate `request.model` on `request.task` and write the result (rank 0).

    `models` (a `mmbench.suite.ModelPool`) hands back a model already loaded by an earlier run
    of the same suite instead of loading it again.
    """
    started = time.perf_counter()
    check_bootstrap(request.bootstrap)
    check_device(request.device)
    spec = load_task(request.task)
    task_type = get_task_type(spec.type)
    options = task_type.validate(spec)
    check_generation(request.generation, request.model)
    distributed = init_distributed()
    if distributed.rank == 0:
        check_writable(request.output.parent if request.output else request.output_dir)
        if (request.limit is None or isinstance(request.limit, int)) and request.output is None:
            # a fraction's row count is known once the data is open; checked when written
            stem = result_stem(spec.name, request.model, request.limit)
            check_result_path(request.output_dir, stem)
    device = request.device
    if distributed.world_size > 1 and device in ("auto", "cuda"):
        device = _rank_device(device)
    model_options = ModelOptions(
        device=device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
        seed=request.seed,
        generation=dict(request.generation),
        model_args=dict(request.model_args),
    )
    cache = None
    if request.use_cache:
        from mmbench.cache import OutputCache

        cache = OutputCache(request.cache_dir)
    with closing(cache) if cache is not None else nullcontext():
        if models is not None:
            model = models.get(request.model, model_options, cache)
        else:
            model = load_model(request.model, model_options, memos=cache)
        _reset_peak_memory(model.device)
        tokens_before = model.generated_tokens()  # a suite's model is shared by its tasks
        needed = task_type.capabilities(spec, options, model)
        for capability in needed:
            model.require(capability, spec.name)
        if request.generation and GENERATE not in needed:
            raise MMBenchError(
                f"--gen-kwargs {next(iter(request.generation))}=... has no effect: task"
                f" {spec.name!r} does not generate text with {request.model!r}; drop --gen-kwargs"
            )
        from mmbench.data.sources import open_source

        table = open_source(spec.source, request.data_dir)
        limit = resolve_limit(request.limit, len(table))
        table = table.head(limit)
        table.require_columns(spec.columns, spec.name)
        from mmbench.data.media_fingerprint import media_fingerprint

        table = dataclasses.replace(
            table, fingerprint=media_fingerprint(table, spec.columns, memo=cache)
        )
        num_workers = resolve_num_workers(request.num_workers, model.device)
        engine = Engine(
            model,
            EngineConfig(
                batch_size=request.batch_size,
                num_workers=num_workers,
                on_error=request.on_error,
                progress=request.progress and distributed.rank == 0,
                pin_memory=model.device.startswith("cuda"),
                embedding_store=request.embedding_store,
                max_image_pixels=request.max_image_pixels,
            ),
            cache=cache,
            distributed=distributed,
        )
        ctx = TaskContext(spec, options, table, model, engine, request.bootstrap, request.seed)
        output = task_type.evaluate(ctx)
    total = time.perf_counter() - started
    result = Result(
        mmbench_version=mmbench.__version__,
        task=output.task_info(spec, table.fingerprint, limit),
        model=ModelInfo(
            uri=request.model, fingerprint=model.fingerprint(), details=model.describe()
        ),
        config=RunConfig(
            device=model.device,
            dtype=str(model.describe().get("dtype", request.dtype)),
            batch_size=engine.stats.batch_size or 0,
            world_size=distributed.world_size,
            seed=request.seed,
            extra={
                "batch_size_requested": request.batch_size or "auto",
                "num_workers": num_workers,
                "bootstrap": request.bootstrap,
                "on_error": request.on_error,
                "cache": request.use_cache,
                "embedding_store": request.embedding_store,
                "embeddings_on_disk": engine.stats.embeddings_on_disk,
                "data_dir": str(request.data_dir) if request.data_dir else None,
                "model_args": redact_args(request.model_args),
            },
        ),
        metrics=output.metrics,
        ci=output.ci,
        breakdown=output.breakdown,
        timing={
            "total_s": round(total, 3),
            "model_s": round(engine.stats.model_s, 3),
            "items_per_s": round(engine.stats.items / total, 2) if total > 0 else 0.0,
            "items": engine.stats.items,
            "computed": engine.stats.computed,
            **_peak_memory(model.device),
            **({"server": model.call_totals()} if model.call_totals() else {}),
            **_generation_rate(model.generated_tokens() - tokens_before, round(total, 3)),
        },
        failures=output.failure_record(),
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_commit=git_commit(),
        environment=environment_record(distributed.world_size),
    )
    path = None
    if distributed.rank == 0:
        if request.output is not None:
            path = write_result_at(result, output.samples, request.output)
        else:
            path = write_result(result, output.samples, request.output_dir)
    partial = bool(output.failures or output.metric_errors)
    return RunOutcome(
        result, path, EXIT_PARTIAL if partial else EXIT_OK, output.metric_errors, output.failures
    )


def _generation_rate(tokens: int, seconds: float) -> dict[str, float]:
    """`generated_tokens` and `tokens_per_s` (over the run's wall time, as for served models)
    of an in-process generator that produced tokens in this run."""
    if tokens <= 0 or seconds <= 0:
        return {}
    return {"generated_tokens": tokens, "tokens_per_s": round(tokens / seconds, 2)}


def resolve_limit(limit: int | float | None, rows: int) -> int | None:
    """Rows to evaluate: `limit` rows, or for a fraction in (0, 1) `ceil(fraction * rows)` (at
    least 1), as lm-eval reads `--limit`; None for all rows."""
    if limit is None:
        return None
    if isinstance(limit, float) and not limit.is_integer():
        if not 0 < limit < 1:
            raise MMBenchError(
                f"--limit {limit} is neither a whole number of rows nor a fraction in (0, 1)"
            )
        return max(1, math.ceil(limit * rows))
    return int(limit)


def _reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(device: str) -> dict[str, float]:
    """`{"peak_gpu_memory_mb": ...}`: the most GPU memory torch allocated during the run (MiB;
    `torch.cuda.max_memory_allocated`), or {} on a CPU."""
    if not device.startswith("cuda"):
        return {}
    import torch

    return {"peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}


def init_distributed() -> Distributed:
    """Join the launcher's process group when started as one of several processes.

    torchrun and `accelerate launch --multi_gpu` set RANK, WORLD_SIZE and LOCAL_RANK. `accelerate
    launch --cpu --num_processes N --mpirun_hostfile F` starts the processes with mpirun instead,
    which sets only its MPI's own names (MPICH / Intel MPI, Open MPI, MVAPICH); without them each
    process ran the whole task as world size 1 and all of them wrote the same result file. They
    are copied to the torchrun names, in the order accelerate reads them, so that the env://
    rendezvous (MASTER_ADDR / MASTER_PORT come from accelerate) and `_rank_device` see them.
    """
    mpi_names = {
        "WORLD_SIZE": ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"),
        "RANK": ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK"),
        "LOCAL_RANK": (
            "MPI_LOCALRANKID",
            "OMPI_COMM_WORLD_LOCAL_RANK",
            "MV2_COMM_WORLD_LOCAL_RANK",
        ),
    }
    for name, aliases in mpi_names.items():
        found = next((os.environ[a] for a in aliases if a in os.environ), None)
        if name not in os.environ and found is not None:
            os.environ[name] = found
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size())


def _rank_device(requested: str) -> str:
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return f"cuda:{local}"
