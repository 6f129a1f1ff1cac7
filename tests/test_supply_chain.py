"""The dependency audit of `make test` (scripts/audit_deps.py) judges the lock the way its doc
says: an advisory for a locked release fails it, a package it cannot audit fails it unless
accepted with a reason, and a withdrawn or accepted advisory does not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts" / "audit_deps.py")
assert _spec and _spec.loader
audit = importlib.util.module_from_spec(_spec)
sys.modules["audit_deps"] = audit  # its dataclasses look their module up
_spec.loader.exec_module(audit)


def project(version: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": version}, "vulnerabilities": list(vulns)}


ADVISORY = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fixed_in": ["2.0.1"],
            "summary": "remote code execution", "withdrawn": None}


def test_an_advisory_for_the_locked_release_fails_the_audit() -> None:
    report = audit.judge([("jinja2", "2.0"), ("httpx", "1.0")],
                         {"jinja2": project("2.0", ADVISORY), "httpx": project("1.0")},
                         ignored={}, behind={})
    assert not report.ok and report.audited == 2
    assert report.findings == ["jinja2 2.0: PYSEC-2099-1 / CVE-2099-0001 (fixed in 2.0.1) "
                               "remote code execution"]


def test_withdrawn_and_accepted_advisories_pass_with_the_reason_shown() -> None:
    withdrawn = {**ADVISORY, "id": "PYSEC-2099-2", "withdrawn": "2099-01-01T00:00:00Z"}
    report = audit.judge([("jinja2", "2.0")], {"jinja2": project("2.0", ADVISORY, withdrawn)},
                         ignored={"CVE-2099-0001": "we never render untrusted templates"},
                         behind={})
    assert report.ok
    assert report.accepted == ["jinja2 2.0 CVE-2099-0001: we never render untrusted templates"]


def test_a_package_below_its_newest_release_cannot_be_audited_here_unless_accepted() -> None:
    locked = [("nexus-rpc", "1.4.0"), ("left-pad", "1.0")]
    projects = {"nexus-rpc": project("1.5.0"), "left-pad": project("1.1")}
    report = audit.judge(locked, projects, ignored={}, behind={"nexus-rpc": "pinned by temporalio"})
    assert not report.ok and report.audited == 0
    assert [line.split(":")[0] for line in report.unaudited] == ["left-pad 1.0"]
    assert report.accepted == ["nexus-rpc 1.4.0 (newest 1.5.0): pinned by temporalio"]
    missing = audit.judge([("gone", "1.0")], {}, ignored={}, behind={})
    assert not missing.ok and missing.unaudited == ["gone 1.0: not found on PyPI"]


def test_the_lock_is_read_whole_and_every_package_is_asked_for() -> None:
    locked = audit.locked_packages(ROOT / "uv.lock")
    names = {name for name, _ in locked}
    assert {"temporalio", "fastapi", "pytest", "ruff"} <= names  # runtime and dev
    assert "shopflow" not in names  # the project itself is not from a registry
    asked: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        asked.append(url)
        return project(dict(locked)[url.rsplit("/", 2)[1]])

    report = audit.pypi_audit(locked, fetch=fetch)
    assert report.ok and report.audited == len(locked)
    assert sorted(asked) == sorted(f"https://pypi.org/pypi/{name}/json" for name, _ in locked)
