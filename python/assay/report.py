"""The run report: one self-contained HTML page about an output folder of ``assay run``.

``report.html`` needs no network and no script: every plot is inline SVG and the
style sheet is inline. It shows the manifest's headline numbers and the
accounting check, a funnel of rows by step and removal reason, text-length
histograms before and after the steps, the language mix (when a ``lang`` column
exists), the source mix, duplicate-cluster sizes (for each step that adds ``cluster_size``),
a sample of removed rows per reason and of quarantined records, and the numeric
column summary of ``stats.json``.

Shards and rejects are read with polars lazily, selecting only the columns a plot
needs, so the report scales with the output folder. Every string that comes from
data or from the manifest is HTML-escaped.
"""
from __future__ import annotations

import html
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Sequence

import orjson

from assay.manifest import Manifest
from assay.storage import is_remote, location, open_file, parquet_file, write_atomic

__all__ = ["REPORT_FILE", "write_report"]

REPORT_FILE = "report.html"

KEPT_COLOR = "#2563eb"
REMOVED_COLOR = "#f97316"
QUARANTINE_COLOR = "#6b7280"
BEFORE_COLOR = "#94a3b8"
AFTER_COLOR = "#2563eb"
REASON_COLORS = ["#f97316", "#dc2626", "#9333ea", "#ca8a04", "#0d9488", "#db2777",
                 "#65a30d", "#4f46e5", "#e11d48", "#0891b2", "#c026d3", "#16a34a"]
TOP_LANGUAGES = 20
TOP_SOURCES = 40


def write_report(output_dir: str | Path, *, sample_rows: int = 3, sample_chars: int = 300) -> Path:
    """Write ``<output_dir>/report.html`` for an output folder of ``assay run`` and return its path.

    ``sample_rows`` removed rows are shown per reason (and as many quarantined
    records), their text cut to ``sample_chars`` characters.

    >>> from assay.pipeline import run_pipeline
    >>> _ = run_pipeline("pipelines/quickstart.yaml", output_dir="out/doctest-report")
    >>> path = write_report("out/doctest-report")
    >>> path.name, "<svg" in path.read_text(encoding="utf-8")
    ('report.html', True)
    """
    out = location(output_dir)
    manifest = Manifest.load(out)
    stats_path = out / "stats.json"
    stats = orjson.loads(stats_path.read_bytes()) if stats_path.is_file() else {}
    files = _OutputFiles(out, manifest)
    colors = _reason_colors(manifest)
    sections = [
        _headline_section(manifest, files),
        _accounting_section(manifest),
        _funnel_section(manifest, colors),
        _lengths_section(stats, files),
        _languages_section(files),
        _sources_section(manifest, stats),
        _duplicates_section(manifest, files),
        _contamination_section(manifest, files),
        _samples_section(manifest, files, colors, sample_rows, sample_chars),
        _columns_section(stats),
    ]
    page = _page(f"assay report: {manifest.name}", sections)
    target = out / REPORT_FILE
    write_atomic(target, page.encode("utf-8"))
    return target


# ---------------------------------------------------------------------------------------------
# Reading the output folder


class _OutputFiles:
    """The shards and rejects a manifest lists, with lazy polars scans of chosen columns."""

    def __init__(self, out: Path, manifest: Manifest) -> None:
        self.out = out
        self.shards = [p for p in (self._inside(s.path) for s in manifest.shards) if p]
        self.rejects = [p for p in (self._inside(r.path) for r in manifest.rejects) if p]
        self._schemas: dict[Path, Any] = {}

    def _inside(self, relative: str | None) -> Path | None:
        # A manifest is data too: never read outside the output folder because it says so.
        if not relative:
            return None
        if is_remote(self.out):
            inside = PurePosixPath(relative)
            if inside.is_absolute() or ".." in inside.parts:
                return None
            path = self.out / inside.as_posix()
            return path if path.is_file() else None
        path = (self.out / relative).resolve()
        root = self.out.resolve()
        if root not in path.parents or not path.is_file():
            return None
        return path

    def schema(self, path: Path):
        if path not in self._schemas:
            self._schemas[path] = parquet_file(path).schema_arrow
        return self._schemas[path]

    def having(self, paths: Iterable[Path], *columns: str) -> list[Path]:
        return [p for p in paths if all(c in self.schema(p).names for c in columns)]

    def has_column(self, column: str) -> bool:
        return bool(self.having(self.shards + self.rejects, column))

    def scan(self, paths: Iterable[Path], columns: Sequence[str]):
        """A lazy frame of ``columns`` over the files that have them all (None if none do).

        Files with the same schema (such as the shards, or one step's rejects) are scanned together."""
        import polars as pl

        groups: dict[tuple, list[str]] = {}
        for path in self.having(paths, *columns):
            key = tuple((f.name, str(f.type)) for f in self.schema(path))
            groups.setdefault(key, []).append(open_file(path) if is_remote(path) else str(path))
        if not groups:
            return None
        frames = [pl.scan_parquet(group).select(list(columns)) for group in groups.values()]
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


