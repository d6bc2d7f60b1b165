"""``report.html`` of an ``assay mine`` run: the fitted rule, its residuals, the size curve."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from assay.report import _STYLE, _e, _note, _section, _table

__all__ = ["write_mine_report"]


def _scatter(points: Sequence[tuple[float, float]], x_title: str, y_title: str, *, log_x: bool = False,
             line: bool = False, diagonal: bool = False, width: int = 560, height: int = 300) -> str:
    """A small SVG scatter (or line) plot; points outside finite values are skipped."""
    pts = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y) and (x > 0 or not log_x)]
    if not pts:
        return _note("nothing to plot")
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    xs, ys = [fx(x) for x, _ in pts], [y for _, y in pts]
    if diagonal:
        lo, hi = min(xs + ys), max(xs + ys)
        x0, x1, y0, y1 = lo, hi, lo, hi
    else:
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, bottom, right, top = 56, 36, 12, 10
    sx = lambda v: left + (v - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    sy = lambda v: height - bottom - (v - y0) / (y1 - y0) * (height - bottom - top)  # noqa: E731
    parts = [f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">',
             f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}"/>',
             f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}"/>']
    if diagonal:
        parts.append(f'<line class="grid" x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" y2="{sy(y1):.1f}"/>')
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    if line:
        path = " ".join(f"{'M' if k == 0 else 'L'}{sx(xs[i]):.1f},{sy(ys[i]):.1f}" for k, i in enumerate(order))
        parts.append(f'<path d="{path}" fill="none" stroke="#2563eb" stroke-width="1.5"/>')
    for i in order:
        label = f"{pts[i][0]:,.4g}, {ys[i]:.4f}"
        parts.append(f'<circle cx="{sx(xs[i]):.1f}" cy="{sy(ys[i]):.1f}" r="3.5" fill="#2563eb"><title>{_e(label)}</title></circle>')
    for v, anchor in ((x0, "start"), (x1, "end")):
        shown = 10 ** v if log_x else v
        parts.append(f'<text class="tick" x="{sx(v):.1f}" y="{height - bottom + 14}" text-anchor="{anchor}" '
                     f'font-size="11">{_e(f"{shown:,.4g}")}</text>')
    for v in (y0, y1):
        parts.append(f'<text class="tick" x="{left - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" font-size="11">{v:.3f}</text>')
    parts.append(f'<text class="axis-title" x="{(left + width - right) / 2}" y="{height - 4}" text-anchor="middle" '
                 f'font-size="12">{_e(x_title)}</text>')
    parts.append(f'<text class="axis-title" x="12" y="{(top + height - bottom) / 2}" font-size="12" '
                 f'transform="rotate(-90 12 {(top + height - bottom) / 2})" text-anchor="middle">{_e(y_title)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_mine_report(out: Path, fit: Any, subsets: list[dict[str, Any]], curve: list[dict[str, Any]], rule: Any) -> Path:
    rows = [[_e(name), f"{c:.6g}", f"{se:.3g}", f"{p:.3g}", f"{fit.vif[name]:.2f}" if name in fit.vif else ""]
            for name, c, se, p in zip(fit.names, fit.coefficients, fit.standard_errors, fit.p_values)]
    fit_html = (_note(f"log(eval loss) = intercept + sum(coefficient x indicator mean), fitted on {len(subsets)} subsets; "
                      f"R² {fit.r2:.3f} (adjusted {fit.r2_adjusted:.3f}), {fit.r2_leave_one_out:.3f} predicting each "
                      "subset from a fit on the others. Lower predicted loss is better: assemble.select ranks rows "
                      "by it (rule.yaml).")
                + _table(["term", "coefficient", "std. error", "p-value", "VIF"], rows))
    observed = [f + r for f, r in zip(fit.fitted, fit.residuals)]
    residual_html = _scatter(list(zip(fit.fitted, observed)), "predicted log(eval loss)", "observed log(eval loss)",
                             diagonal=True)
    subset_rows = [[str(s["subset"]), f"{s['size']:,}", _e(", ".join(f"{k} {v:.2f}" for k, v in s["mixture"].items())),
                    f"{s['eval_loss']:.4f}"] for s in subsets]
    if curve:
        best = min(curve, key=lambda c: c["eval_loss"])
        curve_html = (_note(f"{len(curve)} sizes tried; the lowest eval loss {best['eval_loss']:.4f} at the top "
                            f"{best['size']:,} rows by the rule.")
                      + _scatter([(c["size"], c["eval_loss"]) for c in curve], "rows kept (top by the rule, log scale)",
                                 "eval loss", log_x=True, line=True))
    else:
        curve_html = _note("no size search (search.trials is 0)")
    body = "\n".join([
        _section("rule", "Fitted rule", fit_html),
        _section("residuals", "Observed against predicted", residual_html),
        _section("curve", "Eval loss against subset size", curve_html),
        _section("subsets", "Subsets", _table(["subset", "rows", "source mixture", "eval loss"], subset_rows)),
    ])
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>assay mine</title>\n'
            f"<style>{_STYLE}</style>\n</head>\n<body>\n<h1>assay mine: {_e(rule.source or '')}</h1>\n{body}\n</body>\n</html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
