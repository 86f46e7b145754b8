"""SQLAlchemy models, one module per domain.

Importing one domain module (``primecloud.models.iam``) loads only it and the domains its foreign
keys point to, so a handler pays only for the tables it uses at cold start. Reading a name from
the package itself (``from primecloud.models import Base, Account``) loads every domain first:
that is what whole-schema users (Alembic, test cleanup) get, the full ``Base.metadata``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

DOMAINS = ("iam", "storage", "billing", "system")


def load_all() -> None:
    for domain in DOMAINS:
        import_module(f"primecloud.models.{domain}")


def __getattr__(name: str) -> Any:
    if name in DOMAINS or name in ("base", "enums"):  # a submodule being imported: not a request for all
        return import_module(f"primecloud.models.{name}")
    load_all()
    from primecloud.models import base

    if name == "Base":
        return base.Base
    for domain in DOMAINS:
        module = import_module(f"primecloud.models.{domain}")
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise AttributeError(f"module 'primecloud.models' has no attribute {name!r}")
