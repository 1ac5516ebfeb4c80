"""The application factory: everything Fieldbook serves is wired here, from the settings given."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Litestar, Request
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader, State
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.security.session_auth import SessionAuth
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from litestar.template import TemplateConfig
from sqlalchemy.exc import SQLAlchemyError

from server import i18n, shell
from server.accounts.views import AccountController
from server.audit.views import AuditController
from server.auth import RotatingSessionBackend, RotatingSessionConfig, SignedInOnly, retrieve_user
from server.cli import FieldbookCLIPlugin
from server.contacts.views import ContactController
from server.dashboard.views import DashboardController
from server.db import DatabaseStore, KeyValueItem, alchemy_config, create_engine, purge_expired_store_items
from server.home.views import HomeController
from server.imports import service as imports
from server.imports.views import RUNS_KEY, ImportsController
from server.leads.views import LeadsController
from server.orders.api import upsert_order
from server.orders.views import OrdersController
from server.organisation.views import OrganisationController
from server.quotes import pricing
from server.quotes.admin_views import CatalogueController
from server.quotes.views import ApprovalsController, QuotesController
from server.reminders import worker as push_worker
from server.reminders.push_log import PushLogController
from server.reminders.push_views import NotificationsController
from server.reminders.views import RemindersController
from server.scim.views import scim_routes
from server.settings import Settings
from server.signin import oidc
from server.signin.views import SignInController
from server.tokens.views import TokensController
from server.users.models import User
from server.users.views import AdminUsersController, SettingsController
from server.visits.views import TeamController, VisitsController
from server.web import EXCEPTION_HANDLERS, local_time, next_offset
from sync import views as sync_views
from sync.registry import default_registry

ROUTE_HANDLERS = [
    HomeController,
    VisitsController,
    TeamController,
    DashboardController,
    LeadsController,
    RemindersController,
    NotificationsController,
    PushLogController,
    OrganisationController,
    QuotesController,
    ApprovalsController,
    CatalogueController,
    sync_views.push,
    sync_views.pull,
    sync_views.briefcase,
    AccountController,
    ContactController,
    OrdersController,
    upsert_order,
    SignInController,
    SettingsController,
    AdminUsersController,
    AuditController,
    ImportsController,
    TokensController,
    shell.service_worker,
    shell.manifest,
    shell.offline_page,
    shell.health,
]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(settings: Settings) -> list[ResponseHeader]:
    headers = [
        ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
        ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
        ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ResponseHeader(name="Permissions-Policy", value="geolocation=(self), camera=(self), microphone=()"),
        ResponseHeader(name="X-Frame-Options", value="DENY"),
    ]
    if settings.production:
        headers.append(ResponseHeader(name="Strict-Transport-Security", value="max-age=31536000"))
    return headers


def template_environment(settings: Settings, assets: shell.Assets) -> Environment:
    env = Environment(
        loader=FileSystemLoader(settings.templates_dir),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["asset"] = assets.url
    env.globals["next_offset"] = next_offset
    env.filters["local"] = local_time
    env.filters["money"] = pricing.format_money
    env.filters["plain"] = pricing.plain
    return env


SIGN_IN_PATHS = ("/auth/demo", "/auth/oidc", "/auth/callback")
API_PATHS = ("/scim", "/api/", "/sync/")


def rate_limits(settings: Settings) -> list[DefineMiddleware]:
    """Per-address request limits on sign-in and on the machine APIs (429 beyond them)."""

    def only(prefixes: tuple[str, ...]) -> Callable[[Request], bool]:
        return lambda request: request.url.path.startswith(prefixes)

    return [
        RateLimitConfig(
            rate_limit=("minute", settings.sign_in_rate_limit), store="sign_in_limits",
            check_throttle_handler=only(SIGN_IN_PATHS),
        ).middleware,
        RateLimitConfig(
            rate_limit=("minute", settings.api_rate_limit), store="api_limits", check_throttle_handler=only(API_PATHS)
        ).middleware,
    ]  # fmt: skip


# Connections of the store's own pool (sessions and rate limits kept in the database).
STORE_POOL_SIZE = 4


def stores(settings: Settings, store_alchemy: SQLAlchemyAsyncConfig | None) -> dict[str, Store]:
    """Sessions and rate-limit counters, in a store every server process shares: the database,
    or Redis when FIELDBOOK_REDIS_URL is set."""
    if store_alchemy is None:
        redis = RedisStore.with_client(url=settings.redis_url, namespace=settings.redis_namespace)
        return {name: redis.with_namespace(name) for name in ("sessions", "sign_in_limits", "api_limits")}
    return {
        name: DatabaseStore(store_alchemy, model=KeyValueItem, namespace=name)
        for name in ("sessions", "sign_in_limits", "api_limits")
    }


def store_database(settings: Settings) -> SQLAlchemyAsyncConfig | None:
    """The database connections of the session and rate-limit store (None with Redis): a pool of
    their own. The store writes a changed session after the handler, while the request may still
    hold its connection; from the requests' pool, a server whose every connection was held that way
    would wait for ever (docs/sync.md, "Capacity"). Each store statement holds its connection for
    one statement and waits for nothing else, so this pool always frees up."""
    if settings.redis_url:
        return None
    engine = create_engine(settings.database_url, echo=settings.echo_sql, pool_size=STORE_POOL_SIZE)
    return alchemy_config(settings, engine)


async def close_store_database(app: Litestar) -> None:
    if (store_alchemy := app.state.get("store_alchemy")) is not None:
        await store_alchemy.get_engine().dispose()


async def purge_expired_sessions(app: Litestar) -> None:
    """Expired sessions would otherwise stay in the database store for ever; each start clears them."""
    try:
        async with app.state["alchemy"].get_session() as session:
            await purge_expired_store_items(session)
            await session.commit()
    except (OSError, SQLAlchemyError) as error:  # a database still starting must not stop the app
        logging.getLogger("fieldbook").warning("could not purge expired sessions: %s", error)


async def start_imports(app: Litestar) -> None:
    """Imports left running by a stopped server were rolled back with it: say so on their pages."""
    app.state[RUNS_KEY] = imports.Runs()
    try:
        async with app.state["alchemy"].get_session() as session:
            await imports.abandon_unfinished(session)
            await session.commit()
    except (OSError, SQLAlchemyError) as error:
        logging.getLogger("fieldbook").warning("could not look at unfinished imports: %s", error)


async def stop_imports(app: Litestar) -> None:
    if (runs := app.state.get(RUNS_KEY)) is not None:
        await runs.stop()


def collect_garbage_less_often(_app: Litestar) -> None:
    """Python's default runs a collection every 700 new objects. A first sync builds a few hundred
    thousand short-lived ones (rows, dicts of records), and those collections took a quarter of its
    time, and two thirds of a pull after a change elsewhere (bench/RESULTS.md)."""
    gc.set_threshold(20_000, 50, 100)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    alchemy = alchemy_config(settings)
    store_alchemy = store_database(settings)
    assets = shell.Assets.scan(settings.pwa_dir)
    session_config = RotatingSessionConfig(
        key="fieldbook_session",
        store="sessions",
        max_age=30 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.production,
    )
    session_auth = SessionAuth[User, RotatingSessionBackend](
        retrieve_user_handler=retrieve_user,
        session_backend_config=session_config,
        authentication_middleware_class=SignedInOnly,
        exclude_opt_key="exclude_from_auth",
    )
    return Litestar(
        route_handlers=[*ROUTE_HANDLERS, *scim_routes(settings), *shell.static_routers(settings)],
        plugins=[SQLAlchemyPlugin(config=alchemy), HTMXPlugin(), FieldbookCLIPlugin()],
        on_app_init=[session_auth.on_app_init],
        on_startup=[
            collect_garbage_less_often,
            purge_expired_sessions,
            push_worker.start_push,
            start_imports,
        ],
        on_shutdown=[push_worker.stop_push, stop_imports, close_store_database],
        stores=stores(settings, store_alchemy),
        middleware=rate_limits(settings),
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(template_environment(settings, assets))
        ),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="fieldbook_csrf",
            cookie_secure=settings.production,
            cookie_samesite="lax",
            header_name="x-csrftoken",
            # Machine clients authenticate with bearer tokens, not cookies: no CSRF to fear there.
            # /sync/ takes only JSON (a cross-site page cannot send that without a CORS preflight)
            # and the session cookie is SameSite=Lax; the service worker, which holds no token, syncs too.
            exclude=["/scim", "/api/", "/sync/"],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=500, gzip_compress_level=6),
        response_headers=security_headers(settings),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="Fieldbook", version=settings.app_version, path="/schema"),
        request_max_body_size=1024 * 1024,
        state=State(
            {
                "settings": settings,
                "alchemy": alchemy,
                "store_alchemy": store_alchemy,
                "assets": assets,
                "shell_files": shell.ShellFiles.build(settings.pwa_dir, assets),
                "translations": i18n.load_translations(),
                "session_config": session_config,
                "oidc_cache": oidc.ProviderCache(),
                "sync_commands": default_registry(),
            }
        ),
        debug=False,
    )
