"""Samples, issue 18 (seed 000 1.2, 2.1, 2.2): qualification documents as files (the API, the
pages, the folder and S3 stores), contact and address required, the reviewer's context (past
requests, the per-customer limit) and the question to product development."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select
from temporalio.client import Client

from shopflow.models import Case, Order, TimelineEvent
from shopflow.providers.storage import DocumentMissing, FolderStore, S3Store, build_store
from shopflow.settings import Settings
from tests.helpers import (
    PDF,
    PNG,
    auth,
    case,
    complete,
    open_task,
    upload_document,
    wait_case,
)
from tests.test_sample_process import (  # noqa: F401  (catalogue is a fixture)
    application,
    catalogue,
    pass_preliminary,
    submit,
)
from tests.test_ui_pages import csrf_of, sign_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"document_max_bytes": 2048,
                                       "sample_limit_per_customer": 2})


@pytest.mark.usefixtures("catalogue")
async def test_documents_are_checked_by_content_kept_and_downloadable(
        api: httpx.AsyncClient, settings: Settings) -> None:
    sid = await submit(api, documents=0)
    r = await upload_document(api, sid)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["filename"], doc["content_type"], doc["size"]) == (
        "business-licence.pdf", "application/pdf", len(PDF))
    again = await upload_document(api, sid)  # the same file: the same document
    assert again.status_code == 200 and again.json()["id"] == doc["id"]
    png = await upload_document(api, sid, PNG, "../../etc/licence.PNG", role="cs",
                                content_type="image/png")
    assert png.status_code == 201 and png.json()["filename"] == "licence.PNG"

    refused = {
        "document_type_mismatch": (PNG, "licence.pdf"),  # the name says PDF, the bytes PNG
        "unsupported_document_type": (b"MZ\x90\x00 not a document", "licence.pdf"),
        "document_too_large": (PDF + b"0" * 2048, "big.pdf"),
        "empty_document": (b"", "empty.pdf"),
    }
    for code, (data, name) in refused.items():
        r = await upload_document(api, sid, data, name)
        assert r.status_code == 422, (code, r.text)
        error = r.json()["error"]
        assert (error["code"], error["details"]["field"]) == (code, "file")
    no_file = await api.post(f"/api/v1/samples/{sid}/documents", headers=auth("channel"))
    assert no_file.status_code == 422 and "file" in no_file.text
    assert (await upload_document(api, sid, role="warehouse")).status_code == 403
    assert (await upload_document(api, "0" * 24)).status_code == 404

    listed = (await api.get(f"/api/v1/samples/{sid}/documents", headers=auth("reviewer"))).json()
    assert [d["id"] for d in listed["items"]] == [doc["id"], png.json()["id"]]
    got = await api.get(doc["url"], headers=auth("reviewer"))
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert "business-licence.pdf" in got.headers["content-disposition"]
    other = await submit(api, customer_id="c-2", documents=0)
    assert (await api.get(f"/api/v1/samples/{other}/documents/{doc['id']}",
                          headers=auth("reviewer"))).status_code == 404
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert [d["filename"] for d in sample["documents"]] == ["business-licence.pdf", "licence.PNG"]
    timeline = await wait_case(api, f"/api/v1/samples/{sid}", lambda c: sum(
        e["type"] == "document_added" for e in c["timeline"]) == 2)
    assert timeline["status"] == "open"
    # kept in the folder store under Shopflow's own key, never the file's name
    assert (Path(settings.document_dir) / sid / doc["id"]).read_bytes() == PDF


@pytest.mark.usefixtures("catalogue")
async def test_the_review_waits_for_a_document(api: httpx.AsyncClient) -> None:
    sid = await submit(api, documents=0)
    await pass_preliminary(api, sid)
    review = await open_task(api, sid, "sample.review")
    assert review["context"]["documents"] == []
    items = [{"sku": "TEA", "approved_quantity": 1}]
    r = await complete(api, review, "approve", items=items)
    assert r.status_code == 409 and r.json()["error"]["code"] == "documents_required"
    assert r.json()["error"]["details"]["field"] == "documents"
    assert (await upload_document(api, sid)).status_code == 201
    r = await complete(api, review, "approve", items=items)
    assert r.status_code == 200, r.text


@pytest.mark.usefixtures("catalogue")
async def test_a_document_answers_the_request_for_information(
        api: httpx.AsyncClient) -> None:
    sid = await submit(api, documents=0)
    task = await open_task(api, sid, "sample.preliminary_review")
    r = await complete(api, task, "request_info", question="请上传营业执照 Your business licence")
    assert r.status_code == 200
    await wait_case(api, f"/api/v1/samples/{sid}", lambda c: c["status"] == "waiting_info")
    assert (await upload_document(api, sid)).status_code == 201
    second = await open_task(api, sid, "sample.preliminary_review")
    assert second["id"] != task["id"]
    assert second["context"]["info_answers"][0]["text"] == "document: business-licence.pdf"
    assert [d["filename"] for d in second["context"]["documents"]] == ["business-licence.pdf"]


@pytest.mark.usefixtures("catalogue")
async def test_contact_and_address_are_required(api: httpx.AsyncClient) -> None:
    body = application()
    body["customer"] = {"id": "c-9", "name": "Li", "phone": "13800000000"}
    r = await api.post("/api/v1/samples", headers=auth("channel"), json=body)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "customer.address"
    body["customer"] = {"id": "c-9", "name": "Li", "address": "1 West Lake Rd"}
    r = await api.post("/api/v1/samples", headers=auth("channel"), json=body)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "customer.phone"
    body["customer"]["email"] = "li@example.com"  # an e-mail address is a contact too
    assert (await api.post("/api/v1/samples", headers=auth("channel"),
                           json=body)).status_code == 201


@pytest.mark.usefixtures("catalogue")
async def test_the_reviewer_sees_past_requests_and_the_limit_refuses_more(
        api: httpx.AsyncClient, engine: Any) -> None:
    first = await submit(api)
    task = await open_task(api, first, "sample.preliminary_review")
    assert (await complete(api, task, "reject", reason="not now")).status_code == 200
    await wait_case(api, f"/api/v1/samples/{first}", lambda c: c["status"] == "rejected")
    second = await submit(api)
    with Session(engine) as s:  # the customer ordered after the first request
        req = s.get(Case, first)
        assert req is not None
        s.add(Order(order_no="SO-AFTER-1", customer_id="c-1", channel="web", status="delivered",
                    total_cents=1000, created_at=req.created_at + timedelta(hours=1)))
        s.commit()
    await pass_preliminary(api, second)
    review = await open_task(api, second, "sample.review")
    ctx = review["context"]
    assert ctx["credit_rating"] == "unrated"
    assert ctx["sample_limit"] == {"limit": 2, "period_days": 90, "used": 0}  # rejected: uncounted
    [past] = ctx["past_samples"]
    assert (past["id"], past["outcome"], past["ordered_after"]) == (first, "rejected", True)
    await sign_in(api, "dev-reviewer")
    page = await api.get(f"/ui/tasks/{review['id']}")
    assert page.status_code == 200 and 'data-testid="past-samples"' in page.text
    assert first in page.text and "Yes" in page.text
    assert "business-licence.pdf" in page.text  # the documents, each with its link

    await submit(api)  # the second open request counts: 2 of 2 now
    r = await api.post("/api/v1/samples", headers=auth("channel"), json=application())
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "sample_limit_reached" and error["details"]["limit"] == 2
    assert error["details"]["field"] == "customer.id" and "SAMPLE_LIMIT" in error["message"]
    other = await api.post("/api/v1/samples", headers=auth("channel"),
                           json=application("c-2"))
    assert other.status_code == 201  # the limit is per customer


@pytest.mark.usefixtures("catalogue")
async def test_the_reviewer_asks_product_development(
        api: httpx.AsyncClient) -> None:
    sid = await submit(api)
    await pass_preliminary(api, sid)
    review = await open_task(api, sid, "sample.review")
    missing = await complete(api, review, "ask_product")
    assert missing.status_code == 422 and missing.json()["error"]["details"]["field"] == "question"
    r = await complete(api, review, "ask_product", question="Does TEA suit a tea house?")
    assert r.status_code == 200, r.text
    question = await open_task(api, sid, "sample.product_question", role="product")
    assert question["role"] == "product"
    assert question["context"]["question"] == "Does TEA suit a tea house?"
    assert (await api.get(f"/api/v1/samples/{sid}", headers=auth("product"))).status_code == 200
    inbox = (await api.get("/api/v1/tasks", headers=auth("product"))).json()
    assert [t["kind"] for t in inbox["items"]] == ["sample.product_question"]
    api.cookies.clear()
    await sign_in(api, "dev-product")
    page = await api.get(f"/ui/tasks/{question['id']}")
    assert page.status_code == 200 and "Does TEA suit a tea house?" in page.text
    assert 'name="answered.answer"' in page.text
    assert (await complete(api, question, "answered", role="reviewer",
                           answer="x")).status_code == 403
    r = await complete(api, question, "answered", answer="Yes: the oolong, 3 tins")
    assert r.status_code == 200, r.text
    again = await open_task(api, sid, "sample.review")
    assert again["id"] != review["id"]
    assert again["context"]["product_answers"][0]["answer"] == "Yes: the oolong, 3 tins"
    r = await complete(api, again, "approve", items=[{"sku": "TEA", "approved_quantity": 1}])
    assert r.status_code == 200, r.text
    sample = await case(api, f"/api/v1/samples/{sid}")
    types = [e["type"] for e in sample["timeline"]]
    assert "product_asked" in types and "product_answered" in types


@pytest.mark.usefixtures("catalogue")
async def test_pages_upload_on_the_form_and_the_case_and_download(
        api: httpx.AsyncClient) -> None:
    await sign_in(api, "dev-cs")
    csrf = csrf_of((await api.get("/ui/samples/new")).text)
    form = {"csrf_token": csrf, "request_key": "k-docs-1", "customer.id": "c-5",
            "customer.name": "Wang", "customer.phone": "13900000000",
            "customer.address": "2 Lake Rd", "channel": "phone", "items.0.sku": "TEA",
            "items.0.quantity": "1", "purpose": "tasting"}
    r = await api.post("/ui/samples/new", data=form)
    assert r.status_code == 422 and "Upload at least one" in r.text
    r = await api.post("/ui/samples/new", data=form,
                       files={"documents": ("licence.pdf", PNG, "application/pdf")})
    assert r.status_code == 422 and "content is image/png" in r.text
    r = await api.post("/ui/samples/new", data=form,
                       files=[("documents", ("licence.pdf", PDF, "application/pdf")),
                              ("documents", ("photo.png", PNG, "image/png"))])
    assert r.status_code == 303, r.text
    page_url = r.headers["location"]
    assert page_url.endswith("?note=created")
    sid = page_url.split("/")[-1].split("?")[0]
    page = await api.get(page_url)
    assert page.status_code == 200 and "licence.pdf" in page.text and "photo.png" in page.text
    assert 'data-testid="document-upload"' in page.text
    doc = (await api.get(f"/api/v1/samples/{sid}/documents", headers=auth("cs"))
           ).json()["items"][0]
    got = await api.get(f"/ui/samples/{sid}/documents/{doc['id']}")
    assert got.status_code == 200 and got.content == PDF
    more = await api.post(f"/ui/samples/{sid}/documents",
                          data={"csrf_token": csrf, "next": f"/ui/cases/sample/{sid}"},
                          files={"file": ("scan.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20,
                                          "image/jpeg")})
    assert more.status_code == 303 and more.headers["location"].endswith("note=document_added")
    names = [d["filename"] for d in (await api.get(f"/api/v1/samples/{sid}/documents",
                                                   headers=auth("cs"))).json()["items"]]
    assert names == ["licence.pdf", "photo.png", "scan.jpg"]
    api.cookies.clear()
    await sign_in(api, "dev-warehouse")
    assert (await api.get(f"/ui/samples/{sid}/documents/{doc['id']}")).status_code == 200
    csrf = csrf_of((await api.get(f"/ui/cases/sample/{sid}")).text)
    refused = await api.post(f"/ui/samples/{sid}/documents", data={"csrf_token": csrf},
                             files={"file": ("a.pdf", PDF, "application/pdf")})
    assert refused.status_code == 403


def test_folder_and_s3_stores_keep_put_get_delete(tmp_path: Path, settings: Settings) -> None:
    from moto import mock_aws

    assert isinstance(build_store(settings), FolderStore)
    folder = FolderStore(tmp_path / "docs")
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="shopflow-docs")
        s3 = build_store(settings.model_copy(update={
            "document_store": "s3", "document_s3_bucket": "shopflow-docs",
            "document_s3_region": "us-east-1", "document_s3_access_key": "test",
            "document_s3_secret_key": "test"}))
        assert isinstance(s3, S3Store)
        for store in (folder, s3):
            store.put("s1/d1", PDF, "application/pdf")
            assert store.get("s1/d1") == PDF
            store.delete("s1/d1")
            with pytest.raises(DocumentMissing):
                store.get("s1/d1")
            with pytest.raises(ValueError):
                store.put("../escape", PDF, "application/pdf")
        listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(
            Bucket="shopflow-docs")
        assert listed.get("KeyCount", 0) == 0


def test_a_document_that_comes_before_the_case_has_started_is_not_refused() -> None:
    """An Update can reach a case in its first activation, before run() has set it up (seen in
    the PostgreSQL outage drill: the case's first workflow task was lost to the outage, and the
    upload that came next was refused as "filed before documents were kept as files"). The
    validator lets it through and the handler waits for run(); a case set up without documents
    (an older one) is still refused."""
    from shopflow.workflows.sample_approval import SampleApproval
    from shopflow.workflows.shared import DocumentAdded

    doc = DocumentAdded("d1", "licence.pdf", "application/pdf", 10)
    case = SampleApproval()
    case._validate_document(doc)  # run() has not started: nothing to refuse yet
    case.case_id = "S-1"  # run() started, and set no documents list: an older case
    with pytest.raises(Exception, match="filed before documents"):
        case._validate_document(doc)


async def test_a_document_sent_with_the_start_waits_for_the_case(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Any) -> None:
    """An upload racing the start (the workflow's first task holds the start and the Update,
    as when a worker is slow to pick the new case up) is kept, not refused as if the request
    were older than documents."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from shopflow.models.schemas import SampleCreate
    from shopflow.services import samples
    from shopflow.workflows.sample_approval import SampleApproval
    from shopflow.workflows.shared import DocumentAdded

    body = SampleCreate.model_validate(application())
    inp = samples.sample_input(settings, "race1", body, "dev-channel")
    samples.register_sample(engine, inp)
    start = WithStartWorkflowOperation(
        SampleApproval.run, inp, id="sample-race1", task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
    answer = await client.execute_update_with_start_workflow(
        "add_document", DocumentAdded("d1", "licence.pdf", "application/pdf", 10, "dev-cs"),
        start_workflow_operation=start, result_type=dict)
    assert answer == {"documents": 1, "duplicate": False}
    with Session(engine) as s:
        events = [e.type for e in s.exec(select(TimelineEvent).where(
            TimelineEvent.case_id == "race1").order_by(col(TimelineEvent.seq)))]
    assert "submitted" in events and "document_added" in events
