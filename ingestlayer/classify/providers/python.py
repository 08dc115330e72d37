"""The user's own classifier: a Python callable named `package.module:function`.

See `PythonModel` for the calling convention. The import happens in the worker at first use and
is remembered; a missing module or name is permanent. An exception from the callable is
retryable (it may have called a flaky service), unless it raised one of the shared error types
itself, which pass through as they are.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from ingestlayer.classify.config import PythonModel
from ingestlayer.classify.providers.base import Abstain
from ingestlayer.classify.request import ClassifyRequest
from ingestlayer.destinations.errors import DeliveryError, PermanentError, RetryableError

__all__ = ["PythonProvider", "load_callable"]


class PythonProvider:
    kind = "python"

    def __init__(self, config: PythonModel) -> None:
        self.path = config.callable

    async def complete(self, request: ClassifyRequest) -> Any:
        function = load_callable(self.path)
        data = copy.deepcopy(request.input)
        try:
            if _is_async(function):
                result = await function(data)
            else:
                result = await asyncio.to_thread(function, data)
                if inspect.isawaitable(result):
                    result = await result
        except DeliveryError:
            raise
        except Exception as exc:
            raise RetryableError(
                f"{self.path} raised {type(exc).__name__}: {exc}", code="callable_failed"
            ) from exc
        if result is None:
            raise Abstain(f"{self.path} returned no label")
        return result


@functools.lru_cache(maxsize=64)
def load_callable(path: str) -> Callable[[dict[str, Any]], Any]:
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise PermanentError(
            f"cannot load the classifier {path}: {type(exc).__name__}: {exc}",
            code="callable_not_found",
            hint="install the module in the worker's environment and check the function name",
        ) from None
    if not callable(target):
        raise PermanentError(
            f"{path} is not callable",
            code="callable_not_found",
            hint="`callable` must name a function, like `package.module:function`",
        )
    return target  # type: ignore[no-any-return]


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    )
