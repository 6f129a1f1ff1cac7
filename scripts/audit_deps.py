"""Vulnerability audit of every package pinned in uv.lock (runtime and dev), run by `make test`.

Where the OSV advisory service (api.osv.dev) answers, this is `uv audit` (OSV knows every version
of every package). Where it does not (this project's machines and CI reach PyPI but not OSV; the
PyPI per-version JSON API, which pip-audit's "pypi" service reads, is not served either), the
advisories come from PyPI's project JSON, whose `vulnerabilities` list (from the same advisory
database) is for the project's newest release. So here:

- a package locked at its newest release is audited exactly: any advisory listed for it is a
  finding, unless its id is in IGNORED below with the reason;
- a package locked below its newest release cannot be audited here and fails the audit, unless
  it is in BEHIND below with the reason (e.g. another package pins it). The fix is usually
  `uv lock --upgrade-package NAME`.

Exit 0: clean. Exit 1: findings or unaudited packages. Without any advisory source reachable the
audit is skipped with the reason, except with CI=true, where that fails too.

    python scripts/audit_deps.py [uv.lock]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OSV = "https://api.osv.dev/v1/query"
PYPI = "https://pypi.org/pypi"

# Advisory ids (or aliases) accepted for now: id -> why it does not apply or what waits on it.
IGNORED: dict[str, str] = {}
# Packages allowed below their newest release (so not audited here): name -> why.
BEHIND: dict[str, str] = {
    "nexus-rpc": "temporalio pins nexus-rpc==1.4.0; it moves when temporalio does",
    "jsonschema-rs": "schemathesis (dev only, the schema fuzzing) pins jsonschema-rs<0.61; it "
                     "moves when schemathesis does",
    "python-dateutil": "botocore (boto3, the S3 document store) pins python-dateutil<3.0.0; "
                       "it moves when botocore does",
}


@dataclass
class Report:
    audited: int = 0
    findings: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.unaudited


def locked_packages(lock_file: Path) -> list[tuple[str, str]]:
    """(name, version) of every package uv.lock takes from a registry."""
    lock = tomllib.loads(lock_file.read_text())
    return sorted((p["name"], p["version"]) for p in lock.get("package", [])
                  if "registry" in p.get("source", {}))


def judge(locked: Iterable[tuple[str, str]], projects: dict[str, dict[str, Any]],
          ignored: dict[str, str] | None = None, behind: dict[str, str] | None = None) -> Report:
    """Compare the lock with PyPI's project JSON of each package (pure: no I/O)."""
    ignored = IGNORED if ignored is None else ignored
    behind = BEHIND if behind is None else behind
    report = Report()
    for name, version in locked:
        project = projects.get(name)
        if project is None:
            report.unaudited.append(f"{name} {version}: not found on PyPI")
            continue
        newest = project["info"]["version"]
        if version != newest:
            if name in behind:
                report.accepted.append(f"{name} {version} (newest {newest}): {behind[name]}")
            else:
                report.unaudited.append(
                    f"{name} {version}: newest is {newest}, whose advisories are the only ones "
                    f"PyPI lists here; `uv lock --upgrade-package {name}`, or add it to BEHIND "
                    "in scripts/audit_deps.py with the reason")
            continue
        report.audited += 1
        for vuln in project.get("vulnerabilities") or []:
            if vuln.get("withdrawn"):
                continue
            ids = [vuln.get("id", "?"), *(vuln.get("aliases") or [])]
            hit = next((i for i in ids if i in ignored), None)
            if hit:
                report.accepted.append(f"{name} {version} {hit}: {ignored[hit]}")
                continue
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fixed release"
            report.findings.append(f"{name} {version}: {' / '.join(ids)} (fixed in {fixed}) "
                                   f"{(vuln.get('summary') or vuln.get('details') or '')[:120]}")
    return report


def fetch_json(url: str, timeout: float = 20.0, tries: int = 3) -> dict[str, Any] | None:
    """The JSON at url; None for a 404. Other errors are retried, then raised."""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (https, constant host)
                return json.load(r)  # type: ignore[no-any-return]
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            if attempt == tries - 1:
                raise
        except OSError:
            if attempt == tries - 1:
                raise
    return None


def reachable(url: str, timeout: float = 5.0) -> bool:
    try:
        req = urllib.request.Request(url, data=b"{}",  # noqa: S310 (https, constant host)
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=timeout).close()  # noqa: S310
        return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def pypi_audit(locked: list[tuple[str, str]],
               fetch: Callable[[str], dict[str, Any] | None] = fetch_json) -> Report:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda nv: fetch(f"{PYPI}/{nv[0]}/json"), locked))
    projects = {name: a for (name, _), a in zip(locked, answers, strict=True) if a is not None}
    return judge(locked, projects)


def unavailable(reason: str) -> int:
    if os.environ.get("CI", "").lower() == "true":
        print(f"dependency audit FAILED: {reason} (CI=true)")
        return 1
    print(f"dependency audit SKIPPED: {reason}")
    return 0


def main(argv: list[str]) -> int:
    lock_file = Path(argv[1]) if len(argv) > 1 else ROOT / "uv.lock"
    locked = locked_packages(lock_file)
    if reachable(OSV):
        uv = Path(sys.executable).parent / "uv"
        print(f"dependency audit: OSV reachable, `uv audit` of {len(locked)} packages")
        return subprocess.call([str(uv), "audit", "--frozen", "--preview-features", "audit-command"],
                               cwd=lock_file.parent)
    try:
        report = pypi_audit(locked)
    except OSError as err:
        return unavailable(f"neither OSV nor PyPI's JSON API answer ({err})")
    print(f"dependency audit (OSV unreachable; advisories from PyPI's project JSON): "
          f"{len(locked)} locked packages, {report.audited} audited")
    for line in report.accepted:
        print(f"  accepted  {line}")
    for line in report.findings:
        print(f"  VULNERABLE  {line}")
    for line in report.unaudited:
        print(f"  UNAUDITED  {line}")
    print("dependency audit: " + ("clean" if report.ok else "FAILED"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
