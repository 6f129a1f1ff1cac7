"""Security helpers shared by the API, the worker and the CLI: secret checks (production refuses
default or short secrets), feedback-link derivation, response headers, safe CSV cells."""

from __future__ import annotations

MIN_SECRET_BYTES = 32
# Values people copy from examples and tutorials: never accepted in production.
KNOWN_DEFAULTS = {"changeme", "change-me", "secret", "password", "shopflow", "dev", "test",
                  "insecure", "default", "example", "please-change-me"}


def secret_problems(name: str, value: str | None) -> list[str]:
    if not value:
        return [f"{name} is not set (at least {MIN_SECRET_BYTES} random bytes in production)"]
    lowered = value.strip().lower()
    if (lowered in KNOWN_DEFAULTS or lowered.startswith(("dev-", "change")) or "example" in lowered
            or len(set(value)) < 6):
        return [f"{name} is a default or placeholder value: use a long random string"]
    if len(value.encode()) < MIN_SECRET_BYTES:
        return [f"{name} is {len(value.encode())} bytes: at least {MIN_SECRET_BYTES} are needed"]
    return []
