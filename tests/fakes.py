"""Test doubles shared by the tests (the real HTTP stand-in lives in enterspeed_sync.testing)."""

from enterspeed_sync.handlers import BaseJobHandler


class RecordingClient:
    """Records calls; raises ``fail_with`` for the origin ids in ``failing``."""

    def __init__(self, failing=(), fail_with=None):
        self.calls = []
        self.failing = set(failing)
        self.fail_with = fail_with or RuntimeError("boom")

    def _call(self, method, origin_id, entity=None):
        self.calls.append((method, origin_id, entity))
        if origin_id in self.failing:
            raise self.fail_with

    def save(self, origin_id, entity, **kwargs):
        self._call("save", origin_id, entity)

    def delete(self, origin_id):
        self._call("delete", origin_id)

    def close(self):
        pass


class ClaimAllHandler(BaseJobHandler):
    key = "claim_all"
    handled = []

    def can_handle(self, job):
        return True

    def operations(self, job):
        ClaimAllHandler.handled.append(job.origin_id)
        return []


class NeverHandler(BaseJobHandler):
    key = "never"

    def can_handle(self, job):
        return False

    def operations(self, job):  # pragma: no cover - can_handle is always False
        raise AssertionError


class NotAHandler:
    pass


class ExplodingHandler(BaseJobHandler):
    key = "exploding"

    def can_handle(self, job):
        return True

    def operations(self, job):
        raise ZeroDivisionError("a bug in a project's handler")
