"""The GPU path in one run: the default pipeline on the GPU, then a GPU profile for a few hundred
steps, with samples/s, peak GPU memory and the metrics of each written to bench/results/.

    python bench/gpu_check.py                                   # profiles/qwen3.yaml, 300 steps
    python bench/gpu_check.py --profile profiles/giga.yaml --allow-unpinned   # GPU stack only
    python bench/gpu_check.py --dry-run --set finetune.max_steps=4 ...        # the same on a CPU

On a GPU machine (after `git clone` and the set-up in docs/gpu.md):
1. ``dvc pull --run-cache`` (a failure is only logged: the stages then rebuild what is missing);
2. the default pipeline with ``finetune.device=auto``, ``finetune.precision=bf16``,
   ``evaluate.device=null`` (sentence-transformers picks the GPU): ``dvc exp run -S ...``;
3. the profile's flags (the profile tool, pin rule included) plus ``finetune.max_steps=<steps>``,
   then ``dvc exp run`` again.
Each run's peak GPU memory is sampled with nvidia-smi while it runs (all GPUs, MiB). params.yaml is
restored afterwards; the runs' outputs stay in the workspace and in ``dvc exp show``.

``--dry-run`` does the same on a CPU: no GPU needed, device cpu, bf16 only where the CPU has it,
no TF32, gloo for NCCL, peak RSS of the process tree in place of GPU memory, and no pull. With
``--set KEY=VALUE`` (both runs) and ``--profile-set KEY=VALUE`` (the profile run) a test shrinks
it to a tiny project and a stand-in model (tests/test_decoder_standin.py).

Writes <out>/default.json, <out>/profile.json and <out>/gpu_check.md (default out:
bench/results/gpu_check).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("gpu_check")

ROOT = Path(__file__).resolve().parents[1]


class CheckError(RuntimeError):
    """The check cannot run here (no GPU, a refused profile, a failed stage)."""


class PeakSampler:
    """Samples, every ``interval`` seconds while a command runs, either the GPU memory in use
    (nvidia-smi, summed over GPUs) or the resident memory of this process's descendants."""

    def __init__(self, gpu: bool, interval: float = 0.5) -> None:
        self.gpu, self.interval, self.peak_mb = gpu, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        if self.gpu:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, check=False,
            ).stdout
            return sum(float(v) for v in out.split() if v.strip())
        import psutil

        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # exited between listing and reading
                continue
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_has_bf16() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def device_flags(dry_run: bool) -> list[str]:
    """Where and how both runs train and evaluate."""
    if not dry_run:
        return ["finetune.device=auto", "finetune.precision=bf16", "evaluate.device=null"]
    return [
        "finetune.device=cpu",
        f"finetune.precision={'bf16' if cpu_has_bf16() else 'fp32'}",
        "finetune.tf32=false",
        "finetune.distributed.backend=gloo",
        "evaluate.device=cpu",
    ]


def profile_flags(profile: Path, allow_unpinned: bool, params: Path) -> list[str]:
    """The profile's -S values as the profile tool makes them (validated and pin-checked)."""
    from wb_embedder.io import YamlError, read_yaml
    from wb_embedder.training.profile import (
        ProfileError,
        check_pinned,
        load_profile,
        merge,
        set_param_flags,
        validate,
        waive_pin,
    )

    try:
        overrides, current = load_profile(profile), read_yaml(params)
        check_pinned(merge(current, overrides).get("model", {}), allow_unpinned)
        if allow_unpinned:
            overrides = waive_pin(overrides, current)
        validate(merge(current, overrides))
    except (ProfileError, YamlError) as exc:
        raise CheckError(str(exc)) from None
    return set_param_flags(overrides, current)[1::2]


