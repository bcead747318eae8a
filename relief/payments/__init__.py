"""Payments: the Gateway interface (Stripe, or the built-in test mode chosen by configuration),
the Stripe webhook's event processing, and the handlers that bring our gifts and ledger up to
the state of Stripe's objects.

The interface is :mod:`.gateway`; :mod:`.choice` picks :mod:`.stripe_gateway`'s or
:mod:`.testmode`'s implementation. Only :mod:`.stripe_gateway` imports ``stripe``; everything
else here works on the plain JSON of Stripe's objects, so a real webhook and the test-mode
checkout run the same code.
"""
