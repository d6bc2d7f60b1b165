"""The training recipe: setup, loop, eval, checkpoint — in plain code, top to bottom.

    from assay.train import Trainer
    records = Trainer("train.yaml", overrides=["train.steps=30"]).train()

Loss: the sum of token cross-entropies over a whole optimizer step (all gradient
accumulation micro-batches, all ranks) divided by that step's number of target tokens,
so long and short examples weigh per token whatever the batching or packing.

Checkpoints (``output.dir/checkpoint-STEP/``), all in safetensors + JSON (no pickles):
``adapter/`` (peft) or ``model/`` (full fine-tuning), ``tokenizer/``, ``optimizer.safetensors``
(+ its param groups in ``trainer_state.json``), ``rng.safetensors`` (torch CPU/CUDA
generators), and ``trainer_state.json`` (step, data position, schedule, config). A random
base model is saved once to ``output.dir/base_model/`` so resume and merge see the same
weights. ``resume=True`` continues from the newest checkpoint at the exact next example.

Multi-GPU: launched with ``torchrun --nproc-per-node N -m assay.cli train CFG`` (or
``accelerate launch``), each rank trains on its share of every step's rows under DDP, or
FSDP2 (``train.distributed: fsdp``: every transformer block sharded, full-state
checkpoints gathered on rank 0); the target-token count is all-reduced so the loss is the
same as on one device.
"""
from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Optional

from assay.errors import ConfigError, TrainError
from assay.train.config import TrainConfig, load_config
from assay.train.data import (
    IGNORE,
    Prefetch,
    RowStream,
    batches_from,
    collate,
    eval_examples,
    pack_examples,
    resolve_shards,
)
from assay.train.methods import adalora_orth_reg, apply_method, check_method_supported, is_prompt_learning
from assay.train.models import UNPACKABLE_FAMILIES, TargetOnlyHead, build_model, model_family, target_cross_entropy
from assay.train.tokenizer import load_tokenizer

__all__ = ["Trainer", "run_train", "lr_at", "latest_checkpoint", "PEAK_TFLOPS"]

