"""Editing a clinic's alert contacts and deadlines (the portal's Alerts page), and the workers
picking the change up without a restart."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from bot.escalation.config import (
    AlertConfigError,
    AlertConfigSource,
    format_duration,
    load_alert_config,
    save_clinic_alerts,
)

ENV = {"ALERT_TOKEN": "123:abc", "HOOK_SECRET": "s3cret"}
ORIGINAL = """\
# The clinic's alert routing. Secrets live in the environment.
telegram:
  token_env: ALERT_TOKEN
email:
  host: 127.0.0.1
  port: 2525
  from: alerts@example.invalid
clinics:
  demo:
    telegram: {chat_id: "-100"}
    email: {to: [oncall@example.invalid]}
    webhook: {url: "https://pager.example.invalid/hook", secret_env: HOOK_SECRET}
  other:  # another clinic on the same install: never touched by demo's admin
    email: {to: [other@example.invalid]}
    deadlines: {critical: 2m}
"""


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "alerts.yml").write_text(ORIGINAL)
    return tmp_path


def form(**values: str) -> dict[str, str]:
    base = {
        "telegram_chat": "-100",
        "telegram_backup_chat": "",
        "email_to": "oncall@example.invalid",
        "email_backup_to": "",
        "webhook_url": "https://pager.example.invalid/hook",
        "deadline_critical": "5m",
        "deadline_high": "30m",
        "deadline_moderate": "24h",
        "deadline_low": "7d",
    }
    return {**base, **values}


def test_saving_changes_one_clinic_and_keeps_comments_secrets_and_others(data_dir):
    config = save_clinic_alerts(
        data_dir,
        "demo",
        form(email_backup_to="lead@example.invalid, deputy@example.invalid", deadline_critical="3m"),
        public_url="http://127.0.0.1",
        environ=ENV,
    )
    demo = config.for_clinic("demo")
    assert demo.email_backup_to == ("lead@example.invalid", "deputy@example.invalid")
    assert demo.deadlines["critical"] == timedelta(minutes=3)
    assert demo.webhook_secret == "s3cret"  # the variable's name was kept, so the secret still resolves
    text = (data_dir / "alerts.yml").read_text()
    assert "# The clinic's alert routing." in text and "never touched by demo's admin" in text
    assert "s3cret" not in text and "123:abc" not in text
    again = load_alert_config(data_dir, "http://127.0.0.1", ENV)
    assert again.for_clinic("other").deadlines["critical"] == timedelta(minutes=2)
    assert again.for_clinic("other").email_to == ("other@example.invalid",)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"deadline_high": "soon"}, "duration like 5m"),
        ({"telegram_chat": "my group"}, "Telegram chat is a number"),
        ({"email_to": "not-an-address"}, "e-mail address"),
        ({"email_to": "", "email_backup_to": "lead@example.invalid"}, "main alert e-mail"),
        ({"webhook_url": "http://pager.example.invalid/hook"}, "must be https"),
    ],
)
def test_bad_values_are_refused_and_the_file_is_unchanged(data_dir, values, message):
    with pytest.raises(AlertConfigError, match=message):
        save_clinic_alerts(data_dir, "demo", form(**values), public_url="http://127.0.0.1", environ=ENV)
    assert (data_dir / "alerts.yml").read_text() == ORIGINAL


def test_email_contacts_need_an_smtp_server_first(tmp_path):
    (tmp_path / "alerts.yml").write_text("clinics: {}\n")
    with pytest.raises(AlertConfigError, match="top-level email section"):
        save_clinic_alerts(
            tmp_path, "demo", form(telegram_chat="", webhook_url=""), public_url="", environ={}
        )
    assert (tmp_path / "alerts.yml").read_text() == "clinics: {}\n"


def test_a_new_clinic_section_is_created_when_missing(tmp_path):
    config = save_clinic_alerts(
        tmp_path,
        "fresh",
        {"deadline_critical": "10m"},
        public_url="",
        environ={},
    )
    assert config.for_clinic("fresh").deadlines["critical"] == timedelta(minutes=10)
    assert config.for_clinic("fresh").channels() == []


def test_the_source_reloads_a_changed_file_and_keeps_the_last_good_one(data_dir):
    source = AlertConfigSource(data_dir, "http://127.0.0.1", ENV)
    assert source.current().for_clinic("demo").email_backup_to == ()
    save_clinic_alerts(
        data_dir, "demo", form(email_backup_to="lead@example.invalid"), public_url="", environ=ENV
    )
    assert source.current().for_clinic("demo").email_backup_to == ("lead@example.invalid",)
    # A hand edit that breaks the file: the last good configuration stays in force.
    path = data_dir / "alerts.yml"
    path.write_text("clinics: [this is not a mapping\n")
    os.utime(path, ns=(1, 1))
    assert source.current().for_clinic("demo").email_backup_to == ("lead@example.invalid",)


def test_durations_print_as_they_are_written():
    assert [
        format_duration(timedelta(**k)) for k in ({"minutes": 5}, {"hours": 24}, {"days": 7}, {"seconds": 90})
    ] == [
        "5m",
        "1d",
        "7d",
        "90s",
    ]
