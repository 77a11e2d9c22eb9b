"""Training throughput of the finetune stage, per adaptation mode, against plain
sentence-transformers scripts with the same settings.

    python bench/bench_finetune.py --base models/base --triplets data/triplets --out bench_finetune.json

Each measurement runs in its own process (fresh memory and thread pools) for --warmup + --steps
optimizer steps on the real triplets, with the finetune section of --params (or of --config, a YAML
file with seed/model/finetune sections). Throughput = training rows per second over the timed
steps, wall clock from the end of the last warm-up step to the end of the last step (so logging
and data loading count). Every measurement is repeated --repeats times, interleaved, and the
median is kept, which damps noise from other processes on a shared machine.

- pipeline:<mode> trains through wb_embedder.training (build_trainer: label-aware losses,
  DVCLive callback, prompts per task) with finetune.mode/loss overridden per mode;
- plain:lora is a plain sentence-transformers script with the same model, LoRA settings, batches,
  samplers, prompts and MNRL losses: target ratio pipeline:lora / plain:lora >= 0.95;
- plain:full is naive full fine-tuning (every weight, plain MNRL): target default / naive >= 1.5.

``--cprofile REPORT`` instead runs each of --runs once under cProfile and writes, per run, the
time of the training call spent in the parts where the pipeline differs from the plain script
(label-aware loss and its mask, the DVCLive curves, the model-card callback, prompts and data
collation, batch sampling), next to the forward/backward totals. cProfile slows Python-heavy code
more than the matrix products, so these shares bound the overhead; they are not throughput.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


logger = logging.getLogger("bench_finetune")

PIPELINE_MODES = {
    "lora": {},
    "full": {"mode": "full", "freeze_word_embeddings": False},
    "full_frozen": {"mode": "full", "freeze_word_embeddings": True},
    "cached": {"loss": {"retrieval": "cached_mnrl", "classification": "cached_mnrl", "pairwise": "cached_mnrl"}},
}
RUNS = [*(f"pipeline:{m}" for m in PIPELINE_MODES), "plain:lora", "plain:full"]
TARGET_OVERHEAD = 0.95
TARGET_SPEEDUP = 1.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=Path("models/base"))
    parser.add_argument("--triplets", type=Path, default=Path("data/triplets"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--config", type=Path, help="YAML with seed/model/finetune sections (instead of --params)")
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", nargs="+", default=RUNS, choices=RUNS)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per measurement (0: torch's default); 1 steadies figures on a busy machine",
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--cprofile", type=Path, help="profile each run once with cProfile; write the report here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one measurement, print JSON
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)  # internal: cProfile stats file
    return parser.parse_args(argv)


def load_sections(args: argparse.Namespace) -> dict[str, Any]:
    from wb_embedder.io import read_yaml

    raw = read_yaml(args.config or args.params)
    if "finetune" not in raw:
        raise SystemExit(f"{args.config or args.params} has no finetune section; pass --config")
    return {"seed": raw["seed"], "model": raw["model"], "finetune": raw["finetune"]}


def _deep_update(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        out[key] = _deep_update(out[key], value) if isinstance(value, dict) else value
    return out


class StepClock:
    """A TrainerCallback (duck-typed) recording the wall time at the end of each step."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.cpu_ends: list[float] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())


def _clock_callback() -> Any:
    from transformers import TrainerCallback

    class Clock(StepClock, TrainerCallback):
        pass

    return Clock()


PROFILE_DUMP: Path | None = None  # set by --dump: profile the training call into this file


def _train(trainer: Any) -> None:
    if PROFILE_DUMP is None:
        trainer.train()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.runcall(trainer.train)
    profiler.dump_stats(str(PROFILE_DUMP))


def _measure(trainer: Any, clock: StepClock, batch_size: int, warmup: int) -> dict[str, float]:
    _train(trainer)
    first = warmup - 1 if warmup else 0
    timed = len(clock.ends) - 1 - first
    seconds = clock.ends[-1] - clock.ends[first]
    cpu_seconds = clock.cpu_ends[-1] - clock.cpu_ends[first]
    return {
        "steps": timed,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "samples_per_second": timed * batch_size / seconds,
        # Rows per second of this process's CPU time: what a dedicated machine would give, and
        # steady when other processes share the cores (wall-clock figures then are not).
        "samples_per_cpu_second": timed * batch_size / cpu_seconds,
    }