# dense bf16 tensor-core peaks, for the MFU estimate
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "4090": 165.0}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warmup, then decay.

    >>> from assay.train.config import load_config_dict
    >>> c = load_config_dict({"model": {"random": {}}, "data": {"train": "x"}, "output": {"dir": "o"},
    ...                       "train": {"steps": 10, "lr": 1.0, "warmup_steps": 2, "min_lr_ratio": 0.0}})
    >>> [round(lr_at(s, c), 3) for s in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.5, 0.038]
    """
    t = cfg.train
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    if t.schedule == "constant":
        return t.lr
    span = max(t.steps - t.warmup_steps, 1)
    progress = (step - t.warmup_steps) / span
    floor = t.lr * t.min_lr_ratio
    if t.schedule == "linear":
        return floor + (t.lr - floor) * (1 - progress)
    return floor + (t.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def latest_checkpoint(out_dir: str | Path) -> Optional[Path]:
    found = []
    for p in Path(out_dir).glob("checkpoint-*"):
        if (p / "trainer_state.json").is_file() and p.name.split("-")[-1].isdigit():
            found.append((int(p.name.split("-")[-1]), p))
    return max(found)[1] if found else None


def _unwrap(model: Any) -> Any:
    return getattr(model, "module", model)


class Trainer:
    """``Trainer(config).train()``; ``config`` is a TrainConfig, a dict or a YAML path."""

    def __init__(self, config: TrainConfig | dict | str | Path, overrides: list[str] | tuple[str, ...] = (), resume: bool = False) -> None:
        if isinstance(config, TrainConfig):
            self.cfg = load_config(raw=config.model_dump(), overrides=overrides) if overrides else config
        elif isinstance(config, dict):
            self.cfg = load_config(raw=config, overrides=overrides)
        else:
            self.cfg = load_config(config, overrides)
        self.resume = resume
        self.records: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        import torch

        cfg = self.cfg
        self.out_dir = Path(cfg.output.dir)

        # distributed (torchrun sets these); one process otherwise
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.fsdp = self.world_size > 1 and cfg.train.distributed == "fsdp"
        if self.world_size > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.train.device != "cpu" else "gloo"
            torch.distributed.init_process_group(backend)
        if cfg.train.device == "cuda" or (cfg.train.device == "auto" and torch.cuda.is_available()):
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.is_main = self.rank == 0
        check_method_supported(cfg, self.device)
        # the shards first: a wrong data.train fails before a model is loaded
        dc = cfg.data
        eval_fraction = dc.eval_fraction if dc.eval is None else 0.0
        train_files = resolve_shards(dc.train, "data.train")
        eval_files = resolve_shards(dc.eval, "data.eval") if dc.eval is not None else (train_files if eval_fraction > 0 else [])

        # tokenizer and model
        mc = cfg.model
        self.tok = load_tokenizer(cfg.tokenizer, model_path=mc.path, gguf_file=mc.gguf)
        self.base_dir = self.out_dir / "base_model"
        self.checkpoint = latest_checkpoint(self.out_dir) if self.resume else None
        if self.resume and self.checkpoint is None:
            raise TrainError(f"output.dir: --resume found no checkpoint-* in {self.out_dir}")
        # a random base is made fresh by a new run and saved; a resume (and merge) loads it back
        saved_base = mc.random is not None and self.checkpoint is not None
        if mc.random is not None and self.checkpoint is None and (cfg.method == "qlora" or self.world_size > 1):
            # a 4-bit load (and every rank) needs the random weights on disk first
            if self.is_main:
                base, _ = build_model(mc, self.tok, seed=cfg.train.seed, device=torch.device("cpu"))
                base.save_pretrained(self.base_dir)
                del base
            if self.world_size > 1:
                torch.distributed.barrier()
            saved_base = True
        model, self.attn = build_model(
            mc, self.tok, seed=cfg.train.seed, device=self.device, quantize_4bit=cfg.method == "qlora",
            random_base_dir=self.base_dir if saved_base else None,
        )
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if mc.random is not None and not saved_base:
                model.save_pretrained(self.base_dir)
            self.tok.save(self.out_dir / "tokenizer")
            self._start_log()
        self.family = model_family(model)
        self.n_params = sum(p.numel() for p in model.parameters())
        self.n_embedding = _unwrap(model).get_input_embeddings().weight.numel()
        self.tied = bool(getattr(model.config, "tie_word_embeddings", False))
        self.cfg_model = model.config
        torch.manual_seed(cfg.train.seed)  # the same adapter initialisation on every rank, however the base was made
        model = apply_method(model, cfg)
        # the vocabulary projection runs on target positions only (not with virtual-token
        # methods, whose hidden states are longer than the labels)
        self.head = None if is_prompt_learning(cfg.method) else TargetOnlyHead(model.get_output_embeddings())
        self.n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if self.checkpoint is not None:
            self._load_weights(model, self.checkpoint)
        model.train()
        self.model = model
        if self.fsdp:
            self._shard(model)  # in place: the parameters become DTensor shards
        elif self.world_size > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.forward_model = torch.compile(self.model) if cfg.train.compile else self.model

        # optimizer: AdamW, no weight decay on biases and norms
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        decay = [p for n, p in params if p.ndim >= 2]
        no_decay = [p for n, p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": cfg.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=cfg.train.lr, betas=(cfg.train.beta1, cfg.train.beta2),
            fused=self.device.type == "cuda" and not self.fsdp,
        )
        weights_dtype = next(p.dtype for p in model.parameters())
        self.autocast = (
            torch.autocast(self.device.type, dtype=weights_dtype) if weights_dtype != torch.float32 else nullcontext()
        )

        # data
        self.packing = dc.packing
        if self.packing and is_prompt_learning(cfg.method):
            self._note(f"data.packing: {cfg.method} prepends virtual tokens to each sequence; training unpacked")
            self.packing = False
        if self.packing and self.family in UNPACKABLE_FAMILIES and self.attn != "flash_attention_2":
            self._note(f"data.packing: {self.family} models take only a 2D padding mask; training unpacked")
            self.packing = False
        self.stream = RowStream(
            train_files, self.tok, template=dc.template, max_length=dc.max_length, packing=self.packing,
            seed=cfg.train.seed, shuffle_buffer_size=dc.shuffle_buffer, pack_window=dc.pack_window,
            held_out_fraction=eval_fraction, add_bos=dc.add_bos, read_batch_rows=dc.read_batch_rows,
        )
        self.eval_batches = []
        if eval_files:
            examples = eval_examples(eval_files, self.tok, template=dc.template, max_length=dc.max_length,
                                     held_out_fraction=eval_fraction, limit=dc.eval_max_examples, add_bos=dc.add_bos)
            # every rank evaluates all of them (eval sets are small; no rank waits on another)
            rows = pack_examples(examples, dc.max_length, self.packing)
            bs = cfg.train.batch_size
            pad_to = dc.max_length if self.packing else None
            self.eval_batches = [collate(rows[i:i + bs], self.tok.pad_id, pad_to, self.packing) for i in range(0, len(rows), bs)]

        # state (a resumed run takes it from the checkpoint)
        self.step = 0
        self.position = (0, 0, 0)
        if self.checkpoint is not None:
            self._load_state(self.checkpoint)
        if self.rank > 0:  # dropout differs across ranks, reproducibly
            torch.manual_seed(cfg.train.seed + 1_000_003 * self.rank + self.step)

        # logs
        self.tb = None
        if self.is_main and cfg.output.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                self._note("output.tensorboard: the tensorboard package is not installed; logging JSONL only")
        self.peak_flops = self._peak_flops()

    # ------------------------------------------------------------------ loop
    def train(self) -> list[dict[str, Any]]:
        import torch

        if not hasattr(self, "model"):
            self.setup()
        cfg, t = self.cfg, self.cfg.train
        pad_to = cfg.data.max_length if self.packing else None
        batches = Prefetch(batches_from(self.stream.rows_from(self.position), t.batch_size, self.tok.pad_id, pad_to,
                                        self.packing, self.rank, self.world_size))
        progress = self._progress()
        window = self._new_window()
        adalora = cfg.method == "adalora"
        try:
            while self.step < t.steps:
                micro = [next(batches, None) for _ in range(t.grad_accum)]
                if any(m is None for m in micro):
                    raise TrainError("data.train: the stream ended unexpectedly")
                n_targets_total = float(sum(b.n_targets for b, _ in micro))  # counted on the CPU copies: no sync
                if self.world_size > 1:
                    n_targets = torch.tensor(n_targets_total, device=self.device, dtype=torch.float64)
                    torch.distributed.all_reduce(n_targets)
                    n_targets_total = float(n_targets.item())
                n_targets_total = max(n_targets_total, 1.0)
                lr = lr_at(self.step, cfg)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr

                step_loss = torch.zeros((), device=self.device, dtype=torch.float64)
                for i, (cpu_batch, _) in enumerate(micro):
                    batch = cpu_batch.to(self.device)
                    last = i == len(micro) - 1
                    if self.fsdp:
                        self.model.set_requires_gradient_sync(last)
                    sync = self.model.no_sync() if self.world_size > 1 and not self.fsdp and not last else nullcontext()
                    with sync:
                        with self.autocast:
                            ce_sum = target_cross_entropy(self.forward_model, batch, self.attn, self.head).sum()
                        # DDP averages gradients over ranks; scaling by world size makes it a global token mean
                        loss = ce_sum * (self.world_size / n_targets_total)
                        if adalora:
                            loss = loss + adalora_orth_reg(_unwrap(self.model), cfg.adalora.orth_reg_weight) / len(micro)
                        loss.backward()
                    step_loss += ce_sum.detach().double()
                    window["tokens"] += cpu_batch.n_tokens
                    window["slots"] += cpu_batch.input_ids.numel()
                    window["flops"] += self._batch_flops(cpu_batch)
                if t.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
                self.optimizer.step()
                if adalora:
                    _unwrap(self.model).base_model.update_and_allocate(self.step)
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                self.position = micro[-1][1]
                if self.world_size > 1:
                    torch.distributed.all_reduce(step_loss)
                window["losses"].append(step_loss)  # summed at log time: no GPU sync per step
                window["targets"] += int(n_targets_total)

                if self.step % t.log_every == 0 or self.step == t.steps:
                    self._log_train(window, lr)
                    window = self._new_window()
                paused = time.perf_counter()  # eval and saving do not count against tokens/s
                if self.eval_batches and ((t.eval_every and self.step % t.eval_every == 0) or self.step == t.steps):
                    self.evaluate()
                if (t.save_every and self.step % t.save_every == 0) or self.step == t.steps:
                    self.save_checkpoint()
                window["excluded"] += time.perf_counter() - paused
                if progress is not None:
                    last_loss = next((r["loss"] for r in reversed(self.records) if "loss" in r), float("nan"))
                    progress[0].update(progress[1], completed=self.step, loss=last_loss)
        finally:
            batches.close()
        if progress is not None:
            progress[0].stop()
        if self.tb is not None:
            self.tb.close()
        return self.records

    @staticmethod
    def _new_window() -> dict[str, Any]:
        return {"losses": [], "targets": 0, "tokens": 0, "slots": 0, "flops": 0.0, "start": time.perf_counter(), "excluded": 0.0}

    # ------------------------------------------------------------------ eval
    def evaluate(self) -> dict[str, Any]:
        """Token-mean loss on the held-out examples, overall and per ``source``."""
        import torch

        self.model.eval()
        # DDP's wrapper is bypassed (no collectives); FSDP's forward is collective, and every
        # rank runs the same batches
        eval_model = _unwrap(self.model) if self.world_size > 1 and not self.fsdp else self.forward_model
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        with torch.no_grad():
            for batch in self.eval_batches:
                batch = batch.to(self.device)
                with self.autocast:
                    ce_targets = target_cross_entropy(eval_model, batch, self.attn, self.head)
                target = batch.labels != IGNORE
                ce = torch.zeros(batch.labels.shape, dtype=ce_targets.dtype, device=ce_targets.device)
                ce[target] = ce_targets
                for b, sources in enumerate(batch.sources):
                    for k, source in enumerate(sources, start=1):
                        sel = target[b] & (batch.segment_ids[b] == k)
                        sums[source] += float(ce[b][sel].double().sum())
                        counts[source] += int(sel.sum())
        self.model.train()
        total = sum(counts.values())
        record = {
            "step": self.step,
            "eval_loss": sum(sums.values()) / max(total, 1),
            "eval_tokens": total,
            "eval_loss_by_source": {s: sums[s] / counts[s] for s in sorted(sums) if counts[s]},
        }
        self._emit(record)
        if self.tb is not None:
            self.tb.add_scalar("eval/loss", record["eval_loss"], self.step)
            for s, v in record["eval_loss_by_source"].items():
                self.tb.add_scalar(f"eval/loss/{s}", v, self.step)
        return record

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        import torch
        from safetensors.torch import save_file

        ckpt = self.out_dir / f"checkpoint-{self.step}"
        model_state = None
        if self.fsdp:  # gathering full tensors is collective: every rank takes part
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            model_state = get_model_state_dict(self.model, options=options)
            opt_state = get_optimizer_state_dict(self.model, self.optimizer, options=options)
        else:
            opt_state = self.optimizer.state_dict()
        if not self.is_main:
            return ckpt
        tmp = self.out_dir / f".tmp-checkpoint-{self.step}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model = _unwrap(self.model)
        extra = {"state_dict": model_state} if model_state is not None else {}
        if self.cfg.method == "full":
            model.save_pretrained(tmp / "model", **extra)
        else:
            model.save_pretrained(tmp / "adapter", **extra)
        self.tok.save(tmp / "tokenizer")
        # optimizer state keyed "PARAM/NAME"; PARAM is an index, or a parameter name under FSDP
        tensors, scalars = {}, {}
        for pid, state in opt_state["state"].items():
            for key, value in state.items():
                if torch.is_tensor(value):
                    tensors[f"{pid}/{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars[f"{pid}/{key}"] = value
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        rng = {"torch_cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                rng[f"torch_cuda_{i}"] = s
        save_file(rng, str(tmp / "rng.safetensors"))
        state = {
            "step": self.step,
            "data_position": list(self.position),
            "scheduler": {"schedule": self.cfg.train.schedule, "step": self.step, "lr": lr_at(max(self.step - 1, 0), self.cfg),
                          "warmup_steps": self.cfg.train.warmup_steps, "total_steps": self.cfg.train.steps},
            "optimizer_param_groups": [{k: v for k, v in g.items()} for g in opt_state["param_groups"]],
            "optimizer_scalars": scalars,
            "python_random": _json_random_state(),
            "method": self.cfg.method,
            "family": self.family,
            "base_model": self._base_model_ref(),
            "config": self.cfg.model_dump(mode="json"),
        }
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1))
        shutil.rmtree(ckpt, ignore_errors=True)
        tmp.rename(ckpt)
        keep = self.cfg.output.keep_checkpoints
        if keep:
            olds = sorted((int(p.name.split("-")[-1]), p) for p in self.out_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit())
            for _, p in olds[:-keep]:
                shutil.rmtree(p, ignore_errors=True)
        return ckpt

    def _shard(self, model: Any) -> None:
        """FSDP2: shard every transformer block, then the rest (embeddings, norm, head)."""
        import torch
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        block_names = set(getattr(base, "_no_split_modules", None) or [])
        if not block_names:
            raise ConfigError(f"train.distributed: fsdp does not know the blocks of a {self.family} model")
        dtype = next(p.dtype for p in base.parameters())
        policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32) if dtype != torch.float32 else MixedPrecisionPolicy()
        for module in model.modules():
            if type(module).__name__ in block_names:
                fully_shard(module, mp_policy=policy)
        fully_shard(model, mp_policy=policy)

    def _base_model_ref(self) -> dict[str, Any]:
        mc = self.cfg.model
        if mc.random is not None:
            return {"path": str(self.base_dir.resolve())}
        if mc.path is not None:
            return {"path": str(Path(mc.path).resolve())}
        return {"gguf": str(Path(mc.gguf or "").resolve())}

    def _load_weights(self, model: Any, ckpt: Path) -> None:
        from safetensors.torch import load_file

        folder = ckpt / ("model" if self.cfg.method == "full" else "adapter")
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise TrainError(f"{folder}: no safetensors weights to resume from")
        saved: dict[str, Any] = {}
        for f in files:
            saved.update(load_file(str(f)))
        if self.cfg.method == "full":
            result = model.load_state_dict(saved, strict=False)
            missing = [k for k in result.missing_keys if k in dict(model.named_parameters())]
            if missing:
                raise TrainError(f"{folder}: weights missing for {missing[:5]}")
        else:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(model, saved)

    def _load_state(self, ckpt: Path) -> None:
        import torch
        from safetensors.torch import load_file

        state = json.loads((ckpt / "trainer_state.json").read_text())
        self.step = int(state["step"])
        self.position = tuple(state["data_position"])
        tensors = load_file(str(ckpt / "optimizer.safetensors"))
        opt_state: dict[str, Any] = {"state": {}, "param_groups": state["optimizer_param_groups"]}

        def param_id(text: str) -> Any:
            return int(text) if text.isdigit() else text

        for key, value in tensors.items():
            pid, name = key.rsplit("/", 1)
            on_device = value if name == "step" or self.fsdp else value.to(self.device)
            opt_state["state"].setdefault(param_id(pid), {})[name] = on_device
        for key, value in state.get("optimizer_scalars", {}).items():
            pid, name = key.rsplit("/", 1)
            opt_state["state"].setdefault(param_id(pid), {})[name] = value
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.model, self.optimizer, optim_state_dict=opt_state,
                                     options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(opt_state)
        rng = load_file(str(ckpt / "rng.safetensors"))
        torch.set_rng_state(rng["torch_cpu"])
        if torch.cuda.is_available():
            cuda_states = [rng[k] for k in sorted(k for k in rng if k.startswith("torch_cuda_"))]
            if cuda_states:
                torch.cuda.set_rng_state_all(cuda_states)
        if state.get("python_random") is not None:
            random.setstate(_python_random_state(state["python_random"]))
        self._note(f"resumed from {ckpt} at step {self.step}, data position {self.position}")

    # ------------------------------------------------------------------ logging
    def _batch_flops(self, batch: Any) -> float:
        """Training FLOPs of one micro-batch: matmuls (2 per weight per token forward, 2
        backward for input gradients, 2 more for trainable weights' gradients) plus causal
        attention per example (QK^T and AV over its own length)."""
        matmul_params = self.n_params - (0 if self.tied else self.n_embedding)
        tokens = batch.n_tokens
        flops = tokens * (4 * matmul_params + 2 * min(self.n_trainable, matmul_params))
        cfg = self.cfg_model
        hidden = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", 0)
        layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", 0)
        attn_fwd = sum(2 * n * n * hidden * layers for n in batch.example_lengths)  # causal: half of 2 matmuls of 2*n*n*d
        return float(flops + 3 * attn_fwd)

    def _peak_flops(self) -> Optional[float]:
        import torch

        if self.cfg.train.peak_tflops:
            return self.cfg.train.peak_tflops * 1e12
        if self.device.type != "cuda":
            return None
        name = torch.cuda.get_device_name(self.device)
        for key, tflops in PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12
        return None

    def _peak_memory_gb(self) -> float:
        import torch

        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux

    def _log_train(self, window: dict[str, Any], lr: float) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = max(time.perf_counter() - window["start"] - window["excluded"], 1e-9)
        loss_sum = float(torch.stack(window["losses"]).sum().item()) if window["losses"] else 0.0
        tokens = window["tokens"] * self.world_size
        record = {
            "step": self.step,
            "loss": loss_sum / max(window["targets"], 1),
            "lr": lr,
            "tokens_per_s": tokens / elapsed,
            "target_tokens": window["targets"],
            "padding_fraction": 1 - window["tokens"] / max(window["slots"], 1),
            "mfu": (window["flops"] / elapsed / self.peak_flops) if self.peak_flops else None,
            "peak_mem_gb": self._peak_memory_gb(),
            "data_position": list(self.position),
        }
        self._emit(record)
        if self.tb is not None:
            for key in ("loss", "lr", "tokens_per_s", "padding_fraction", "mfu", "peak_mem_gb"):
                if record[key] is not None:
                    self.tb.add_scalar(f"train/{key}", record[key], self.step)

    def _start_log(self) -> None:
        """A new run starts an empty log; a resumed one keeps the records up to its checkpoint."""
        self.log_path = self.out_dir / "log.jsonl"
        kept: list[str] = []
        if self.checkpoint is not None and self.log_path.is_file():
            step = int(json.loads((self.checkpoint / "trainer_state.json").read_text())["step"])
            kept = [line for line in self.log_path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= step]
        self.log_path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def _emit(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def _note(self, message: str) -> None:
        if int(os.environ.get("RANK", "0")) == 0:
            from rich.console import Console

            Console(stderr=True).print(f"[dim]assay train:[/dim] {message}")

    def _progress(self) -> Optional[tuple[Any, Any]]:
        if not (self.is_main and self.cfg.output.progress):
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("[bold]train[/bold]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
        )
        task = progress.add_task("train", total=self.cfg.train.steps, completed=self.step, loss=float("nan"))
        progress.start()
        return progress, task


def _json_random_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _python_random_state(saved: list[Any]) -> tuple[Any, ...]:
    return (saved[0], tuple(saved[1]), saved[2])


def run_train(config_path: str | Path, overrides: list[str] | tuple[str, ...] = (), resume: bool = False) -> list[dict[str, Any]]:
    """Train from a YAML config; returns the logged records (also in ``output.dir/log.jsonl``).

    CLI: ``assay train CONFIG.yaml [--set key=value ...] [--resume]``.
    """
    return Trainer(config_path, overrides=overrides, resume=resume).train()
