"""Both languages, from the first page: every message has a Simplified Chinese translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from server.i18n import LOCALES_DIR, negotiate

REPO = Path(__file__).resolve().parents[2]


def test_every_message_in_the_code_is_translated(tmp_path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "N_", "--ignore-dirs", ".* __pycache__", "-o", str(pot), "."],
        cwd=REPO, check=True,
    )  # fmt: skip
    with pot.open("rb") as file:
        wanted = {message.id for message in read_po(file) if message.id}
    with (LOCALES_DIR / "zh_Hans" / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file)
    translated = {
        message.id
        for message in catalog
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }
    missing = sorted(str(message) for message in wanted - translated)
    assert not missing, f"untranslated in zh_Hans (run scripts/i18n and translate): {missing}"


def test_accept_language_picks_the_best_of_our_languages() -> None:
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh_Hans"
    assert negotiate("en-GB,en;q=0.9,zh-CN;q=0.8") == "en"
    assert negotiate("fr-FR, zh-Hans;q=0.5") == "zh_Hans"
    assert negotiate("zh-TW") == "en"  # Traditional Chinese readers are not served Simplified
    assert negotiate("de, en;q=0") == "en"
    assert negotiate("") == "en"
    assert negotiate("en;q=abc, zh") == "zh_Hans"
