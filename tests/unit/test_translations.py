"""The Spanish catalog is complete and safe: every string wrapped in a donor template or in
Python is in relief/translations/messages.pot and translated (not fuzzy) in the Spanish .po,
nothing stale is left there, and no translation drops, adds or misspells a %(placeholder)s.
Extracted here with babel.cfg, as ``pybabel extract`` does (docs/translations.md)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from relief import i18n

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "N_": None,
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    found = extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS)
    return {
        message if isinstance(message, str) else message[0]
        for _filename, _line, message, _comments, _context in found
    }


def catalog(path: Path):
    with path.open("rb") as po:
        return read_po(po)


def ids(messages) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


def test_every_wrapped_string_is_in_the_template_and_translated_in_spanish():
    wanted = extracted()
    assert "Find my gifts" in wanted and "Receipt for your gift" in wanted  # extraction works
    template = catalog(i18n.TRANSLATIONS / "messages.pot")
    spanish = catalog(i18n.TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po")
    assert sorted(wanted - ids(template)) == [], "run pybabel extract (docs/translations.md)"
    assert sorted(ids(template) - wanted) == [], "run pybabel extract (docs/translations.md)"
    assert sorted(wanted - ids(spanish)) == [], "run pybabel update (docs/translations.md)"
    assert sorted(ids(spanish) - wanted) == [], "the Spanish catalog keeps strings no longer used"
    untranslated = [
        m.id
        for m in spanish
        if m.id
        and ("fuzzy" in m.flags or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert untranslated == [], "translate these (or clear their fuzzy flag once checked)"


def test_no_spanish_translation_breaks_a_placeholder():
    spanish = catalog(i18n.TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po")
    broken = []
    for message in spanish:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        names = set(PLACEHOLDER.findall(sources[-1])) | set(PLACEHOLDER.findall(sources[0]))
        for string in strings:
            if set(PLACEHOLDER.findall(string)) != names or string.count("%") != sources[-1].count(
                "%"
            ):
                broken.append((sources[0], string))
    assert broken == []
    # Babel's own checks (python-format) agree.
    assert [error for error in spanish.check()] == []


def test_the_placeholder_check_catches_a_broken_translation(tmp_path):
    """The check above fails when a translator renames or drops a placeholder."""
    po = tmp_path / "broken.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        '#, python-format\nmsgid "Thank you, %(name)s."\nmsgstr "Gracias, %(nombre)s."\n',
        encoding="utf-8",
    )
    [message] = [m for m in catalog(po) if m.id]
    assert set(PLACEHOLDER.findall(message.string)) != set(PLACEHOLDER.findall(message.id))
