"""A model host that batches continuously (the echo backend stepping as llama.cpp does): requests
join and leave the model one by one, so after a crash the suspects must be exactly the requests
inside the model at that moment, not the last ones announced, nor none because another request
had just finished."""

from __future__ import annotations

from typing import Any

from tests.faults.test_model_host import host_deaths, hosted, outputs, poll_until_done, submit

__all__ = ["hosted"]  # the server fixture, shared with the batch-at-a-time host tests


def test_a_record_crashing_a_continuous_host_is_named_while_others_come_and_go(hosted: dict[str, Any]) -> None:
    texts = [f"fine {i}" for i in range(16)]
    texts[5] = "please CRASH here " + "slowly " * 12  # holds its slot while shorter records finish around it
    arn, ids = submit(hosted, "steps", "hosted.crash-continuous", texts)
    job, _ = poll_until_done(hosted, arn)
    assert job["status"] == "Completed" and (job["successRecordCount"], job["errorRecordCount"]) == (15, 1), job
    lines = outputs(hosted, "steps", arn)
    assert [line["recordId"] for line in lines] == ids
    assert "died 3 times while running this record" in lines[5]["error"]["errorMessage"]
    texts_out = [line["modelOutput"]["content"][0]["text"] for i, line in enumerate(lines) if i != 5]
    assert texts_out == [f"echo: fine {i}" for i in range(16) if i != 5]
    assert host_deaths(hosted["server"]) == 3
