"""Batched execution of one model capability over many items.

The engine is what keeps the accelerator busy: DataLoader workers load and preprocess items
(decode, resize, tokenise) while the main process runs the model; outputs already in the cache are
never recomputed; with several processes (torchrun) each rank computes a shard and every rank gets
all outputs back. Outputs come back in item order whatever the batch size or world size, which is
what makes numbers independent of both. Embeddings can go straight into an `EmbeddingMatrix`
(memory-mapped for galleries larger than memory) instead of a list of per-item tensors.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmbench.cache import OutputCache, cache_key
from mmbench.data.media import MediaRef, image_pixel_limit, known_file_hashes
from mmbench.data.media_fingerprint import file_hashes
from mmbench.embedding_matrix import EmbeddingMatrix
from mmbench.errors import MediaError, MMBenchError
from mmbench.models.base import ModelAdapter

logger = logging.getLogger(__name__)

CPU_DEFAULT_BATCH = 32
GPU_START_BATCH = 256
# Cache entries read per query: bounds the memory of a lookup over a large gallery.
_LOOKUP_CHUNK = 4096
# Smallest share of a batch one worker loads when workers fill a batch together (`_batches`).
_MIN_PART = 8


@dataclass
class EngineConfig:
    """How items are batched and loaded (`batch_size=None` means auto)."""

    batch_size: int | None = CPU_DEFAULT_BATCH
    num_workers: int = 0
    on_error: str = "fail"
    progress: bool = True
    pin_memory: bool = False
    #: where embedding matrices live: "memory", "disk" (memory-mapped) or "auto"
    embedding_store: str = "auto"
    #: images with more pixels fail as samples (None: Pillow's `Image.MAX_IMAGE_PIXELS`)
    max_image_pixels: int | None = None


@dataclass
class Distributed:
    """Rank and world size; the default is a single process."""

    rank: int = 0
    world_size: int = 1

    def shard(self, indices: list[int]) -> list[int]:
        return indices[self.rank :: self.world_size]

    def all_gather(self, value: Any) -> list[Any]:
        if self.world_size == 1:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered


@dataclass
class CapabilityOutputs:
    """Per-item outputs (None where the item failed), per-item meta, and failures by index."""

    outputs: list[Any]
    meta: list[Any]
    failed: dict[int, str] = field(default_factory=dict)
    computed: int = 0
    #: per-item facts of a served model's answers computed in this run (latency, token usage)
    info: dict[int, dict[str, Any]] = field(default_factory=dict)

    def stacked(self, indices: Sequence[int]) -> Any:
        """Stack the embeddings of `indices` (all must have succeeded) into one tensor."""
        import torch

        return torch.stack([self.outputs[i] for i in indices])


@dataclass
class EngineStats:
    model_s: float = 0.0
    items: int = 0
    computed: int = 0
    batch_size: int | None = None
    embeddings_on_disk: bool = False


class _ItemDataset:
    """Loads and preprocesses one item inside a worker; failures travel back as messages."""

    def __init__(
        self,
        items: Sequence[Any],
        indices: list[int],
        preprocessor: Any,
        max_image_pixels: int | None = None,
    ) -> None:
        self.items = items
        self.indices = indices
        self.preprocessor = preprocessor
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, Any, Any, str | None]:
        index = self.indices[position]
        try:
            with image_pixel_limit(self.max_image_pixels):
                raw, meta = self.items[index].load()
            return index, self.preprocessor(raw), meta, None
        except MediaError as err:
            return index, None, None, str(err)


class _Collate:
    def __init__(self, preprocessor: Any) -> None:
        self.preprocessor = preprocessor

    def __call__(self, samples: list[tuple[int, Any, Any, str | None]]) -> dict[str, Any]:
        good = [s for s in samples if s[3] is None]
        return {
            "indices": [s[0] for s in good],
            "meta": [s[2] for s in good],
            "batch": self.preprocessor.collate([s[1] for s in good]) if good else None,
            "failed": {s[0]: s[3] for s in samples if s[3] is not None},
        }


class Engine:
    """Runs a model's capabilities over items, with caching, batching and sharding."""

    def __init__(
        self,
        model: ModelAdapter,
        config: EngineConfig,
        cache: OutputCache | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.cache = cache
        self.distributed = distributed or Distributed()
        self.stats = EngineStats(batch_size=config.batch_size)

    def run(
        self,
        capability: str,
        items: Sequence[Any],
        desc: str = "",
        into: EmbeddingMatrix | None = None,
    ) -> CapabilityOutputs:
        """Outputs of `capability` for every item, in item order.

        With `into`, each output tensor is written to its row of that matrix as soon as it is
        read from the cache or computed, and `outputs` stays all None (meta is still kept).
        """
        n = len(items)
        result = CapabilityOutputs(outputs=[None] * n, meta=[None] * n)
        keep = self._keeper(result, into)
        keys = self._keys(capability, items)
        pending = list(range(n))
        if keys is not None and self.cache is not None:
            pending = []
            for start in range(0, n, _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                hits = self.cache.get_many(chunk)
                for index, key in enumerate(chunk, start):
                    if key in hits:
                        keep(index, *hits[key])
                    else:
                        pending.append(index)
        mine = self.distributed.shard(pending)
        logger.debug(
            "%s %s: %d items, %d cache hits, %d misses (%s); this rank computes %d",
            getattr(self.model, "uri", "?"),
            capability,
            n,
            n - len(pending),
            len(pending),
            "no cache" if keys is None or self.cache is None else "cache on",
            len(mine),
        )
        # One process keeps nothing but what `keep` stores; ranks must hand their outputs over.
        sink = keep if self.distributed.world_size == 1 else None
        local = self._compute(capability, items, mine, keys, desc, sink)
        for part in self.distributed.all_gather(local):
            for index, output, meta in part["done"]:
                keep(index, output, meta)
            result.failed.update(part["failed"])
            result.info.update(part.get("info", {}))
        result.computed = len(pending)
        if into is not None:
            self.stats.embeddings_on_disk |= into.on_disk
        self.stats.items += n
        self.stats.computed += len(pending)
        if result.failed and self.config.on_error == "fail":
            first = min(result.failed)
            more = len(result.failed) - 1
            suffix = f" ({more} more item(s) failed too)" if more else ""
            raise MediaError(result.failed[first] + suffix)
        if n and len(result.failed) == n:
            # nothing is left to score: a metric over zero samples is not a number
            first = min(result.failed)
            raise MMBenchError(
                f"every one of the {n} items failed ({result.failed[first]}); nothing is left to"
                " evaluate: fix the data"
            )
        return result

    def embedding_matrix(self, n_rows: int) -> EmbeddingMatrix:
        """An empty `[n_rows, d]` matrix for `run(..., into=)`, placed per `embedding_store`.

        Disk matrices go to `scratch/` in the cache folder (the system temp folder without one).
        """
        scratch = self.cache.directory / "scratch" if self.cache is not None else None
        return EmbeddingMatrix(n_rows, self.config.embedding_store, scratch)

    @staticmethod
    def _keeper(
        result: CapabilityOutputs, into: EmbeddingMatrix | None
    ) -> Callable[[int, Any, Any], None]:
        def keep(index: int, output: Any, meta: Any) -> None:
            result.meta[index] = meta
            if into is None:
                result.outputs[index] = output
            else:
                into.write(index, output)

        return keep

    def _keys(self, capability: str, items: Sequence[Any]) -> list[str] | None:
        if self.cache is None:
            return None
        fingerprint = self.model.fingerprint()
        # Media files' hashes come from the cache's memo (by path, size, mtime) when known, so
        # several questions on one video, or a rerun, hash no file twice.
        paths = sorted({ref.path for item in items for ref in _file_refs(item)})
        with known_file_hashes(file_hashes(paths, self.cache)):
            return self._item_keys(fingerprint, capability, items)

    def _item_keys(self, fingerprint: str, capability: str, items: Sequence[Any]) -> list[str]:
        keys = []
        for item in items:
            try:
                keys.append(cache_key(fingerprint, capability, item.content_key()))
            except MediaError:
                # An unreadable item is never cached; loading it again reports the error.
                keys.append(f"unreadable:{len(keys)}")
        return keys

    def _compute(
        self,
        capability: str,
        items: Sequence[Any],
        indices: list[int],
        keys: list[str] | None,
        desc: str,
        sink: Callable[[int, Any, Any], None] | None = None,
    ) -> dict[str, Any]:
        """Compute `indices`; outputs go to `sink`, or are returned under "done" without one."""
        done: list[tuple[int, Any, Any]] = []
        finished: set[int] = set()
        failed: dict[int, str] = {}
        if not indices:
            return {"done": done, "failed": failed}
        from tqdm import tqdm

        bar = tqdm(
            total=len(indices),
            desc=desc or capability,
            unit="item",
            delay=1.0,
            disable=not self.config.progress,
            file=sys.stderr,
            leave=False,
        )
        batch_size = self._initial_batch_size()
        preprocessor = self.model.preprocessor(capability)
        if self.model.streams:
            streamed = self._stream(capability, items, indices, keys, preprocessor, bar, sink)
            bar.close()
            return streamed
        # One loader for all of them: its workers start once per capability (a new loader is
        # built only after an out-of-memory back-off, for the items still to do).
        while indices:
            try:
                for batch in self._batches(items, indices, preprocessor, batch_size):
                    failed.update(batch["failed"])
                    if batch["batch"] is not None:
                        outputs = self._call(capability, batch["batch"], len(batch["indices"]))
                        new = list(zip(batch["indices"], outputs, batch["meta"], strict=True))
                        self._store(capability, keys, new)
                        finished.update(batch["indices"])
                        if sink is None:
                            done.extend(new)
                        else:
                            for index, output, meta in new:
                                sink(index, output, meta)
                    bar.update(len(batch["indices"]) + len(batch["failed"]))
                    if failed and self.config.on_error == "fail":
                        bar.close()
                        return {"done": done, "failed": failed}
                indices = []
            except _OutOfMemory:
                if self.config.batch_size is not None or batch_size == 1:
                    raise MMBenchError(
                        f"the model ran out of accelerator memory at batch size {batch_size}; pass"
                        " --batch-size auto (or a smaller N), a lower --dtype, or a larger device"
                    ) from None
                indices = [i for i in indices if i not in finished and i not in failed]
                batch_size = max(1, batch_size // 2)
                self.stats.batch_size = batch_size
                logger.debug("out of accelerator memory: batch size halved to %d", batch_size)
        bar.close()
        return {"done": done, "failed": failed}

    def _stream(
        self,
        capability: str,
        items: Sequence[Any],
        indices: list[int],
        keys: list[str] | None,
        preprocessor: Any,
        bar: Any,
        sink: Callable[[int, Any, Any], None] | None,
    ) -> dict[str, Any]:
        """`_compute` for adapters that answer item by item (servers): answers are committed to
        the cache as they arrive (one transaction per group of answers that arrived together,
        not per batch), so a killed run loses only the requests in flight; batches only group
        the data loading."""
        done: list[tuple[int, Any, Any]] = []
        failed: dict[int, str] = {}
        info: dict[int, dict[str, Any]] = {}
        metas: dict[int, Any] = {}
        stop_on_error = self.config.on_error == "fail"

        def batches():
            for batch in self._loader(items, indices, preprocessor, self._initial_batch_size()):
                failed.update(batch["failed"])
                bar.update(len(batch["failed"]))
                if failed and stop_on_error:
                    return
                if batch["batch"] is not None:
                    metas.update(zip(batch["indices"], batch["meta"], strict=True))
                    yield batch["indices"], batch["batch"]

        start = time.perf_counter()
        answers = self.model.stream(capability, batches())
        try:
            for arrived in answers:
                new = []
                for answer in arrived:
                    meta = metas.pop(answer.index)
                    if answer.error is not None:
                        failed[answer.index] = answer.error
                        continue
                    new.append((answer.index, answer.output, meta))
                    if answer.info:
                        info[answer.index] = answer.info
                # Committed before the next wait: whatever has arrived is never lost.
                self._store(capability, keys, new)
                for index, output, meta in new:
                    if sink is None:
                        done.append((index, output, meta))
                    else:
                        sink(index, output, meta)
                bar.update(len(arrived))
                if failed and stop_on_error:
                    break
        finally:
            answers.close()
            self.stats.model_s += time.perf_counter() - start
        return {"done": done, "failed": failed, "info": info}

    def _initial_batch_size(self) -> int:
        if self.config.batch_size is not None:
            logger.debug("batch size %d (as requested)", self.config.batch_size)
            return self.config.batch_size
        start = GPU_START_BATCH if self.model.device.startswith("cuda") else CPU_DEFAULT_BATCH
        self.stats.batch_size = start
        logger.debug(
            "batch size auto: starting at %d on %s, halved on out-of-memory",
            start,
            self.model.device,
        )
        return start

    def _loader(
        self,
        items: Sequence[Any],
        chunk: list[int],
        preprocessor: Any,
        batch_size: int,
        parts: list[list[int]] | None = None,
    ):
        """A DataLoader over `chunk` in batches of `batch_size`, or in the given `parts`
        (positions in `chunk`; then unpinned, as `_batches` pins the merged batch)."""
        from torch.utils.data import DataLoader

        workers = self.config.num_workers
        return DataLoader(
            _ItemDataset(items, chunk, preprocessor, self.config.max_image_pixels),
            batch_size=batch_size if parts is None else 1,
            batch_sampler=parts,
            shuffle=False,
            num_workers=workers,
            collate_fn=_Collate(preprocessor),
            pin_memory=self.config.pin_memory and parts is None,
            prefetch_factor=4 if workers else None,
            persistent_workers=False,
        )

    def _batches(self, items: Sequence[Any], chunk: list[int], preprocessor: Any, batch_size: int):
        """The loader's batches of `batch_size` consecutive items of `chunk`.

        With several workers and a preprocessor that can `merge` collated batches, each batch is
        loaded as one part per worker (at least `_MIN_PART` items each) and merged in the main
        process, so the workers fill every batch together instead of each loading a whole batch
        alone (at batch 256 and 8 workers the model then waited for 8 x 256 items before its
        first call: benchmarks/README.md). The batches hold the same items either way.
        """
        merge = getattr(preprocessor, "merge", None)
        split = min(self.config.num_workers, batch_size // _MIN_PART) if merge else 0
        if split < 2:
            yield from self._loader(items, chunk, preprocessor, batch_size)
            return
        plan: list[tuple[int, list[int]]] = []
        for number, start in enumerate(range(0, len(chunk), batch_size)):
            positions = list(range(start, min(len(chunk), start + batch_size)))
            size = -(-len(positions) // split)
            plan += [(number, positions[i : i + size]) for i in range(0, len(positions), size)]
        logger.debug("batches of %d loaded in %d parts, one per worker", batch_size, split)
        loader = self._loader(items, chunk, preprocessor, batch_size, [p for _, p in plan])
        group: list[dict[str, Any]] = []
        current = 0
        for (number, _), part in zip(plan, loader, strict=True):
            if number != current and group:
                yield self._merged(group, merge)
                group = []
            current = number
            group.append(part)
        if group:
            yield self._merged(group, merge)

    def _merged(self, parts: list[dict[str, Any]], merge: Callable[[list], Any]) -> dict[str, Any]:
        """One batch from the parts `_Collate` made of it (pinned when the config says so)."""
        batches = [p["batch"] for p in parts if p["batch"] is not None]
        batch = merge(batches) if batches else None
        if batch is not None and self.config.pin_memory:
            batch = _pinned(batch)
        return {
            "indices": [i for p in parts for i in p["indices"]],
            "meta": [m for p in parts for m in p["meta"]],
            "batch": batch,
            "failed": {i: e for p in parts for i, e in p["failed"].items()},
        }

    def _call(self, capability: str, batch: Any, expected: int) -> list[Any]:
        import torch

        from mmbench.output_checks import check_outputs

        start = time.perf_counter()
        try:
            with torch.inference_mode():
                output = self.model.call(capability, batch)
        except torch.OutOfMemoryError as err:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise _OutOfMemory from err
        self.stats.model_s += time.perf_counter() - start
        return check_outputs(getattr(self.model, "uri", "?"), capability, output, expected)

    def _store(self, capability: str, keys: list[str] | None, new: list[tuple]) -> None:
        if self.cache is None or keys is None or not new:
            return
        self.cache.put_many(capability, [(keys[i], out, meta) for i, out, meta in new])


def _file_refs(item: Any) -> list[MediaRef]:
    """The media files an item reads (not embedded bytes or raw frames)."""
    refs = getattr(item, "refs", None) or ([item.ref] if hasattr(item, "ref") else [])
    return [r for r in refs if r.path is not None and r.data is None and r.frames is None]


def _pinned(value: Any) -> Any:
    """`value` with every tensor in pinned memory (as the DataLoader's pin_memory does)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.pin_memory() if torch.cuda.is_available() else value
    if isinstance(value, dict):
        return {k: _pinned(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_pinned(v) for v in value)
    return value


class _OutOfMemory(Exception):
    """Raised inside the engine to back off the batch size (`--batch-size auto`)."""


def default_num_workers() -> int:
    """Worker processes for media decoding next to a GPU: all cores but one, at most 8.

    On an H200 with ViT-B/32, 15 workers decoded no faster than 8 (benchmarks/README.md).
    """
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def resolve_num_workers(requested: int | None, device: str) -> int:
    """`requested`, or for auto (None): `default_num_workers()` next to a GPU, 0 on a CPU.

    On a CPU the model's own threads already use every core, and a worker competing with them
    made runs slower on 2 cores (benchmarks/README.md); a GPU must be fed by parallel decoding.
    """
    if requested is not None:
        logger.debug("data loader workers: %d (as requested)", requested)
        return requested
    workers = default_num_workers() if device.startswith("cuda") else 0
    logger.debug(
        "data loader workers: %d (auto on %s: %s)",
        workers,
        device,
        "cores - 1, at most 8" if device.startswith("cuda") else "none on a CPU",
    )
    return workers
