"""The metric registry: one declaration per metric (or family of metrics) that mmbench reports.

Every consumer asks this module instead of guessing from a name: `compare` (direction, units of
the tolerance, which paired test applies), `leaderboard` (sort order), the task types (the one-line
descriptions they declare) and the report. A declaration says:

* `higher_is_better`: direction (ranks are lower is better; None for a diagnostic with no better
  side, such as POPE's yes-ratio, which `compare` reports but never judges).
* `scale`: how a stored value is read (`SCALES`): a `fraction` in [0, 1] (R@5 = 0.654, printed as
  65.4 points), a `percentage` (RSUM, a sum of six recalls in percent, 0..600), a `rank` (MdR,
  MnR: own units), `cider` (CIDEr-D: unbounded, 1.358 is printed as 135.8), or a `score` in its
  own units (e.g. a total out of 2000).
* `per_sample`: where the samples JSONL holds the metric's per-sample value (documentation; the
  readers in `mmbench.metrics.paired` follow it).
* `aggregation`: `mean` when the metric is the mean of its per-sample values, `corpus` when it is
  recomputed from per-sample statistics (BLEU sums n-gram counts, MdR takes a median, mean
  per-class recall averages per-class means); `recompute` names the function of
  `mmbench.metrics.paired` that recomputes it on a resample, or is empty when mmbench cannot.
* `binary`: the per-sample values are 0/1, so two runs can be compared with an exact McNemar test.
* `bootstrap`: `mmbench run --bootstrap N` reports an interval for it.
* `group`: the samples field whose equal values form one resampling unit (an MME image's question
  pair, a CircularEval question's shifts); None when every sample is its own unit.

Metrics that are not declared here (a user's own task type) are treated as a higher-is-better
fraction that is the mean of `scores[name]` in the samples; `compare` checks that this mean
reproduces the stored value before it tests anything. New task types declare their metrics here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

SCALES = ("fraction", "percentage", "rank", "cider", "score")


@dataclass(frozen=True)
class MetricInfo:
    """What mmbench knows about one metric; see the module docstring for each field."""

    name: str
    description: str
    higher_is_better: bool | None = True
    scale: str = "fraction"
    per_sample: str = ""
    aggregation: str = "mean"
    recompute: str = "mean"
    binary: bool = False
    bootstrap: bool = True
    group: str | None = None
    #: False for a name the registry does not declare (defaults assumed)
    known: bool = True

    def to_points(self, value: float) -> float:
        """`value` in the units of `compare`'s tolerance: points (x100) for fractions and CIDEr,
        as stored for percentages, ranks and scores."""
        return 100.0 * value if self.scale in ("fraction", "cider") else value

    @property
    def unit(self) -> str:
        """Suffix of a delta in tolerance units: ' pts' for points, '' for own units."""
        return " pts" if self.scale in ("fraction", "cider", "percentage") else ""


def _retrieval() -> list[tuple[str, MetricInfo]]:
    """R@K, MdR, MnR for both directions of image and video retrieval, and RSUM."""
    out = []
    for visual in ("i", "v"):
        for query, ranks in ((f"{visual}2t", "visual"), (f"t2{visual}", "text")):
            where = (
                "rank_visual_to_text (one rank per visual query)"
                if ranks == "visual"
                else "ranks_text_to_visual (one rank per caption; the image is resampled whole)"
            )
            out.append(
                (
                    rf"{query}_R@(?P<k>\d+)",
                    MetricInfo(
                        f"{query}_R@K",
                        f"{ranks} query: share of queries with a positive in the top {{k}}",
                        per_sample=f"{where} <= K",
                        binary=True,
                    ),
                )
            )
            out.append(
                (
                    rf"{query}_MdR",
                    MetricInfo(
                        f"{query}_MdR",
                        f"{ranks} query: median rank of the best positive (1 = first)",
                        higher_is_better=False,
                        scale="rank",
                        per_sample=where,
                        aggregation="corpus",
                        recompute="median",
                    ),
                )
            )
            out.append(
                (
                    rf"{query}_MnR",
                    MetricInfo(
                        f"{query}_MnR",
                        f"{ranks} query: mean rank of the best positive",
                        higher_is_better=False,
                        scale="rank",
                        per_sample=where,
                    ),
                )
            )
    out.append(
        (
            "RSUM",
            MetricInfo(
                "RSUM",
                "sum of the six R@K values in percent, 0..600 (VSE++ convention)",
                scale="percentage",
                per_sample="rank_visual_to_text and ranks_text_to_visual",
                aggregation="corpus",
                recompute="rsum",
            ),
        )
    )
    return out


def _classification() -> list[tuple[str, MetricInfo]]:
    return [
        (
            r"top(?P<k>\d+)",
            MetricInfo(
                "top{k}",
                "share of images whose correct class is among the {k} top-scoring",
                per_sample="top1: correct; topK: label in top5[:K] (K <= 5)",
                binary=True,
            ),
        ),
        (
            "mean_per_class_recall",
            MetricInfo(
                "mean_per_class_recall",
                "recall averaged over classes (balanced accuracy)",
                per_sample="label and correct",
                aggregation="corpus",
                recompute="class_mean",
            ),
        ),
    ]


def _captioning() -> list[tuple[str, MetricInfo]]:
    bleu = [
        (
            f"Bleu_{n}",
            MetricInfo(
                f"Bleu_{n}",
                "BLEU-1 (pycocoevalcap, corpus level, closest reference length)"
                if n == 1
                else f"BLEU-{n}",
                per_sample="n-gram statistics of prediction against references (recomputed)",
                aggregation="corpus",
                recompute="bleu",
            ),
        )
        for n in (1, 2, 3, 4)
    ]
    return [
        *bleu,
        (
            "METEOR",
            MetricInfo(
                "METEOR",
                "METEOR 1.5 (needs Java)",
                per_sample="scores.METEOR (the corpus score is the jar's own aggregate)",
                aggregation="corpus",
                recompute="",
                bootstrap=False,
            ),
        ),
        (
            "ROUGE_L",
            MetricInfo("ROUGE_L", "ROUGE-L F-measure, beta = 1.2", per_sample="scores.ROUGE_L"),
        ),
        (
            "CIDEr",
            MetricInfo(
                "CIDEr",
                "CIDEr-D x 10, document frequencies from this set's references",
                scale="cider",
                per_sample="scores.CIDEr (document frequencies of the whole evaluated set)",
            ),
        ),
        (
            "SPICE",
            MetricInfo(
                "SPICE", "SPICE (needs Java and Stanford CoreNLP models)", per_sample="scores.SPICE"
            ),
        ),
    ]


def _qa() -> list[tuple[str, MetricInfo]]:
    return [
        (
            "vqa_accuracy",
            MetricInfo(
                "vqa_accuracy",
                "official VQA accuracy: min(1, matches/3) over leave-one-out subsets",
                per_sample="scores.vqa_accuracy (0, 0.3, 0.6, 0.9 or 1)",
            ),
        ),
        (
            "exact_match",
            MetricInfo(
                "exact_match",
                "normalised prediction equals a normalised ground-truth answer",
                per_sample="scores.exact_match (0 or 1)",
                binary=True,
            ),
        ),
        (
            "accuracy",
            MetricInfo(
                "accuracy",
                "multiple choice: the chosen option is the correct one",
                per_sample="scores.accuracy (0 or 1)",
                binary=True,
            ),
        ),
    ]


def _multiple_choice() -> list[tuple[str, MetricInfo]]:
    """`multiple_choice` metrics besides `accuracy` (declared by `_qa`)."""

    def count(name: str, description: str, flag: str) -> tuple[str, MetricInfo]:
        return (
            name,
            MetricInfo(
                name,
                description,
                higher_is_better=False,
                scale="score",
                per_sample=f"{flag}: true on the samples counted",
                aggregation="corpus",
                recompute="",
                bootstrap=False,
            ),
        )

    return [
        (
            "circular_accuracy",
            MetricInfo(
                "circular_accuracy",
                "MMBench CircularEval: share of questions with every circular shift right",
                per_sample="scores.circular_accuracy (the question's outcome, on each shift)",
                aggregation="corpus",
                recompute="group_mean",
                binary=True,
                bootstrap=False,
                group="group",
            ),
        ),
        (
            "vanilla_accuracy",
            MetricInfo(
                "vanilla_accuracy",
                "MMBench: accuracy on the unshifted questions only",
                per_sample="scores.accuracy of the samples with id < 1,000,000",
                aggregation="corpus",
                recompute="vanilla",
                bootstrap=False,
            ),
        ),
        count("unparsed", "answers no rule could read (wrong; a judge would decide)", "unparsed"),
        count("random_fallbacks", "MMMU answers scored by its seeded guess", "random_fallback"),
    ]


def _corpus(name: str, description: str, **kw: object) -> tuple[str, MetricInfo]:
    """A corpus-level metric without a `run --bootstrap` interval; not recomputable from
    per-sample values (so never tested by `compare`) unless `kw` names a `recompute`."""
    fields: dict[str, object] = {"per_sample": "none (a corpus-level value)"}
    fields.update({"aggregation": "corpus", "recompute": "", "bootstrap": False})
    fields.update(kw)
    return (name, MetricInfo(name, description, **fields))  # type: ignore[arg-type]


def _open_qa() -> list[tuple[str, MetricInfo]]:
    """`openqa` scorer metrics besides those of `_qa` (POPE, MME, ANLS, ChartQA, OCRBench)."""
    # POPE's counts are sums over samples of the parsed answer against the label (per category
    # for mean_f1): recomputable on a resample, but `run --bootstrap` does not compute them.
    pope = {
        "per_sample": "prediction (parsed by POPE's rules), answers[0] (the label), category",
        "recompute": "pope",
    }
    # MME: per subtask 100 x (acc + acc+) from each question's outcome and its image's.
    mme = {"per_sample": "scores.accuracy, category (subtask), group (image)", "recompute": "mme"}
    chartqa = {"per_sample": "scores.relaxed_accuracy, category (part)", "recompute": "chartqa"}
    return [
        _corpus("precision", "POPE: TP / (TP + FP), pooled over all rows", **pope),
        _corpus("recall", "POPE: TP / (TP + FN), pooled over all rows", **pope),
        _corpus("f1", "POPE: F1 of the pooled precision and recall", **pope),
        _corpus("mean_f1", "POPE: mean of the per-category F1", **pope),
        _corpus(
            "yes_ratio",
            "POPE: share of the model's answers read as 'yes' (diagnostic: no better side)",
            higher_is_better=None,
            **pope,
        ),
        _corpus(
            "perception",
            "MME: sum of perception subtask scores, 0..2000",
            **mme,
            scale="percentage",
        ),
        _corpus(
            "cognition", "MME: sum of cognition subtask scores, 0..800", **mme, scale="percentage"
        ),
        _corpus("total", "MME: perception + cognition, 0..2800", **mme, scale="percentage"),
        _corpus(
            "relaxed_accuracy",
            "ChartQA: mean of the human and augmented relaxed accuracies",
            **chartqa,
        ),
        _corpus("relaxed_human", "ChartQA human-written questions: relaxed accuracy", **chartqa),
        _corpus(
            "relaxed_augmented", "ChartQA machine-generated questions: relaxed accuracy", **chartqa
        ),
        _corpus(
            "score",
            "OCRBench: questions whose answer is in the prediction",
            scale="score",
            per_sample="scores.accuracy (1 when counted)",
            recompute="count",
        ),
        (
            "anls",
            MetricInfo(
                "anls",
                "ANLS (RRC evaluation: normalised Levenshtein similarity, threshold 0.5)",
                per_sample="scores.anls",
            ),
        ),
    ]


_DECLARED: list[tuple[str, MetricInfo]] = [
    *_retrieval(),
    *_classification(),
    *_captioning(),
    *_qa(),
    *_multiple_choice(),
    *_open_qa(),
]
_PATTERNS = [(re.compile(rf"^{pattern}$"), info) for pattern, info in _DECLARED]


def metric_info(name: str) -> MetricInfo:
    """The declaration of metric `name` (a family member gets its own name), or the defaults.

    Undeclared names get `known=False`: higher is better, a fraction, the mean of `scores[name]`.
    """
    for pattern, info in _PATTERNS:
        match = pattern.match(name)
        if match:
            # A family's description names its member's K ("top {k}" -> "top 5").
            return replace(
                info, name=name, description=info.description.format(**match.groupdict())
            )
    return MetricInfo(
        name,
        "not declared in mmbench.metrics.registry",
        per_sample=f"scores.{name}",
        known=False,
    )


def describe(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """{name: one-line description} for a task type's `metrics` declaration."""
    return {name: metric_info(name).description for name in names}


def family_k(name: str) -> int | None:
    """K of an `..._R@K` or `topK` metric, else None."""
    match = re.search(r"(?:_R@|^top)(\d+)$", name)
    return int(match.group(1)) if match else None


def lower_is_better(name: str) -> bool:
    """True for metrics where a smaller value is better (ranks)."""
    return metric_info(name).higher_is_better is False


def to_points(name: str, value: float) -> float:
    """`value` in `compare`'s tolerance units (see `MetricInfo.to_points`)."""
    return metric_info(name).to_points(value)
