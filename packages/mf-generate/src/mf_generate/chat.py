"""``Chat``: a conversation with history, formatted by a chat template, answered with streaming."""

from mf_generate.config import GenerationConfig
from mf_generate.errors import GenerationError
from mf_generate.generate import generate
from mf_generate.streamers import TextStreamer

END_OF_TURN = ("<|eot_id|>", "<|im_end|>")  # chat formats' end-of-turn tokens, ending a reply like eos


def check_template(tokenizer, template):
    """Raise GenerationError naming --chat_template when ``template`` (None: the tokenizer's own) cannot format
    a conversation with this tokenizer: at start, not at the first message."""
    from mf_config.errors import MFError

    try:
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], chat_template=template,
                                      add_generation_prompt=True)
    except MFError as e:
        own = "the tokenizer has no chat template" if template is None else f"template {template!r}: {e.message}"
        raise GenerationError(f"{own}; pass --chat_template alpaca or llama3", key="--chat_template") from None


class Chat:
    """Keeps the messages; ``reply(text)`` adds a user turn, generates (streamed to stdout) and returns the answer.

    When the conversation and ``max_new_tokens`` no longer fit the model's ``seq_length``, the oldest exchanges
    are dropped (the system message stays); a turn too long on its own raises GenerationError and is forgotten.
    """

    def __init__(self, model, tokenizer, template=None, system=None, **gen_kwargs):
        self.model, self.tokenizer, self.template, self.system = model, tokenizer, template, system
        config = GenerationConfig.from_model(model, **gen_kwargs)
        vocab = tokenizer.get_vocab()
        ends = [vocab[t] for t in END_OF_TURN if t in vocab]
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.config = config.update(eos_token_id=sorted(set(config.eos_token_id + eos + ends)))
        self.clear()

    def clear(self):
        """Forget the conversation (the system message stays)."""
        self.messages = []

    def _prompt(self):
        system = [{"role": "system", "content": self.system}] if self.system else []
        limit = self.model.config.seq_length - max(self.config.max_new_tokens or 1, 1)
        while True:
            ids = self.tokenizer.apply_chat_template(system + self.messages, chat_template=self.template,
                                                     add_generation_prompt=True)
            if len(ids) <= limit:
                return ids
            if len(self.messages) <= 1:
                self.messages = []
                raise GenerationError(f"the message is {len(ids)} tokens with the chat format; the model takes "
                                      f"{limit} (seq_length less max_new_tokens)", key="seq_length")
            self.messages = self.messages[2:]

    def reply(self, text, streamer=None):
        self.messages.append({"role": "user", "content": text})
        ids = self._prompt()
        streamer = streamer or TextStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        out = generate(self.model, [ids], self.config, streamer=streamer, tokenizer=self.tokenizer)[0]
        answer = self.tokenizer.decode(out[len(ids):], skip_special_tokens=True).strip()
        self.messages.append({"role": "assistant", "content": answer})
        return answer