def run_pipeline(mode: str, sections: dict[str, Any], args: argparse.Namespace, work: Path) -> dict[str, float]:
    from wb_embedder.config import ModelConfig
    from wb_embedder.training.run import FinetunePaths, build_trainer
    from wb_embedder.training.schema import FinetuneConfig

    raw = _deep_update(sections["finetune"], PIPELINE_MODES[mode])
    raw = _deep_update(raw, {"max_steps": args.warmup + args.steps, "checkpoint": {"save_steps": 10**9}})
    cfg = FinetuneConfig.model_validate(raw)
    paths = FinetunePaths(
        base=args.base, triplets=args.triplets, out=work / "out", checkpoints=work / "ckpt", live=work / "live"
    )
    clock = _clock_callback()
    session = build_trainer(cfg, ModelConfig.model_validate(sections["model"]), int(sections["seed"]), paths, [clock])
    result = _measure(session.trainer, clock, cfg.batch_size, args.warmup)
    return {**result, "trainable_parameters": session.counts["trainable"]}


def run_plain(mode: str, sections: dict[str, Any], args: argparse.Namespace, work: Path) -> dict[str, float]:
    """What a user would write with sentence-transformers alone, with the same settings."""
    import pandas as pd
    from datasets import Dataset
    from peft import LoraConfig, TaskType
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
    from transformers import enable_full_determinism, set_seed

    ft, model_cfg, seed = sections["finetune"], sections["model"], int(sections["seed"])
    enable_full_determinism(seed) if ft["full_determinism"] else set_seed(seed)
    manifest = json.loads((args.triplets / "manifest.json").read_text(encoding="utf-8"))
    model = SentenceTransformer(str(args.base.resolve()), device="cpu", local_files_only=True)
    model.max_seq_length = model_cfg["max_seq_length"]
    if mode == "lora":
        lora = ft["lora"]
        layers = model.transformers_model.config.num_hidden_layers
        top = lora.get("top_layers")
        model.add_adapter(
            LoraConfig(
                task_type=TaskType.FEATURE_EXTRACTION,
                r=lora["r"],
                lora_alpha=lora["alpha"],
                lora_dropout=lora["dropout"],
                target_modules=lora["target_modules"],
                layers_to_transform=list(range(layers - top, layers)) if top else None,
            )
        )
    datasets, prompts = {}, {}
    for task in sorted(manifest["tasks"]):
        frame = pd.read_parquet(args.triplets / manifest["tasks"][task]["file"])
        frame = frame.drop(columns=[c for c in ("label",) if c in frame])
        datasets[task] = Dataset.from_pandas(frame, preserve_index=False)
        p = model_cfg["prompts"][task]
        prompts[task] = {c: p["query"] if c == "anchor" else p["document"] for c in frame.columns}
    losses = {task: MultipleNegativesRankingLoss(model, scale=ft["loss"]["scale"]) for task in datasets}
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(work / "plain"),
        per_device_train_batch_size=ft["batch_size"],
        max_steps=args.warmup + args.steps,
        learning_rate=ft["learning_rate"],
        weight_decay=ft["weight_decay"],
        warmup_steps=ft["warmup_ratio"],
        lr_scheduler_type=ft["lr_scheduler"],
        max_grad_norm=ft["max_grad_norm"],
        use_cpu=True,
        seed=seed,
        data_seed=seed,
        full_determinism=ft["full_determinism"],
        dataloader_drop_last=ft["drop_last"],
        logging_steps=ft["logging_steps"],
        save_strategy="no",
        report_to="none",
        batch_sampler=BatchSamplers.NO_DUPLICATES
        if ft["batch_sampler"] == "no_duplicates"
        else BatchSamplers.BATCH_SAMPLER,
        multi_dataset_batch_sampler=(
            MultiDatasetBatchSamplers.ROUND_ROBIN
            if ft["multi_dataset_sampler"] == "round_robin"
            else MultiDatasetBatchSamplers.PROPORTIONAL
        ),
        prompts=prompts,
    )
    clock = _clock_callback()
    trainer = SentenceTransformerTrainer(
        model=model, args=training_args, train_dataset=datasets, loss=losses, callbacks=[clock]
    )
    result = _measure(trainer, clock, ft["batch_size"], args.warmup)
    return {**result, "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def run_one(name: str, args: argparse.Namespace) -> dict[str, float]:
    import torch

    global PROFILE_DUMP
    PROFILE_DUMP = args.dump

    if args.threads:
        torch.set_num_threads(args.threads)
    sections = load_sections(args)
    kind, mode = name.split(":")
    with tempfile.TemporaryDirectory(prefix="ft_bench_") as work:
        runner = run_pipeline if kind == "pipeline" else run_plain
        result = runner(mode, sections, args, Path(work))
    # One process per measurement, so the process's own peak is this mode's peak memory.
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["load_1min"] = os.getloadavg()[0]
    return result


# (label, test on a profiled function's (file, line, name)): where the pipeline differs from the
# plain script, and the totals they are compared against.
PROFILE_PARTS = [
    ("training call (total)", lambda f, n: n == "train" and f.endswith("trainer.py")),
    ("forward + loss + backward (training_step)", lambda f, n: n == "training_step"),
    ("  of which backward (torch autograd)", lambda f, n: n == "backward" and "torch" in f and "_tensor" in f),
    (
        "  of which label-aware loss (LabelAwareMNRL)",
        lambda f, n: n == "compute_loss_from_embeddings" and "wb_embedder" in f,
    ),
    ("    of which the label mask", lambda f, n: n == "label_unsafe_mask"),
    (
        "  of which plain MNRL loss",
        lambda f, n: n == "compute_loss_from_embeddings" and "multiple_negatives" in f.lower(),
    ),
    ("optimizer step", lambda f, n: n == "step" and "torch/optim" in f),
    ("log / save after each step (_maybe_log_save_evaluate)", lambda f, n: n == "_maybe_log_save_evaluate"),
    (
        "  of which DVCLive curves (StepCurves.on_log)",
        lambda f, n: n == "on_log" and f.endswith("wb_embedder/training/callbacks.py"),
    ),
    ("    of which DVCLive sync (summary, studio queue)", lambda f, n: n == "sync" and f.endswith("dvclive/live.py")),
    ("  of which model-card callback (on_log)", lambda f, n: n == "on_log" and "model_card" in f),
    ("  of which checkpoint saving (_save_checkpoint)", lambda f, n: n == "_save_checkpoint"),
    ("data collation (collator __call__)", lambda f, n: n == "__call__" and "data_collator" in f),
    ("  of which prompts + tokenisation (preprocess)", lambda f, n: n == "preprocess" and "sentence_transformers" in f),
    ("batch sampling (sampler __iter__)", lambda f, n: n == "__iter__" and "sampler" in f),
]


def profile_report(dumps: dict[str, Path]) -> str:
    """Cumulative seconds per part (the outermost call of each matching function), per run."""
    import pstats

    columns = {}
    for name, path in dumps.items():
        stats = pstats.Stats(str(path)).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
        column = {}
        for label, test in PROFILE_PARTS:
            hits = {key: value for key, value in stats.items() if test(key[0], key[2])}
            # Count only calls not made from inside another matching function (no double counting).
            column[label] = sum(v[3] for k, v in hits.items() if not set(v[4]) & set(hits))
        columns[name] = column
    total = "training call (total)"
    lines = ["| part | " + " | ".join(f"{n} s | {n} %" for n in columns) + " |",
             "|---|" + "---|---|" * len(columns)]
    for label, _ in PROFILE_PARTS:
        cells = []
        for column in columns.values():
            share = 100 * column[label] / column[total] if column[total] else 0.0
            cells += [f"{column[label]:.2f}", f"{share:.1f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_profiles(args: argparse.Namespace, passthrough: list[str]) -> None:
    # Kept after the run (the path is printed) for a closer look with pstats.
    tmp = tempfile.mkdtemp(prefix="ft_cprofile_")
    dumps = {}
    for name in args.runs:
        dumps[name] = Path(tmp) / f"{name.replace(':', '_')}.prof"
        cmd = [sys.executable, __file__, *_strip_out(passthrough), "--one", name, "--dump", str(dumps[name])]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    load = os.getloadavg()[0]
    report = (
        f"cProfile of {args.warmup + args.steps} optimizer steps per run (one run each, load {load:.2f} at the end); "
        "seconds are cumulative inside the training call, % of that call\n\n" + profile_report(dumps)
    )
    print(report + f"\nprofiles kept in {tmp}")
    args.cprofile.parent.mkdir(parents=True, exist_ok=True)
    args.cprofile.write_text(report, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args)))
        return
    if args.cprofile:
        run_profiles(args, list(argv if argv is not None else sys.argv[1:]))
        return
    sections = load_sections(args)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in args.runs}
    passthrough = list(argv if argv is not None else sys.argv[1:])
    for repeat in range(args.repeats):
        for name in args.runs:
            cmd = [sys.executable, __file__, *_strip_out(passthrough), "--one", name]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if done.returncode or line is None:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            samples[name].append(json.loads(line[len("RESULT ") :]))
            last = samples[name][-1]
            print(
                f"  repeat {repeat + 1} {name:22s} {last['samples_per_second']:7.2f} rows/s wall, "
                f"{last['samples_per_cpu_second']:7.2f} rows/cpu-s, load {last['load_1min']:.2f}",
                flush=True,
            )
    rate = {name: statistics.median(s["samples_per_second"] for s in runs) for name, runs in samples.items()}
    cpu_rate = {name: statistics.median(s["samples_per_cpu_second"] for s in runs) for name, runs in samples.items()}
    report: dict[str, Any] = {
        "batch_size": sections["finetune"]["batch_size"],
        "max_seq_length": sections["model"]["max_seq_length"],
        "timed_steps": args.steps,
        "warmup_steps": args.warmup,
        "repeats": args.repeats,
        "threads": args.threads or "default",
        "samples_per_second": rate,
        "samples_per_cpu_second": cpu_rate,
        "trainable_parameters": {name: runs[0]["trainable_parameters"] for name, runs in samples.items()},
        "peak_rss_mib": {name: round(max(s["peak_rss_mib"] for s in runs)) for name, runs in samples.items()},
        # Every measurement, in run order: throughput on both clocks and the load when it ended.
        "measurements": {
            name: [
                {k: round(s[k], 3) for k in ("samples_per_second", "samples_per_cpu_second", "load_1min")}
                for s in runs
            ]
            for name, runs in samples.items()
        },
    }
    print(
        f"batch {report['batch_size']}, max_seq_length {report['max_seq_length']}, "
        f"{args.steps} timed steps x {args.repeats} repeats (median):"
    )
    for name in args.runs:
        print(
            f"  {name:22s} {rate[name]:7.2f} rows/s wall  {cpu_rate[name]:7.2f} rows/cpu-s  "
            f"({report['trainable_parameters'][name]:,} trainable, peak {report['peak_rss_mib'][name]:,} MiB)"
        )
    # Ratios on both clocks: CPU time is the steady one when other processes share the machine.
    for key, (num, den), target in (
        ("pipeline_vs_plain", ("pipeline:lora", "plain:lora"), TARGET_OVERHEAD),
        ("default_vs_naive_full", ("pipeline:lora", "plain:full"), TARGET_SPEEDUP),
    ):
        if {num, den} <= rate.keys():
            report[key] = {"wall": rate[num] / rate[den], "cpu": cpu_rate[num] / cpu_rate[den], "target": target}
            for clock, field in (("wall", "samples_per_second"), ("cpu", "samples_per_cpu_second")):
                per_repeat = [a[field] / b[field] for a, b in zip(samples[num], samples[den], strict=True)]
                report[key][f"{clock}_per_repeat"] = {
                    "median": statistics.median(per_repeat),
                    "min": min(per_repeat),
                    "max": max(per_repeat),
                    "values": [round(r, 3) for r in per_repeat],
                }
            wall, cpu = report[key]["wall_per_repeat"], report[key]["cpu_per_repeat"]
            print(
                f"{num} / {den}: {report[key]['wall']:.2f}x wall, {report[key]['cpu']:.2f}x cpu (ratio of medians); "
                f"per repeat {wall['median']:.2f}x wall [{wall['min']:.2f}-{wall['max']:.2f}], "
                f"{cpu['median']:.2f}x cpu [{cpu['min']:.2f}-{cpu['max']:.2f}] (target >= {target}x)"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _strip_out(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--out", "--cprofile"):
            skip = True
            continue
        if arg.startswith(("--out=", "--cprofile=")):
            continue
        out.append(arg)
    return out


if __name__ == "__main__":
    main()
