"""Each worker's fee reader: a few threads that ask Stripe for the fees of gifts just paid.

A gunicorn sync worker that asked Stripe itself, even after answering the webhook, would serve
nothing else until Stripe answered (a few hundred milliseconds), so a burst of gifts would
queue behind fee lookups. The webhook hands the gift ids to this worker's reader instead and
is free at once. The gift is already committed; what the reader has not done when the process
stops stays ``fee_pending``, and ``flask stripe sync-fees`` (run it from cron) reads it.

Each fee read (:func:`read_fee`, also what sync-fees runs per gift) is a job with units of
work of its own: read what to ask, ask Stripe with no lock held, post the answer.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from flask import Flask

from relief import boundary
from relief.payments import fees
from relief.payments.choice import for_app
from relief.payments.gateway import Gateway, GatewayError

log = logging.getLogger(__name__)

#: Gift ids waiting per worker; past this a burst's fees are left to sync-fees.
CAPACITY = 10_000
#: Stripe answers in a few hundred milliseconds: several lookups at once keep up with a burst.
THREADS = 4


def read_fee(gateway: Gateway, gift_id: int) -> str:
    """Read one gift's fee from Stripe and post it; a sentence for logs and the CLI. Raises
    GatewayError (the gift stays ``fee_pending``). Needs an app context."""
    with boundary.command(write=False) as session:
        wanted = fees.to_read(session, gift_id)
    if wanted is None:
        return f"gift {gift_id}: nothing to do"
    try:
        fee = gateway.payment_fee(
            payment_intent_id=wanted.payment_intent_id,
            charge_id=wanted.charge_id,
            invoice_id=wanted.invoice_id,
        )
    except GatewayError as error:
        log.warning("fee for gift %s still pending: %s", wanted.public_id, error)
        raise
    with boundary.command() as session:
        return fees.post_read_fee(session, wanted, fee)


class FeeReader:
    def __init__(self, app: Flask, capacity: int = CAPACITY, threads: int = THREADS):
        self.app = app
        self.capacity = capacity
        self.threads = threads
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[int] = queue.Queue(capacity)

    def submit(self, gift_ids: list[int]) -> None:
        """Queue these gifts' fees to be read; never blocks, never raises."""
        waiting = self._running_queue()
        for gift_id in gift_ids:
            try:
                waiting.put_nowait(gift_id)
            except queue.Full:
                log.warning("fee reader full: gift %s waits for stripe sync-fees", gift_id)

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued fee has been read (or given up on); for tests and tools."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _running_queue(self) -> queue.Queue[int]:
        # Started on first use in each process: threads do not survive gunicorn's fork.
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._queue = queue.Queue(self.capacity)
                for number in range(self.threads):
                    threading.Thread(
                        target=self._run,
                        args=(self._queue,),
                        name=f"fee-reader-{number}",
                        daemon=True,
                    ).start()
            return self._queue

    def _run(self, waiting: queue.Queue[int]) -> None:
        while True:
            gift_id = waiting.get()
            try:
                with self.app.app_context():
                    read_fee(for_app(self.app), gift_id)
            except GatewayError:
                pass  # stays fee_pending (read_fee logged it); sync-fees retries
            except Exception:  # noqa: BLE001 — the gift is committed; log and read the next
                log.exception("reading the fee of gift %s failed", gift_id)
            finally:
                waiting.task_done()


def of(app: Flask) -> FeeReader:
    """The app's fee reader, one per app and process."""
    if "relief.fee_reader" not in app.extensions:
        app.extensions["relief.fee_reader"] = FeeReader(app)
    return app.extensions["relief.fee_reader"]
