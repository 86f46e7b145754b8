"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from primecloud.models.base import Base
from primecloud.models.billing import *  # noqa: F403
from primecloud.models.iam import *  # noqa: F403
from primecloud.models.storage import *  # noqa: F403
from primecloud.models.system import *  # noqa: F403

__all__ = ["Base"]
