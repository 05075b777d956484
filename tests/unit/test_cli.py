"""The `interlude` command's contract: one clear line for bad input, stable JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.config import PROJECT_ROOT

INTERLUDE = [sys.executable, "-m", "bot.cli"]


def run(args, tmp_path, stdin=None, **env):
    full_env = {**os.environ, "INTERLUDE_DATA_DIR": str(tmp_path / "data"), **env}
    return subprocess.run(
        INTERLUDE + args,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_safety_check_reads_json_lines_in_order(tmp_path):
    lines = [
        {"text": "I want to kill myself"},
        {"text": "slept well, mood 7"},
        "not json",
        {"text": "I can't go on like this"},
    ]
    stdin = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n"
    res = run(["safety", "check"], tmp_path, stdin=stdin)
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["severity"] == "high" and out[0]["categories"] == ["suicide"]
    assert out[0]["rules"][0]["rule"] == "suicide.active"
    assert out[1]["severity"] == "none" and out[1]["rules"] == []
    assert "error" in out[2] and "line 3" in out[2]["error"]
    # The rule says moderate (a passive wish); the semantic layer may raise it, never lower it.
    assert out[3]["severity"] in ("moderate", "high") and out[3]["rules"][0]["rule"] == "suicide.passive"
    assert all("semantic" in o for o in (out[0], out[1], out[3]))
    assert res.returncode == 1  # one bad line


def test_safety_check_text_flag(tmp_path):
    res = run(["safety", "check", "--text", "my friend wants to kill herself"], tmp_path)
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["categories"] == ["third_party"]
    assert set(out) >= {"severity", "categories", "rules", "lowering"}


def test_bad_port_is_one_sentence_not_a_traceback(tmp_path):
    res = run(["run"], tmp_path, INTERLUDE_RASA_PORT="fifty")
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "interlude: INTERLUDE_RASA_PORT must be a port number between 1 and 65535, not 'fifty'."
    )
    assert "Traceback" not in res.stderr


def test_malformed_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("pipeline: [\n")
    res = run(["run", "--config", str(bad)], tmp_path)
    assert res.returncode == 2
    assert "bad.yml is not valid YAML at line" in res.stderr and "Traceback" not in res.stderr


def test_broken_lexicon_stops_start_up(tmp_path):
    lex = tmp_path / "lexicon.yml"
    lex.write_text("rules:\n  - id: a\n    category: suicide\n    severity: extreme\n    patterns: [x]\n")
    res = run(["run"], tmp_path, INTERLUDE_SAFETY_LEXICON=str(lex))
    assert res.returncode == 2 and "severity must be" in res.stderr and "Traceback" not in res.stderr


def test_unreachable_database(tmp_path):
    res = run(["db", "upgrade"], tmp_path, INTERLUDE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert res.returncode == 2 and "INTERLUDE_DATABASE_URL" in res.stderr
    assert "Traceback" not in res.stderr


def test_every_subcommand_has_help(tmp_path):
    for args in (
        ["--help"],
        ["run", "--help"],
        ["train", "--help"],
        ["chat", "--help"],
        ["db", "--help"],
        ["safety", "check", "--help"],
        ["flags", "list", "--help"],
    ):
        res = run(args, tmp_path)
        assert res.returncode == 0 and "usage: interlude" in res.stdout


def test_key_rotation_rewraps_and_retires(tmp_path):
    from bot.runtime import Store
    from bot.store import crypto, migrate

    data = tmp_path / "data"
    url = f"sqlite:///{data / 'interlude.db'}"
    data.mkdir()
    migrate.upgrade(url)
    store = Store.open(url, data, environ={})
    clinic = store.staff.ensure_clinic("c", "C")
    staff, _ = store.staff.ensure_staff(clinic, "s@example.invalid", "S", "therapist", None)
    ref = store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="P").ref
    store.checkins.record_checkin(ref, "daily", [("note", "before rotation", None)])
    store.core.close()
    old_keys = crypto.load_master_keys(data, {}, create=False)

    res = run(["keys", "rotate"], tmp_path)
    assert res.returncode == 0, res.stderr
    keys = crypto.load_master_keys(data, {}, create=False)
    assert len(keys) == 2 and keys[1] == old_keys[0]
    res = run(["keys", "rotate", "--retire-old"], tmp_path)
    assert res.returncode == 0, res.stderr
    (new_key,) = crypto.load_master_keys(data, {}, create=False)
    assert new_key != old_keys[0]

    reopened = Store.open(url, data, environ={})  # the new key alone opens everything
    assert [a.text for a in reopened.checkins.list_answers(ref, actor="t", origin="t")] == ["before rotation"]
    reopened.core.close()
    with pytest.raises(crypto.KeyError_, match="does not match"):
        Store.open(url, data, environ={"INTERLUDE_MASTER_KEY": old_keys[0].decode()})


def test_missing_master_key_refuses_with_one_line(tmp_path):
    assert run(["demo"], tmp_path).returncode == 0
    (tmp_path / "data" / "secrets" / "master.key").unlink()
    res = run(["flags", "list"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "master key file" in res.stderr and "missing" in res.stderr
    assert not (tmp_path / "data" / "secrets" / "master.key").exists()  # never silently recreated


def test_broken_prompt_set_stops_start_up(tmp_path):
    import shutil

    from bot.config import PROJECT_ROOT as ROOT

    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "clinic" / "prompts", prompts)
    (prompts / "daily.yml").write_text(
        "id: daily\ntitle: D\noutro: o\nprompts:\n  - key: a\n    type: scale\n"
    )
    res = run(["run"], tmp_path, INTERLUDE_PROMPTS_DIR=str(prompts))
    assert res.returncode == 2 and "needs 'text'" in res.stderr and "Traceback" not in res.stderr


def test_sessions_and_check_in_times_from_the_command_line(tmp_path):
    """Enroll with the demo therapist, record and move sessions; bad input is one clear line
    and changes nothing."""
    assert run(["demo"], tmp_path).returncode == 0
    enrolled = run(
        [
            "patient",
            "enroll",
            "--therapist",
            "therapist@demo.interlude.invalid",
            "--name",
            "Cli Patient",
            "--timezone",
            "Europe/London",
        ],
        tmp_path,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    ref = json.loads(enrolled.stdout)["patient_id"]
    added = run(["session", "add", ref, "--at", "2031-06-02 10:00", "--route", "iv"], tmp_path)
    assert added.returncode == 0 and "recorded for 2031-06-02 10:00 BST" in added.stdout
    listed = run(["session", "list", ref], tmp_path).stdout
    assert "Sun 2031-06-01 19:00 BST  preparation" in listed and "Tue 2031-06-03 18:00 BST  day1" in listed
    for argv, message in [
        (["session", "add", ref, "--at", "2020-01-01 10:00"], "in the past"),
        (["session", "add", ref, "--at", "2031-06-02 15:00"], "overlaps another session"),
        (["session", "add", ref, "--at", "next tuesday"], "not a date and time"),
        (["session", "add", ref, "--at", "9999-12-31 10:00"], "out of range"),  # was an OverflowError
        (["session", "add", ref, "--at", "0001-01-01 00:00"], "out of range"),
        (["session", "add", ref, "--at", "2031-02-30 10:00"], "not a date and time"),
        (["session", "add", ref, "--at", "2031-06-02 10:00\udcff"], "not a date and time"),
        (
            ["session", "add", ref, "--at", "2031-07-01 10:00", "--timezone", "Mars/Olympus"],
            "Unknown time zone",
        ),
        (["session", "add", ref, "--at", "2031-07-01 10:00", "--route", "oral"], "Unknown route"),
        (["session", "add", "pt_nobody", "--at", "2031-07-01 10:00"], "No patient"),
        (["session", "move", "999", "--at", "2031-07-01 10:00"], "No dosing session"),
        (["checkin-time", ref, "teatime"], "time of day"),
    ]:
        bad = run(argv, tmp_path)
        assert bad.returncode == 2 and message in bad.stderr, (argv, bad.stderr)
        assert bad.stderr.count("\n") == 1  # one line, no traceback
    assert run(["session", "list", ref], tmp_path).stdout == listed  # nothing changed
    session_id = listed.split("#", 1)[1].split()[0]
    far = run(["session", "move", session_id, "--at", "9999-12-31 10:00"], tmp_path)
    assert far.returncode == 2 and "out of range" in far.stderr and "Traceback" not in far.stderr
    moved = run(["session", "move", session_id, "--at", "2031-06-09 10:00"], tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert "Tue 2031-06-10 18:00 BST  day1" in run(["session", "list", ref], tmp_path).stdout
    assert run(["checkin-time", ref, "8pm", "--daily", "on"], tmp_path).returncode == 0
    assert "daily" in run(["session", "list", ref], tmp_path).stdout


def test_staff_add_creates_the_first_admin_and_refuses_bad_input(tmp_path):
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    ok = run(
        [
            "staff",
            "add",
            "--email",
            "lead@clinic.invalid",
            "--name",
            "Lead",
            "--role",
            "admin",
            "--clinic",
            "north",
            "--clinic-name",
            "North Clinic",
            "--password-stdin",
        ],
        tmp_path,
        stdin="a-long-enough-password\n",
    )
    assert ok.returncode == 0 and "Created admin account" in ok.stdout
    for argv, stdin, message in [
        (["--email", "lead@clinic.invalid"], "a-long-enough-password\n", "already exists"),
        (["--email", "short@clinic.invalid"], "short\n", "at least 12 characters"),
        (["--email", "not-an-email"], "a-long-enough-password\n", "not an e-mail address"),
    ]:
        bad = run(["staff", "add", "--name", "X", "--password-stdin", *argv], tmp_path, stdin=stdin)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
