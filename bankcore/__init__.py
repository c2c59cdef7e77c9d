"""bankcore: ReasoningBank memory for agents — learn from success and failure, retrieve the one lesson that matters."""

from .bank import Bank
from .errors import BankcoreError, ConflictError, InputError, NotFoundError

__all__ = ["Bank", "BankcoreError", "ConflictError", "InputError", "NotFoundError"]
__version__ = "0.1.0"
