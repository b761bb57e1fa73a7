"""Attack: a step generates a secret, prints it, then reports it as a secret output. The chunk
streamed while it ran could not be masked (the value was unknown), but once the step ended the
bus must not keep replaying it: a client connecting later with ``Last-Event-ID: 0`` (or any
page reloading) must get the masked text, like the stored log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.status.events import EventBus
from tests.integration.engine.rig import make_rig

GENERATED = "generated-secret-5c1e9a77"


class _PrintsThenOutputs(FakeExecutor):
    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        self.requests.append(request)
        assert on_log is not None
        on_log(f"password is {GENERATED}\n")
        await asyncio.sleep(1.2)  # the log stream flushes (and announces) every 0.5 s
        return StepResult(
            "succeeded",
            0,
            {"password": GENERATED},
            f"password is {GENERATED}\n",
            0,
            None,
            secret_outputs=frozenset({"password"}),
        )


def test_a_secret_a_step_printed_before_reporting_it_is_not_replayed_by_the_event_bus(
    tmp_path: Path, database_url: str
) -> None:
    with make_rig(tmp_path, database_url) as rig:
        rig.commit("  db: {type: fakedb, params: {size: s}}\n")
        bus = EventBus()
        rig.run(_PrintsThenOutputs(), events=bus)

    replayed, _ = bus.after(0)
    logs = [e for e in replayed if e.kind == "log"]
    assert logs, "the step's output was streamed"
    assert GENERATED not in json.dumps([dict(e.data) for e in replayed])
    assert any("***" in e.data["text"] for e in logs)


RENAMING_WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: make}
parameters:
  - {name: size, type: string, required: true}
steps:
  - {name: make, type: fake, config: {size: "{{ .parameters.size }}"}}
outputs:
  password: {value: "{{ .steps.make.output.pw }}", secret: true}
"""


class _PrintsUnmarked(FakeExecutor):
    """Prints a password and reports it under its own key (``pw``, not declared secret); the
    workflow marks the output it becomes (``password``) secret."""

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        assert on_log is not None
        on_log(f"password is {GENERATED}\n")
        await asyncio.sleep(1.2)
        return StepResult("succeeded", 0, {"pw": GENERATED}, f"password is {GENERATED}\n", 0, None)


def test_a_secret_the_workflow_marks_under_another_name_is_masked_in_the_log_and_events(
    tmp_path: Path, database_url: str
) -> None:
    with make_rig(tmp_path, database_url) as rig:
        (rig.provider / "workflows" / "make.yaml").write_text(RENAMING_WORKFLOW)
        rig.commit("  db: {type: fakedb, params: {size: s}}\n")
        bus = EventBus()
        rig.run(_PrintsUnmarked(), events=bus)
        (resource,) = rig.store.resources.all(app="shop")
        execution = rig.store.executions.get(1)
        assert execution is not None
        stored = [s.log for s in execution.steps]

    assert resource.state == "active"
    assert GENERATED not in json.dumps(stored)
    assert GENERATED not in json.dumps([dict(e.data) for e in bus.after(0)[0]])
