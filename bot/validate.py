"""A strict `rasa data validate`: fail on any warning we cannot explain.

Rasa warns about every response that no story or rule uses, including those our custom
actions or the safety policy send, and those forms ask for their slots. Such a warning is
accepted only when our code names that response literally (or it is a form's utter_ask_);
anything else (a typo, a dead response, an unused intent, a real conflict) fails.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.training import TRAINING_DATA, rasa_executable

_UNUSED = re.compile(r"UserWarning: The utterance '([^']+)' is not used in any story or rule")
_WARNING = re.compile(r"(UserWarning|WARNING|ERROR)")
# Intents Interlude sends itself through Rasa's API (trigger_intent) have no NLU examples.
_EXTERNAL_NO_NLU = re.compile(r"The intent 'EXTERNAL_[a-z_]+' is listed in the domain file, but is not found")


def responses_named_in_code(root: Path = PROJECT_ROOT) -> set[str]:
    """Responses our actions and Rasa extensions send, plus those forms ask implicitly."""
    import yaml

    names: set[str] = set()
    for path in [*(root / "actions").glob("*.py"), *(root / "bot" / "rasa_ext").glob("*.py")]:
        names.update(re.findall(r"[\"'](utter_[a-z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
    for form, spec in (domain.get("forms") or {}).items():
        for slot in spec.get("required_slots") or []:
            names.update({f"utter_ask_{slot}", f"utter_ask_{form}_{slot}"})
    return names


def validate_training_data(config: Path, root: Path = PROJECT_ROOT) -> list[str]:
    """Return the problems found (empty when clean)."""
    rasa = rasa_executable()
    cmd = [
        rasa,
        "data",
        "validate",
        "--config",
        str(config),
        "--domain",
        "domain.yml",
        "--data",
        *TRAINING_DATA,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    named = responses_named_in_code(root)
    problems = []
    for line in output.splitlines():
        if "DeprecationWarning" in line or "cross_validation_arguments" in line:
            continue  # Rasa's own argparse use on Python 3.11, not our data
        if _EXTERNAL_NO_NLU.search(line):
            continue
        unused = _UNUSED.search(line)
        if unused:
            if unused.group(1) not in named:
                problems.append(f"response {unused.group(1)} is used by no story, rule or action")
            continue
        if _WARNING.search(line):
            problems.append(line.strip())
    if proc.returncode != 0:
        # Say why (a YAML error, an unknown intent ...), not only that it failed.
        errors = [ln.strip() for ln in output.splitlines() if re.search(r"Exception|Error|\.\.\. ", ln)]
        problems.extend(errors[-3:])
        problems.append(f"rasa data validate exited with {proc.returncode}")
    return problems
