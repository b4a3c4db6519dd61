"""The turns inside a prompt-style request: the named model's own template, read back into turns.

Prompt-style formats (Titan Text, Llama, Mistral) carry one string that clients write in the
template of the model they name: Llama 3's ``<|start_header_id|>user<|end_header_id|>`` headers,
Llama 2's and Mistral's ``[INST] ... [/INST]`` with ``<<SYS>>``, Titan's ``User:`` / ``Bot:``
lines. That template is not the serving model's, so the backend renders these turns with the
serving model's own chat template instead (``prompt_mode = "chat"``, the default). A prompt in
no template is one user turn. A last assistant turn with text is a prefill: the answer goes on
from it; an empty one is just the cue to answer, which the serving template writes itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchrock.backends.base import Message

_LLAMA3_HEADER = re.compile(r"<\|start_header_id\|>\s*(system|user|assistant|ipython)\s*<\|end_header_id\|>")
_LLAMA3_NOISE = re.compile(r"<\|begin_of_text\|>|<\|eot_id\|>|<\|end_of_text\|>|<\|eom_id\|>")
_INST = re.compile(r"\[INST\](.*?)\[/INST\]", re.DOTALL)
_SYS = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.DOTALL)
_MISTRAL_SYSTEM = re.compile(r"\[SYSTEM_PROMPT\](.*?)\[/SYSTEM_PROMPT\]", re.DOTALL)
_SENTENCE_MARKS = re.compile(r"</?s>")
# Titan's convention, and the Human/Assistant one of older text-completion prompts: a role at a line's start
_SPEAKER = re.compile(r"^(User|Bot|Human|Assistant)\s*:", re.MULTILINE)
_SPEAKER_ROLES = {"User": "user", "Human": "user", "Bot": "assistant", "Assistant": "assistant"}


@dataclass(frozen=True)
class Turns:
    system: str | None
    messages: tuple[Message, ...]


def turns_from_prompt(prompt: str) -> Turns:
    """The system prompt and user/assistant turns ``prompt`` holds; a bare prompt is one user turn."""
    for reader in (_llama3, _inst, _speakers):
        turns = reader(prompt)
        if turns is not None and turns.messages:
            return turns
    return Turns(None, (Message("user", prompt),))


def _finish(system: str | None, turns: list[tuple[str, str]]) -> Turns:
    """Drop empty turns (the closing assistant cue among them); merge neighbours of one role."""
    messages: list[Message] = []
    for role, text in turns:
        if not text:
            continue
        if messages and messages[-1].role == role:
            messages[-1] = Message(role, f"{messages[-1].text}\n\n{text}")
        else:
            messages.append(Message(role, text))
    while messages and messages[0].role != "user":
        system = "\n\n".join(part for part in (system, messages.pop(0).text) if part)
    return Turns(system or None, tuple(messages))


def _llama3(prompt: str) -> Turns | None:
    headers = list(_LLAMA3_HEADER.finditer(prompt))
    if not headers:
        return None
    system, turns = None, []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(prompt)
        text = _LLAMA3_NOISE.sub("", prompt[header.end():end]).strip()
        role = header.group(1)
        if role == "system":
            system = text
        else:
            turns.append(("user" if role == "ipython" else role, text))
    return _finish(system, turns)


def _inst(prompt: str) -> Turns | None:
    """Llama 2 and Mistral: ``<s>[INST] <<SYS>>s<</SYS>> q [/INST] a </s><s>[INST] q2 [/INST]``."""
    blocks = list(_INST.finditer(prompt))
    if not blocks:
        return None
    system = None
    if (found := _MISTRAL_SYSTEM.search(prompt)) is not None:
        system = found.group(1).strip()
    turns = []
    for index, block in enumerate(blocks):
        question = block.group(1)
        if (sys_block := _SYS.search(question)) is not None:
            system = sys_block.group(1).strip()
            question = question[: sys_block.start()] + question[sys_block.end():]
        turns.append(("user", question.strip()))
        end = blocks[index + 1].start() if index + 1 < len(blocks) else len(prompt)
        turns.append(("assistant", _SENTENCE_MARKS.sub("", prompt[block.end():end]).strip()))
    return _finish(system, turns)


def _speakers(prompt: str) -> Turns | None:
    """``User: q\\nBot: a\\nUser: q2\\nBot:``; text before the first speaker is the system prompt."""
    marks = list(_SPEAKER.finditer(prompt))
    if not any(_SPEAKER_ROLES[mark.group(1)] == "user" for mark in marks) or \
            not any(_SPEAKER_ROLES[mark.group(1)] == "assistant" for mark in marks):
        return None
    preamble = prompt[: marks[0].start()].strip()
    turns = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(prompt)
        turns.append((_SPEAKER_ROLES[mark.group(1)], prompt[mark.end():end].strip()))
    return _finish(preamble or None, turns)
