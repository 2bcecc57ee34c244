"""Configuration: every variable of the contract is read, checked, defaulted and used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest

from backend import config as config_module
from backend.app import create_app
from backend.config import (
    DEV_CORS_ORIGIN,
    ENV_FILE_VARIABLE,
    ENV_VARIABLES,
    ConfigError,
    load_config,
)
from backend.database import dispose_engines
from tests.conftest import PASSWORD, AppFactory, AuthActions

STRONG_SECRET = "s" * 32
# The key that backend/config.py once shipped for development: no server may accept it.
PUBLISHED_KEY = "development-only-key-never-use-in-production-0123456789"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Start from an empty environment and a project root without `.env`; return that root."""
    for name in (*ENV_VARIABLES, ENV_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config_module, "PROJECT_ROOT", tmp_path)
    return tmp_path


# One row per variable of the contract's table: (variable, raw value, config key, expected).
CONTRACT_VARIABLES = [
    ("APP_ENV", "testing", "APP_ENV", "testing"),
    ("DATABASE_URL", "sqlite:////tmp/x.db", "SQLALCHEMY_DATABASE_URI", "sqlite:////tmp/x.db"),
    ("JWT_SECRET_KEY", "j" * 40, "JWT_SECRET_KEY", "j" * 40),
    ("JWT_ACCESS_TOKEN_EXPIRES", "60", "JWT_ACCESS_TOKEN_EXPIRES", 60),
    ("JWT_REFRESH_TOKEN_EXPIRES", "3600", "JWT_REFRESH_TOKEN_EXPIRES", 3600),
    (
        "CORS_ORIGINS",
        "https://a.example, https://b.example/",
        "CORS_ORIGINS",
        ["https://a.example", "https://b.example"],
    ),
    ("AUTH_RATE_LIMIT", "5 per hour", "AUTH_RATE_LIMIT", "5 per hour"),
    (
        "RATELIMIT_STORAGE_URI",
        "redis://cache:6379/2",
        "RATELIMIT_STORAGE_URI",
        "redis://cache:6379/2",
    ),
    ("LOG_LEVEL", "debug", "LOG_LEVEL", "DEBUG"),
]
OTHER_VARIABLES = [
    ("PASSWORD_CHECK_RATE_LIMIT", "3 per hour", "PASSWORD_CHECK_RATE_LIMIT", "3 per hour"),
    ("LOG_JSON", "true", "LOG_JSON", True),
    ("RATELIMIT_ENABLED", "false", "RATELIMIT_ENABLED", False),
    ("PROXY_COUNT", "2", "PROXY_COUNT", 2),
    ("ARGON2_TIME_COST", "3", "ARGON2_TIME_COST", 3),
    ("ARGON2_MEMORY_COST", "4096", "ARGON2_MEMORY_COST", 4096),
    ("ARGON2_PARALLELISM", "2", "ARGON2_PARALLELISM", 2),
    ("METRICS_TOKEN", "t" * 32, "METRICS_TOKEN", "t" * 32),
]
# Account recovery (issue 16): SMTP by flask-mailman's keys, and the links' base and lifetimes.
MAIL_VARIABLES = [
    ("MAIL_SERVER", "smtp.example.com", "MAIL_SERVER", "smtp.example.com"),
    ("MAIL_PORT", "2525", "MAIL_PORT", 2525),
    ("MAIL_USE_TLS", "TRUE", "MAIL_USE_TLS", True),
    ("MAIL_USE_SSL", "true", "MAIL_USE_SSL", True),
    ("MAIL_USERNAME", "mailer", "MAIL_USERNAME", "mailer"),
    ("MAIL_PASSWORD", "pass word", "MAIL_PASSWORD", "pass word"),
    (
        "MAIL_DEFAULT_SENDER",
        "Ops <ops@example.com>",
        "MAIL_DEFAULT_SENDER",
        "Ops <ops@example.com>",
    ),
    ("MAIL_TIMEOUT", "2", "MAIL_TIMEOUT", 2),
    ("FRONTEND_URL", "https://app.example.com/", "FRONTEND_URL", "https://app.example.com"),
    ("PASSWORD_RESET_EXPIRES", "600", "PASSWORD_RESET_EXPIRES", 600),
    ("EMAIL_VERIFY_EXPIRES", "86400", "EMAIL_VERIFY_EXPIRES", 86400),
]
ALL_VARIABLES = CONTRACT_VARIABLES + OTHER_VARIABLES + MAIL_VARIABLES


def test_every_contract_variable_is_known() -> None:
    assert {row[0] for row in ALL_VARIABLES} == ENV_VARIABLES


