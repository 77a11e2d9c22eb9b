import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log() -> Iterator[list[str]]:
    """Warnings transformers logs during the test (its logger does not propagate to caplog)."""
    handler, logger = _Collect(), logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="session")
def remote_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """repo_a's default DVC remote, a local folder."""
    from pipeline_repo import scratch_dir

    with scratch_dir(tmp_path_factory, "remote") as path:
        yield path


@pytest.fixture(scope="session")
def params_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where repo_a's stages record the params keys they read."""
    return tmp_path_factory.mktemp("params_trace")


@pytest.fixture(scope="session")
def repo_a(tmp_path_factory: pytest.TempPathFactory, remote_dir: Path, params_trace: Path) -> Iterator[Path]:
    """The tiny pipeline, run once per session end to end and committed, its default remote a
    local folder. Every test that needs a pipeline starts from it (a clone with a copy of its cache,
    pipeline_repo.clone_with_cache) and reruns only what it changes; the tests that use it directly
    leave it as they found it."""
    from pipeline_repo import STAGES, commit_all, dvc, make_repo, params_trace_env, ran_stages, scratch_dir

    with scratch_dir(tmp_path_factory, "a") as root:
        repo = make_repo(root)
        dvc("remote", "modify", "shared", "url", str(remote_dir), cwd=repo)
        proc = dvc("repro", cwd=repo, env=params_trace_env(params_trace))
        assert ran_stages(proc.stdout) == set(STAGES), proc.stdout
        commit_all(repo, "tiny run")
        yield repo


@pytest.fixture(scope="session")
def offline_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default base model, rebuilt once per test session (about 20 s)."""
    from wb_embedder.base_model import materialize_base_model
    from wb_embedder.config import load_params

    cfg = load_params(ROOT / "params.yaml").model.model_copy(update={"max_seq_length": 512})
    return materialize_base_model(cfg, tmp_path_factory.mktemp("models") / "base")


# The tiny corpus: big enough that every task and benchmark has rows, small enough for seconds.
TINY_CORPUS = {"n_products": 240, "n_support_facts": 48, "questions_per_fact": 6}


@pytest.fixture(scope="session")
def tiny_params():
    from wb_embedder.config import load_params

    params = load_params(ROOT / "params.yaml")
    corpus = params.corpus.model_copy(update=TINY_CORPUS)
    positives = params.triplets.positives.model_copy(update={"max_anchors_per_task": 120})
    triplets = params.triplets.model_copy(update={"positives": positives})
    return params.model_copy(update={"corpus": corpus, "triplets": triplets})


@pytest.fixture(scope="session")
def tiny_raw_dir(tiny_params, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny demo corpus written as the raw-data contract's Parquet files."""
    from wb_embedder.corpus import generate_corpus

    out = tmp_path_factory.mktemp("raw")
    for table, frame in generate_corpus(tiny_params.corpus, tiny_params.seed).items():
        frame.to_parquet(out / f"{table}.parquet", index=False)
    return out


@pytest.fixture(scope="session")
def tiny_clean(tiny_params, tiny_raw_dir: Path):
    from wb_embedder.clean import clean_tables
    from wb_embedder.config import DataConfig

    data = DataConfig(folder=str(tiny_raw_dir),
                      **{t: str(tiny_raw_dir / f"{t}.parquet") for t in ("cards", "reviews", "product_qa", "support")})
    return clean_tables(data, tiny_params.clean)[0]


@pytest.fixture(scope="session")
def tiny_synonyms(tiny_params, tiny_clean):
    from wb_embedder.synonyms.generate import synonyms_from_clean

    return synonyms_from_clean(tiny_clean, tiny_params.synonyms, tiny_params.seed,
                               tiny_params.benchmarks.ignored_brands)[0]
