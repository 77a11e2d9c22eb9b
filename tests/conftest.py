import fcntl
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


# The session's tiny pipeline (repo_a) is built once per run, whatever the number of pytest-xdist
# workers: the controller makes its folder and hands it to every worker (pytest_configure_node), the
# first worker that needs it builds it under a file lock, the others wait for it, and the controller
# removes it when the run ends. Each pipeline holds a few hundred MB; pytest's retention policy
# frees only function-scoped folders.
PIPELINE_HOME = pytest.StashKey[Path]()
PIPELINE_HOME_INPUT = "wb_tiny_pipeline_home"


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        config.stash[PIPELINE_HOME] = Path(tempfile.mkdtemp(prefix="wb-tiny-pipeline-"))
        return
    config.stash[PIPELINE_HOME] = Path(workerinput[PIPELINE_HOME_INPUT])
    if int(workerinput.get("workercount", 1)) > 1:
        # Every stage process would start one torch / BLAS thread per core, and the workers' threads
        # would spin against each other (gpu_check's dry run took 2.8x its one-process time):
        # one thread per process, one process per core. Every comparison in the suite is between
        # runs of the same session, so all see the same setting.
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # a pytest-xdist hook, run by the controller for each worker
    node.workerinput[PIPELINE_HOME_INPUT] = str(node.config.stash[PIPELINE_HOME])


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and PIPELINE_HOME in config.stash:
        shutil.rmtree(config.stash[PIPELINE_HOME], ignore_errors=True)


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
def pipeline_home(request: pytest.FixtureRequest) -> Path:
    """The run's one folder for the tiny pipeline, its remote and its params trace."""
    return request.config.stash[PIPELINE_HOME]


@pytest.fixture(scope="session")
def remote_dir(pipeline_home: Path) -> Path:
    """repo_a's default DVC remote, a local folder."""
    path = pipeline_home / "remote"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def params_trace(pipeline_home: Path) -> Path:
    """Where repo_a's stages record the params keys they read."""
    path = pipeline_home / "params_trace"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def repo_a(pipeline_home: Path, remote_dir: Path, params_trace: Path) -> Path:
    """The tiny pipeline, run once per test run end to end and committed, its default remote a
    local folder. Every test that needs a pipeline starts from it (a clone with a copy of its cache,
    pipeline_repo.clone_with_cache) and reruns only what it changes; the tests that use it directly
    leave it as they found it. Under xdist, the first worker to ask builds it and the others wait;
    a failed build is reported to each of them instead of being retried."""
    from pipeline_repo import STAGES, commit_all, dvc, make_repo, params_trace_env, ran_stages
    from tiny_encoder import build_tiny_encoder

    repo, built, failed = pipeline_home / "a", pipeline_home / "a.built", pipeline_home / "a.failed"
    with (pipeline_home / "a.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            pytest.fail(f"the session's tiny pipeline failed to build:\n{failed.read_text(encoding='utf-8')}")
        if not built.exists():
            try:
                repo.mkdir()
                # Its base model lives beside it, not in the building worker's own temp folder: that
                # goes when the worker exits, maybe before another worker's clone reruns base_model.
                make_repo(repo, {"model": {"base": str(build_tiny_encoder(pipeline_home / "tiny_encoder"))}})
                dvc("remote", "modify", "shared", "url", str(remote_dir), cwd=repo)
                proc = dvc("repro", cwd=repo, env=params_trace_env(params_trace))
                assert ran_stages(proc.stdout) == set(STAGES), proc.stdout
                commit_all(repo, "tiny run")
            except BaseException as error:
                failed.write_text(str(error)[-20000:], encoding="utf-8")
                raise
            built.touch()
    return repo


@pytest.fixture
def repo_a_in_place(repo_a: Path, pipeline_home: Path) -> Iterator[Path]:
    """repo_a itself, for a test that runs dvc inside it (push, a no-op repro): held for the test
    alone, since two dvc commands in one repository fail on its lock and xdist workers run tests
    side by side. Tests that only clone it need no hold."""
    with (pipeline_home / "a.in_place.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield repo_a


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
