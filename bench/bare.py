"""The yardstick: a bare Flask app that answers only ``/healthz`` as Relief's does, served by
the same gunicorn line in the same run, so every figure can be given as a ratio to what Flask
and gunicorn cost on their own."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
