"""`mmbench download TASK... [--model URI]`: fill the Hugging Face caches for an offline run.

Each task's data is fetched exactly as `mmbench run` reads it (`datasets.load_dataset` at the
task's pinned revision, through `mmbench.data.sources.open_source`), so the prepared copy lands in
the datasets cache a later run with `HF_DATASETS_OFFLINE=1` reads. An `hf:ID[@REV]` model is
fetched with `huggingface_hub.snapshot_download` into the hub cache that `from_pretrained` reads
with `HF_HUB_OFFLINE=1`. Both honour `HF_HOME` / `HF_ENDPOINT`. Tasks with a local copy and models
that need no download (`builtin:`, local folders, `py:`) are reported as such.
"""

from __future__ import annotations

from collections.abc import Callable

from mmbench.errors import MMBenchError


def download_task(name: str) -> str:
    """Fetch task `name`'s dataset into the cache; returns a one-line summary."""
    from mmbench.data.sources import open_source
    from mmbench.tasks import load_task

    spec = load_task(name)
    source = spec.source
    if source.hub is None:
        return f"{spec.name}: local data at {source.local_path()}, nothing to download"
    table = open_source(source)
    where = f"{source.hub}@{source.revision or 'main'} [{source.split}]"
    return f"{spec.name}: {where}, {len(table)} rows in the datasets cache"


def download_model(uri: str) -> str:
    """Fetch an `hf:` hub model's files into the hub cache; returns a one-line summary."""
    scheme, _, rest = uri.partition(":")
    if scheme != "hf":
        return f"{uri}: only hf: hub models are downloaded; this one needs no download here"
    from mmbench.models.hf.source import parse_spec

    repo_id, revision, local = parse_spec(rest)
    if local:
        return f"{uri}: a local folder, nothing to download"
    import huggingface_hub

    try:
        path = huggingface_hub.snapshot_download(repo_id, revision=revision)
    except Exception as err:  # the hub client raises many types (HTTP, offline, not found)
        summary = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        raise MMBenchError(
            f"cannot download model {uri!r} ({summary}); check the id, the revision and the"
            " network (HF_ENDPOINT, HF_TOKEN)"
        ) from err
    return f"{uri}: {repo_id}@{revision or 'main'} in the hub cache ({path})"


def download_all(
    tasks: list[str], models: list[str], report: Callable[[str], None]
) -> list[tuple[str, str]]:
    """Download every task and model, reporting each line; returns (name, error) pairs for the
    ones that failed, after trying all of them."""
    failed: list[tuple[str, str]] = []
    for name, fetch in [(t, download_task) for t in tasks] + [(m, download_model) for m in models]:
        try:
            report(fetch(name))
        except MMBenchError as err:
            failed.append((name, str(err)))
    return failed
