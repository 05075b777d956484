import shutil

from bot.config import PROJECT_ROOT
from bot.training import _stem, model_fingerprint


def _copy_project(tmp_path):
    for name in ("domain.yml", "config.yml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    for rel in ("data/nlu", "data/rules", "data/stories", "bot/rasa_ext"):
        shutil.copytree(PROJECT_ROOT / rel, tmp_path / rel)
    return tmp_path


def test_fingerprint_is_stable_and_tracks_training_inputs(tmp_path):
    root = _copy_project(tmp_path)
    config = root / "config.yml"
    first = model_fingerprint(config, root)
    assert model_fingerprint(config, root) == first
    (root / "data" / "nlu" / "general.yml").write_text(
        (root / "data" / "nlu" / "general.yml").read_text() + "      - howdy\n"
    )
    assert model_fingerprint(config, root) != first


def test_fingerprint_ignores_clinic_content(tmp_path):
    """Prompt texts and the safety lexicon change without a retrain."""
    root = _copy_project(tmp_path)
    config = root / "config.yml"
    first = model_fingerprint(config, root)
    (root / "clinic" / "safety").mkdir(parents=True)
    (root / "clinic" / "safety" / "lexicon.yml").write_text("rules: []\n")
    assert model_fingerprint(config, root) == first


def test_model_names_survive_rasa_dot_handling(tmp_path):
    assert _stem(tmp_path / "config.test.yml") == "config_test"


TINY_CONFIG = """\
recipe: default.v1
assistant_id: tiny
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: LogisticRegressionClassifier
policies:
  - name: RulePolicy
"""


def test_force_trains_instead_of_restoring_from_rasas_cache(tmp_path, monkeypatch):
    """`interlude train --force` must train every component again, not restore it from .rasa/cache."""
    from bot.training import ensure_model

    (tmp_path / "project").mkdir()
    root = _copy_project(tmp_path / "project")
    (root / "tiny.yml").write_text(TINY_CONFIG)
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "rasa-cache"))  # a cache of our own
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "false")
    model = ensure_model(root / "tiny.yml", root=root, log=lambda _line: None)
    first_log = model.with_name(model.name.replace(".tar.gz", ".train.log")).read_text()
    assert "Finished training component 'LogisticRegressionClassifier'" in first_log
    ensure_model(root / "tiny.yml", root=root, force=True, log=lambda _line: None)
    forced_log = model.with_name(model.name.replace(".tar.gz", ".train.log")).read_text()
    assert "Restored component" not in forced_log
    assert "Finished training component 'LogisticRegressionClassifier'" in forced_log
