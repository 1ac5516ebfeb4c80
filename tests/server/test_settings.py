"""Settings come from FIELDBOOK_* variables; the demo never reaches the network by accident."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError, check_demo_host


def test_defaults_use_sqlite_under_var_and_keep_a_generated_secret(tmp_path) -> None:
    env = {"FIELDBOOK_VAR_DIR": str(tmp_path / "var")}
    first = Settings.from_env(env)
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'fieldbook.sqlite3'}"
    assert len(first.secret_key) >= 32
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings.from_env(env).secret_key == first.secret_key  # sessions survive a restart
    assert not first.demo


def test_production_requires_a_secret_key(tmp_path) -> None:
    with pytest.raises(SettingsError, match="FIELDBOOK_SECRET_KEY"):
        Settings.from_env({"FIELDBOOK_ENV": "production", "FIELDBOOK_VAR_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"FIELDBOOK_SECRET_KEY": "short", "FIELDBOOK_VAR_DIR": str(tmp_path)})


def test_database_urls_people_paste_get_our_drivers(tmp_path) -> None:
    env = {"FIELDBOOK_VAR_DIR": str(tmp_path), "FIELDBOOK_DATABASE_URL": "postgres://u@db.internal/fb"}
    assert Settings.from_env(env).database_url == "postgresql+asyncpg://u@db.internal/fb"


def test_demo_stays_on_loopback_unless_allowed(tmp_path) -> None:
    demo = Settings.from_env({"FIELDBOOK_DEMO": "1", "FIELDBOOK_VAR_DIR": str(tmp_path)})
    check_demo_host(demo, "127.0.0.1")
    with pytest.raises(SettingsError, match=r"refusing to listen on 0\.0\.0\.0"):
        check_demo_host(demo, "0.0.0.0")
    allowed = Settings.from_env(
        {"FIELDBOOK_DEMO": "1", "FIELDBOOK_DEMO_ALLOW_NETWORK": "1", "FIELDBOOK_VAR_DIR": str(tmp_path)}
    )
    check_demo_host(allowed, "0.0.0.0")


def test_fieldbook_run_refuses_demo_on_a_public_address(tmp_path) -> None:
    fieldbook = Path(sys.executable).parent / "fieldbook"
    env = {**os.environ, "FIELDBOOK_DEMO": "1", "FIELDBOOK_VAR_DIR": str(tmp_path), "COLUMNS": "300"}
    result = subprocess.run(
        [str(fieldbook), "run", "--host", "0.0.0.0", "--port", "8999"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stdout + result.stderr
