"""API Gateway HTTP API route selection: which template route a method and path reach."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from localrun.template import Route


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    @property
    def priority(self) -> tuple[bool, bool, tuple[int, ...], bool]:
        """Lower sorts first: full matches before greedy ones before $default; literals before params."""
        greedy = bool(self.segments) and self.segments[-1].endswith("+}")
        return (
            self.route.path == "$default",
            greedy,
            tuple(1 if segment.startswith("{") else 0 for segment in self.segments),
            self.route.method == "ANY",
        )

    def match(self, method: str, path_segments: list[str]) -> dict[str, str] | None:
        if self.route.method not in {method, "ANY"}:
            return None
        if self.route.path == "$default":
            return {}
        return _match_segments(self.segments, path_segments)


def _match_segments(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """Path parameters when ``segments`` fit ``pattern``; ``{name+}`` takes one or more segments."""
    parameters: dict[str, str] = {}
    for index, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = "/".join(segments[index:])
            if not rest:
                return None
            parameters[part[1:-2]] = unquote(rest)
            return parameters
        value = segments[index] if index < len(segments) else None
        if part.startswith("{") and part.endswith("}"):
            fits = bool(value)
            if value:
                parameters[part[1:-1]] = unquote(value)
        else:
            fits = value is not None and part == unquote(value)
        if not fits:
            return None
    return parameters if len(segments) == len(pattern) else None


class RouteTable:
    """API Gateway HTTP API route selection: most specific path, then a method over ANY."""

    def __init__(self, routes: Iterable[Route]) -> None:
        compiled = [_CompiledRoute(route, tuple(route.path.split("/")[1:])) for route in routes]
        self._routes = sorted(compiled, key=lambda r: r.priority)

    def __iter__(self) -> Iterator[Route]:
        """The routes in the order they are tried."""
        return (compiled.route for compiled in self._routes)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        segments = raw_path.split("/")[1:]
        for compiled in self._routes:
            parameters = compiled.match(method, segments)
            if parameters is not None:
                return compiled.route, parameters
        return None
