"""Personal data (PII) in text: find it, and replace it with a pure function of what matched.

Kinds (:data:`PII_KINDS`), found in Rust on all threads:

- ``email``; ``ipv4`` and ``ipv6``, public addresses only by default (``public_ips_only``:
  the ranges Python's ``ipaddress`` calls not global are left alone);
- ``phone_cn``: mainland mobile numbers (1[3-9] and 9 more digits), with or without
  ``+86``/``0086``, spaces or dashes; ``phone_intl``: E.164 (``+``, 7 to 15 digits, spaces or
  dashes between);
- ``cn_id``: the 18-character resident identity number (a known province, a real birth date,
  the ISO 7064 MOD 11-2 check character) and the old 15-digit form;
- ``bank_card``: 13 to 19 digits starting 2-6, in groups or not, passing the Luhn check;
- ``url_credentials``: the ``user:password`` of ``scheme://user:password@host``.

Matches are bounded by the characters around them, not by ``\\b``: an address or number
touching Han, kana or hangul is found (``联系zhang@example.com谢谢``), a number inside a longer
number is not. Lookalikes stay: dates, order numbers, an ID with a wrong check character, a
card number failing Luhn. Where two kinds overlap, the earlier match wins, then the kind
first in :data:`PII_KINDS`. A replacement depends only on the match: the kind's placeholder
(``<EMAIL>``), or with ``replacement="hash"`` the placeholder and a keyed hash
(``<EMAIL:1a2b3c4d>``: one value, one token, whatever the batch or thread).

>>> from assay.pii import pii, redact_pii  # also assay.pii and assay.redact_pii
>>> pii(["邮箱zhang@example.com，手机138 1234 5678"]).select(["kind", "text"]).to_pylist()
[{'kind': 'email', 'text': 'zhang@example.com'}, {'kind': 'phone_cn', 'text': '138 1234 5678'}]
>>> redact_pii(["call +86-13812345678 or mail a@b.org"]).column("text").to_pylist()
['call <PHONE> or mail <EMAIL>']
"""
from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from assay import _core
from assay._data import column_of, is_stream, per_batch, stream_batches

__all__ = ["PII_KINDS", "pii", "redact_pii"]

PII_KINDS = ("url_credentials", "email", "cn_id", "bank_card", "phone_cn", "phone_intl", "ipv6", "ipv4")
"""Every kind, in the order that settles overlaps."""


def _kinds(kinds: Sequence[str] | None) -> list[str]:
    chosen = list(PII_KINDS if kinds is None else kinds)
    unknown = sorted(set(chosen) - set(PII_KINDS))
    if unknown:
        raise ValueError(f"unknown PII kind(s) {unknown}; expected some of {list(PII_KINDS)}")
    return chosen


def pii(data: Any, kinds: Sequence[str] | None = None, *, column: str = "text",
        public_ips_only: bool = True) -> pa.Table:
    """The personal data in a text column: one row per match with ``row`` (the input row),
    ``start`` and ``end`` (character offsets, as Python slices ``text[start:end]``), ``kind``
    and ``text`` (what matched). A stream gives the same table, rows counted across batches.

    >>> pii(["server 8.8.8.8, router 192.168.0.1"]).select(["start", "end", "kind"]).to_pylist()
    [{'start': 7, 'end': 14, 'kind': 'ipv4'}]
    """
    chosen = _kinds(kinds)
    if not is_stream(data):
        return _core.pii_spans(column_of(data, column), chosen, public_ips_only)
    parts, offset = [], 0
    for batch in stream_batches(data):
        found = _core.pii_spans(column_of(batch, column), chosen, public_ips_only)
        parts.append(found.set_column(0, found.schema.field(0), pc.add(found.column("row"), offset)))
        offset += batch.num_rows
    return pa.concat_tables(parts) if parts else _core.pii_spans(pa.array([], pa.string()), chosen, True)


@per_batch
def redact_pii(data: Any, kinds: Sequence[str] | None = None, *, column: str = "text",
               replacement: str = "placeholder", seed: int = 0, public_ips_only: bool = True) -> pa.Table:
    """Each text with its personal data replaced: ``text`` (null stays null), ``pii_count``
    and ``pii_kinds`` (the kinds found). ``replacement``: ``placeholder`` (``<EMAIL>``) or
    ``hash`` (``<EMAIL:1a2b3c4d>``, keyed by ``seed``).

    >>> t = redact_pii(["a@b.org, a@b.org and c@d.org"], replacement="hash")
    >>> tokens = t.column("text")[0].as_py().replace(" and", ",").split(", ")
    >>> tokens[0] == tokens[1] != tokens[2], t.column("pii_kinds").to_pylist()
    (True, [['email']])
    """
    if replacement not in ("placeholder", "hash"):
        raise ValueError(f"replacement must be 'placeholder' or 'hash', got {replacement!r}")
    return _core.pii_redact(column_of(data, column), _kinds(kinds), public_ips_only, replacement, int(seed))
