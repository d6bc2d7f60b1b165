"""Training data: Parquet shards (record schema) -> tokenized, masked, packed batches.

The pipeline, top to bottom:

1. ``resolve_shards``: a manifest written by ``assay run`` (or a folder holding one), or
   a glob of Parquet files.
2. ``RowStream``: streams rows shard by shard (never the whole corpus), in a per-epoch
   seeded shard order through a seeded shuffle buffer. Rows whose ``id`` hashes into the
   held-out fraction are kept out of training.
3. ``encode_row``: renders a row with a template (``alpaca``, ``alpaca_zh``, ``chatml`` or
   the tokenizer's chat template) into segments that are targets or not, tokenizes, adds
   EOS (a target) and builds next-token labels where prompt tokens are ``-100``. A row's
   domain ``prefix`` (written by ``assemble.prefix``) comes first: text rows carry it in
   their text, instruction rows get it before the prompt (no loss on it), chat rows as a
   system line (prepended to the first system message when there is one).
4. ``pack_examples``: first-fit-decreasing bin packing of a window of examples into rows
   of ``max_length`` tokens (or one example per row without packing).
5. ``collate``: tensors with per-example position ids and segment ids; the model input
   gets a block-diagonal causal mask (or varlen flash-attention via position ids).

Labels are already shifted: ``labels[t]`` is the token that position ``t`` must predict,
so examples can be concatenated without any label crossing an example boundary.

A data position ``(epoch, start, offset)`` names the next row exactly (the window starting
at raw row ``start`` of ``epoch``, row ``offset`` inside its packing); resuming replays
the seeded stream up to it without tokenizing, so a resumed run sees the same batches.
"""
from __future__ import annotations

import glob as globlib
import random
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Optional
from assay.errors import ConfigError, TrainError

__all__ = [
    "Example",
    "Batch",
    "resolve_shards",
    "render_segments",
    "encode_row",
    "pack_examples",
    "collate",
    "RowStream",
    "batches_from",
    "eval_examples",
    "held_out_mask",
    "is_held_out",
    "iter_rows",
    "block_causal_mask",
    "Prefetch",
    "TEMPLATES",
]

IGNORE = -100
READ_COLUMNS = ("id", "source", "kind", "instruction", "input", "output", "messages", "text", "prefix")
HELD_OUT_SEED = 0x48E1_D0C7
"""Seed of the held-out split's XXH3 hash of ``source \x1f id`` (the key assembly hashes too)."""

TEMPLATES = ("alpaca", "alpaca_zh", "chatml", "tokenizer")