def _collect(frame):
    import polars as pl

    major, minor = (int(x) for x in pl.__version__.split(".")[:2])
    if (major, minor) >= (1, 23):
        return frame.collect(engine="streaming")
    return frame.collect(streaming=True)  # pragma: no cover - older polars


def _reason_colors(manifest: Manifest) -> dict[str, str]:
    reasons = list(manifest.removed)
    for step in manifest.steps + ([manifest.assemble] if manifest.assemble else []):
        reasons += [r for r in step.removed if r not in reasons]
    return {r: REASON_COLORS[i % len(REASON_COLORS)] for i, r in enumerate(reasons)}


# ---------------------------------------------------------------------------------------------
# HTML and SVG building blocks


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "\u2026"


def _compact(value: float) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{int(value):d}"


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _legend(items: Iterable[tuple[str, str]]) -> str:
    spans = "".join(f'<span><i style="background:{color}"></i>{_e(label)}</span>' for label, color in items)
    return f'<div class="legend">{spans}</div>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """An HTML table; cells are given already escaped."""
    head = "".join(f"<th{' class=num' if i >= numeric_from else ''}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i >= numeric_from else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class _Segment:
    value: float
    color: str
    tip: str


@dataclass
class _Bar:
    label: str
    segments: list[_Segment]
    note: str = ""
    tip: str = ""


def _hbars(plot: str, bars: Sequence[_Bar], *, scale_max: float | None = None,
           label_width: int = 180, bar_width: int = 480, note_width: int = 380, row_height: int = 26) -> str:
    """Horizontal stacked bars, one per row, with a label on the left and a note on the right."""
    total = scale_max if scale_max else max((sum(s.value for s in b.segments) for b in bars), default=0)
    total = total or 1
    width = label_width + bar_width + note_width
    height = row_height * len(bars) + 8
    parts = [f'<svg class="chart" data-plot="{_e(plot)}" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for i, bar in enumerate(bars):
        y = 4 + i * row_height
        mid = y + row_height / 2
        tip = f"<title>{_e(bar.tip or bar.label)}</title>"
        parts.append(f'<text class="label" x="{label_width - 8}" y="{mid:.1f}" text-anchor="end" '
                     f'dominant-baseline="middle">{tip}{_e(_short(bar.label, 26))}</text>')
        x = float(label_width)
        parts.append(f'<rect class="track" x="{label_width}" y="{y + 3}" width="{bar_width}" '
                     f'height="{row_height - 6}"/>')
        for segment in bar.segments:
            if segment.value <= 0:
                continue
            w = max(segment.value / total * bar_width, 1.0)
            parts.append(f'<rect class="mark" x="{x:.2f}" y="{y + 3}" width="{w:.2f}" height="{row_height - 6}" '
                         f'fill="{segment.color}"><title>{_e(segment.tip)}</title></rect>')
            x += w
        parts.append(f'<text class="value" x="{label_width + bar_width + 8}" y="{mid:.1f}" '
                     f'dominant-baseline="middle">{_e(bar.note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_ticks(top: float, count: int = 4) -> list[float]:
    if top <= 0:
        return [0.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * k for k in range(int(math.ceil(top / step)) + 1)]


def _columns(plot: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
             tips: Sequence[str], *, x_title: str, y_title: str, height: int = 240) -> str:
    """Vertical grouped bars (a histogram): one group per category, one bar per series."""
    top = max((v for _, values, _ in series for v in values), default=0)
    ticks = _nice_ticks(top)
    y_max = ticks[-1] or 1
    left, right, top_pad, bottom = 64, 16, 12, 48
    group = max(14 * len(series) + 10, 34)
    plot_width = max(group * len(categories), 480)
    group = plot_width / max(len(categories), 1)
    width = left + plot_width + right
    inner = height - top_pad - bottom
    parts = [f'<svg class="chart" data-plot="{_e(plot)}" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for tick in ticks:
        y = top_pad + inner - tick / y_max * inner
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_width}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y:.1f}" text-anchor="end" '
                     f'dominant-baseline="middle">{_e(_n(tick))}</text>')
    bar_width = min((group - 8) / max(len(series), 1), 28.0)
    for i, category in enumerate(categories):
        gx = left + i * group + (group - bar_width * len(series)) / 2
        for j, (name, values, color) in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            h = max(value / y_max * inner, 1.0)
            x = gx + j * bar_width
            parts.append(f'<rect class="mark" x="{x:.2f}" y="{top_pad + inner - h:.2f}" width="{bar_width - 1:.2f}" '
                         f'height="{h:.2f}" fill="{color}"><title>{_e(name)}: {_e(tips[i])}: '
                         f'{_e(_n(value))}</title></rect>')
        parts.append(f'<text class="tick" x="{left + (i + 0.5) * group:.1f}" y="{top_pad + inner + 14}" '
                     f'text-anchor="middle">{_e(category)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_width}" y1="{top_pad + inner}" '
                 f'y2="{top_pad + inner}"/>')
    parts.append(f'<text class="axis-title" x="{left + plot_width / 2:.1f}" y="{height - 8}" '
                 f'text-anchor="middle">{_e(x_title)}</text>')
    parts.append(f'<text class="axis-title" x="14" y="{top_pad + inner / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top_pad + inner / 2:.1f})">{_e(y_title)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Sections


def _headline_section(manifest: Manifest, files: _OutputFiles) -> str:
    rows_in, rows_out, quarantined = manifest.rows_in, manifest.rows_out, manifest.quarantined
    removed = manifest.removed_total
    shard_bytes = sum(s.bytes for s in manifest.shards)
    cards = [
        ("rows in", _n(rows_in), ""),
        ("rows out", _n(rows_out), _pct(rows_out, rows_in)),
        ("removed", _n(removed), _pct(removed, rows_in)),
        ("quarantined", _n(quarantined), _pct(quarantined, rows_in)),
        ("shards", _n(len(manifest.shards)), f"{shard_bytes / 1e6:,.1f} MB"),
    ]
    if manifest.upsampled:
        cards.insert(3, ("upsampled", _n(manifest.upsampled), "extra copies from mix weights"))
    card_html = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div>'
                        f'<div class="s">{_e(s)}</div></div>' for k, v, s in cards)
    versions = ", ".join(f"{k} {v}" for k, v in manifest.versions.items())
    facts = [
        ("pipeline", manifest.name),
        ("created", manifest.created or ""),
        ("run time", f"{manifest.seconds:,.2f} s" if manifest.seconds is not None else ""),
        ("threads", manifest.threads),
        ("config hash", manifest.config_hash),
        ("versions", versions),
        ("folder", str(files.out.resolve())),
    ]
    fact_html = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts if v != "")
    return _section("headline", "Run", f'<div class="cards">{card_html}</div><table class="facts">{fact_html}</table>')


