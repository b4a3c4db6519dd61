"""A small Llama model with random weights and a word-level tokenizer, written to a folder: a
real transformers model for the transformers backend's tests and benchmark, built from a config
(nothing downloaded). Needs torch, transformers and tokenizers."""

from __future__ import annotations

from pathlib import Path

WORDS = ["the", "a", "an", "one", "two", "three", "red", "green", "blue", "cat", "dog", "bird", "runs", "sits",
         "flies", "over", "under", "near", "big", "small", "summarise", "record", "number", "line", "answer",
         "question", "why", "how", "what", "when", "where", "who", "yes", "no", "maybe"]
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tiny_model(folder: Path, hidden: int = 64, layers: int = 2, heads: int = 4, positions: int = 256,
                     seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*SPECIAL, *WORDS, *(str(n) for n in range(100))])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=positions, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def prompts(count: int) -> list[str]:
    """Prompts of different lengths, from the tokenizer's words."""
    return [" ".join(WORDS[(index * 7 + step) % len(WORDS)] for step in range(3 + index % 9)) for index in range(count)]
