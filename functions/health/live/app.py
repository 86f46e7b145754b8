"""GET /health/live: the function runs (no dependencies checked)."""

from primecloud.api import app_for

app = app_for(__name__)


@app.get("/health/live")
def live() -> dict[str, str]:
    return {"status": "ok"}


lambda_handler = app.handler
