"""First-load weight of Fieldbook's pages: HTML + CSS + JS as they travel, gzip-compressed.

    .venv/bin/python bench/page_weight.py

Builds a throwaway SQLite database with the demo data set, signs in as a demo rep and fetches
each page the way a phone's first visit would (the page, then every stylesheet and script it
links). Prints a Markdown table; the figures are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path

from litestar.testing import AsyncTestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.app import create_app
from server.demo import load_demo
from tests.conftest import csrf_token, make_settings, migrate

PAGES = ["/auth/demo", "/", "/accounts", "/accounts/new", "/more"]
ASSET = re.compile(r'<(?:link rel="stylesheet" href|script[^>]*src)="([^"]+)"')
BUDGET = 60 * 1024


async def measure(settings) -> list[tuple[str, int, int, int]]:
    app = create_app(settings)
    await load_demo(app.state["alchemy"])
    rows = []
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Accept-Encoding"] = "gzip"
        page = await client.get("/auth/demo")
        rep_id = re.findall(r'name="user_id" value="([^"]+)"', page.text)[-1]
        await client.post("/auth/demo", data={"_csrf_token": csrf_token(page.text), "user_id": rep_id})
        for path in PAGES:
            response = await client.get(path)
            html = response.num_bytes_downloaded
            assets = 0
            for url in ASSET.findall(response.text):
                assets += (await client.get(url)).num_bytes_downloaded
            rows.append((path, html, assets, html + assets))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        var_dir = Path(folder)
        settings = make_settings(f"sqlite+aiosqlite:///{var_dir / 'bench.sqlite3'}", var_dir)
        migrate(settings)  # Alembic runs its own event loop, so before ours starts
        rows = asyncio.run(measure(settings))
    print("| page | HTML (gzip) | CSS + JS (gzip) | first load | within 60 KB |")
    print("| --- | ---: | ---: | ---: | --- |")
    for path, html, assets, total in rows:
        print(
            f"| `{path}` | {html / 1024:.1f} KB | {assets / 1024:.1f} KB | {total / 1024:.1f} KB | {'yes' if total <= BUDGET else 'NO'} |"
        )


if __name__ == "__main__":
    main()
