"""The treasurer's screens, one module per screen; ``bp`` (in :mod:`.blueprint`) carries them all.

Every route but the chapter list is guarded by ``chapter_treasurer_required`` (g.chapter, 404
unless it is the user's), and every object below a chapter is loaded through the chapter's
scope, so an id of another chapter's is a 404.

Each POST: parse the form, call one service inside ``boundary.attempt()``, write the audit line
(``boundary.audit``) and redirect — the boundary commits the unit — or show the service's
sentence beside the form, with what was typed kept and nothing of the attempt written.
"""

# Importing a screen's module registers its routes on ``bp``.
from relief.views.treasurer import (
    batches,
    dashboard,
    exports,
    gifts,
    matches,
    payouts,
    remittances,
)
from relief.views.treasurer.blueprint import bp

__all__ = ["bp", "batches", "dashboard", "exports", "gifts", "matches", "payouts", "remittances"]
