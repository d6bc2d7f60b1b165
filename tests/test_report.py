"""The HTML run report: sections, self-containment, escaping, CLI, and rendering in headless Chromium."""
import html as html_module
import json
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from assay.cli import main
from assay.manifest import Manifest
from assay.pipeline import run_pipeline
from assay.report import KEPT_COLOR, REASON_COLORS, write_report

from conftest import ROOT, SAMPLES

PLOTS = ("funnel", "lengths", "languages", "sources", "duplicates-")
SECTIONS = ("headline", "accounting", "funnel", "lengths", "languages", "sources", "duplicates",
            "removed-samples", "columns")
HTML_PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


RECIPES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.yaml"))


def _pipeline(tmp_path: Path, steps: str, rejects: bool = True) -> Path:
    """Real BELLE and FLAN rows, with a broken JSON line, exact duplicates and a row of markup."""
    lines = (SAMPLES / "belle" / "eval_set.json").read_bytes().splitlines()[:80]
    lines += lines[10:30] + lines[10:15]  # exact duplicates of real rows: 15 pairs and 5 triples
    lines[5] = lines[5][:25]  # a broken JSON line -> quarantine
    lines.insert(0, json.dumps({"question": HTML_PAYLOAD, "std_answer": ""}).encode())  # removed: empty output
    (tmp_path / "belle.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    path = tmp_path / "p.yaml"
    path.write_text(f"""
name: report-test
inputs:
  - {{path: "{tmp_path}/belle.jsonl", format: belle, source: belle-eval, domain: github.com/LianjiaTech/BELLE}}
  - {{path: "{SAMPLES}/flan_cot/*.json", format: alpaca, source: flan-cot}}
steps: {steps}
output: {{dir: "{tmp_path}/out", rejects: {str(rejects).lower()}, shard_rows: 150}}
""")
    return path


FILTERED_STEPS = ("[langid: {keep: [zh, en]}, filter: {filters: [instruction]}, exact_dedup: {key: prompt},"
                  " near_dedup: {threshold: 0.8}, text_stats: {}]")


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    manifest = run_pipeline(_pipeline(tmp, FILTERED_STEPS))
    out = tmp / "out"
    return manifest, out, write_report(out)


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    """Every recipe in pipelines/, run as shipped (from the repository root)."""
    tmp = tmp_path_factory.mktemp("recipes")
    runs = {}
    for name in RECIPES:
        out = tmp / name
        runs[name] = (run_pipeline(ROOT / "pipelines" / f"{name}.yaml", output_dir=out), out)
    return runs


def _sections(html: str) -> dict[str, str]:
    found = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html, re.S))
    # the contamination section is there exactly when a step checks contamination
    assert [s for s in found if s != "contamination"] == list(SECTIONS)
    assert ("contamination" in found) == ('href="#contamination"' in html)
    return found


def test_report_has_every_section_and_plot(filtered):
    manifest, out, path = filtered
    assert path == out / "report.html"
    html = path.read_text(encoding="utf-8")
    sections = _sections(html)
    for plot in PLOTS:
        section = sections[plot.rstrip("-")]
        svg = re.search(rf'<svg class="chart" data-plot="{plot}[^"]*".*?</svg>', section, re.S)
        assert svg and svg.group(0).count('class="mark"') >= 2, plot
    assert manifest.quarantined == 1 and manifest.removed["exact_duplicate"] >= 15
    assert manifest.removed["empty_output"] > 0
    assert "the accounting balances" in sections["accounting"] and "&#10007;" not in sections["accounting"]
    assert f"{manifest.rows_in:,} + 0 = {manifest.rows_out:,} + " in sections["accounting"]
    for reason, n in manifest.removed.items():
        assert f"{reason} ({n:,})" in sections["funnel"]  # legend
        shown = min(n, 3)
        assert re.search(rf"{reason} <small>step \d+ [^:]+: {n:,} removed, {shown} shown</small>",
                         sections["removed-samples"]), reason
    assert "quarantined <small>1 malformed record(s), 1 shown</small>" in sections["removed-samples"]
    for name, counts in manifest.sources.items():
        assert f"{counts.rows_in:,} in \u2192 {counts.rows_out:,} out" in sections["sources"]


