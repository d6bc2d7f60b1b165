"""``assay mine``: fit your own selection rule (InstructMining), then search the subset size.

1. Draw ``subsets.count`` random subsets of a scored pool (the shards of a run with a
   ``score`` step): a size between ``min_size`` and ``max_size`` and a source mixture
   (Dirichlet weights), all from ``subsets.seed``.
2. Fine-tune the configured model on each with the bundled trainer (``train:`` is an
   ``assay train`` config without ``data.train`` and ``output``; LoRA by default) and take
   its loss on the evaluation set (``eval:``, shards of high-quality reference answers).
3. Fit ``log(eval loss)`` on the subsets' indicator means by least squares: coefficients,
   standard errors, p-values, R² in sample and leave-one-subset-out, variance inflation
   factors; the rule goes to ``rule.yaml``, which ``assemble.select`` reads.
4. Rank the pool by the rule and search the subset size with FLAML's BlendSearch (CFO
   when BlendSearch cannot be built; the log says so), each trial a fine-tune on the
   top-ranked rows and an evaluation; the loss-vs-size curve goes to ``curve.json``.
5. Every finished subset and trial is recorded (``subsets.jsonl``, ``trials.jsonl``), so a
   run stopped at any point continues where it was with ``--resume``; ``report.html`` shows
   the fit, its residuals and the curve (double descent shows there when it exists).

Indicator means skip a subset's null values (rows the scorer could not score).
"""
from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from assay.errors import ConfigError