@pytest.mark.parametrize(("name", "raw", "key", "expected"), ALL_VARIABLES)
def test_variable_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, key: str, expected: Any
) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", STRONG_SECRET)  # APP_ENV=testing needs a key
    monkeypatch.setenv(name, raw)
    assert load_config()[key] == expected


@pytest.mark.parametrize(("name", "raw", "key", "expected"), ALL_VARIABLES)
def test_variable_is_read_from_overrides(name: str, raw: str, key: str, expected: Any) -> None:
    assert load_config({"JWT_SECRET_KEY": STRONG_SECRET, name: raw})[key] == expected


@pytest.mark.parametrize(("name", "raw", "key", "expected"), ALL_VARIABLES)
def test_variable_is_read_from_dotenv_file(
    isolated_environment: Path, name: str, raw: str, key: str, expected: Any
) -> None:
    (isolated_environment / ".env").write_text(f"JWT_SECRET_KEY={STRONG_SECRET}\n{name}={raw}\n")
    assert load_config()[key] == expected


def test_the_env_file_can_be_named_by_tasktracker_env_file(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    (isolated_environment / ".env").write_text("AUTH_RATE_LIMIT=1 per second\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "staging.env"
    elsewhere.write_text("AUTH_RATE_LIMIT=2 per second\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(elsewhere))
    assert load_config()["AUTH_RATE_LIMIT"] == "2 per second"


def test_environment_beats_dotenv_and_overrides_beat_both(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_environment / ".env").write_text(
        "AUTH_RATE_LIMIT=1 per second\nLOG_LEVEL=ERROR\nJWT_ACCESS_TOKEN_EXPIRES=11\n"
        "JWT_REFRESH_TOKEN_EXPIRES\n"  # a name without a value is ignored
    )
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRES", "22")
    config = load_config({"JWT_ACCESS_TOKEN_EXPIRES": 33})
    assert config["AUTH_RATE_LIMIT"] == "1 per second"
    assert config["LOG_LEVEL"] == "WARNING"
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == 33
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == 2_592_000


def test_defaults_from_the_contract_table(isolated_environment: Path) -> None:
    config = load_config()
    assert config["APP_ENV"] == "development"
    assert config["SQLALCHEMY_DATABASE_URI"] == (
        f"sqlite:///{isolated_environment / 'instance' / 'tasktracker.db'}"
    )
    key_file = isolated_environment / "instance" / "jwt-secret"
    assert config["JWT_SECRET_KEY"] == key_file.read_text()
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == 900
    assert config["JWT_REFRESH_TOKEN_EXPIRES"] == 2_592_000
    assert config["CORS_ORIGINS"] == [DEV_CORS_ORIGIN]
    assert config["AUTH_RATE_LIMIT"] == "10 per minute"
    assert config["PASSWORD_CHECK_RATE_LIMIT"] == "5 per minute"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["LOG_LEVEL"] == "INFO"
    assert config["LOG_JSON"] is False
    assert config["RATELIMIT_ENABLED"] is True
    assert config["PROXY_COUNT"] == 0
    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert config["JWT_ALGORITHM"] == "HS256"
    assert config["AUTO_MIGRATE"] is True  # development on its SQLite file
    assert config["TESTING"] is False
    assert config["DEBUG"] is False


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_values_fall_back_to_defaults(blank: str) -> None:
    config = load_config(
        {
            "APP_ENV": blank,
            "JWT_ACCESS_TOKEN_EXPIRES": blank,
            "AUTH_RATE_LIMIT": blank,
            "RATELIMIT_STORAGE_URI": blank,
            "LOG_LEVEL": blank,
            "DATABASE_URL": blank,
        }
    )
    assert config["APP_ENV"] == "development"
    assert config["JWT_ACCESS_TOKEN_EXPIRES"] == 900
    assert config["AUTH_RATE_LIMIT"] == "10 per minute"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["LOG_LEVEL"] == "INFO"
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("tasktracker.db")


def test_production_defaults() -> None:
    config = load_config({"APP_ENV": "production", "JWT_SECRET_KEY": STRONG_SECRET})
    assert config["CORS_ORIGINS"] == []
    assert config["LOG_JSON"] is True
    assert config["AUTO_MIGRATE"] is False
    assert config["TESTING"] is False
    assert config["JWT_SECRET_KEY"] == STRONG_SECRET


def test_testing_environment_sets_testing_and_does_not_migrate() -> None:
    config = load_config({"APP_ENV": "testing", "JWT_SECRET_KEY": STRONG_SECRET})
    assert config["TESTING"] is True
    assert config["AUTO_MIGRATE"] is False


def test_development_on_postgresql_does_not_auto_migrate() -> None:
    config = load_config({"APP_ENV": "development", "DATABASE_URL": "postgresql+psycopg://u@db/x"})
    assert config["AUTO_MIGRATE"] is False
    options = config["SQLALCHEMY_ENGINE_OPTIONS"]
    # Idle connections are pinged by backend.app's checkout hook instead of pool_pre_ping.
    assert "pool_pre_ping" not in options
    assert options["connect_args"]["connect_timeout"] <= 5
    assert "statement_timeout" in options["connect_args"]["options"]


def test_other_overrides_are_raw_flask_settings() -> None:
    config = load_config({"SOME_FLASK_KEY": {"a": 1}, "MAX_CONTENT_LENGTH": 10})
    assert config["SOME_FLASK_KEY"] == {"a": 1}
    assert config["MAX_CONTENT_LENGTH"] == 10


# --- refusing to start --------------------------------------------------------------------


def _one_line_error(overrides: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides)
    message = str(caught.value)
    assert message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("s" * 31, id="31-chars"),
        pytest.param("short", id="short"),
    ],
)
def test_production_refuses_a_missing_or_short_secret(secret: str | None) -> None:
    overrides: dict[str, Any] = {"APP_ENV": "production"}
    if secret is not None:
        overrides["JWT_SECRET_KEY"] = secret
    assert "JWT_SECRET_KEY" in _one_line_error(overrides)


def test_production_app_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        create_app()


def test_production_app_starts_with_a_32_character_secret(database_url: str) -> None:
    app = create_app(
        {"APP_ENV": "production", "DATABASE_URL": database_url, "JWT_SECRET_KEY": STRONG_SECRET}
    )
    try:
        assert app.config["JWT_SECRET_KEY"] == STRONG_SECRET
        response = app.test_client().get("/api/v1/health")
        assert response.status_code == 200
    finally:
        dispose_engines(app)


@pytest.mark.parametrize("app_env", ["prod", "Production", "staging", "test"])
def test_unknown_app_env_is_refused(app_env: str) -> None:
    assert "APP_ENV" in _one_line_error({"APP_ENV": app_env})


@pytest.mark.parametrize(
    "name",
    [
        "JWT_ACCESS_TOKEN_EXPIRES",
        "JWT_REFRESH_TOKEN_EXPIRES",
        "ARGON2_TIME_COST",
        "ARGON2_MEMORY_COST",
        "ARGON2_PARALLELISM",
    ],
)
@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "15m"])
def test_invalid_positive_integers_are_refused(name: str, value: str) -> None:
    assert name in _one_line_error({name: value})


