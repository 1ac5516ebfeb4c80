"""Settings, read from FIELDBOOK_* environment variables.

A Settings object is built once by whoever starts Fieldbook (the CLI, the test suite) and passed
down; nothing imports it as a global.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """The environment does not describe a runnable Fieldbook."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    var_dir: Path
    environment: str = "development"
    demo: bool = False
    demo_allow_network: bool = False
    default_locale: str = "en"
    pwa_dir: Path = field(default=REPO_ROOT / "pwa")
    app_version: str = "0.1.0"
    # Echo SQL statements to the log; for debugging only.
    echo_sql: bool = False

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def templates_dir(self) -> Path:
        return self.pwa_dir / "templates"

    @property
    def static_dir(self) -> Path:
        return self.pwa_dir / "static"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment.

        In development a missing secret key is generated once and kept in the var directory so
        that sessions survive restarts; in production it must be given.
        """
        env = os.environ if environ is None else environ
        environment = env.get("FIELDBOOK_ENV", "development").strip().lower()
        if environment not in {"development", "production"}:
            raise SettingsError("FIELDBOOK_ENV must be 'development' or 'production'")
        var_dir = Path(env.get("FIELDBOOK_VAR_DIR", "var")).resolve()
        database_url = env.get("FIELDBOOK_DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'fieldbook.sqlite3'}"
        database_url = normalise_database_url(database_url)
        secret_key = env.get("FIELDBOOK_SECRET_KEY", "")
        if not secret_key:
            if environment == "production":
                raise SettingsError("FIELDBOOK_SECRET_KEY is required when FIELDBOOK_ENV=production")
            secret_key = _development_secret_key(var_dir)
        if len(secret_key) < 32:
            raise SettingsError("FIELDBOOK_SECRET_KEY must be at least 32 characters")
        return cls(
            database_url=database_url,
            secret_key=secret_key,
            var_dir=var_dir,
            environment=environment,
            demo=_flag(env.get("FIELDBOOK_DEMO")),
            demo_allow_network=_flag(env.get("FIELDBOOK_DEMO_ALLOW_NETWORK")),
            default_locale=env.get("FIELDBOOK_DEFAULT_LOCALE", "en"),
            echo_sql=_flag(env.get("FIELDBOOK_ECHO_SQL")),
        )


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://, sqlite:///) and pick our async drivers."""
    for prefix, replacement in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    return url


def _development_secret_key(var_dir: Path) -> str:
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def check_demo_host(settings: Settings, host: str) -> None:
    """Demo sign-in lets anyone be anyone: refuse to serve it beyond this machine unless told to."""
    if settings.demo and host not in LOOPBACK_HOSTS and not settings.demo_allow_network:
        raise SettingsError(
            f"FIELDBOOK_DEMO=1 lets anyone sign in as any user; refusing to listen on {host}. "
            "Listen on 127.0.0.1, or set FIELDBOOK_DEMO_ALLOW_NETWORK=1 if you really mean it."
        )
