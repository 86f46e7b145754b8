"""GET /health/ready: the database answers; 503 problem+json when it does not."""

from primecloud.api import app_for
from primecloud.errors import Unavailable

app = app_for(__name__)


@app.get("/health/ready")
def ready() -> dict[str, str]:
    from primecloud.db import ping

    try:
        ping()
    except Exception as exc:
        raise Unavailable("The database is unreachable.") from exc
    return {"status": "ok", "database": "ok"}


lambda_handler = app.handler
