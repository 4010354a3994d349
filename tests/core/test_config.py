"""Settings: defaults < TOML file < ONESTACK_* environment < explicit overrides; unknown keys are errors."""

import pytest

from onestack.core.config import ConfigError, load


def test_load_defaults():
    settings = load(env={})
    assert settings.server.listen == "127.0.0.1:8080"
    assert settings.identity.lockout_failure_attempts == 0  # off by default, as upstream
    assert settings.identity.bcrypt_rounds == 12
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("onestack.db")


def test_load_toml_file(tmp_path):
    path = tmp_path / "onestack.toml"
    path.write_text('data_dir = "/srv/os"\n[server]\nlisten = "0.0.0.0:9000"\n[identity]\nbcrypt_rounds = 5\n')
    settings = load(path, env={})
    assert settings.data_dir == "/srv/os"
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9000)
    assert settings.identity.bcrypt_rounds == 5
    assert settings.server.base_url == "http://0.0.0.0:9000"


def test_load_env_overrides_file_and_coerces_types(tmp_path):
    path = tmp_path / "onestack.toml"
    path.write_text("[identity]\nbcrypt_rounds = 5\n")
    env = {"ONESTACK_IDENTITY_BCRYPT_ROUNDS": "7", "ONESTACK_SERVER_LOG_REQUESTS": "false",
           "ONESTACK_DATABASE_URL": "postgresql+psycopg://db/os", "ONESTACK_DATA_DIR": "/tmp/x"}
    settings = load(path, env=env)
    assert settings.identity.bcrypt_rounds == 7
    assert settings.server.log_requests is False
    assert settings.database_url == "postgresql+psycopg://db/os"
    assert settings.data_dir == "/tmp/x"


def test_load_config_path_from_env(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[identity]\ntoken_expiration = 60\n")
    assert load(env={"ONESTACK_CONFIG": str(path)}).identity.token_expiration == 60


def test_load_overrides_win_over_env():
    settings = load(env={"ONESTACK_SERVER_LISTEN": "1.2.3.4:1"}, server={"listen": "5.6.7.8:2"})
    assert settings.server.listen == "5.6.7.8:2"


def test_load_override_none_is_ignored():
    assert load(env={}, server={"listen": None}).server.listen == "127.0.0.1:8080"


def test_load_unknown_key_in_file_is_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[identity]\nbcrypt_round = 5\n")
    with pytest.raises(ConfigError, match="bcrypt_round"):
        load(path, env={})


def test_load_unknown_section_is_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[identiti]\nx = 1\n")
    with pytest.raises(ConfigError, match="identiti"):
        load(path, env={})


def test_load_unknown_env_key_is_error():
    with pytest.raises(ConfigError, match="bogus"):
        load(env={"ONESTACK_IDENTITY_BOGUS": "1"})


def test_load_bad_integer_is_error():
    with pytest.raises(ConfigError, match="bcrypt_rounds"):
        load(env={"ONESTACK_IDENTITY_BCRYPT_ROUNDS": "twelve"})


def test_load_bad_boolean_is_error():
    with pytest.raises(ConfigError, match="log_requests"):
        load(env={"ONESTACK_SERVER_LOG_REQUESTS": "maybe"})


def test_load_missing_file_is_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.toml", env={})


def test_load_invalid_toml_is_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[server\n")
    with pytest.raises(ConfigError):
        load(path, env={})


def test_settings_are_frozen():
    settings = load(env={})
    with pytest.raises(AttributeError):
        settings.server.listen = "x"  # type: ignore[misc]
