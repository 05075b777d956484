"""Building the NLP assets and training the Rasa model, cached by content hash.

A model is named `<config stem>-<hash>.tar.gz`, where the hash covers everything that changes
what training produces: the config, the domain, the training data, Interlude's Rasa extensions
and the Rasa and spaCy versions. A second `make run` (or `make test`) with nothing changed
finds the model and does not retrain.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from bot import model_cache
from bot.config import PROJECT_ROOT

TRAINING_DATA = ("data/nlu", "data/rules", "data/stories")
SPACY_DIR = Path("build/spacy/en_blank")
MODELS_DIR = Path("models")
KEEP_MODELS = 3


class TrainingError(Exception):
    pass


def _files(root: Path, rel: str) -> list[Path]:
    path = root / rel
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def model_fingerprint(config: Path, root: Path = PROJECT_ROOT) -> str:
    """A short content hash of everything that determines the trained model."""
    h = hashlib.sha256()
    for dist in ("rasa", "spacy", "tensorflow"):
        h.update(f"{dist}={metadata.version(dist)}\n".encode())
    inputs = [config, root / "domain.yml"]
    for rel in (*TRAINING_DATA, "bot/rasa_ext"):
        inputs += _files(root, rel)
    for path in inputs:
        h.update(str(path.resolve().relative_to(root.resolve()) if path.is_absolute() else path).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build_spacy_pipeline(root: Path = PROJECT_ROOT) -> Path:
    """Write the blank English spaCy pipeline (lookup lemmas) that SpacyNLP loads; idempotent."""
    target = root / SPACY_DIR
    stamp = target / "interlude.stamp"
    want = f"spacy={metadata.version('spacy')} lookups={metadata.version('spacy-lookups-data')}"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == want:
        return target
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    target.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    stamp.write_text(want, encoding="utf-8")
    return target


def rasa_executable() -> str:
    """The `rasa` command of this environment (the venv's), falling back to PATH."""
    candidate = Path(sys.executable).with_name("rasa")
    return str(candidate) if candidate.exists() else "rasa"


def ensure_model(
    config: Path,
    *,
    root: Path = PROJECT_ROOT,
    models_dir: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Return the trained model for `config`, training it only if no cached one matches."""
    config = config if config.is_absolute() else root / config
    if not config.is_file():
        raise TrainingError(f"The Rasa config {config} does not exist.")
    build_spacy_pipeline(root)
    # The risk detector's semantic layer, cached by a content hash of its examples like the model.
    from bot.safety.semantic import ensure_semantic_model

    ensure_semantic_model(log=log)
    models_dir = models_dir or root / MODELS_DIR
    stem = _stem(config)
    name = f"{stem}-{model_fingerprint(config, root)}"
    model = models_dir / f"{name}.tar.gz"
    if model.is_file() and not force:
        log(f"Model {model.name} is up to date (no retraining needed).")
        return model
    if not force and model_cache.fetch(model.name, model):
        log(f"Model {model.name} copied from the model cache (no retraining needed).")
        return model
    log(f"Training {model.name} from {config.relative_to(root)} ...")
    models_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        rasa_executable(),
        "train",
        "--config",
        str(config),
        "--domain",
        str(root / "domain.yml"),
        "--data",
        *[str(root / d) for d in TRAINING_DATA],
        "--out",
        str(models_dir),
        "--fixed-model-name",
        name,
        "--augmentation",
        "0",
    ]
    if force:
        # Without it Rasa restores every component from its own cache (.rasa/cache) and the
        # "retrained" model is the old one.
        cmd.append("--force")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    log_path = models_dir / f"{name}.train.log"
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0 or not model.is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise TrainingError(
            f"Training failed (exit {proc.returncode}); the log is {log_path}.\n" + "\n".join(tail)
        )
    _prune(models_dir, stem, keep=model)
    model_cache.put(model)
    log(f"Trained {model.name}.")
    return model


def _stem(config: Path) -> str:
    """Rasa cuts a model name at its first dot, so config.test.yml becomes config_test."""
    return config.name.removesuffix(".yml").removesuffix(".yaml").replace(".", "_")


def _prune(models_dir: Path, stem: str, keep: Path) -> None:
    """Keep the newest few models of this config, so a long-lived checkout does not fill the disk."""
    old = sorted(
        (p for p in models_dir.glob(f"{stem}-*.tar.gz") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in old[KEEP_MODELS - 1 :]:
        path.unlink(missing_ok=True)
        path.with_name(path.name.replace(".tar.gz", ".train.log")).unlink(missing_ok=True)
