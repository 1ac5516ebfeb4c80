"""The installable shell: static assets with versioned URLs, the manifest, the service worker,
the offline page, and the health check."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from sqlalchemy import text

from server.auth import PUBLIC

if TYPE_CHECKING:
    from litestar.router import Router

    from server.settings import Settings

IMMUTABLE = CacheControlHeader(max_age=365 * 24 * 3600, public=True)
# The shell files must be re-checked on every visit, or a new release never reaches the phone.
REVALIDATE = {"Cache-Control": "no-cache"}
# sw.js carries a development default between these markers; the served file has the release's.
# What the service worker imports to sync in the background (the pages load the same files).
SYNC_SCRIPTS = ("static/vendor/idb-8.0.4.umd.js", "static/js/device-store.js", "static/js/sync-engine.js")
BUILD_SPAN = re.compile(r"/\*BUILD\*/.*?/\*END-BUILD\*/", re.DOTALL)


@dataclass(frozen=True)
class Assets:
    """Content hashes of the files the app loads, computed once when the app is built."""

    hashes: dict[str, str]
    version: str

    @classmethod
    def scan(cls, pwa_dir: Path) -> Assets:
        hashes: dict[str, str] = {}
        for folder in ("static", "icons"):
            for path in sorted((pwa_dir / folder).rglob("*")):
                if path.is_file():
                    relative = path.relative_to(pwa_dir).as_posix()
                    hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        shell = [pwa_dir / "sw.js", pwa_dir / "offline.html", pwa_dir / "manifest.webmanifest"]
        everything = "".join(hashes.values()) + "".join(
            hashlib.sha256(p.read_bytes()).hexdigest() for p in shell
        )
        return cls(hashes=hashes, version=hashlib.sha256(everything.encode()).hexdigest()[:12])

    def url(self, path: str) -> str:
        """`static/css/app.css` -> `/static/css/app.css?v=<hash>`, so it can be cached for a year."""
        return f"/{path}?v={self.hashes[path]}" if path in self.hashes else f"/{path}"

    def precache(self) -> list[str]:
        """What the service worker stores at install: the app's code, styles and icons."""
        return [self.url(path) for path in self.hashes if not path.startswith("icons/maskable")]


def static_routers(settings: Settings) -> list[Router]:
    return [
        create_static_files_router(
            path="/static", directories=[settings.static_dir], cache_control=IMMUTABLE, opt=PUBLIC, name="static",
            include_in_schema=False,
        ),
        create_static_files_router(
            path="/icons", directories=[settings.pwa_dir / "icons"], cache_control=IMMUTABLE, opt=PUBLIC,
            name="icons", include_in_schema=False,
        ),
    ]  # fmt: skip


@dataclass(frozen=True)
class ShellFiles:
    """The shell files as served, filled in once when the app is built (they cannot change while it runs)."""

    service_worker: str
    manifest: str
    offline_page: str

    @classmethod
    def build(cls, pwa_dir: Path, assets: Assets) -> ShellFiles:
        scripts = [assets.url(path) for path in SYNC_SCRIPTS]
        build = json.dumps(
            {"version": assets.version, "precache": ["/offline.html", *assets.precache()], "scripts": scripts}
        )
        source = BUILD_SPAN.sub(lambda _: build, (pwa_dir / "sw.js").read_text(encoding="utf-8"), count=1)
        page = (pwa_dir / "offline.html").read_text(encoding="utf-8")
        for path in ("static/css/app.css", "icons/icon-192.png"):
            page = page.replace(f'"/{path}"', f'"{assets.url(path)}"')
        manifest = (pwa_dir / "manifest.webmanifest").read_text(encoding="utf-8")
        return cls(service_worker=source, manifest=manifest, offline_page=page)


def _shell(request: Request) -> ShellFiles:
    return request.app.state["shell_files"]


@get("/sw.js", opt=PUBLIC, include_in_schema=False, name="shell.service_worker")
async def service_worker(request: Request) -> Response[str]:
    return Response(_shell(request).service_worker, media_type="text/javascript", headers=REVALIDATE)


@get("/manifest.webmanifest", opt=PUBLIC, include_in_schema=False, name="shell.manifest")
async def manifest(request: Request) -> Response[str]:
    return Response(_shell(request).manifest, media_type="application/manifest+json", headers=REVALIDATE)


@get("/offline.html", opt=PUBLIC, include_in_schema=False, name="shell.offline")
async def offline_page(request: Request) -> Response[str]:
    return Response(_shell(request).offline_page, media_type="text/html", headers=REVALIDATE)


@get("/healthz", opt=PUBLIC, name="shell.health", cache_control=CacheControlHeader(no_store=True))
async def health(request: Request) -> Response[dict[str, str]]:
    """200 when this process can reach its database, 503 when it cannot (for load balancers)."""
    settings: Settings = request.app.state["settings"]
    engine = request.app.state["alchemy"].get_engine()
    body = {"status": "ok", "database": "ok", "version": settings.app_version}
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:
        return Response({**body, "status": "unavailable", "database": "unreachable"}, status_code=503)
    return Response(body)