ALPACA_PROMPTS = {
    "alpaca": {
        "with_input": (
            "Below is an instruction that describes a task, paired with an input that provides further context. "
            "Write a response that appropriately completes the request.\n\n"
            "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        ),
        "no_input": (
            "Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.\n\n"
            "### Instruction:\n{instruction}\n\n### Response:\n"
        ),
        "turn": "### Instruction:\n{content}\n\n### Response:\n",
        "system": "{content}\n\n",
    },
    "alpaca_zh": {
        "with_input": (
            "下面是一条描述任务的指令，以及一段提供更多背景的输入。请写出恰当完成该请求的回答。\n\n"
            "### 指令:\n{instruction}\n\n### 输入:\n{input}\n\n### 回答:\n"
        ),
        "no_input": "下面是一条描述任务的指令。请写出恰当完成该请求的回答。\n\n### 指令:\n{instruction}\n\n### 回答:\n",
        "turn": "### 指令:\n{content}\n\n### 回答:\n",
        "system": "{content}\n\n",
    },
}


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # shifted: labels[t] is predicted at position t; IGNORE where no loss
    source: str

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


# --------------------------------------------------------------------------- shards


def resolve_shards(spec: str | list[str], key: str = "data.train") -> list[Path]:
    """Parquet files named by a manifest, a folder holding ``manifest.json``, or globs."""
    from assay.manifest import MANIFEST_FILE, Manifest

    from assay.io.files import expand_inputs
    from assay.storage import is_remote, location, storage_errors

    specs = [spec] if isinstance(spec, str) else list(spec)
    files: list[Path] = []
    for s in specs:
        p = location(s)
        with storage_errors(s):
            if p.is_dir() and (p / MANIFEST_FILE).is_file():
                p = p / MANIFEST_FILE
            if p.is_file() and p.suffix == ".json":
                try:
                    manifest = Manifest.load(p)
                except ValueError as exc:
                    raise TrainError(f"{key}: {exc}") from None
                for shard in manifest.shards:
                    f = p.parent / shard.path if is_remote(p) else (p.parent / shard.path).resolve()
                    if not f.is_file():
                        raise TrainError(f"{key}: shard {shard.path} listed in {p} does not exist")
                    files.append(f)
            elif p.is_dir():
                files.extend(sorted(p.rglob("*.parquet"), key=str))
            elif is_remote(p):
                try:
                    files.extend(f.path for f in expand_inputs(p))
                except FileNotFoundError:
                    pass  # reported below, as for a local glob
            else:
                files.extend(Path(x) for x in sorted(globlib.glob(s, recursive=True)))
    if not files:
        raise TrainError(f"{key}: no Parquet shards found for {spec!r}")
    return files


def held_out_mask(sources: Any, ids: Any, fraction: float) -> Any:
    """Which rows belong to the held-out split: XXH3 of ``(source, id)`` (ids are unique
    only within a source) below ``fraction`` of the hash range; stable across runs,
    machines, shard order and thread counts.

    >>> held_out_mask(["a", "b"], ["seed_task_1", "seed_task_1"], 0.5).tolist()
    [True, False]
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from assay import _core

    sources, ids = (pc.fill_null(pa.array(c, pa.string()) if isinstance(c, list) else c.cast(pa.string()), "")
                    for c in (sources, ids))
    if fraction <= 0 or fraction >= 1:
        return np.full(len(ids), fraction >= 1, dtype=bool)
    hashes = _core.hash64(pc.binary_join_element_wise(sources, ids, "\x1f"), HELD_OUT_SEED).to_numpy()
    return hashes < np.uint64(fraction * 2.0**64)


def is_held_out(source: str, row_id: str, fraction: float) -> bool:
    """:func:`held_out_mask` of one row."""
    return bool(held_out_mask([source], [row_id], fraction)[0])


def iter_rows(files: list[Path], batch_rows: int = 1024, *, held_out_fraction: float = 0.0,
              split: str = "train") -> Iterator[dict[str, Any]]:
    """The rows of ``files`` in order; with a held-out fraction, only those of ``split``
    (``train``: the rows outside the held-out fraction, ``eval``: those inside)."""
    import pyarrow as pa

    from assay.storage import parquet_file

    for f in files:
        pf = parquet_file(f)
        names = set(pf.schema_arrow.names)
        cols = [c for c in READ_COLUMNS if c in names]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
            if held_out_fraction > 0:
                sources = batch.column("source") if "source" in names else pa.nulls(batch.num_rows, pa.string())
                held = held_out_mask(sources, batch.column("id"), held_out_fraction)
                batch = batch.filter(pa.array(held if split == "eval" else ~held))
            yield from batch.to_pylist()


def shuffle_buffer(rows: Iterator[Any], size: int, rng: random.Random) -> Iterator[Any]:
    buf: list[Any] = []
    for row in rows:
        if len(buf) < size:
            buf.append(row)
            continue
        i = rng.randrange(size)
        yield buf[i]
        buf[i] = row
    rng.shuffle(buf)
    yield from buf


# --------------------------------------------------------------------------- templates


def _chat_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    msgs = row.get("messages") or []
    return [{"role": str(m.get("role") or "user"), "content": str(m.get("content") or "")} for m in msgs]


def _with_prefix_line(msgs: list[dict[str, str]], prefix: str | None) -> list[dict[str, str]]:
    """The domain prefix as a system line: a system message of its own, or the first line
    of the conversation's opening system message."""
    line = (prefix or "").rstrip("\n")
    if not line:
        return msgs
    if msgs and msgs[0]["role"] == "system":
        return [{"role": "system", "content": f"{line}\n{msgs[0]['content']}"}] + msgs[1:]
    return [{"role": "system", "content": line}] + msgs


def _instruction_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    user = row.get("instruction") or ""
    if row.get("input"):
        user = f"{user}\n\n{row['input']}" if user else row["input"]
    return [{"role": "user", "content": user}, {"role": "assistant", "content": row.get("output") or ""}]


def _chatml_segments(msgs: list[dict[str, str]]) -> list[tuple[str, bool]]:
    segs: list[tuple[str, bool]] = []
    for i, m in enumerate(msgs):
        segs.append((f"<|im_start|>{m['role']}\n", False))
        segs.append((m["content"] + "<|im_end|>", m["role"] == "assistant"))
        if i + 1 < len(msgs):
            segs.append(("\n", False))
    return segs


def _alpaca_chat_segments(msgs: list[dict[str, str]], prompts: dict[str, str]) -> list[tuple[str, bool]]:
    segs: list[tuple[str, bool]] = []
    for i, m in enumerate(msgs):
        if m["role"] == "system":
            segs.append((prompts["system"].format(content=m["content"]), False))
        elif m["role"] == "assistant":
            segs.append((m["content"], True))
            if i + 1 < len(msgs):
                segs.append(("\n\n", False))
        else:
            segs.append((prompts["turn"].format(content=m["content"]), False))
    return segs


def _tokenizer_template_segments(msgs: list[dict[str, str]], tok: Any) -> list[tuple[str, bool]]:
    if getattr(tok, "chat_template", None) is None or not hasattr(tok, "apply_chat_template"):
        raise ConfigError("data.template: 'tokenizer' needs a tokenizer with a chat template (the byte tokenizer has none)")
    segs: list[tuple[str, bool]] = []
    done = ""
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prompt = tok.apply_chat_template(msgs[:i], add_generation_prompt=True)
        full = tok.apply_chat_template(msgs[: i + 1], add_generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise ConfigError("data.template: the tokenizer's chat template does not render turns as prefixes of each other")
        segs.append((prompt[len(done):], False))
        segs.append((full[len(prompt):], True))
        done = full
    return segs


def render_segments(row: dict[str, Any], template: str, tok: Any = None) -> list[tuple[str, bool]]:
    """(text, is_target) pieces of one record.

    >>> row = {"kind": "instruction", "instruction": "Add.", "input": "1+1", "output": "2"}
    >>> render_segments(row, "chatml")
    [('<|im_start|>user\\n', False), ('Add.\\n\\n1+1<|im_end|>', False), ('\\n', False), ('<|im_start|>assistant\\n', False), ('2<|im_end|>', True)]
    >>> render_segments({"kind": "text", "text": "wiki.org\\nHello"}, "alpaca")
    [('wiki.org\\nHello', True)]

    A row's ``prefix`` (from ``assemble.prefix``) goes before the prompt, or in a system line:

    >>> render_segments({**row, "prefix": "example.org\\n"}, "chatml")[:2]
    [('<|im_start|>system\\n', False), ('example.org<|im_end|>', False)]
    """
    kind = row.get("kind") or "text"
    prefix = row.get("prefix") or ""
    if kind == "text":  # assembly put the prefix into the text itself
        return [(row.get("text") or "", True)]
    if kind == "instruction":
        if template in ALPACA_PROMPTS:
            prompts = ALPACA_PROMPTS[template]
            prompt = prompts["with_input" if row.get("input") else "no_input"].format(
                instruction=row.get("instruction") or "", input=row.get("input") or ""
            )
            return [(prefix + prompt, False), (row.get("output") or "", True)]
        msgs = _instruction_messages(row)
    elif kind == "chat":
        msgs = _chat_messages(row)
    else:
        raise TrainError(f"data.train: unknown kind {kind!r} in row {row.get('id')!r}")
    msgs = _with_prefix_line(msgs, prefix)
    if template == "chatml":
        return _chatml_segments(msgs)
    if template in ALPACA_PROMPTS:
        return _alpaca_chat_segments(msgs, ALPACA_PROMPTS[template])
    if template == "tokenizer":
        return _tokenizer_template_segments(msgs, tok)
    raise ConfigError(f"data.template: unknown template {template!r}")


def encode_row(row: dict[str, Any], tok: Any, template: str, max_length: int, add_bos: bool = False) -> Optional[Example]:
    """Tokenize one record; ``None`` when it has nothing to learn from.

    Prompt tokens get no loss, the response and the final EOS do:

    >>> from assay.train.tokenizer import ByteTokenizer
    >>> tok = ByteTokenizer()
    >>> ex = encode_row({"kind": "instruction", "instruction": "Hi", "output": "ok"}, tok, "chatml", 64)
    >>> tok.decode([t for t in ex.labels if t != -100])
    'ok<|im_end|><eos>'
    """
    ids: list[int] = []
    target: list[bool] = []
    if add_bos and tok.bos_id is not None:
        ids.append(int(tok.bos_id))
        target.append(False)
    for text, is_target in render_segments(row, template, tok):
        if not text:
            continue
        piece = tok.encode(text)
        ids.extend(piece)
        target.extend([is_target] * len(piece))
    # end with EOS as a target; a template whose last turn already emits EOS keeps it
    last_target = max((i for i, t in enumerate(target) if t), default=-1)
    if last_target < 0:
        return None  # no response to learn (e.g. a chat without an assistant turn, an empty text)
    run_start = last_target
    while run_start > 0 and target[run_start - 1]:
        run_start -= 1
    # a chat template's turn may end "<eos>\n": cut after the EOS rather than add another
    eos_at = max((i for i in range(run_start, last_target + 1) if ids[i] == tok.eos_id), default=-1)
    if eos_at >= 0:
        del ids[eos_at + 1:], target[eos_at + 1:]
    else:
        ids.append(int(tok.eos_id))
        target.append(True)
    ids, target = ids[:max_length], target[:max_length]
    labels = [ids[t + 1] if target[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]
    if all(x == IGNORE for x in labels):
        return None
    return Example(ids, labels, str(row.get("source") or ""))


# --------------------------------------------------------------------------- packing


def pack_examples(examples: list[Example], max_length: int, packing: bool) -> list[list[Example]]:
    """First-fit-decreasing into rows of at most ``max_length`` tokens (ties keep stream order).

    >>> ex = lambda n: Example([1] * n, [1] * n, "s")
    >>> [[len(e) for e in row] for row in pack_examples([ex(3), ex(6), ex(2), ex(5)], 8, True)]
    [[6, 2], [5, 3]]
    """
    if not packing:
        return [[e] for e in examples]
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i]))
    rows: list[list[Example]] = []
    room: list[int] = []
    for i in order:
        n = len(examples[i])
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(examples[i])
                room[r] -= n
                break
        else:
            rows.append([examples[i]])
            room.append(max_length - n)
    return rows


