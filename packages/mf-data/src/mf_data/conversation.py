"""Conversations rendered with the Vicuna v1.1 template, as MindFormers' ``llama_preprocess.py --dataset_type qa``.

A conversation becomes a list of rounds ``(prompt_text, answer_text)``: the first prompt carries the
system line, each prompt ends with ``"ASSISTANT:"`` and each answer is followed by EOS (the template's
``"</s>"`` separator). Tokens of prompts are masked in ``labels``; answers and their EOS are learned.
"""

from mf_data.errors import DataError

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES = {"human": "USER", "gpt": "ASSISTANT"}


def rounds(conversation, number):
    """``[(prompt, answer), ...]`` of one ``{"conversations": [...]}`` record (``number`` for errors)."""
    turns = conversation["conversations"]
    if not isinstance(turns, list):
        raise DataError(f"record {number}: 'conversations' must be a list of turns")
    if turns and isinstance(turns[0], dict) and turns[0].get("from") != "human":
        turns = turns[1:]  # as llama_preprocess.py: a conversation that opens with the model skips that turn
    out = []
    for j, turn in enumerate(turns):
        expected = "human" if j % 2 == 0 else "gpt"
        if not isinstance(turn, dict) or turn.get("from") != expected or not isinstance(turn.get("value"), str):
            raise DataError(f"record {number}: turn {j + 1} must be {{'from': '{expected}', 'value': str}}")
    for j in range(0, len(turns) - 1, 2):
        prompt = f"{ROLES['human']}: {turns[j]['value']} {ROLES['gpt']}:"
        if j == 0:
            prompt = f"{SYSTEM} {prompt}"
        out.append((prompt, turns[j + 1]["value"]))
    if not out:
        raise DataError(f"record {number}: no (human, gpt) round")
    return out