def exp_run(cwd: Path, flags: list[str], gpu: bool) -> tuple[float, float]:
    """``dvc exp run -S ...`` in the workspace; returns (wall seconds, peak MiB)."""
    command = [sys.executable, "-m", "dvc", "exp", "run"]
    for flag in flags:
        command += ["-S", flag]
    logger.info("running: dvc exp run with %d overrides", len(flags))
    start = time.perf_counter()
    # Stage commands say `python`: it must be this interpreter, with its packages, even when the
    # virtualenv was not activated (as the pipeline tests arrange it too).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with PeakSampler(gpu) as sampler:
        code = subprocess.run(command, cwd=cwd, env=env, check=False).returncode
    if code:
        raise CheckError(f"dvc exp run failed (exit status {code}); its log is above")
    return time.perf_counter() - start, sampler.peak_mb


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def collect(cwd: Path, seconds: float, peak_mb: float, gpu: bool, flags: list[str]) -> dict[str, Any]:
    training = read_json(cwd / "dvclive" / "finetune" / "metrics.json")
    return {
        "overrides": flags,
        "wall_seconds": round(seconds, 1),
        "samples_per_second": training.get("samples_per_second"),
        "steps": training.get("steps"),
        "train_loss": training.get("train_loss"),
        "peak_gpu_memory_mb" if gpu else "peak_rss_mb": round(peak_mb, 1),
        "metrics": read_json(cwd / "metrics" / "summary.json"),
    }


def markdown(results: dict[str, dict[str, Any]], gpu: bool) -> str:
    memory = "peak_gpu_memory_mb" if gpu else "peak_rss_mb"
    lines = [
        f"| run | wall s | samples/s | steps | {memory} | benchmarks scored (test) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        speed = r["samples_per_second"]
        lines.append(
            f"| {name} | {r['wall_seconds']} | {round(speed, 2) if speed is not None else '-'} | {r['steps']} "
            f"| {r[memory]} | {len(r['metrics'].get('test', {}))} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", type=Path, default=ROOT / "profiles" / "qwen3.yaml")
    parser.add_argument("--steps", type=int, default=300, help="finetune.max_steps of the profile run")
    parser.add_argument("--allow-unpinned", action="store_true", help="passed to the profile tool")
    parser.add_argument("--dry-run", action="store_true", help="on a CPU, no GPU and no pull (see above)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an override for both runs")
    parser.add_argument("--profile-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for the profile run only")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the project checkout to run in")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: <repo>/bench/results/gpu_check)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    args = parse_args(argv)
    repo = args.repo.resolve()
    out = (args.out or repo / "bench" / "results" / "gpu_check").resolve()
    gpu = not args.dry_run
    if gpu:
        import torch

        if not torch.cuda.is_available():
            raise CheckError("no CUDA GPU visible to torch; run on a GPU machine or pass --dry-run")
        if shutil.which("nvidia-smi") is None:
            raise CheckError("nvidia-smi not found: it measures the peak GPU memory")
        if subprocess.run([sys.executable, "-m", "dvc", "pull", "--run-cache"], cwd=repo, check=False).returncode:
            logger.warning("dvc pull failed: the stages rebuild what is missing")
    # Refuse a bad profile before the long default run.
    params = repo / "params.yaml"
    profile = profile_flags(args.profile.resolve(), args.allow_unpinned, params)
    original = params.read_bytes()
    results: dict[str, dict[str, Any]] = {}
    try:
        common = device_flags(args.dry_run) + list(args.set)
        seconds, peak = exp_run(repo, common, gpu)
        results["default"] = collect(repo, seconds, peak, gpu, common)
        params.write_bytes(original)
        # The profile's own device and precision settings stand on a GPU; a dry run puts the
        # CPU's back on top of them.
        flags = profile + [f"finetune.max_steps={args.steps}"] + (common if args.dry_run else list(args.set))
        flags += list(args.profile_set)
        seconds, peak = exp_run(repo, flags, gpu)
        results["profile"] = collect(repo, seconds, peak, gpu, flags)
    finally:
        params.write_bytes(original)
    out.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        (out / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "gpu_check.md").write_text(markdown(results, gpu), encoding="utf-8")
    logger.info("wrote %s", out)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main()
    except CheckError as exc:
        logger.error("%s", exc)
        sys.exit(1)