@pytest.mark.parametrize("value", ["verbose", "5", "INFO,DEBUG"])
def test_unknown_log_level_is_refused(value: str) -> None:
    assert "LOG_LEVEL" in _one_line_error({"LOG_LEVEL": value})


@pytest.mark.parametrize("value", ["-1", "one", "1.0"])
def test_invalid_proxy_count_is_refused(value: str) -> None:
    assert "PROXY_COUNT" in _one_line_error({"PROXY_COUNT": value})


# --- settings are used --------------------------------------------------------------------


def _claims(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


def test_token_lifetimes_are_used(make_app: AppFactory) -> None:
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=1, JWT_REFRESH_TOKEN_EXPIRES=7)
    auth = AuthActions(app.test_client())
    assert auth.register("life@example.com").status_code == 201
    response = auth.login("life@example.com", PASSWORD)
    assert response.status_code == 200
    tokens = response.get_json()
    assert tokens["expires_in"] == 1
    access, refresh = _claims(tokens["access_token"]), _claims(tokens["refresh_token"])
    assert access["exp"] - access["iat"] == 1
    assert refresh["exp"] - refresh["iat"] == 7


def test_default_token_lifetimes(app: Any, auth: AuthActions) -> None:
    assert auth.register("default-life@example.com").status_code == 201
    tokens = auth.login("default-life@example.com").get_json()
    assert tokens["expires_in"] == 900
    assert _claims(tokens["access_token"])["exp"] - _claims(tokens["access_token"])["iat"] == 900
    refresh = _claims(tokens["refresh_token"])
    assert refresh["exp"] - refresh["iat"] == 2_592_000


def test_secret_key_signs_tokens(make_app: AppFactory) -> None:
    app = make_app(JWT_SECRET_KEY=STRONG_SECRET)
    auth = AuthActions(app.test_client())
    auth.register("signed@example.com")
    token = auth.login("signed@example.com").get_json()["access_token"]
    assert pyjwt.decode(token, STRONG_SECRET, algorithms=["HS256"])["type"] == "access"
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, PUBLISHED_KEY, algorithms=["HS256"])
