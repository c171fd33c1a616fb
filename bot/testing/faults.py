"""Scripted faults: the next calls of a method answer an error, hang, or drop the connection."""

from __future__ import annotations

from bot.testing.model import ApiError, Emulated, JSONDict, Script


class FaultMethods(Emulated):
    """fail_next, hang_next, drop_next: what the emulator does instead of the real answer."""

    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        *,
        parameters: JSONDict | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this error instead of the real answer."""
        self._script(method, Script(times, error=ApiError(code, description, parameters)))

    def hang_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before answering (a hung
        request: the client should time out first). If the client has gone by then, the
        call is dropped without taking effect."""
        self._script(method, Script(times, hang=seconds))

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """Close the connection of the next `times` calls of `method` without any answer."""
        self._script(method, Script(times, drop=True))

    def _script(self, method: str, script: Script) -> None:
        with self._changed:
            self._state.scripts.setdefault(method, []).append(script)

    def _next_script(self, method: str) -> Script | None:
        scripts = self._state.scripts.get(method)
        if not scripts:
            return None
        script = scripts[0]
        script.times -= 1
        if script.times <= 0:
            scripts.pop(0)
        return script
