"""The console's forms without a browser: a POST without its session's CSRF token is refused
and changes nothing; the session cookie is signed, HttpOnly and SameSite."""

from __future__ import annotations

import re

import httpx

from tests.console.conftest import KEY_A, SECRET_A
from tests.support.clients import bedrock
from tests.support.server import ServerProcess

JOB_FORM = {"job_name": "csrf-probe", "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
            "role_arn": "arn:aws:iam::000000000000:role/batch", "input_uri": "s3://bucket/in/",
            "output_uri": "s3://bucket/out/", "invocation_type": "InvokeModel"}


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page carries no CSRF token"
    return found[1]


def job_count(server: ServerProcess) -> int:
    jobs = bedrock(server.url, account="000000000000").list_model_invocation_jobs(maxResults=1000)
    return len(jobs["invocationJobSummaries"])


def test_a_post_without_the_csrf_token_is_refused(dev_server: ServerProcess) -> None:
    before = job_count(dev_server)
    with httpx.Client(base_url=f"{dev_server.url}/console") as browser_like:
        token = csrf_token(browser_like.get("/jobs/new").text)
        missing = browser_like.post("/jobs", data=JOB_FORM)
        wrong = browser_like.post("/jobs", data={**JOB_FORM, "csrf_token": "x" * len(token)})
        stop = browser_like.post("/jobs/abcdefabcdef/stop", data={})
        assert (missing.status_code, wrong.status_code, stop.status_code) == (403, 403, 403)
        assert "did not come from this console" in missing.text
        assert job_count(dev_server) == before
        # the same form with its token gets past the check, to the API's own validator
        judged = browser_like.post("/jobs", data={**JOB_FORM, "csrf_token": token, "input_uri": "not-an-s3-uri"})
        assert judged.status_code == 400 and "ValidationException" in judged.text
    assert job_count(dev_server) == before


def test_the_session_cookie_is_signed_httponly_and_samesite(secure_server: ServerProcess) -> None:
    with httpx.Client(base_url=f"{secure_server.url}/console") as browser_like:
        login = browser_like.get("/login")
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        form = {"access_key_id": KEY_A, "secret_access_key": SECRET_A, "next": "/console/"}
        assert browser_like.post("/login", data=form).status_code == 403  # no token: not even signing in
        signed_in = browser_like.post("/login", data={**form, "csrf_token": csrf_token(login.text)})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/"
        value = browser_like.cookies["batchrock_console"]
    feed = f"{secure_server.url}/console/api/jobs"
    assert httpx.get(feed, headers={"cookie": f"batchrock_console={value}"}).status_code == 200
    altered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert httpx.get(feed, headers={"cookie": f"batchrock_console={altered}"}).status_code == 401
