"""The gifts' sums by the link each donor came through (``LinkTotal``): replayed from the
entries, and moved when a donor is erased.

:func:`~relief.ledger.append` and the bulk loader keep the sums with each raised entry of a
gift, under the gift's ``ref`` and ``utm_source`` as they are then. Erasure forgets a gift's
link (``privacy``): :func:`forget` first moves what the gift added to no link, so the sums
still equal the entries read with the gifts' links as they are now.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete
from sqlalchemy import select as core_select
from sqlmodel import Session, col

from relief.ledger import sums
from relief.ledger.figures import RAISED_KINDS
from relief.models import Entry, EntryKind, Gift, LinkTotal, present, table_of

_LINK = table_of(LinkTotal)


def replayed(session: Session, drive_id: int) -> dict[sums.LinkKey, sums.LinkSums]:
    """The drive's ``LinkTotal`` as its entries give it: each raised entry of a gift under
    its chapter and its gift's link. Rows that add up to nothing are left out."""
    query = (
        core_select(
            col(Entry.chapter_id),
            col(Gift.ref),
            col(Gift.utm_source),
            col(Entry.kind),
            col(Entry.amount_cents),
        )
        .join(Gift, col(Gift.id) == col(Entry.gift_id))
        .where(col(Entry.drive_id) == drive_id, col(Entry.kind).in_(RAISED_KINDS))
    )
    totals: dict[sums.LinkKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for chapter_id, ref, utm_source, kind, cents in session.connection().execute(query):
        row = totals[sums.link_key(chapter_id, ref, utm_source)]
        for i, part in enumerate(sums.link_sums(EntryKind(kind), cents)):
            row[i] += part
    return {key: (row[0], row[1], row[2]) for key, row in totals.items() if any(row)}


def forget(session: Session, gift: Gift) -> None:
    """Move what ``gift``'s raised entries added to its link to no link (the same chapter,
    ref and source ""), before its ``ref`` and ``utm_source`` are erased. A row left adding
    up to nothing is deleted: its label may be all that is left of the donor."""
    if gift.id is None or not (gift.ref or gift.utm_source):
        return
    connection = session.connection()
    statements = sums.writes(connection.dialect.name)
    entries = connection.execute(
        core_select(
            col(Entry.drive_id), col(Entry.chapter_id), col(Entry.kind), col(Entry.amount_cents)
        ).where(
            col(Entry.gift_id) == gift.id,
            col(Entry.drive_id).is_not(None),
            col(Entry.kind).in_(RAISED_KINDS),
        )
    ).all()
    left: set[tuple[int, sums.LinkKey]] = set()
    for drive_id, chapter_id, kind, cents in entries:
        was = sums.link_key(chapter_id, gift.ref, gift.utm_source)
        count, gifts, raised = sums.link_sums(EntryKind(kind), cents)
        sums.add(
            connection,
            statements,
            [
                sums.to_link(present(drive_id), was, (-count, -gifts, -raised)),
                sums.to_link(
                    present(drive_id), sums.link_key(chapter_id, None, None), (count, gifts, raised)
                ),
            ],
        )
        left.add((present(drive_id), was))
    for drive_id, (chapter_id, ref, utm_source) in left:
        connection.execute(
            delete(_LINK).where(
                _LINK.c.drive_id == drive_id,
                _LINK.c.chapter_id == chapter_id,
                _LINK.c.ref == ref,
                _LINK.c.utm_source == utm_source,
                _LINK.c.gift_count == 0,
                _LINK.c.gifts_cents == 0,
                _LINK.c.raised_cents == 0,
            )
        )