def _accounting_section(manifest: Manifest) -> str:
    checks = manifest.checks()
    ok = all(check.ok for check in checks)
    badge = ('<p class="badge ok">the accounting balances</p>' if ok
             else '<p class="badge bad">the accounting does NOT balance</p>')
    items = "".join(f'<li class="{"ok" if c.ok else "bad"}">{"&#10003;" if c.ok else "&#10007;"} {_e(c.rule)}</li>'
                    for c in checks)
    return _section("accounting", "Accounting check", f'{badge}<ul class="checks">{items}</ul>')


def _funnel_section(manifest: Manifest, colors: dict[str, str]) -> str:
    rows_in, quarantined = manifest.rows_in, manifest.quarantined
    bars = [_Bar("read", [_Segment(rows_in - quarantined, KEPT_COLOR, f"parsed: {_n(rows_in - quarantined)}"),
                          _Segment(quarantined, QUARANTINE_COLOR, f"quarantined: {_n(quarantined)}")],
                 note=f"{_n(rows_in)} in, {_n(quarantined)} quarantined", tip="input records")]
    table_rows = [["read", _n(rows_in), _n(rows_in - quarantined),
                   f"quarantined {_n(quarantined)}" if quarantined else "", ""]]
    stages = [(f"{i + 1}. {s.step}", s.step, s.rows_in, s.rows_out, s.removed, s.seconds)
              for i, s in enumerate(manifest.steps)]
    if manifest.assemble is not None:
        a = manifest.assemble
        upsampled = f" (+{_n(a.upsampled)} upsampled)" if a.upsampled else ""
        stages.append((f"{len(stages) + 1}. assemble", f"assemble{upsampled}", a.rows_in, a.rows_out, a.removed, None))
    for label, tip, stage_in, stage_out, removed, seconds in stages:
        segments = [_Segment(stage_out, KEPT_COLOR, f"kept: {_n(stage_out)}")]
        segments += [_Segment(n, colors.get(r, REMOVED_COLOR), f"{r}: {_n(n)}") for r, n in removed.items()]
        removed_total = sum(removed.values())
        bars.append(_Bar(label, segments,
                         note=f"{_n(stage_in)} \u2192 {_n(stage_out)}"
                              + (f" (\u2212{_n(removed_total)}, {_pct(removed_total, stage_in)})"
                                 if removed_total else ""),
                         tip=tip))
        table_rows.append([_e(label), _n(stage_in), _n(stage_out),
                           "<br>".join(f'<i class="dot" style="background:{colors.get(r, REMOVED_COLOR)}"></i>'
                                       f"{_e(r)} {_n(n)}" for r, n in removed.items()),
                           f"{seconds:,.2f}" if seconds is not None else ""])
    rows_out = manifest.rows_out
    bars.append(_Bar("output", [_Segment(rows_out, KEPT_COLOR, f"rows out: {_n(rows_out)}")],
                     note=f"{_n(rows_out)} out ({_pct(rows_out, rows_in)} of rows in)", tip="rows written to data/"))
    legend = _legend([("kept", KEPT_COLOR), ("quarantined", QUARANTINE_COLOR)]
                     + [(f"{r} ({_n(n)})", colors.get(r, REMOVED_COLOR)) for r, n in manifest.removed.items()])
    body = (_hbars("funnel", bars, scale_max=max(rows_in + manifest.upsampled, 1)) + legend
            + _table(["stage", "rows in", "rows out", "removed by reason", "seconds"],
                     [[c if i in (0, 3) else _e(c) for i, c in enumerate(row)] for row in table_rows]))
    if not stages:
        body = _note("this pipeline has no steps") + body
    return _section("funnel", "Funnel: rows by step and reason", body)