@dataclass
class Batch:
    input_ids: Any  # LongTensor (B, L)
    labels: Any  # LongTensor (B, L), shifted, IGNORE where no loss
    position_ids: Any  # LongTensor (B, L), restarting at 0 for every example
    segment_ids: Any  # LongTensor (B, L), 1.. per example in its row, 0 for padding
    sources: list[list[str]] = field(default_factory=list)  # per row, per segment (1-based -> index-1)
    packed: bool = True
    example_lengths: list[int] = field(default_factory=list)

    @property
    def n_targets(self) -> int:
        return int((self.labels != IGNORE).sum())

    @property
    def n_tokens(self) -> int:
        return int((self.segment_ids > 0).sum())

    def to(self, device: Any) -> "Batch":
        return Batch(
            self.input_ids.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.position_ids.to(device, non_blocking=True),
            self.segment_ids.to(device, non_blocking=True),
            self.sources,
            self.packed,
            self.example_lengths,
        )


def collate(rows: list[list[Example]], pad_id: int, pad_to: Optional[int] = None, packed: bool = True, multiple: int = 8) -> Batch:
    import torch

    longest = max(sum(len(e) for e in row) for row in rows)
    length = pad_to if pad_to is not None else -(-longest // multiple) * multiple
    B = len(rows)
    input_ids = torch.full((B, length), pad_id, dtype=torch.long)
    labels = torch.full((B, length), IGNORE, dtype=torch.long)
    position_ids = torch.arange(length, dtype=torch.long).repeat(B, 1)
    segment_ids = torch.zeros((B, length), dtype=torch.long)
    sources: list[list[str]] = []
    lengths: list[int] = []
    for b, row in enumerate(rows):
        pos = 0
        for k, ex in enumerate(row, start=1):
            n = len(ex)
            input_ids[b, pos:pos + n] = torch.tensor(ex.input_ids)
            labels[b, pos:pos + n] = torch.tensor(ex.labels)
            position_ids[b, pos:pos + n] = torch.arange(n)
            segment_ids[b, pos:pos + n] = k
            lengths.append(n)
            pos += n
        if pos < length:
            position_ids[b, pos:] = torch.arange(length - pos)
        sources.append([ex.source for ex in row])
    if torch.cuda.is_available():
        input_ids, labels, position_ids, segment_ids = (t.pin_memory() for t in (input_ids, labels, position_ids, segment_ids))
    return Batch(input_ids, labels, position_ids, segment_ids, sources, packed, lengths)


def block_causal_mask(segment_ids: Any) -> Any:
    """Boolean (B, 1, L, L) mask: a token sees earlier tokens of its own example only.

    Padding (segment 0) sees earlier padding only, so no row is fully masked.
    """
    import torch

    L = segment_ids.shape[1]
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    causal = torch.ones(L, L, dtype=torch.bool, device=segment_ids.device).tril()
    return (same & causal)[:, None, :, :]


# --------------------------------------------------------------------------- streams


Position = tuple[int, int, int]  # (epoch, start raw row of the window, row offset inside it)


class RowStream:
    """Endless stream of packed rows, each with the data position that follows it."""

    def __init__(self, files: list[Path], tok: Any, *, template: str, max_length: int, packing: bool,
                 seed: int, shuffle_buffer_size: int, pack_window: int, held_out_fraction: float = 0.0,
                 add_bos: bool = False, read_batch_rows: int = 1024) -> None:
        self.files = files
        self.tok = tok
        self.template = template
        self.max_length = max_length
        self.packing = packing
        self.seed = seed
        self.shuffle_buffer_size = shuffle_buffer_size
        self.pack_window = pack_window
        self.held_out_fraction = held_out_fraction
        self.add_bos = add_bos
        self.read_batch_rows = read_batch_rows
        self.dropped = 0  # rows with nothing to learn from

    def epoch_rows(self, epoch: int) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"assay-train/{self.seed}/{epoch}")
        files = list(self.files)
        rng.shuffle(files)
        rows = iter_rows(files, self.read_batch_rows, held_out_fraction=self.held_out_fraction, split="train")
        return shuffle_buffer(rows, self.shuffle_buffer_size, rng)

    def rows_from(self, position: Position = (0, 0, 0)) -> Iterator[tuple[list[Example], Position]]:
        epoch, start, offset = position
        while True:
            raw_rows = self.epoch_rows(epoch)
            for _ in islice(raw_rows, start):  # replay without tokenizing
                pass
            index = start
            produced = False
            while True:
                window = list(islice(raw_rows, self.pack_window))
                if not window:
                    break
                examples = []
                for r in window:
                    ex = encode_row(r, self.tok, self.template, self.max_length, self.add_bos)
                    if ex is None:
                        self.dropped += 1
                    else:
                        examples.append(ex)
                rows = pack_examples(examples, self.max_length, self.packing)
                if self.packing:
                    random.Random(f"assay-pack/{self.seed}/{epoch}/{index}").shuffle(rows)
                end = index + len(window)
                for j in range(offset, len(rows)):
                    produced = True
                    yield rows[j], ((epoch, index, j + 1) if j + 1 < len(rows) else (epoch, end, 0))
                offset = 0
                index = end
            if not produced and start == 0 and position[2] == 0:
                raise TrainError("data.train: the shards hold no usable training examples")
            epoch, start, offset, position = epoch + 1, 0, 0, (epoch + 1, 0, 0)


