"""Chat templates: Jinja templates as in Hugging Face's ``tokenizer_config.json``, rendered in a sandbox,
and the two built-in formats: Llama 3's chat format and the alpaca prompt used for finetuning."""

from mf_tokenizers.errors import TokenizerError

# Meta-Llama-3-8B-Instruct's template.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.")
ALPACA_PREAMBLE_INPUT = ("Below is an instruction that describes a task, paired with an input that provides "
                         "further context. Write a response that appropriately completes the request.")

# Stanford alpaca's prompt: a user message is the instruction (its optional 'input' key the input),
# an assistant message the response, followed by the eos token.
ALPACA = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if message.get('input') %}{{ '" + ALPACA_PREAMBLE_INPUT + "' }}{% else %}{{ '" + ALPACA_PREAMBLE + "' }}"
    "{% endif %}"
    "{{ '\n\n### Instruction:\n' + message['content'] }}"
    "{% if message.get('input') %}{{ '\n\n### Input:\n' + message['input'] }}{% endif %}"
    "{{ '\n\n### Response:' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% if not loop.last %}{{ '\n\n' }}{% endif %}"
    "{% endif %}{% endfor %}"
)

BUILTIN = {"llama3": LLAMA3, "alpaca": ALPACA}


def alpaca_prompt(instruction: str, input: str = "") -> str:  # noqa: A002 - the alpaca field is called 'input'
    """The alpaca prompt for one record, up to and including ``### Response:``."""
    return render(ALPACA, [{"role": "user", "content": instruction, "input": input}])


def _compile(template):
    from jinja2 import TemplateError

    from mf_tokenizers.template_limits import BoundedSandbox

    env = BoundedSandbox(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise TokenizerError(f"chat template: {message}", key="chat_template")

    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(template)
    except TemplateError as e:
        raise TokenizerError(f"invalid chat template: {e}", key="chat_template") from None
    except (RecursionError, MemoryError, ValueError, TypeError) as e:  # nested too deep to compile, NUL bytes...
        raise TokenizerError(f"invalid chat template: {type(e).__name__}: {str(e)[:200]}",
                             key="chat_template") from None


def render(template, messages, add_generation_prompt=False, special_tokens=None, timeout=None, **kwargs):
    """The text of ``messages`` formatted by ``template`` (a built-in name or a Jinja string), rendered in a
    sandbox within ``timeout`` seconds (``template_limits.TIMEOUT`` by default) and ``MAX_CHARS`` characters."""
    from mf_tokenizers.template_limits import TemplateLimit, render_bounded

    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TokenizerError(f"message {i} must be a dict with 'role' and 'content'", key="conversation")
    context = {"bos_token": "", "eos_token": "", **(special_tokens or {}), **kwargs}
    compiled = _compile(BUILTIN.get(template, template))
    try:
        return render_bounded(compiled, dict(messages=messages, add_generation_prompt=add_generation_prompt,
                                             **context), timeout)
    except TokenizerError:
        raise
    except TemplateLimit as e:
        raise TokenizerError(f"chat template stopped: {e}", key="chat_template") from None
    except Exception as e:  # noqa: BLE001 - whatever a template from a file raises is the file's fault
        raise TokenizerError(f"chat template failed: {type(e).__name__}: {str(e)[:200]}",
                             key="chat_template") from None
