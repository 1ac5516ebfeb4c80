"""Languages: the catalogs, choosing a locale per request, and the gettext that templates call.

Catalogs are the .po files under server/locales; they are compiled in memory when the app is
built, so there is no separate compile step to forget.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    code: str  # our catalog name, also what we store on the user
    html_lang: str  # BCP 47, for <html lang>
    label: str  # the language's own name, shown in the picker


LANGUAGES = (
    Language("en", "en", "English"),
    Language("zh_Hans", "zh-Hans", "简体中文"),
)
LANGUAGE_CODES = frozenset(language.code for language in LANGUAGES)


def N_(message: str) -> str:  # the conventional name that message extractors look for
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def load_translations(locales_dir: Path = LOCALES_DIR) -> dict[str, NullTranslations]:
    catalogs: dict[str, NullTranslations] = {language.code: NullTranslations() for language in LANGUAGES}
    for language in LANGUAGES:
        po_path = locales_dir / language.code / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not po_path.exists():
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language.code)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        catalogs[language.code] = Translations(fp=buffer, domain=DOMAIN)
    return catalogs


def language(code: str) -> Language:
    return next((lang for lang in LANGUAGES if lang.code == code), LANGUAGES[0])


def negotiate(accept_language: str | None, default: str = "en") -> str:
    """Pick our best language for an Accept-Language header (RFC 9110 quality values)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        code = _code_for_tag(tag.strip().lower())
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else default


def _code_for_tag(tag: str) -> str | None:
    if tag.startswith("en"):
        return "en"
    if tag.startswith("zh"):
        # Traditional-script regions and tags are not Simplified Chinese.
        if any(marker in tag for marker in ("hant", "-tw", "-hk", "-mo")):
            return None
        return "zh_Hans"
    return None


# The translations of the request being rendered. Templates are rendered synchronously inside the
# request's task, so a context variable is exactly as wide as one render.
_active: ContextVar[NullTranslations | None] = ContextVar("fieldbook_translations", default=None)
_UNTRANSLATED = NullTranslations()


def activate(translations: NullTranslations) -> None:
    _active.set(translations)


def _translations() -> NullTranslations:
    return _active.get() or _UNTRANSLATED


def gettext(message: str) -> str:
    return _translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations().ngettext(singular, plural, n)
