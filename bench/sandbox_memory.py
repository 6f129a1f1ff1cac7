"""Worker memory a cached case costs in the workflow sandbox, per workflow module, against a
bare workflow: builds N sandboxed instances of each workflow (what the worker does for every
case it caches: a fresh sandbox that re-imports the workflow's module and whatever it imports
without pass-through) and reads the process's resident memory before and after.

    .venv/bin/python -m bench.sandbox_memory [N]

This is the sandbox's share of a waiting case (module objects); a real waiting case adds its
own state and its history's replay. bench/table.py measures the whole of it end to end.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.bare import BareCase
from bench.common import rss_kib
from shopflow.worker import WORKFLOWS, workflow_runner


def _instances(runner: SandboxedWorkflowRunner, cls: type, n: int) -> list[Any]:
    import temporalio.workflow
    from temporalio.worker.workflow_sandbox._runner import _Instance  # noqa: F401

    defn = temporalio.workflow._Definition.must_from_class(cls)
    runner.prepare_workflow(defn)  # first import outside the measurement
    details = _details(defn)
    return [runner.create_instance(details) for _ in range(n)]


def _details(defn: Any) -> Any:
    import temporalio.converter
    from temporalio.api.common.v1.message_pb2 import Payloads
    from temporalio.api.failure.v1 import Failure
    from temporalio.worker._workflow_instance import WorkflowInstanceDetails
    from temporalio.worker.workflow_sandbox._runner import _fake_info

    return WorkflowInstanceDetails(
        payload_converter_factory=temporalio.converter.DataConverter.default._new_payload_converter,
        failure_converter_class=temporalio.converter.DataConverter.default.failure_converter_class,
        interceptor_classes=[], defn=defn, info=_fake_info, randomness_seed=-1,
        extern_functions={}, disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[], patch_activation_callback=None,
        last_completion_result=Payloads(), last_failure=Failure())


def per_instance_kib(runner: SandboxedWorkflowRunner, cls: type, n: int) -> float:
    gc.collect()
    before = rss_kib()
    keep = _instances(runner, cls, n)
    gc.collect()
    after = rss_kib()
    _KEEP.append(keep)  # freed memory would be reused by the next module's instances
    return (after - before) / n


_KEEP: list[Any] = []


async def main(n: int) -> None:
    strict, shared = workflow_runner("strict"), workflow_runner("shared")
    bare = per_instance_kib(strict, BareCase, n)
    print(f"sandbox memory per cached case, {n} instances each (KiB; ratio to the bare case):")
    print(f"  {'workflow':40} {'strict':>14} {'shared':>14}")
    print(f"  {'BareCase (bench.bare, SDK default)':40} {bare:8.0f} {1.0:4.1f}x")
    for cls in WORKFLOWS:
        a, b = per_instance_kib(strict, cls, n), per_instance_kib(shared, cls, n)
        name = cls.__module__.rsplit(".", 1)[-1] + "." + cls.__name__
        print(f"  {name:40} {a:8.0f} {a / max(bare, 1):4.1f}x {b:8.0f} {b / max(bare, 1):4.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
