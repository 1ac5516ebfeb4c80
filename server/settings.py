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


DEFAULT_ROLE_GROUPS = "admin=fieldbook-admins,manager=fieldbook-managers,rep=fieldbook-reps"


def _role_groups(value: str) -> dict[str, str]:
    """`admin=fieldbook-admins,manager=sales-managers` -> {group name: role}."""
    mapping: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in value.split(","))):
        role, _, group = pair.partition("=")
        if role.strip() not in {"rep", "manager", "admin"} or not group.strip():
            raise SettingsError(
                f"FIELDBOOK_ROLE_GROUPS: '{pair}' is not role=group (roles: rep, manager, admin)"
            )
        mapping[group.strip()] = role.strip()
    return mapping


@dataclass(frozen=True)
class OIDCSettings:
    """Sign-in through the company's identity provider (OpenID Connect)."""

    issuer: str
    client_id: str
    client_secret: str = ""
    scopes: str = "openid email profile groups"
    role_claim: str = "groups"
    # Create users on their first sign-in; off means only invited (or SCIM-provisioned) people get in.
    create_users: bool = True
    allowed_domains: tuple[str, ...] = ()


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
    oidc: OIDCSettings | None = None
    # Identity-provider group name -> Fieldbook role, for OIDC claims and SCIM groups alike.
    role_groups: dict[str, str] = field(default_factory=lambda: _role_groups(DEFAULT_ROLE_GROUPS))
    # SCIM groups named with this prefix put their members in the team of the rest of the name.
    team_group_prefix: str = "team:"
    redis_url: str = ""
    # Key prefix on Redis, so several Fieldbooks (or test runs) can share one server.
    redis_namespace: str = "fieldbook"
    # The address people use to reach Fieldbook, when a proxy hides it (for the OIDC redirect).
    public_url: str = ""
    # Requests per minute from one address: sign-in pages, and machine APIs (SCIM).
    sign_in_rate_limit: int = 20
    api_rate_limit: int = 600
    # Web Push: the VAPID private key (else one is generated into var_dir on first start), the
    # contact push services see, and whether the server process sends due reminders itself.
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:fieldbook@localhost"
    push_dispatcher: bool = True
    # Database connections (PostgreSQL) each server process keeps for requests; it may open as
    # many again in a burst. Syncs are let in `sync_concurrency` at a time per process (by default
    # half the pool, so pages always find a connection); one that waits `sync_queue_seconds` for
    # its turn is told to come back later (503 with Retry-After). See docs/sync.md, "Capacity".
    database_pool_size: int = 10
    sync_concurrency: int = 0  # 0: half of database_pool_size
    sync_queue_seconds: float = 1.0

    @property
    def sync_slots(self) -> int:
        return self.sync_concurrency or max(1, self.database_pool_size // 2)

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
        database_url = (
            env.get("FIELDBOOK_DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'fieldbook.sqlite3'}"
        )
        database_url = normalise_database_url(database_url)
        secret_key = env.get("FIELDBOOK_SECRET_KEY", "")
        if not secret_key:
            if environment == "production":
                raise SettingsError("FIELDBOOK_SECRET_KEY is required when FIELDBOOK_ENV=production")
            secret_key = _development_secret_key(var_dir)
        if len(secret_key) < 32:
            raise SettingsError("FIELDBOOK_SECRET_KEY must be at least 32 characters")
        oidc = None
        if issuer := env.get("FIELDBOOK_OIDC_ISSUER", "").strip().rstrip("/"):
            client_id = env.get("FIELDBOOK_OIDC_CLIENT_ID", "").strip()
            if not client_id:
                raise SettingsError("FIELDBOOK_OIDC_CLIENT_ID is required with FIELDBOOK_OIDC_ISSUER")
            domains = env.get("FIELDBOOK_OIDC_ALLOWED_DOMAINS", "")
            oidc = OIDCSettings(
                issuer=issuer,
                client_id=client_id,
                client_secret=env.get("FIELDBOOK_OIDC_CLIENT_SECRET", ""),
                scopes=env.get("FIELDBOOK_OIDC_SCOPES", OIDCSettings.scopes),
                role_claim=env.get("FIELDBOOK_OIDC_ROLE_CLAIM", OIDCSettings.role_claim),
                create_users=_flag(env.get("FIELDBOOK_OIDC_CREATE_USERS", "1")),
                allowed_domains=tuple(d.strip().lower().lstrip("@") for d in domains.split(",") if d.strip()),
            )
        return cls(
            oidc=oidc,
            role_groups=_role_groups(env.get("FIELDBOOK_ROLE_GROUPS", DEFAULT_ROLE_GROUPS)),
            team_group_prefix=env.get("FIELDBOOK_TEAM_GROUP_PREFIX", "team:"),
            redis_url=env.get("FIELDBOOK_REDIS_URL", ""),
            redis_namespace=env.get("FIELDBOOK_REDIS_NAMESPACE", "fieldbook"),
            sign_in_rate_limit=_positive_int(env, "FIELDBOOK_SIGN_IN_RATE_LIMIT", 20),
            api_rate_limit=_positive_int(env, "FIELDBOOK_API_RATE_LIMIT", 600),
            public_url=env.get("FIELDBOOK_PUBLIC_URL", "").rstrip("/"),
            database_url=database_url,
            secret_key=secret_key,
            var_dir=var_dir,
            environment=environment,
            demo=_flag(env.get("FIELDBOOK_DEMO")),
            demo_allow_network=_flag(env.get("FIELDBOOK_DEMO_ALLOW_NETWORK")),
            default_locale=env.get("FIELDBOOK_DEFAULT_LOCALE", "en"),
            echo_sql=_flag(env.get("FIELDBOOK_ECHO_SQL")),
            vapid_private_key=env.get("FIELDBOOK_VAPID_PRIVATE_KEY", "").strip(),
            vapid_subject=env.get("FIELDBOOK_VAPID_SUBJECT", "").strip() or Settings.vapid_subject,
            push_dispatcher=_flag(env.get("FIELDBOOK_PUSH_DISPATCHER", "1")),
            database_pool_size=_positive_int(env, "FIELDBOOK_DATABASE_POOL_SIZE", 10),
            sync_concurrency=_positive_int(env, "FIELDBOOK_SYNC_CONCURRENCY", 0),
            sync_queue_seconds=_positive_float(env, "FIELDBOOK_SYNC_QUEUE_SECONDS", 1.0),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"{name} must be a whole number above 0")
    return int(value)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise SettingsError(f"{name} must be a number of seconds above 0")
    return number


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
