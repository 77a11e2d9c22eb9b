"""Where the default finetune's time goes: torch.profiler over a few optimizer steps.

    python bench/profile_finetune.py [--steps 4] [--out bench/results/profile_finetune.txt]

Builds the trainer exactly as the finetune stage does (params.yaml's finetune and model
sections, the real triplets and base model), profiles the training steps on the CPU and prints the
operators by self CPU time, with the shares of matrix products and of dropout masks. The table
explains the finetune figures of bench_finetune.py.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=Path("models/base"))
    parser.add_argument("--triplets", type=Path, default=Path("data/triplets"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rows", type=int, default=25, help="operators listed")
    parser.add_argument("--out", type=Path, help="also write the report to this text file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")

    from torch.profiler import ProfilerActivity, profile

    from wb_embedder.config import load_params
    from wb_embedder.training.run import FinetunePaths, build_trainer

    params = load_params(args.params)
    cfg = params.finetune.model_copy(update={"max_steps": args.steps})
    with tempfile.TemporaryDirectory(prefix="ft_profile_") as tmp:
        work = Path(tmp)
        paths = FinetunePaths(
            base=args.base, triplets=args.triplets, out=work / "out", checkpoints=work / "ckpt", live=work / "live"
        )
        session = build_trainer(cfg, params.model, params.seed, paths, [])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            session.trainer.train()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    dropout = sum(e.self_cpu_time_total for e in events if e.key in ("aten::bernoulli_", "aten::bernoulli"))
    matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::addmm", "aten::mm", "aten::bmm"))
    lines = [
        f"finetune ({cfg.mode}, batch {cfg.batch_size}, max_seq_length {params.model.max_seq_length}), "
        f"{args.steps} steps profiled: {total / 1e6:.1f} s of self CPU time",
        f"matrix products (addmm, mm, bmm): {100 * matmul / total:.0f}%; "
        f"dropout masks (bernoulli): {100 * dropout / total:.0f}%",
        "",
        events.table(sort_by="self_cpu_time_total", row_limit=args.rows),
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
