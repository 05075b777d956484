import stat

import pytest

from bot.config import ConfigError, load_settings


def env(tmp_path, **extra):
    return {"INTERLUDE_DATA_DIR": str(tmp_path / "data"), **extra}


def test_defaults(tmp_path):
    s = load_settings(env(tmp_path), cwd=tmp_path)
    assert (s.http_port, s.rasa_port, s.actions_port) == (8000, 5005, 5055)
    assert s.database_url == f"sqlite:///{tmp_path / 'data' / 'interlude.db'}"
    assert s.safety_threshold == "moderate"
    token_file = tmp_path / "data" / "secrets" / "api-token"
    assert s.api_token == token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert load_settings(env(tmp_path), cwd=tmp_path).api_token == s.api_token  # stable


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"INTERLUDE_RASA_PORT": "fifty"}, "INTERLUDE_RASA_PORT"),
        ({"INTERLUDE_HTTP_PORT": "70000"}, "INTERLUDE_HTTP_PORT"),
        ({"INTERLUDE_HTTP_PORT": "5005"}, "must all differ"),
        ({"INTERLUDE_DATABASE_URL": "mysql://x"}, "INTERLUDE_DATABASE_URL"),
        ({"INTERLUDE_SAFETY_THRESHOLD": "none"}, "INTERLUDE_SAFETY_THRESHOLD"),
        ({"INTERLUDE_LOG_LEVEL": "LOUD"}, "INTERLUDE_LOG_LEVEL"),
        ({"INTERLUDE_API_TOKEN": "short"}, "INTERLUDE_API_TOKEN"),
        ({"INTERLUDE_ON_CALL_COVER": "perhaps"}, "INTERLUDE_ON_CALL_COVER"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path, extra, names):
    with pytest.raises(ConfigError, match=names):
        load_settings(env(tmp_path, **extra), cwd=tmp_path)


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="INTERLUDE_DATA_DIR"):
        load_settings({"INTERLUDE_DATA_DIR": str(f)}, cwd=tmp_path)


def test_dotenv_is_read_and_real_env_wins(tmp_path):
    (tmp_path / ".env").write_text("# comment\nINTERLUDE_RASA_PORT=6000\nexport INTERLUDE_HTTP_PORT='6001'\n")
    s = load_settings(env(tmp_path, INTERLUDE_HTTP_PORT="6002"), cwd=tmp_path)
    assert (s.rasa_port, s.http_port) == (6000, 6002)


def test_broken_dotenv_line(tmp_path):
    (tmp_path / ".env").write_text("INTERLUDE_RASA_PORT 6000\n")
    with pytest.raises(ConfigError, match=r"\.env:1"):
        load_settings(env(tmp_path), cwd=tmp_path)


def test_world_readable_secret_is_refused(tmp_path):
    load_settings(env(tmp_path), cwd=tmp_path)
    token_file = tmp_path / "data" / "secrets" / "api-token"
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(env(tmp_path), cwd=tmp_path)


def test_concurrent_processes_checking_the_data_folder_do_not_trip_over_each_other(tmp_path):
    """Every child of `interlude run` validates the data folder at the same moment."""
    import concurrent.futures

    data = tmp_path / "data"
    environ = {"INTERLUDE_DATA_DIR": str(data), "INTERLUDE_API_TOKEN": "x" * 20}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: load_settings(environ, cwd=tmp_path), range(200)))
    assert {r.data_dir for r in results} == {data.resolve()}
    assert not list(data.glob(".write-probe*"))


def test_telegram_and_web_chat_settings(tmp_path):
    s = load_settings(env(tmp_path), cwd=tmp_path)
    assert (s.telegram_token, s.telegram_mode) == ("", "polling")  # Telegram off by default
    s = load_settings(
        env(tmp_path, INTERLUDE_TELEGRAM_TOKEN="1:abc", INTERLUDE_TELEGRAM_MODE="webhook"), cwd=tmp_path
    )
    secret_file = tmp_path / "data" / "secrets" / "telegram-webhook-secret"
    assert s.telegram_webhook_secret == secret_file.read_text().strip()  # generated once, kept
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    s = load_settings(
        env(
            tmp_path,
            INTERLUDE_PUBLIC_URL="https://chat.example.org",
            INTERLUDE_WEBCHAT_ORIGINS="https://clinic.example",
        ),
        cwd=tmp_path,
    )
    assert s.web_chat_url("T") == "https://chat.example.org/chat#token=T"
    assert "https://clinic.example" in s.allowed_origins and "https://chat.example.org" in s.allowed_origins


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"INTERLUDE_TELEGRAM_TOKEN": "not a token"}, "INTERLUDE_TELEGRAM_TOKEN"),
        ({"INTERLUDE_TELEGRAM_MODE": "carrier-pigeon"}, "INTERLUDE_TELEGRAM_MODE"),
        ({"INTERLUDE_TELEGRAM_WEBHOOK_SECRET": "has spaces!"}, "INTERLUDE_TELEGRAM_WEBHOOK_SECRET"),
        ({"INTERLUDE_TELEGRAM_API_URL": "ftp://x"}, "INTERLUDE_TELEGRAM_API_URL"),
        ({"INTERLUDE_WEB_TOKEN_DAYS": "0"}, "INTERLUDE_WEB_TOKEN_DAYS"),
        ({"INTERLUDE_ENROLLMENT_CODE_DAYS": "soon"}, "INTERLUDE_ENROLLMENT_CODE_DAYS"),
        ({"INTERLUDE_WEBCHAT_ORIGINS": "https://clinic.example/path"}, "INTERLUDE_WEBCHAT_ORIGINS"),
    ],
)
def test_bad_channel_settings_name_the_setting(tmp_path, extra, names):
    with pytest.raises(ConfigError, match=names):
        load_settings(env(tmp_path, **extra), cwd=tmp_path)