def _length_histogram_from_shards(files: _OutputFiles) -> dict[str, Any] | None:
    import polars as pl

    from assay.pipeline.runner import LENGTH_EDGES

    frame = files.scan(files.shards, ["text"])
    if frame is None:
        return None
    lengths = frame.select(pl.col("text").str.len_chars().fill_null(0).alias("n"))
    counts = [0] * len(LENGTH_EDGES)
    # bin k >= 1 holds [2**(k-1), 2**k): its index is the bit length of n.
    binned = _collect(lengths.group_by(pl.when(pl.col("n") == 0).then(0).otherwise(
        pl.col("n").log(2).floor().cast(pl.Int64) + 1).alias("bin")).agg(pl.len().alias("rows")))
    for b, n in zip(binned["bin"].to_list(), binned["rows"].to_list()):
        counts[min(int(b), len(counts) - 1)] += int(n)
    return {"edges": list(LENGTH_EDGES), "counts": counts}


def _bin_label(edges: Sequence[int], i: int) -> tuple[str, str]:
    low = edges[i]
    high = edges[i + 1] if i + 1 < len(edges) else None
    if high is not None and high - low <= 1:
        return _compact(low), f"{low:,} chars"
    tip = f"[{low:,}, {high:,}) chars" if high is not None else f">= {low:,} chars"
    return _compact(low), tip


def _lengths_section(stats: dict[str, Any], files: _OutputFiles) -> str:
    histograms = dict(stats.get("text_chars_histogram") or {})
    note = ""
    if "after" not in histograms:
        after = _length_histogram_from_shards(files)
        if after is not None:
            histograms["after"] = after
            note = "stats.json has no text-length histogram: 'after' was computed from the shards."
    series_spec = [("before", "before the steps", BEFORE_COLOR), ("after", "after the steps", AFTER_COLOR)]
    present = [(key, label, color) for key, label, color in series_spec if key in histograms]
    if not present:
        return _section("lengths", "Text length", _note("no text-length histogram (stats.json lacks it and there are "
                                                        "no shards)"))
    edges = histograms[present[0][0]]["edges"]
    length = max(len(histograms[k]["counts"]) for k, _, _ in present)
    counts = {k: list(histograms[k]["counts"]) + [0] * (length - len(histograms[k]["counts"])) for k, _, _ in present}
    used = [i for i in range(length) if any(counts[k][i] for k, _, _ in present)]
    if not used:
        return _section("lengths", "Text length", _note("no rows"))
    window = range(used[0], used[-1] + 1)
    labels = [_bin_label(edges, i) for i in window]
    series = [(label, [counts[k][i] for i in window], color) for k, label, color in present]
    chart = _columns("lengths", [lab for lab, _ in labels], series, [tip for _, tip in labels],
                     x_title="text length in characters (power-of-two bins, lower edge)", y_title="rows")
    legend = _legend([(f"{label} ({_n(sum(counts[k]))} rows)", color) for k, label, color in present])
    return _section("lengths", "Text length before and after", (_note(note) if note else "") + chart + legend)


