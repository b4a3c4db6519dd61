"""The console in a real Chromium against a real server (development mode): create a job through
the form and watch it end, stop a running one, read the error records; every figure as Get's."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.clients import bedrock
from tests.support.jobs import claude_input, create_job, records, wait_for, write_jsonl
from tests.support.server import ServerProcess

DEFAULT_ACCOUNT = "000000000000"  # development mode: the console's account
ENDED = 60_000  # ms a wait for a job's ending may take on a slow machine (not a figure asserted)


def api(server: ServerProcess) -> Any:
    return bedrock(server.url, account=DEFAULT_ACCOUNT)


def bucket_folder(server: ServerProcess, rows: list[Any]) -> str:
    """A fresh input folder holding ``rows``; its s3:// URI."""
    folder = f"in-{uuid.uuid4().hex[:8]}"
    write_jsonl(server.data_dir / "buckets" / "bucket" / folder / "records.jsonl", rows)
    return f"s3://bucket/{folder}/"


def tile(page: Any, member: str) -> int:
    return int(page.locator(f'[data-count="{member}"]').inner_text().replace(",", ""))


def save_screenshot(page: Any, tmp_path: Path, pytestconfig: pytest.Config) -> Path:
    """Into the test's tmp_path, and a copy kept in pytest's cache folder to look at afterwards."""
    shot = tmp_path / "job-page.png"
    page.screenshot(path=str(shot), full_page=True)
    cache = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
    if cache is not None:
        shutil.copyfile(shot, cache.mkdir("console") / "job-page.png")
    return shot


def test_a_job_created_through_the_form_runs_to_its_end(dev_server: ServerProcess, page: Any, tmp_path: Path,
                                                        pytestconfig: pytest.Config) -> None:
    source = bucket_folder(dev_server, [*records(150), b"{not json"])
    name = f"console-{uuid.uuid4().hex[:8]}"
    page.goto(f"{dev_server.url}/console/jobs/new")
    page.fill("input[name=job_name]", name)
    page.select_option("#model-choice", "slow.*")
    expect(page.locator("#model-id")).to_have_value("slow.")  # the catalog entry's stem, to complete
    page.fill("#model-id", "slow.model-v1")
    page.fill("input[name=input_uri]", source)
    page.fill("input[name=output_uri]", "s3://bucket/console-out/")
    page.click("#create")
    page.wait_for_url(re.compile(r"/console/jobs/[a-z0-9]{12}$"))
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator('#job [data-live="status"]').first).to_have_text("Completed", timeout=ENDED)
    got = api(dev_server).get_model_invocation_job(jobIdentifier=job_id)
    for member in ("totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount"):
        assert tile(page, member) == got[member], member
    assert (got["totalRecordCount"], got["errorRecordCount"]) == (151, 1)
    assert page.locator('[data-field="jobName"]').inner_text() == got["jobName"] == name
    assert page.locator('[data-field="modelId"]').inner_text() == "slow.model-v1"
    expect(page.locator("#manifest")).to_be_visible()
    assert page.locator('[data-manifest="processedRecordCount"]').inner_text() == "151"
    assert tile(page, "outputTokenCount") > 0
    expect(page.locator("#preview .record").first).to_contain_text("echo: hello 0")
    expect(page.locator("#records-chart polyline")).to_have_count(1)  # sampled while it ran
    save_screenshot(page, tmp_path, pytestconfig)

    page.goto(f"{dev_server.url}/console/?name={name}&status=Completed")
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_contain_text("Completed")
    assert row.locator("progress").get_attribute("value") == "100"
    assert page.locator("#jobs tbody tr").count() == 1


def create_named(client: Any, name: str, source: str, model: str = "anthropic.claude-3-haiku-20240307-v1:0") -> str:
    return str(client.create_model_invocation_job(
        jobName=name, roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/batch", modelId=model,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": source}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/listed/"}})["jobArn"])


def test_a_running_job_shows_live_progress_and_is_stopped_from_its_page(dev_server: ServerProcess, page: Any) -> None:
    client = api(dev_server)
    name = f"long-{uuid.uuid4().hex[:8]}"
    arn = create_named(client, name, bucket_folder(dev_server, records(3000)), model="slow.model-v1")
    page.goto(f"{dev_server.url}/console/?name={name}")
    row = page.locator(f'tr[data-job="{arn.rsplit("/", 1)[1]}"]')
    expect(row.locator('[data-live="status"]')).to_have_text("InProgress", timeout=ENDED)
    expect(row.locator('[data-live="percent"]')).not_to_have_text("0%", timeout=ENDED)  # the list polls
    row.locator("a").click()
    status = page.locator('#job [data-live="status"]').first
    expect(status).to_have_text("InProgress")
    page.click("#stop")
    expect(status).to_have_text("Stopped", timeout=ENDED)
    expect(page.locator("#stop-form")).to_be_hidden()
    assert client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Stopped"
    assert tile(page, "processedRecordCount") < 3000


def test_the_jobs_list_filters_by_name_and_status_and_sorts(dev_server: ServerProcess, page: Any) -> None:
    client, tag = api(dev_server), uuid.uuid4().hex[:8]
    source = bucket_folder(dev_server, records(2))
    for letter in "bca":
        wait_for(client, create_named(client, f"sorted-{tag}-{letter}", source))
    page.goto(f"{dev_server.url}/console/?name={tag}")
    names = page.locator("#jobs tbody tr td:first-child")
    expect(names).to_have_text([f"sorted-{tag}-{letter}" for letter in "acb"])  # newest first, as List answers
    page.click("#jobs th:has-text('Name')")
    expect(names).to_have_text([f"sorted-{tag}-{letter}" for letter in "abc"])
    page.click("#jobs th:has-text('Name')")
    expect(names).to_have_text([f"sorted-{tag}-{letter}" for letter in "cba"])
    page.select_option("select[name=status]", "Failed")
    page.click("#filters button[type=submit]")
    expect(page.locator(".empty")).to_have_text("No jobs match these filters.")
    page.select_option("select[name=status]", "Completed")
    page.click("#filters button[type=submit]")
    expect(page.locator("#jobs tbody tr")).to_have_count(3)


def test_the_error_records_are_listed_with_their_messages(dev_server: ServerProcess, page: Any) -> None:
    rows = [*records(4), b"this is not json", {"recordId": "FAILS", "modelInput": claude_input("please ECHO_FAIL")},
            {"recordId": "NO-INPUT"}]
    client = api(dev_server)
    arn = create_job(client, bucket_folder(dev_server, rows), "s3://bucket/errors-out/")
    got = wait_for(client, arn)
    assert got["status"] == "Completed" and got["errorRecordCount"] == 3
    page.goto(f"{dev_server.url}/console/jobs/{arn.rsplit('/', 1)[1]}")
    table = page.locator("#errors")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).to_contain_text("is not valid JSON")
    expect(table.locator("tr", has_text="FAILS")).to_contain_text("ECHO_FAIL")
    expect(table.locator("tr", has_text="NO-INPUT")).to_contain_text("has no modelInput")
    assert tile(page, "errorRecordCount") == got["errorRecordCount"]
