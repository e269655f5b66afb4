"""The docs against the code: the documented offline commands run, and every metric name the docs
give a task (in a table, a `task/metric` column or a sample output) is one of that task's metrics.

Metric names are checked where the docs name them exactly: backticked cells of task tables (the
headline column must be the YAML's `headline`), the metrics column of the task-type table
(`i2t_R@{1,5,10}` expands to three names), `TASK/METRIC` headers, and the first column of sample
`metric ...` tables inside code blocks (for the task the block's command names, or any task).
The README's summary table of `builtin:random` on the mini benchmarks is rerun and compared.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from mmbench.cli import main
from mmbench.tasks import TASK_TYPES, get_task_type, load_task, task_files

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TASKS = set(task_files())
#: every metric name some task type computes
KNOWN = set().union(*(get_task_type(name).metrics for name in TASK_TYPES))
TICKS = re.compile(r"`([^`]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
TASK_SLASH_METRIC = re.compile(r"(?<![\w/.-])([a-z0-9]+(?:-[a-z0-9]+)+)/([A-Za-z][\w@]*)")


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def tables(text: str) -> list[tuple[list[str], list[str]]]:
    """(header cells, row cells) of every row of every Markdown table in `text`."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(c) <= set(":-") for c in cells):
            rows.append((header, cells))
    return rows


def expand(token: str) -> list[str]:
    """`i2t_R@{1,5,10}` -> i2t_R@1, i2t_R@5, i2t_R@10 (brace lists, as the docs write them)."""
    parts = re.split(r"\{([^}]*)\}", token)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def type_metrics(task: str) -> set[str]:
    return set(get_task_type(load_task(task).type).metrics)


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_task_tables_name_the_tasks_metrics(doc: Path) -> None:
    """In a table row about a task, a backticked metric name is one that task computes, and the
    `headline` column holds the YAML's headline."""
    for header, cells in tables(doc.read_text(encoding="utf-8")):
        names = TICKS.findall(cells[0])
        if len(names) != 1 or names[0] not in TASKS:
            continue
        task = names[0]
        for column, cell in zip(header, cells, strict=False):
            ticked = [m for t in TICKS.findall(cell) for m in expand(t)]
            if column.lower() == "headline":
                assert ticked == [load_task(task).headline], (doc_id(doc), task, cell)
            wrong = [m for m in ticked if m in KNOWN and m not in type_metrics(task)]
            assert not wrong, (doc_id(doc), task, column, wrong)


def test_task_type_table_lists_real_metrics() -> None:
    """docs/tasks.md's table of task types: each metric it lists is one that type computes."""
    checked = 0
    for header, cells in tables((ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")):
        if header[0] != "type" or "metrics" not in header:
            continue
        (task_type,) = TICKS.findall(cells[0])
        # parentheses hold notes ("needs `choices`", "video: `v2t_*`"), not metric names
        cell = re.sub(r"\([^)]*\)", "", cells[header.index("metrics")])
        named = [m for t in TICKS.findall(cell) for m in expand(t)]
        assert named and set(named) <= set(get_task_type(task_type).metrics), (task_type, named)
        checked += 1
    assert checked == len(TASK_TYPES)


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_task_slash_metric_names_exist(doc: Path) -> None:
    """`mini-retrieval/t2i_R@1`-style names (leaderboard columns) name one of the task's metrics."""
    for task, metric in TASK_SLASH_METRIC.findall(doc.read_text(encoding="utf-8")):
        if task in TASKS and metric != "n":  # `<task>/n`: the leaderboard's row-count column
            assert metric in load_task(task).metrics, (doc_id(doc), task, metric)


def sample_metric_tables(block: str) -> list[str]:
    """The metric names in the first column of each `metric ...` table printed in `block`."""
    names, inside = [], False
    for line in block.splitlines():
        words = line.split()
        if words[:1] == ["metric"]:
            inside = True
        elif inside and set(words[0]) == {"-"}:
            continue
        elif (
            inside
            and not words[0].endswith(":")
            and len(words) > 1
            and re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?", words[1])
        ):
            names.append(words[0])  # a row: the name, then its (first) value
        else:
            inside = False
    return names


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_sample_outputs_name_real_metrics(doc: Path) -> None:
    """The metric column of sample command output: metrics of the task the command names."""
    for block in FENCE.findall(doc.read_text(encoding="utf-8")):
        tasks = {t for t in re.findall(r"[\w.-]+", block) if t in TASKS}
        allowed = set().union(*(type_metrics(t) for t in tasks)) if tasks else KNOWN
        wrong = [m for m in sample_metric_tables(block) if m not in allowed]
        assert not wrong, (doc_id(doc), sorted(tasks), wrong)


def test_documented_listing_commands(capsys) -> None:
    """`mmbench list tasks | models | metrics` and `mmbench show task coco-retrieval` run
    offline and print what the task files and registries hold."""
    assert main(["list", "tasks"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in TASKS)
    assert main(["list", "models"]) == 0
    assert "builtin:effnet-minilm" in capsys.readouterr().out
    assert main(["list", "metrics"]) == 0
    assert {"RSUM", "CIDEr", "top1"} <= set(capsys.readouterr().out.split())
    assert main(["show", "task", "coco-retrieval"]) == 0
    shown = capsys.readouterr().out
    assert all(metric in shown for metric in load_task("coco-retrieval").metrics)


def test_cache_info_does_not_create_the_folder(tmp_path: Path, capsys) -> None:
    absent = tmp_path / "no-cache-here"
    assert main(["cache", "info", "--cache-dir", str(absent)]) == 0
    assert "entries: 0" in capsys.readouterr().out
    assert not absent.exists()


def readme_summary() -> dict[str, dict[str, tuple[str, str, float, int]]]:
    """The README's summary table: model -> column -> (task, metric, value, n)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    summary: dict[str, dict] = {}
    for header, cells in tables(text):
        if header[0] != "model" or not all("/" in h for h in header[1:]):
            continue
        row = summary.setdefault(cells[0], {})
        for column, cell in zip(header[1:], cells[1:], strict=True):
            value, n = re.fullmatch(r"([\d.]+) \(n=(\d+)\)", cell).groups()
            row[column] = (*column.split("/"), float(value), int(n))
    return summary


@pytest.mark.parametrize("column", sorted(readme_summary()["builtin:random"]))
def test_readme_summary_of_builtin_random(column: str, tmp_path: Path, capsys) -> None:
    """The chance baseline's row of the README's mini-benchmark table, rerun (it is seeded)."""
    import json

    task, metric, value, n = readme_summary()["builtin:random"][column]
    command = ["run", "--model", "builtin:random", "--task", task, "--quiet", "--no-cache"]
    assert main([*command, "--output", str(tmp_path / "result.json")]) == 0
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["task"]["n"] == n
    assert round(result["metrics"][metric], 4) == value
