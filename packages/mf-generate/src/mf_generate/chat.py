"""``Chat``: a conversation with history, formatted by a chat template, answered with streaming."""

from mf_generate.config import GenerationConfig
from mf_generate.generate import generate
from mf_generate.streamers import TextStreamer

END_OF_TURN = ("<|eot_id|>", "<|im_end|>")  # chat formats' end-of-turn tokens, ending a reply like eos


class Chat:
    """Keeps the messages; ``reply(text)`` adds a user turn, generates (streamed to stdout) and returns the answer."""

    def __init__(self, model, tokenizer, template=None, system=None, **gen_kwargs):
        self.model, self.tokenizer, self.template, self.system = model, tokenizer, template, system
        config = GenerationConfig.from_model_config(model.config, **gen_kwargs)
        vocab = tokenizer.get_vocab()
        ends = [vocab[t] for t in END_OF_TURN if t in vocab]
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.config = config.update(eos_token_id=sorted(set(config.eos_token_id + eos + ends)))
        self.clear()

    def clear(self):
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def reply(self, text, streamer=None):
        self.messages.append({"role": "user", "content": text})
        ids = self.tokenizer.apply_chat_template(self.messages, chat_template=self.template,
                                                 add_generation_prompt=True)
        streamer = streamer or TextStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        out = generate(self.model, [ids], self.config, streamer=streamer, tokenizer=self.tokenizer)[0]
        answer = self.tokenizer.decode(out[len(ids):], skip_special_tokens=True).strip()
        self.messages.append({"role": "assistant", "content": answer})
        return answer
