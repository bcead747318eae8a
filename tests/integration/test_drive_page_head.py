"""What a search result, a browser tab and the home page show of a drive: the favicon, a meta
description with the drive's figures, and the active drives with raised of goal, a progress
bar and the projected relief."""

from __future__ import annotations

import re

from tests.factories import make_coalition, make_gift


def description(html: str) -> str:
    found = re.findall(r'<meta name="description" content="([^"]*)">', html)
    assert len(found) == 1, found
    return found[0]


def test_each_page_has_the_favicon_and_a_description_with_its_figures(session, client):
    drive = make_coalition(session, target_region="Missouri")
    make_gift(session, drive, 60_000, chapter="st-louis")
    from relief import drives

    drives.set_chapter_goal(session, drive, drives.get_chapter(session, "st-louis"), 150_000)
    session.commit()

    page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert description(page) == (
        "Missouri Medical Debt Jubilee: $600 raised of a $1,600 goal, relieving about $60,000 "
        "of medical debt."
    )
    chapter = client.get("/drives/mo-2026/st-louis").get_data(as_text=True)
    assert description(chapter) == (
        "St. Louis raises $600 of its $1,500 goal for Missouri Medical Debt Jubilee: every $1 "
        "relieves about $100 of medical debt."
    )
    assert "relief nonprofit" in description(client.get("/").get_data(as_text=True))

    [icon] = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    served = client.get(icon)
    assert served.status_code == 200 and served.mimetype == "image/svg+xml"
    assert b"<svg" in served.data


def test_the_home_page_lists_each_active_drive_with_its_figures(session, client):
    drive = make_coalition(session, target_region="Missouri")
    make_gift(session, drive, 40_000, chapter="st-louis")
    html = client.get("/").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "$400.00 raised of $1,600.00 goal" in text
    assert "About $40,000 of medical debt relieved so far (projected)" in text
    bar = '<progress value="25" max="100" aria-label="Missouri Medical Debt Jubilee: 25% of'
    assert bar in html
    assert 'href="/drives/mo-2026"' in html