def _languages_section(files: _OutputFiles) -> str:
    import polars as pl

    if not files.has_column("lang"):
        return _section("languages", "Languages", _note("no language ID step in this run (no 'lang' column)"))
    totals: dict[str, dict[str, float]] = {}
    for kind, paths in (("kept", files.shards), ("removed", files.rejects)):
        with_score = files.having(paths, "lang", "lang_score")
        plain = [p for p in files.having(paths, "lang") if p not in with_score]
        for group, columns in ((with_score, ["lang", "lang_score"]), (plain, ["lang"])):
            frame = files.scan(group, columns)
            if frame is None:
                continue
            aggs = [pl.len().alias("rows")]
            if "lang_score" in columns:
                aggs.append(pl.col("lang_score").cast(pl.Float64).sum().alias("score_sum"))
                aggs.append(pl.col("lang_score").count().alias("scored"))
            frame = frame.with_columns(pl.col("lang").cast(pl.String))
            for row in _collect(frame.group_by("lang").agg(aggs)).to_dicts():
                entry = totals.setdefault(row["lang"] if row["lang"] is not None else "(none)",
                                          {"kept": 0, "removed": 0, "score_sum": 0.0, "scored": 0})
                entry[kind] += row["rows"]
                entry["score_sum"] += row.get("score_sum") or 0.0
                entry["scored"] += row.get("scored") or 0
    ranked = sorted(totals.items(), key=lambda kv: (-(kv[1]["kept"] + kv[1]["removed"]), kv[0]))
    shown, rest = ranked[:TOP_LANGUAGES], ranked[TOP_LANGUAGES:]
    if rest:
        merged = {"kept": 0, "removed": 0, "score_sum": 0.0, "scored": 0}
        for _, entry in rest:
            for k in merged:
                merged[k] += entry[k]
        shown.append((f"other ({len(rest)} languages)", merged))
    kept_total = sum(e["kept"] for _, e in ranked) or 1
    bars = []
    for lang, entry in shown:
        score = f", mean score {entry['score_sum'] / entry['scored']:.2f}" if entry["scored"] else ""
        bars.append(_Bar(lang, [_Segment(entry["kept"], KEPT_COLOR, f"{lang} kept: {_n(entry['kept'])}"),
                                _Segment(entry["removed"], REMOVED_COLOR, f"{lang} removed: {_n(entry['removed'])}")],
                         note=f"{_n(entry['kept'])} kept ({_pct(entry['kept'], kept_total)})"
                              + (f", {_n(entry['removed'])} removed" if entry["removed"] else "") + score))
    body = _hbars("languages", bars) + _legend([("kept (data/)", KEPT_COLOR), ("removed (rejects/)", REMOVED_COLOR)])
    return _section("languages", f"Languages ({len(ranked)})", body)


def _sources_section(manifest: Manifest, stats: dict[str, Any]) -> str:
    sources = {name: c.model_dump() for name, c in manifest.sources.items()}
    if not sources:
        return _section("sources", "Source mix", _note("the manifest lists no sources"))
    rows_out = manifest.rows_out
    ranked = sorted(sources.items(), key=lambda kv: -kv[1].get("rows_in", 0))
    domains = {i.get("source"): i.get("domain") for i in manifest.config.get("inputs", [])
               if isinstance(i, dict)}
    bars = []
    for name, c in ranked[:TOP_SOURCES]:
        domain = domains.get(name)
        bars.append(_Bar(name, [_Segment(c.get("rows_out", 0), KEPT_COLOR, f"{name} out: {_n(c.get('rows_out', 0))}"),
                                _Segment(c.get("removed", 0), REMOVED_COLOR, f"{name} removed: {_n(c.get('removed', 0))}"),
                                _Segment(c.get("quarantined", 0), QUARANTINE_COLOR,
                                         f"{name} quarantined: {_n(c.get('quarantined', 0))}")],
                         note=f"{_n(c.get('rows_in', 0))} in \u2192 {_n(c.get('rows_out', 0))} out "
                              f"({_pct(c.get('rows_out', 0), rows_out)} of output)",
                         tip=f"{name} ({domain})" if domain else name))
    legend = _legend([("out", KEPT_COLOR), ("removed", REMOVED_COLOR), ("quarantined", QUARANTINE_COLOR)])
    by_source = stats.get("by_source", {})
    table = _table(["source", "domain", "rows in", "rows out", "share of output", "removed", "quarantined",
                    "mean chars"],
                   [[_e(name), _e(domains.get(name) or ""), _n(c.get("rows_in", 0)), _n(c.get("rows_out", 0)),
                     _pct(c.get("rows_out", 0), rows_out), _n(c.get("removed", 0)), _n(c.get("quarantined", 0)),
                     _n(by_source.get(name, {}).get("chars_mean", "")) if by_source.get(name, {}).get("chars_mean")
                     is not None else ""]
                    for name, c in ranked], numeric_from=2)
    more = _note(f"the chart shows the {TOP_SOURCES} largest of {len(ranked)} sources") if len(ranked) > TOP_SOURCES else ""
    return _section("sources", f"Source mix ({len(sources)})", _hbars("sources", bars) + legend + more + table)