def test_language_and_duplicate_figures_match_the_data(filtered):
    manifest, out, path = filtered
    sections = _sections(path.read_text(encoding="utf-8"))
    kept = pl.read_parquet(out / "data")
    rejects = pl.concat([pl.read_parquet(out / r.path, columns=["lang"]) for r in manifest.rejects])
    for lang in ("zh", "en"):
        n_kept = kept.filter(pl.col("lang") == lang).height
        n_removed = rejects.filter(pl.col("lang") == lang).height
        assert n_kept and f"{n_kept:,} kept" in sections["languages"]
        assert (f"{lang} removed: {n_removed:,}" in sections["languages"]) == (n_removed > 0)
    # A cluster is its survivor plus the duplicates the step removed, which its rejects name by cluster_id.
    dedup_rejects = pl.read_parquet([out / r.path for r in manifest.rejects if "-exact_dedup-" in r.path])
    clusters = dedup_rejects.group_by("cluster_id").agg(pl.len().alias("removed"), pl.col("cluster_size").max())
    assert clusters.height > 0 and (clusters["cluster_size"] == clusters["removed"] + 1).all()
    rows = int(clusters["removed"].sum()) + clusters.height
    assert f"{clusters.height:,} clusters of 2 or more rows hold {rows:,} rows" in sections["duplicates"]
    assert "3. exact_dedup <small>" in sections["duplicates"] and "4. near_dedup <small>" in sections["duplicates"]


class _ResourceFinder(HTMLParser):
    """Collects every tag and attribute in a page that could load something from outside it."""

    LOADING_TAGS = {"script", "link", "iframe", "frame", "object", "embed", "img", "image", "audio", "video",
                    "source", "track", "use", "base", "form", "meta"}
    LOADING_ATTRS = {"src", "href", "xlink:href", "srcset", "poster", "data", "action", "background", "formaction"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.LOADING_TAGS and not (tag == "meta" and {k for k, _ in attrs} <= {"charset", "name", "content"}):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name in self.LOADING_ATTRS and not (value or "").startswith("#"):
                self.found.append(f"{tag} {name}={value}")
            if name == "style" and ("url(" in (value or "") or "@import" in (value or "")):
                self.found.append(f"{tag} style={value}")


def test_report_is_self_contained(filtered):
    html = filtered[2].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    finder = _ResourceFinder()
    finder.feed(html)
    assert finder.found == []
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert "url(" not in style and "@import" not in style and "@font-face" not in style


def test_html_from_the_data_is_escaped(filtered):
    html = filtered[2].read_text(encoding="utf-8")
    # The row with markup in its text was removed (empty output) and shows up in the sample, escaped.
    assert HTML_PAYLOAD not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_escaping_of_every_name_from_a_handwritten_output_folder(tmp_path):
    # The step name ends up in a file name, so it has no "/" (no closing tag).
    evil = {k: f'<b class="{k}">{k}' + ("" if k == "step" else "</b>")
            for k in ("name", "source", "step", "reason", "lang", "text", "id", "error")}
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "rejects").mkdir()
    (out / "quarantine").mkdir()
    pq.write_table(pa.table({"id": ["a"], "source": [evil["source"]], "text": ["fine"], "lang": [evil["lang"]],
                             "cluster_id": [evil["id"]], "cluster_size": [2]}), out / "data" / "part-00000.parquet")
    pq.write_table(pa.table({"id": [evil["id"]], "source": [evil["source"]], "text": [evil["text"] * 50],
                             "lang": ["en"], "cluster_id": [evil["id"]], "cluster_size": [2], "reason": [evil["reason"]]}),
                   out / "rejects" / f"00-{evil['step']}-00000.parquet")
    (out / "quarantine" / "quarantine.jsonl").write_text(json.dumps(
        {"file": evil["error"], "line": 3, "error": evil["error"], "record": evil["text"]}) + "\n")
    manifest = {
        "name": evil["name"], "created": "2026-01-01T00:00:00+00:00", "config_hash": "0" * 64,
        "config": {"inputs": [{"source": evil["source"], "domain": evil["error"]}], "output": {"rejects": True}},
        "versions": {"assay": evil["name"]}, "threads": 1,
        "shards": [{"path": "data/part-00000.parquet", "rows": 1, "bytes": 1, "sha256": ""}],
        "rejects": [{"path": f"rejects/00-{evil['step']}-00000.parquet", "rows": 1, "bytes": 1, "sha256": ""}],
        "quarantine": "quarantine/quarantine.jsonl", "rows_in": 3, "rows_out": 1,
        "removed": {evil["reason"]: 1}, "quarantined": 1,
        "sources": {evil["source"]: {"rows_in": 3, "rows_out": 1, "removed": 1, "quarantined": 1}},
        "steps": [{"step": evil["step"], "rows_in": 2, "rows_out": 1, "removed": {evil["reason"]: 1}, "seconds": 0.1,
                   "columns": ["lang", "cluster_id", "cluster_size"]}],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "stats.json").write_text(json.dumps({"rows": 1, "columns": {evil["lang"]: {"count": 1, "mean": 1.0}}}))
    html = write_report(out).read_text(encoding="utf-8")
    _sections(html)
    assert "<b class" not in html, html[html.index("<b class"):][:200]
    for key, value in evil.items():
        assert html_module.escape(value, quote=True) in html, key
    assert "the accounting balances" in html