__all__ = ["MineConfig", "OlsFit", "fine_tune_eval_loss", "fit_rule", "load_mine_config", "run_mine"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubsetsSection(_Section):
    count: int = Field(16, ge=3)
    min_size: int = Field(50, gt=0)
    max_size: int = Field(1000, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _sizes(self) -> SubsetsSection:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is above max_size ({self.max_size})")
        return self


class SearchSection(_Section):
    trials: int = Field(8, ge=0)
    """Fine-tunes of the size search (0: fit the rule only)."""
    min_size: int = Field(50, gt=0)
    max_size: Optional[int] = Field(None, gt=0)
    """The largest subset tried; the pool's size by default."""
    method: str = "blendsearch"
    seed: int = 0


class MineConfig(_Section):
    pool: str
    """The scored pool: a manifest, a folder with one, or Parquet globs (:func:`resolve_shards`)."""
    eval: str
    """The evaluation set's shards (high-quality reference answers)."""
    indicators: list[str] = Field(min_length=1)
    """Indicator columns of the pool to fit the rule on."""
    subsets: SubsetsSection = SubsetsSection()
    train: dict[str, Any]
    """An ``assay train`` config without ``data.train``, ``data.eval`` and ``output``."""
    search: SearchSection = SearchSection()
    output: str

    @model_validator(mode="after")
    def _train_section(self) -> MineConfig:
        if "output" in self.train or "train" in self.train.get("data", {}) or "eval" in self.train.get("data", {}):
            raise ValueError("train: leave out output, data.train and data.eval: assay mine sets them per subset")
        from assay.train.config import load_config_dict

        # the same checks assay train makes, with this run's data and output filled in
        load_config_dict({**self.train, "data": {**self.train.get("data", {}), "train": "<subset>"},
                          "output": {"dir": "<subset run>"}})
        if self.subsets.count <= len(self.indicators) + 1:
            raise ValueError(f"subsets.count ({self.subsets.count}) must exceed the number of indicators + 1 "
                             f"({len(self.indicators) + 1}) to fit and test a rule")
        return self


def load_mine_config(path: str | Path) -> MineConfig:
    import yaml
    from pydantic import ValidationError

    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    try:
        return MineConfig(**(raw or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


class OlsFit(BaseModel):
    """Least squares of log(eval loss) on indicator means."""

    names: list[str]
    """``intercept`` then the indicators."""
    coefficients: list[float]
    standard_errors: list[float]
    p_values: list[float]
    r2: float
    r2_adjusted: float
    r2_leave_one_out: float
    vif: dict[str, float]
    residuals: list[float]
    fitted: list[float]


def fit_rule(means: np.ndarray, losses: np.ndarray, names: list[str]) -> OlsFit:
    """OLS of ``log(losses)`` on ``means`` (one row per subset, one column per indicator).

    >>> x = np.array([[1.0], [2.0], [3.0], [4.0]]); y = np.exp(0.5 - 0.1 * x[:, 0])
    >>> fit = fit_rule(x, y, ["len"])
    >>> [round(c, 6) for c in fit.coefficients], round(fit.r2, 6)
    ([0.5, -0.1], 1.0)
    """
    from scipy import stats

    y = np.log(np.asarray(losses, dtype=float))
    design = np.column_stack([np.ones(len(y)), np.asarray(means, dtype=float)])
    n, p = design.shape
    if n <= p:
        raise ValueError(f"{n} subsets cannot fit {p} coefficients")
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ beta
    residuals = y - fitted
    dof = n - p
    sse = float(residuals @ residuals)
    sst = float(((y - y.mean()) ** 2).sum())
    sigma2 = sse / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, beta / se, np.inf)
    p_values = 2 * stats.t.sf(np.abs(t), dof)
    press = 0.0
    for i in range(n):  # leave one subset out: predict it from a fit on the others
        keep = np.arange(n) != i
        b, *_ = np.linalg.lstsq(design[keep], y[keep], rcond=None)
        press += float((y[i] - design[i] @ b) ** 2)
    vif = {}
    for j, name in enumerate(names, start=1):
        others = np.delete(design, j, axis=1)
        b, *_ = np.linalg.lstsq(others, design[:, j], rcond=None)
        res = design[:, j] - others @ b
        total = float(((design[:, j] - design[:, j].mean()) ** 2).sum())
        r2_j = 1 - float(res @ res) / total if total > 0 else 1.0
        vif[name] = 1 / (1 - r2_j) if r2_j < 1 else math.inf
    r2 = 1 - sse / sst if sst > 0 else 1.0
    return OlsFit(names=["intercept", *names], coefficients=beta.tolist(), standard_errors=se.tolist(),
                  p_values=p_values.tolist(), r2=r2, r2_adjusted=1 - (1 - r2) * (n - 1) / dof,
                  r2_leave_one_out=1 - press / sst if sst > 0 else 1.0, vif=vif,
                  residuals=residuals.tolist(), fitted=fitted.tolist())


def fine_tune_eval_loss(rows: pa.Table, train: dict[str, Any], eval_shards: str | list[str], folder: Path) -> float:
    """Fine-tune with the bundled trainer (``train``: an ``assay train`` config without
    ``data.train``, ``data.eval`` and ``output``) on ``rows`` in ``folder``; the eval loss."""
    from assay.train.trainer import Trainer

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pq.write_table(rows, folder / "train.parquet")
    raw = json.loads(json.dumps(train))
    raw.setdefault("data", {})
    raw["data"].update(train=str(folder / "train.parquet"), eval=eval_shards)
    raw["output"] = {"dir": str(folder / "run"), "tensorboard": False, "progress": False}
    records = Trainer(raw).train()
    losses = [r["eval_loss"] for r in records if "eval_loss" in r]
    if not losses:
        raise ConfigError("train: the fine-tune logged no eval loss: no example of the eval set keeps a "
                          "response within train.data.max_length tokens")
    shutil.rmtree(folder / "run", ignore_errors=True)  # checkpoints are not needed, the loss is
    return float(losses[-1])


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


class _Miner:
    def __init__(self, cfg: MineConfig, resume: bool, log: Callable[[str], None]) -> None:
        from assay.train.data import resolve_shards

        self.cfg = cfg
        self.log = log
        self.out = Path(cfg.output)
        if self.out.exists() and any(self.out.iterdir()) and not resume:
            raise ConfigError(f"output: {self.out} is not empty; pass --resume to continue the run there")
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
        self.pool = pa.concat_tables([pq.read_table(f) for f in resolve_shards(cfg.pool, "pool")], promote_options="default")
        missing = [c for c in cfg.indicators if c not in self.pool.schema.names]
        if missing:
            raise ConfigError(f"indicators: the pool has no column(s) {missing} (score it with the score step first)")
        if "row_key" not in self.pool.schema.names:
            self.pool = self.pool.append_column("row_key", pa.array(range(self.pool.num_rows), pa.int64()))
        self.eval_shards = [str(f) for f in resolve_shards(cfg.eval, "eval")]

    def fine_tune(self, name: str, rows: pa.Table) -> float:
        return fine_tune_eval_loss(rows, self.cfg.train, self.eval_shards, self.out / name)

    def draw_subsets(self) -> list[dict[str, Any]]:
        c = self.cfg.subsets
        rng = random.Random(c.seed)
        sources = sorted(set(self.pool.column("source").to_pylist()))
        by_source = {s: [] for s in sources}
        for i, s in enumerate(self.pool.column("source").to_pylist()):
            by_source[s].append(i)
        top = min(c.max_size, self.pool.num_rows)
        plans = []
        for j in range(c.count):
            size = rng.randint(min(c.min_size, top), top)
            weights = [rng.gammavariate(1.0, 1.0) for _ in sources]
            total = sum(weights)
            order: list[int] = []
            shuffled = {s: rng.sample(by_source[s], len(by_source[s])) for s in sources}
            # deal rows by the mixture until the size is reached (a source that runs out gives way)
            quota = {s: w / total for s, w in zip(sources, weights)}
            taken = {s: 0 for s in sources}
            while len(order) < size:
                open_sources = [s for s in sources if taken[s] < len(shuffled[s])]
                s = max(open_sources, key=lambda s: (quota[s] * (len(order) + 1) - taken[s], -sources.index(s)))
                order.append(shuffled[s][taken[s]])
                taken[s] += 1
            plans.append({"subset": j, "size": size, "mixture": {s: round(q, 4) for s, q in quota.items()},
                          "rows": sorted(order)})
        return plans

    def run(self, progress: Any) -> dict[str, Any]:
        from assay.selection.rules import Rule

        done = {r["subset"]: r for r in _records(self.out / "subsets.jsonl")}
        plans = self.draw_subsets()
        task = progress.add_task("subsets", total=len(plans), completed=len(done)) if progress else None
        for plan in plans:
            if plan["subset"] in done:
                continue
            rows = self.pool.take(plan["rows"])
            means = {}
            for name in self.cfg.indicators:
                values = [v for v in rows.column(name).to_pylist() if v is not None and not math.isnan(v)]
                means[name] = float(np.mean(values)) if values else math.nan
            loss = self.fine_tune(f"subsets/s{plan['subset']:03d}", rows)
            record = {k: plan[k] for k in ("subset", "size", "mixture")} | {"means": means, "eval_loss": loss}
            _append(self.out / "subsets.jsonl", record)
            done[plan["subset"]] = record
            self.log(f"subset {plan['subset']}: {plan['size']} rows, eval loss {loss:.4f}")
            if progress:
                progress.advance(task)
        usable = [done[j] for j in sorted(done) if all(math.isfinite(v) for v in done[j]["means"].values())]
        fit = fit_rule(np.array([[r["means"][n] for n in self.cfg.indicators] for r in usable]),
                       np.array([r["eval_loss"] for r in usable]), self.cfg.indicators)
        rule = Rule(intercept=fit.coefficients[0], terms=dict(zip(self.cfg.indicators, fit.coefficients[1:])),
                    source=f"assay mine on {len(usable)} subsets of {self.cfg.pool}")
        import yaml

        (self.out / "rule.yaml").write_text(yaml.safe_dump(rule.model_dump(exclude_none=True), sort_keys=False),
                                            encoding="utf-8")
        (self.out / "fit.json").write_text(fit.model_dump_json(indent=2), encoding="utf-8")
        self.log(f"rule: R² {fit.r2:.3f} in sample, {fit.r2_leave_one_out:.3f} leaving one subset out")
        curve = self.search(rule, progress)
        (self.out / "curve.json").write_text(json.dumps(curve, indent=2), encoding="utf-8")
        from assay.selection.mine_report import write_mine_report

        write_mine_report(self.out, fit, usable, curve, rule)
        return {"fit": fit, "rule": rule, "curve": curve, "output": str(self.out)}

    def search(self, rule: Any, progress: Any) -> list[dict[str, Any]]:
        from assay.selection.rules import SelectionConfig, selected

        s = self.cfg.search
        if s.trials == 0:
            return []
        import polars as pl

        df = pl.from_arrow(self.pool.select(["row_key", "source", *rule.columns()]))
        ranked_count = int(selected(df, SelectionConfig(rule=rule, top_fraction=1.0))[0].sum())
        top = min(s.max_size or ranked_count, ranked_count)

        def best(size: int) -> pa.Table:
            # the same rows assemble: {select: {rule: rule.yaml, top_k: size}} keeps
            keep, _ = selected(df, SelectionConfig(rule=rule, top_k=size))
            return self.pool.filter(pa.array(keep.to_numpy()))

        trials_path = self.out / "trials.jsonl"
        seen = {r["size"]: r["eval_loss"] for r in _records(trials_path)}
        task = progress.add_task("size search", total=s.trials, completed=min(len(seen), s.trials)) if progress else None

        def evaluate(config: dict[str, Any]) -> dict[str, float]:
            size = int(config["size"])
            if size not in seen:
                seen[size] = self.fine_tune(f"trials/n{size:07d}", best(size))
                _append(trials_path, {"size": size, "eval_loss": seen[size]})
                self.log(f"trial: top {size} rows, eval loss {seen[size]:.4f}")
                if progress:
                    progress.advance(task)
            return {"eval_loss": seen[size]}

        remaining = s.trials - len(seen)
        if remaining > 0:
            from flaml import tune

            low = min(s.min_size, top)
            space = {"size": tune.lograndint(low, top + 1) if top > low else tune.choice([top])}
            points = [{"size": n} for n in seen]
            rewards = [seen[n] for n in seen]
            try:
                from flaml import BlendSearch

                algo = BlendSearch(metric="eval_loss", mode="min", space=space, seed=s.seed,
                                   points_to_evaluate=points or None, evaluated_rewards=rewards or None)
                self.log("size search: BlendSearch")
            except Exception as exc:  # BlendSearch needs optuna; CFO needs nothing else
                from flaml import CFO

                algo = CFO(metric="eval_loss", mode="min", space=space, seed=s.seed,
                           points_to_evaluate=points or None, evaluated_rewards=rewards or None)
                self.log(f"size search: CFO (BlendSearch unavailable: {exc})")
            tune.run(evaluate, config=space, metric="eval_loss", mode="min", search_alg=algo,
                     num_samples=len(seen) + remaining, verbose=0, use_ray=False)
        return [{"size": n, "eval_loss": seen[n]} for n in sorted(seen)]


def run_mine(config: str | Path | MineConfig, *, resume: bool = False, progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``assay mine`` (see the module doc); returns the fit, the rule and the curve."""
    cfg = config if isinstance(config, MineConfig) else load_mine_config(config)
    miner = _Miner(cfg, resume, log)
    if not progress:
        return miner.run(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        return miner.run(bar)