def _stage_rejects(files: _OutputFiles, index: int, name: str) -> list[Path]:
    """The rejects files of stage ``index`` (a step, or assembly after the last step)."""
    prefix = f"{index:02d}-{name}-"
    return [p for p in files.rejects if p.name.startswith(prefix)]


def _cluster_sizes(files: _OutputFiles, paths: list[Path]) -> Counter:
    """Clusters by size, from one dedup step's rejects: every removed row names its
    survivor's ``cluster_id``, and the cluster's largest ``cluster_size`` is its final size."""
    import polars as pl

    frame = files.scan(paths, ["cluster_id", "cluster_size"])
    if frame is None:
        return Counter()
    clusters = (frame.group_by("cluster_id").agg(pl.col("cluster_size").cast(pl.Int64).max().alias("size"))
                .group_by("size").agg(pl.len().alias("clusters")))
    table = _collect(clusters)
    return Counter(dict(zip(table["size"].to_list(), table["clusters"].to_list())))


def _cluster_chart(plot: str, sizes: Counter) -> str:
    top = max(sizes).bit_length()
    # bins: 2, 3, then [4, 8), [8, 16), ...
    bins = [(2, 3), (3, 4)] + [(1 << k, 1 << (k + 1)) for k in range(2, max(top, 2))]
    labels, tips, counts = [], [], []
    for low, high in bins:
        labels.append(str(low) if high - low == 1 else f"{low}\u2013{high - 1}" if high <= 1024 else f"{_compact(low)}+")
        tips.append(f"size {low}" if high - low == 1 else f"size {low:,} to {high - 1:,}")
        counts.append(sum(n for size, n in sizes.items() if low <= size < high))
    return _columns(plot, labels, [("clusters", counts, REMOVED_COLOR)], tips,
                    x_title="cluster size (rows, the survivor included)", y_title="clusters")


def _duplicates_section(manifest: Manifest, files: _OutputFiles) -> str:
    dedup = [(i, step) for i, step in enumerate(manifest.steps) if "cluster_size" in step.columns]
    if not dedup:
        return _section("duplicates", "Duplicate clusters",
                        _note("no deduplication step in this run (no step adds 'cluster_size')"))
    parts = []
    for index, step in dedup:
        removed = sum(step.removed.values())
        parts.append(f"<h3>{index + 1}. {_e(step.step)} <small>{_n(removed)} duplicate(s) removed of "
                     f"{_n(step.rows_in)} rows</small></h3>")
        paths = files.having(_stage_rejects(files, index, step.step), "cluster_id", "cluster_size")
        if not removed:
            parts.append(_note("no cluster holds more than one row: no duplicates found"))
            continue
        sizes = _cluster_sizes(files, paths)
        if not sizes:
            parts.append(_note("the removed rows were not kept (output.rejects is false), so cluster sizes "
                               "cannot be drawn"))
            continue
        rows = sum(size * n for size, n in sizes.items())
        parts.append(_note(f"{_n(sum(sizes.values()))} clusters of 2 or more rows hold {_n(rows)} rows "
                           f"({_n(sum(sizes.values()))} kept, {_n(rows - sum(sizes.values()))} removed); "
                           f"the largest has {_n(max(sizes))} rows."))
        parts.append(_cluster_chart(f"duplicates-{index}", sizes))
    return _section("duplicates", "Duplicate clusters", "".join(parts))


