"""Test-only WSGI entry point: the real app, whose checkout handler can be made to stop
inside its transaction — after the event id is claimed and the gift and its ledger entry
are flushed, before the commit — so a test can SIGKILL the worker at the worst moment.

Set RELIEF_TEST_PAUSE_DIR: the first request to reach the handler writes ``paused`` (its
process id) there and sleeps; later requests (after the kill) run normally.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from relief import create_app
from relief.payments import fulfilment, webhooks

_pause_dir = os.environ.get("RELIEF_TEST_PAUSE_DIR")
_checkout_session = fulfilment.checkout_session


def _pausing_checkout_session(session, obj, **kwargs):
    handled = _checkout_session(session, obj, **kwargs)
    session.flush()
    marker = Path(_pause_dir) / "paused"
    try:
        with open(marker, "x") as file:  # only the first request ever pauses
            file.write(str(os.getpid()))
    except FileExistsError:
        return handled
    time.sleep(120)  # killed here, holding the open transaction
    return handled


if _pause_dir:
    fulfilment.checkout_session = _pausing_checkout_session
    assert webhooks.fulfilment is fulfilment

app = create_app()
