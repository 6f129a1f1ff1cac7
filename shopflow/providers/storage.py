"""Where uploaded files are kept: a sample request's qualification documents (seed 000 1.2).

``DocumentStore`` is the interface: ``put`` a file's bytes under a key, ``get`` them back,
``delete`` them. ``FolderStore`` (the default) keeps each file in a folder on this machine
(``SHOPFLOW_DOCUMENT_DIR``, ``var/documents``); ``S3Store`` in a bucket of any S3-compatible
store (AWS S3, MinIO, Ceph, Alibaba OSS …) through boto3, by ``SHOPFLOW_DOCUMENT_STORE=s3`` and
``SHOPFLOW_DOCUMENT_S3_*``. Keys are made by Shopflow (``<sample id>/<document id>``), never
from a file's name, so no upload can name a path.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shopflow.settings import Settings

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}(/[a-z0-9][a-z0-9_-]{0,79})*$")


class StoreError(Exception):
    """The store could not be reached or refused (an outage: the API answers 503)."""


class DocumentMissing(StoreError):
    """No file under the key (removed outside Shopflow)."""


class DocumentStore(Protocol):
    name: str

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    if not KEY.match(key):
        raise ValueError(f"not a document key: {key!r}")
    return key


@dataclass
class FolderStore:
    root: Path
    name: str = "folder"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as err:
            raise StoreError(f"cannot write {key}: {err.strerror}") from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise DocumentMissing(key) from None
        except OSError as err:
            raise StoreError(f"cannot read {key}: {err.strerror}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as err:
            raise StoreError(f"cannot delete {key}: {err.strerror}") from None


@dataclass
class S3Store:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    name: str = "s3"
    _client: Any = field(default=None, repr=False)

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(retries={"max_attempts": 3, "mode": "standard"},
                              connect_timeout=5, read_timeout=20))
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}{check_key(key)}"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                     ContentType=content_type)
        except (BotoCoreError, ClientError) as err:
            raise StoreError(f"cannot store {key}: {err}") from None

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client().get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(answer["Body"].read())
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise DocumentMissing(key) from None
            raise StoreError(f"cannot read {key}: {err}") from None
        except BotoCoreError as err:
            raise StoreError(f"cannot read {key}: {err}") from None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as err:
            raise StoreError(f"cannot delete {key}: {err}") from None


_STORES: dict[tuple[Any, ...], DocumentStore] = {}


def build_store(settings: Settings) -> DocumentStore:
    """The store the settings name (one per configuration, reused: boto3 clients are costly)."""
    if settings.document_store == "s3":
        if not settings.document_s3_bucket:
            raise ValueError("SHOPFLOW_DOCUMENT_STORE=s3 needs SHOPFLOW_DOCUMENT_S3_BUCKET")
        ident: tuple[Any, ...] = (
            "s3", settings.document_s3_bucket, settings.document_s3_prefix,
            settings.document_s3_endpoint, settings.document_s3_region,
            settings.document_s3_access_key, settings.document_s3_secret_key)
        if ident not in _STORES:
            _STORES[ident] = S3Store(
                settings.document_s3_bucket, settings.document_s3_prefix,
                settings.document_s3_endpoint, settings.document_s3_region,
                settings.document_s3_access_key, settings.document_s3_secret_key)
        return _STORES[ident]
    return FolderStore(Path(settings.document_dir))