def _contamination_section(manifest: Manifest, files: _OutputFiles, top: int = 10) -> str:
    """For each step that adds ``contam_eval_id``: the rows it removed per eval set and the eval
    items most copied (from its rejects). No section when no step checks contamination."""
    import polars as pl

    steps = [(i, step) for i, step in enumerate(manifest.steps) if "contam_eval_id" in step.columns]
    if not steps:
        return ""
    parts = []
    for index, step in steps:
        removed = step.removed.get("contaminated", 0)
        parts.append(f"<h3>{index + 1}. {_e(step.step)} <small>{_n(removed)} contaminated row(s) removed of "
                     f"{_n(step.rows_in)}</small></h3>")
        frame = files.scan(_stage_rejects(files, index, step.step), ["contam_eval_id", "contam_fraction", "reason"])
        if not removed:
            parts.append(_note("no row holds enough of an evaluation item"))
            continue
        if frame is None:
            parts.append(_note("the removed rows were not kept (output.rejects is false)"))
            continue
        frame = frame.filter(pl.col("reason") == "contaminated").with_columns(
            pl.col("contam_eval_id").str.split(":").list.first().alias("eval_set"))
        by_set = frame.group_by("eval_set").agg(pl.len().alias("rows")).sort(["rows", "eval_set"], descending=[True, False])
        parts.append(_table(["eval set", "rows removed"],
                            [[_e(r["eval_set"] or ""), _n(r["rows"])] for r in by_set.collect().to_dicts()]))
        items = (frame.group_by("contam_eval_id")
                 .agg(pl.len().alias("rows"), pl.col("contam_fraction").max().alias("largest"))
                 .sort(["rows", "contam_eval_id"], descending=[True, False]).head(top).collect())
        parts.append(_table(["eval item", "rows holding it", "largest share held"],
                            [[_e(r["contam_eval_id"] or ""), _n(r["rows"]), _pct(r["largest"], 1.0)]
                             for r in items.to_dicts()]))
    return _section("contamination", "Contamination", "".join(parts))


def _extra_columns(schema, limit: int = 6) -> list[str]:
    """Columns a step added that say something short about a row (numbers, flags, short labels)."""
    import pyarrow as pa

    from assay.schema import RECORD_SCHEMA

    chosen = []
    for f in schema:
        if f.name in RECORD_SCHEMA.names or f.name == "reason":
            continue
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type) \
                or pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            chosen.append(f.name)
    return chosen[:limit]


def _format_cell(value: Any, limit: int) -> str:
    if isinstance(value, float):
        return _n(round(value, 4))
    return _short(str(value), limit)


