"""Run a template's Lambda handlers in this process, the way the Lambda Python runtime would."""

from __future__ import annotations

import decimal
import importlib.util
import json
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from localrun.template import (
    DEFAULT_TEMPLATE,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    FunctionSpec,
    Schedule,
    Template,
    load_template,
)

logger = logging.getLogger("localrun.invoke")

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context``; the deadline is the function's Timeout."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_epoch_ms: int
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_epoch_ms - int(time.time() * 1000))


def make_context(spec: FunctionSpec, request_id: str | None = None) -> LambdaContext:
    return LambdaContext(
        function_name=spec.name,
        memory_limit_in_mb=spec.memory_size,
        invoked_function_arn=spec.arn,
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{spec.name}",
        log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
        deadline_epoch_ms=int(time.time() * 1000) + spec.timeout * 1000,
    )


class _LambdaJSONEncoder(json.JSONEncoder):
    """The runtime's marshaller: Decimal goes out as a JSON number; anything else unknown fails."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return math.nan if o.is_nan() else float(o)
        return super().default(o)


def marshal(result: Any) -> Any:
    """Round-trip a handler's result through JSON, as Lambda does before anyone sees it."""
    if isinstance(result, bytes):
        return result
    try:
        return json.loads(json.dumps(result, cls=_LambdaJSONEncoder))
    except (TypeError, ValueError) as error:
        raise TypeError(f"Unable to marshal response: {error}") from error


@dataclass
class _WarmFunction:
    module: ModuleType
    handler: Handler


@dataclass
class LocalLambda:
    """Warm containers for every function of a template, scaled like Lambda.

    A container (one import of the handler module) serves one invocation at a time; a request
    that arrives while every container of its function is busy gets a new one (a cold start),
    exactly as Lambda scales out. Module-level state of a handler (its resolver, its per-request
    context) is therefore never shared by two concurrent requests.
    """

    template: Template
    _idle: dict[str, list[_WarmFunction]] = field(default_factory=dict)
    _first: dict[str, _WarmFunction] = field(default_factory=dict)
    _containers: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The layer is /opt/python in Lambda: on sys.path for every function.
        for layer_path in reversed(self.template.layer_paths):
            if str(layer_path) not in sys.path:
                sys.path.insert(0, str(layer_path))
        # No Lambda service to start a job's function on: the layer's registry gets the local runner.
        from localrun.job_invoker import install

        install()

    def module(self, function_id: str) -> ModuleType:
        """The first container's handler module of ``function_id`` (imported on first use)."""
        return self._first_container(self.template.function(function_id)).module

    def handler(self, spec: FunctionSpec) -> Handler:
        return self._first_container(spec).handler

    def containers(self, function_id: str) -> int:
        """How many containers ``function_id`` has scaled to so far."""
        return self._containers.get(function_id, 0)

    def invoke(self, function: str | FunctionSpec, event: Any, request_id: str | None = None) -> Any:
        """Call the handler in an idle container with ``event``; return the marshalled result."""
        spec = function if isinstance(function, FunctionSpec) else self.template.find(function)
        container = self._acquire(spec)
        context = make_context(spec, request_id)
        started = time.perf_counter()
        try:
            return marshal(container.handler(event, context))
        finally:
            self._release(spec, container)
            elapsed = time.perf_counter() - started
            if elapsed > spec.timeout:
                logger.warning(
                    "%s ran %.1fs, past its Timeout of %ss: Lambda would have stopped it",
                    spec.logical_id,
                    elapsed,
                    spec.timeout,
                )

    def _first_container(self, spec: FunctionSpec) -> _WarmFunction:
        container = self._acquire(spec)
        self._release(spec, container)
        return self._first[spec.logical_id]

    def _acquire(self, spec: FunctionSpec) -> _WarmFunction:
        with self._lock:
            idle = self._idle.setdefault(spec.logical_id, [])
            if idle:
                return idle.pop()
            number = self._containers.get(spec.logical_id, 0) + 1
            self._containers[spec.logical_id] = number
            container = _import_handler(spec, suffix="" if number == 1 else f"_{number}")
            self._first.setdefault(spec.logical_id, container)
            return container

    def _release(self, spec: FunctionSpec, container: _WarmFunction) -> None:
        with self._lock:
            self._idle.setdefault(spec.logical_id, []).append(container)


