"""How many requests the fee batches ask Stripe for, at a given rate of payments: the
gateway's list of balance transactions (newest first, whole-second times) against the
tests' stand-in for Stripe, a batch of a hundred fees at a time, oldest first, each fee's
job written a second after its payment (docs/performance.md, change 44).

    .venv/bin/python -m bench.fee_pages [--rate 800] [--fees 4000]

No database and no app: only ``StripeGateway.charge_fees`` with the window and the page
budget ``fee_reader.read_fees`` gives it. Prints list pages, fees left to be read one at a
time, and requests in all.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime

from relief.payments import fee_reader
from relief.payments.stripe_gateway import StripeGateway

#: An arbitrary moment, in whole seconds as Stripe's are.
START = 1_800_000_000


@dataclass(frozen=True)
class Asked:
    list_pages: int
    read_alone: int

    @property
    def requests(self) -> int:
        return self.list_pages + self.read_alone


def measure(rate: float, fees: int) -> Asked:
    """Read ``fees`` fees, paid ``rate`` a second, a batch of a hundred at a time."""
    from tests.fake_stripe import FakeStripe

    stripe = FakeStripe().start()
    try:
        written = [START + 1 + number / rate for number in range(fees)]  # each fee job's time
        charges = [(f"pi_{number}", int(at - 1)) for number, at in enumerate(written)]
        stripe.charges_made = lambda gte, lte: [c for c in charges if gte <= c[1] <= lte]
        gateway = StripeGateway(secret_key="sk_test_bench", webhook_secret="", api_base=stripe.url)
        alone = 0
        for first in range(0, fees, fee_reader.BATCH_SIZE):
            batch = range(first, min(fees, first + fee_reader.BATCH_SIZE))
            at = [datetime.fromtimestamp(written[number], UTC) for number in batch]
            wanted = {f"pi_{number}" for number in batch}
            created_gte, created_lte = fee_reader.list_window(at)
            found = gateway.charge_fees(
                created_gte=created_gte,
                created_lte=created_lte,
                wanted=wanted,
                most_pages=len(wanted),  # as read_fees asks
            )
            alone += len(wanted - found.keys())
        pages = sum(r["path"] == "/v1/balance_transactions" for r in stripe.requests)
        return Asked(list_pages=pages, read_alone=alone)
    finally:
        stripe.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=800, help="payments a second")
    parser.add_argument("--fees", type=int, default=4_000, help="fees to read")
    arguments = parser.parse_args(argv)
    asked = measure(arguments.rate, arguments.fees)
    print(
        f"{arguments.fees:,} fees paid {arguments.rate:,.0f} a second: {asked.list_pages:,} "
        f"list pages, {asked.read_alone:,} read alone, {asked.requests:,} requests to Stripe"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