def test_rows_out_of_the_folder_are_never_read(tmp_path, filtered):
    _, out, _ = filtered
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"].append({"path": "../../../etc/passwd", "rows": 0, "bytes": 0, "sha256": ""})
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert "root:" not in write_report(copy).read_text(encoding="utf-8")


def test_a_run_without_optional_steps_says_so(tmp_path):
    out = tmp_path / "out"
    manifest = run_pipeline(_pipeline(tmp_path, "[text_stats: {}]"))
    sections = _sections(write_report(out).read_text(encoding="utf-8"))
    assert "no language ID step in this run" in sections["languages"]
    assert "no deduplication step in this run" in sections["duplicates"]
    assert "no rows were removed" in sections["removed-samples"]
    assert 'data-plot="funnel"' in sections["funnel"] and 'data-plot="lengths"' in sections["lengths"]
    assert f"{manifest.rows_in:,} + 0 = {manifest.rows_out:,} + 0 + 1" in sections["accounting"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_report_balances_and_draws_its_duplicates(recipe_runs, recipe):
    manifest, out = recipe_runs[recipe]
    assert manifest.balances() and Manifest.load(out) == manifest
    sections = _sections((out / "report.html").read_text(encoding="utf-8"))
    assert '<p class="badge ok">the accounting balances</p>' in sections["accounting"]
    assert "&#10007;" not in sections["accounting"]
    dedup = [(i, s) for i, s in enumerate(manifest.steps) if s.step in ("exact_dedup", "near_dedup")]
    for index, step in dedup:
        assert f"{index + 1}. {step.step} <small>" in sections["duplicates"]
        if step.removed:
            assert f'data-plot="duplicates-{index}"' in sections["duplicates"]
    if not dedup:
        assert "no deduplication step in this run" in sections["duplicates"]
    if manifest.assemble is not None:
        assert f"{len(manifest.steps) + 1}. assemble" in sections["funnel"]


def test_the_demo_recipe_cleans_and_dedups(recipe_runs):
    manifest, _ = recipe_runs["quickstart"]
    removed = {s.step: sum(s.removed.values()) for s in manifest.steps}
    assert removed["langid"] and removed["filter"] and removed["exact_dedup"] and removed["near_dedup"]
    assert manifest.assemble is not None and manifest.assemble.upsampled and manifest.assemble.removed


def test_length_histogram_falls_back_to_the_shards(tmp_path, filtered):
    _, out, _ = filtered
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    stats = json.loads((copy / "stats.json").read_text())
    after = stats.pop("text_chars_histogram")["after"]
    (copy / "stats.json").write_text(json.dumps(stats))
    from assay.report import _length_histogram_from_shards, _OutputFiles

    files = _OutputFiles(copy, Manifest.load(copy))
    assert _length_histogram_from_shards(files) == after  # the same power-of-two bins as the runner
    section = _sections(write_report(copy).read_text(encoding="utf-8"))["lengths"]
    assert "computed from the shards" in section and 'data-plot="lengths"' in section


def test_sample_size_and_truncation(tmp_path, filtered):
    _, out, _ = filtered
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    html = write_report(copy, sample_rows=1, sample_chars=20).read_text(encoding="utf-8")
    section = _sections(html)["removed-samples"]
    assert "1 shown</small>" in section and "3 shown" not in section
    texts = re.findall(r'<div class="text">(.*?)</div>', section, re.S)
    assert texts and all(len(t.replace("&amp;", "&").replace("&quot;", '"')) <= 40 for t in texts)
    assert "\u2026" in section and "chars</span>" in section


def test_accounting_mismatch_is_flagged(tmp_path, filtered):
    _, out, _ = filtered
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["rows_in"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    section = _sections(write_report(copy).read_text(encoding="utf-8"))["accounting"]
    assert "does NOT balance" in section and "&#10007;" in section


def test_rejects_not_written(tmp_path):
    manifest = run_pipeline(_pipeline(tmp_path, FILTERED_STEPS, rejects=False))
    assert manifest.removed["exact_duplicate"] > 0 and manifest.rejects == [] and manifest.balances()
    sections = _sections(write_report(tmp_path / "out").read_text(encoding="utf-8"))
    assert "output.rejects is false" in sections["removed-samples"]
    assert "cluster sizes cannot be drawn" in sections["duplicates"]


def test_cli_report(filtered, tmp_path):
    _, out, path = filtered
    path.unlink()
    result = CliRunner().invoke(main, ["report", str(out), "--samples", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(path) and path.is_file()
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "manifest.json is missing" in result.output
    assert CliRunner().invoke(main, ["report", "--help"]).exit_code == 0


# ---------------------------------------------------------------------------------------------
# Rendering in a real browser

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if shutil.which(n)), None)


class _SvgCounter(HTMLParser):
    """Counts, per plot, the SVG marks in a DOM as the browser serialized it."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: Counter = Counter()
        self._plot: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "data-plot" in attrs:
            self._plot = attrs["data-plot"]
            self.marks[self._plot] += 0
        elif tag == "rect" and self._plot and attrs.get("class") == "mark":
            self.marks[self._plot] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._plot = None


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # No network for the page: any resource it tried to load would fail to resolve.
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed: on Debian/Ubuntu run "
                                             "`apt-get install -y chromium` to enable the browser test")
def test_report_renders_in_headless_chromium(recipe_runs, tmp_path):
    """The demo recipe's report as a browser draws it: every plot, the green badge, the duplicates."""
    from PIL import Image

    manifest, out = recipe_runs["quickstart"]
    uri = (out / "report.html").resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", uri).stdout
    counter = _SvgCounter()
    counter.feed(dom)
    plots = {p if not p.startswith("duplicates-") else "duplicates-" for p in counter.marks}
    assert set(PLOTS) <= plots, counter.marks
    assert all(n >= 2 for p, n in counter.marks.items() if not p.startswith("duplicates-")), counter.marks
    dedup = [i for i, s in enumerate(manifest.steps) if s.step.endswith("_dedup") and s.removed]
    assert dedup and all(counter.marks[f"duplicates-{i}"] >= 1 for i in dedup), counter.marks
    assert '<p class="badge ok">the accounting balances</p>' in dom and "badge bad" not in dom

    png = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,7000", uri)
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 7000)
    colors = Counter(dict((rgb, n) for n, rgb in image.getcolors(maxcolors=1 << 24)))
    white = colors[(255, 255, 255)]
    assert white < 0.97 * image.width * image.height, "the screenshot is blank"

    def pixels_near(hex_color: str, tolerance: int = 8) -> int:
        target = tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
        return sum(n for rgb, n in colors.items() if max(abs(a - b) for a, b in zip(rgb, target)) <= tolerance)

    # Bars are drawn: the kept colour and the colours of the first removal reasons cover real areas;
    # the badge is green (#dcfce7 behind it), never red (#fee2e2).
    assert pixels_near(KEPT_COLOR) > 5000
    assert pixels_near(REASON_COLORS[0]) > 300 and pixels_near(REASON_COLORS[1]) > 100
    assert pixels_near("#dcfce7", 2) > 500 and pixels_near("#fee2e2", 2) == 0