def _import_handler(spec: FunctionSpec, suffix: str = "") -> _WarmFunction:
    """Import ``Handler`` from ``CodeUri`` under a name of its own: every function's module is ``app``.

    The CodeUri folder is importable while the module loads (Lambda's /var/task), so ``import helpers``
    finds a sibling file; the siblings are then taken out of ``sys.modules`` so another function's
    ``helpers`` is not mistaken for this one's.
    """
    module_path, _, function_name = spec.handler.rpartition(".")
    relative = Path(*module_path.split("."))
    file_path = spec.code_uri / relative.with_suffix(".py")
    if not file_path.is_file():
        file_path = spec.code_uri / relative / "__init__.py"
    if not file_path.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler module {module_path} not found in {spec.code_uri}")

    module_name = f"_localrun_{spec.logical_id}_{module_path.replace('.', '_')}{suffix}"
    import_spec = importlib.util.spec_from_file_location(module_name, file_path)
    if import_spec is None or import_spec.loader is None:
        raise ImportError(f"{spec.logical_id}: cannot load {file_path}")
    module = importlib.util.module_from_spec(import_spec)
    code_dir = str(spec.code_uri)
    before = set(sys.modules)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up here
    sys.path.insert(0, code_dir)
    try:
        import_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(code_dir)
        for name in set(sys.modules) - before:
            loaded_from = getattr(sys.modules[name], "__file__", None) or ""
            if name != module_name and loaded_from.startswith(code_dir + "/"):
                del sys.modules[name]
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {file_path} has no callable {function_name}")
    return _WarmFunction(module=module, handler=handler)


def scheduled_event(schedule: Schedule, detail: Mapping[str, Any] | None = None) -> Any:
    """The payload the schedule delivers, with ``detail`` merged into the event's ``detail``.

    An EventBridge rule (Schedule) sends a "Scheduled Event"; EventBridge Scheduler (ScheduleV2) sends
    the schedule's Input, with its ``<aws.scheduler.*>`` context attributes filled in, or ``{}``.
    A fixed Input is sent as written, for either kind.
    """
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if schedule.input is not None:
        event = _fill_scheduler_attributes(schedule.input, schedule, now)
    elif schedule.kind == "ScheduleV2":
        event = {}
    else:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": LOCAL_ACCOUNT_ID,
            "time": now,
            "region": LOCAL_REGION,
            "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{schedule.rule_name}"],
            "detail": {},
        }
    if detail and isinstance(event, dict):
        event["detail"] = {**(event.get("detail") or {}), **detail}
    return event


def _fill_scheduler_attributes(payload: Any, schedule: Schedule, now: str) -> Any:
    attributes = {
        "<aws.scheduler.schedule-arn>": (
            f"arn:aws:scheduler:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:schedule/default/{schedule.rule_name}"
        ),
        "<aws.scheduler.scheduled-time>": now,
        "<aws.scheduler.execution-id>": uuid.uuid4().hex[:16],
        "<aws.scheduler.attempt-number>": "1",
    }

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for placeholder, actual in attributes.items():
                value = value.replace(placeholder, actual)
            return value
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    return fill(payload)


@lru_cache(maxsize=4)
def runtime_for(template_path: Path = DEFAULT_TEMPLATE) -> LocalLambda:
    """One warm runtime per template for this process."""
    return LocalLambda(load_template(template_path))


def invoke(function_id_or_path: str, event: Any, template_path: Path | str = DEFAULT_TEMPLATE) -> Any:
    """Invoke a function by logical id (``CreateBucketFunction``) or code path (``functions/buckets/x``)."""
    return runtime_for(Path(template_path).resolve()).invoke(function_id_or_path, event)


def fire(
    function_id: str, detail: Mapping[str, Any] | None = None, template_path: Path | str = DEFAULT_TEMPLATE
) -> Any:
    """Run a scheduled function now with the event its schedule would send."""
    runtime = runtime_for(Path(template_path).resolve())
    return runtime.invoke(function_id, scheduled_event(runtime.template.schedule(function_id), detail))