def batches_from(rows: Iterator[tuple[list[Example], Position]], batch_size: int, pad_id: int,
                 pad_to: Optional[int], packed: bool, rank: int = 0, world_size: int = 1) -> Iterator[tuple[Batch, Position]]:
    """Micro-batches of ``batch_size`` rows for this rank; every rank walks the same global rows."""
    while True:
        taken = list(islice(rows, batch_size * world_size))
        if len(taken) < batch_size * world_size:
            return
        mine = [row for row, _ in taken[rank::world_size]]
        yield collate(mine, pad_id, pad_to, packed), taken[-1][1]


class Prefetch:
    """Runs an iterator in a background thread, ``depth`` items ahead, so tokenizing and
    packing the next batches overlaps the accelerator's work on this one."""

    _END = object()

    def __init__(self, iterator: Iterator[Any], depth: int = 4) -> None:
        import queue
        import threading

        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=depth)
        self._iterator = iterator
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._iterator:
                if not self._put(item):
                    return
        except BaseException as err:  # handed to the consumer
            self._put(err)
            return
        self._put(self._END)

    def close(self) -> None:
        """Stop the producer (it may be blocked on a full queue of an endless stream)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def __iter__(self) -> "Prefetch":
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item


def eval_examples(files: list[Path], tok: Any, *, template: str, max_length: int, held_out_fraction: float,
                  limit: int, add_bos: bool = False) -> list[Example]:
    """Held-out examples in file order: every row of explicit eval shards (fraction 0), or
    the rows whose id falls into the held-out fraction of the training shards."""
    out: list[Example] = []
    for r in iter_rows(files, held_out_fraction=held_out_fraction, split="eval"):
        ex = encode_row(r, tok, template, max_length, add_bos)
        if ex is not None:
            out.append(ex)
            if len(out) >= limit:
                break
    return out