def _first_rows_by_reason(paths: Sequence[Path], columns: Sequence[str], reasons: Sequence[str],
                          limit: int) -> dict[str, list[dict[str, Any]]]:
    """The first ``limit`` rows (``columns``) of each reason in the rejects ``paths``, in file order.

    Reads one row group at a time, the ``reason`` column first, and stops once every
    reason has its rows, so memory does not grow with the size of the rejects."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not paths:
        return {}
    found: dict[str, list[dict[str, Any]]] = {r: [] for r in reasons}
    for path in paths:
        parquet = parquet_file(path)
        for group in range(parquet.metadata.num_row_groups):
            wanted = [r for r, rows in found.items() if len(rows) < limit]
            if not wanted:
                return found
            reason = parquet.read_row_group(group, columns=["reason"], use_threads=False).column("reason").cast(pa.string())
            mask = pc.is_in(reason, pa.array(wanted, pa.string()))
            if not pc.any(mask).as_py():
                continue
            table = parquet.read_row_group(group, columns=[*columns, "reason"], use_threads=False).filter(mask)
            for row in table.to_pylist():
                rows = found[row["reason"]]
                if len(rows) < limit:
                    rows.append(row)
    return found


def _samples_section(manifest: Manifest, files: _OutputFiles, colors: dict[str, str],
                     sample_rows: int, sample_chars: int) -> str:
    parts = []
    stages = [(s.step, s.removed) for s in manifest.steps]
    if manifest.assemble is not None:
        stages.append(("assemble", manifest.assemble.removed))
    if not any(removed for _, removed in stages):
        parts.append(_note("no rows were removed"))
    elif not files.rejects:
        parts.append(_note("removed rows were not kept (output.rejects is false), so none can be shown"))
    for index, (name, removed) in enumerate(stages):
        step_files = _stage_rejects(files, index, name)
        if not step_files:
            continue
        extra = [c for c in _extra_columns(files.schema(step_files[0])) if c not in ("id", "source", "text")]
        columns = [c for c in ("id", "source", "text") if c in files.schema(step_files[0]).names] + extra
        samples = _first_rows_by_reason(files.having(step_files, *columns, "reason"), columns,
                                        list(removed), sample_rows)
        for reason, count in removed.items():
            rows = samples.get(reason)
            if rows is None:
                continue
            table_rows = []
            for row in rows:
                text = row.get("text") or ""
                shown = _e(_short(text, sample_chars))
                size = f'<span class="chars">{_n(len(text))} chars</span>' if len(text) > sample_chars else ""
                signals = "<br>".join(f"{_e(c)} = {_e(_format_cell(row.get(c), 40))}" for c in extra
                                      if row.get(c) is not None)
                table_rows.append([_e(_short(str(row.get("id", "")), 60)), _e(row.get("source", "")), signals,
                                   f'<div class="text">{shown}</div>{size}'])
            heading = (f'<h3><i class="dot" style="background:{colors.get(reason, REMOVED_COLOR)}"></i>'
                       f'{_e(reason)} <small>step {index + 1} {_e(name)}: {_n(count)} removed, '
                       f'{len(rows)} shown</small></h3>')
            parts.append(heading + _table(["id", "source", "signals", "text"], table_rows, numeric_from=99))
    path = files._inside(manifest.quarantine) if manifest.quarantine else None
    if path is not None:
        records = []
        with open_file(path, "rb") as f:
            for line in f:
                if len(records) >= sample_rows:
                    break
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    records.append({"error": "unreadable quarantine line"})
        table_rows = [[_e(_short(str(r.get("source", "")), 40)), _e(Path(str(r.get("file", ""))).name),
                       _e(r.get("line", "")), _e(_short(str(r.get("error", "")), 200)),
                       f'<div class="text">{_e(_short(str(r.get("raw", "")), sample_chars))}</div>'] for r in records]
        parts.append(f"<h3>quarantined <small>{_n(manifest.quarantined)} malformed record(s), "
                     f"{len(records)} shown</small></h3>"
                     + _table(["source", "file", "line", "error", "raw input"], table_rows, numeric_from=99))
    return _section("removed-samples", "Removed rows: a sample per reason", "".join(parts))


def _columns_section(stats: dict[str, Any]) -> str:
    columns = stats.get("columns", {})
    if not columns:
        return _section("columns", "Numeric columns", _note("stats.json lists no numeric column"))
    keys = ["count", "mean", "min", "p10", "p50", "p90", "p99", "max"]
    rows = [[_e(name)] + [_e(_n(values.get(k))) if values.get(k) is not None else "" for k in keys]
            for name, values in columns.items()]
    return _section("columns", "Numeric columns of the output (stats.json)", _table(["column"] + keys, rows))


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
  color:#111827;background:#fff;margin:0 auto;max-width:1080px;padding:16px 24px 48px;font-size:14px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}h3 small,.note,.chars{color:#6b7280;font-weight:normal}
nav a{margin-right:12px;color:#2563eb;text-decoration:none}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0}
.card{border:1px solid #e5e7eb;border-radius:6px;padding:8px 14px;min-width:120px}
.card .k{color:#6b7280;font-size:12px}.card .v{font-size:20px;font-weight:600}.card .s{color:#6b7280;font-size:12px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 8px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.facts th{color:#6b7280;font-weight:normal}
.text{white-space:pre-wrap;word-break:break-word;max-width:640px;font-family:ui-monospace,monospace;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:4px 0 8px;font-size:12px}
.legend i,i.dot{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
.badge{display:inline-block;padding:3px 10px;border-radius:4px;font-weight:600}
.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
ul.checks{list-style:none;padding-left:0}ul.checks li.ok{color:#166534}ul.checks li.bad{color:#991b1b}
svg.chart{display:block;max-width:100%;height:auto;font-size:12px}
svg .label,svg .value,svg .tick{fill:#374151}svg .axis-title{fill:#6b7280}
svg .track{fill:#f3f4f6}svg .grid{stroke:#e5e7eb}svg .axis{stroke:#9ca3af}
"""


def _page(title: str, sections: list[str]) -> str:
    nav = " ".join(f'<a href="#{key}">{_e(label)}</a>' for key, label in (
        ("headline", "run"), ("accounting", "accounting"), ("funnel", "funnel"), ("lengths", "lengths"),
        ("languages", "languages"), ("sources", "sources"), ("duplicates", "duplicates"),
        ("contamination", "contamination"), ("removed-samples", "removed rows"), ("columns", "columns"))
        if key != "contamination" or any('<section id="contamination">' in s for s in sections))
    body = "\n".join(s for s in sections if s)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{_e(title)}</title>\n'
            f"<style>{_STYLE}</style>\n</head>\n<body>\n<h1>{_e(title)}</h1>\n<nav>{nav}</nav>\n{body}\n</body>\n</html>\n")
