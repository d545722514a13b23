"""Hostile YAML and config.json: every one ends in a result or one line naming the file and line, exit 2, quickly;
nothing from a file is executed. The fuzz tests run ``budget.fuzz`` cases each (``--long`` for many more)."""

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mf_config.cli import main
from mf_config.pretrained import PretrainedConfig
from mf_config.reliability import fuzz_settings, hang_guard, tally


def show(run_cli, path):
    result = run_cli("show", path)
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    return result


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return path


CASES = {
    "alias bomb": ("a0: &a0 [x, y, z, w, v, u, t, s, r, q]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)), ":5: expands to more than"),
    "recursive alias": ("a: &a [1, *a]\n", ":1: an alias refers to a collection that contains it"),
    "deep nesting": ("a: " + "[" * 3000 + "]" * 3000 + "\n", ":1: nested deeper than 64 levels"),
    "NUL byte": ("a: b\n\x00\n", ":2: a NUL byte"),
    "DEL byte": ("a: b\x7f\n", ":1: character U+007F is not allowed"),
    "bad float tag": ("a: 1\nb: !!float x\n", ":2: cannot read 'x' as float"),
    "5000-digit integer": ("a: " + "9" * 5000 + "\n", ":1: cannot read '9999"),
    "duplicate key": ("a: 1\nb:\n  c: 2\n  c: 3\n", ":4: duplicate key 'c' (first on line 3)"),
    "python tag": ("a: !!python/object/apply:os.system [echo hacked]\n", ":1: YAML syntax error: could not determine"),
    "not a mapping": ("- 1\n- 2\n", ":1: expected a mapping at the top"),
    "many keys": ("".join(f"k{i}: {i}\n" for i in range(30000)), ": more than 20000 values"),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_yaml_is_one_line_exit_2(run_cli, tmp_path, case):
    text, expected = CASES[case]
    path = write(tmp_path, text)
    with hang_guard(20):
        result = show(run_cli, path)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"Error: {path}")
    assert expected in result.stderr, result.stderr


def test_duplicate_key_names_both_lines(run_cli, tmp_path):
    result = show(run_cli, write(tmp_path, "a: 1\nb: 2\na: 3\n"))
    assert result.stderr == f"Error: {tmp_path / 'c.yaml'}:3: duplicate key 'a' (first on line 1)\n"


def test_non_utf8_yaml_and_config_json(run_cli, tmp_path):
    assert "not UTF-8 text" in show(run_cli, write(tmp_path, b"a: \xff\n")).stderr
    (tmp_path / "config.json").write_bytes(b'{"model_type": "llama\xff"}')
    with pytest.raises(Exception, match=r"config.json:1: not UTF-8 text") as e:
        PretrainedConfig.from_pretrained(tmp_path)
    assert type(e.value).__name__ == "ConfigError"
    (tmp_path / "config.json").write_text("[" * 3000 + "]" * 3000)
    with pytest.raises(Exception, match="nested deeper than"):
        PretrainedConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama", "x": "\\ud800"}')
    with pytest.raises(Exception, match="config.json: x: holds a lone surrogate"):
        PretrainedConfig.from_pretrained(tmp_path)


def test_base_config_fan_out_reads_each_file_once(run_cli, tmp_path):
    for i in range(21):  # each file names the next one twice: 2^20 loads without the cache
        nxt = f"c{i + 1}.yaml"
        write(tmp_path, f"base_config: [{nxt}, {nxt}]\nk{i}: {i}\n" if i < 20 else "z: 1\n", f"c{i}.yaml")
    with hang_guard(20):
        result = show(run_cli, tmp_path / "c0.yaml")
    assert result.exit_code == 0 and "k19: 19" in result.output


def test_base_config_with_too_many_files(run_cli, tmp_path):
    for i in range(80):
        write(tmp_path, f"base_config: c{i + 1}.yaml\nk{i}: 1\n" if i < 79 else "z: 1\n", f"c{i}.yaml")
    result = show(run_cli, tmp_path / "c0.yaml")
    assert result.exit_code == 2 and "base_config: base_config chain too large" in result.stderr


# --- fuzzing -------------------------------------------------------------------------------------------------

FRAGMENTS = ["a", "b", "model", "model_config", "num_layers", "type", "LlamaConfig", "base_config", "parallel_config",
             "callbacks", ":", ": ", " ", "  ", "\n", "\n  ", "\n    ", "- ", "[", "]", "{", "}", ", ", "&x ", "*x",
             "&y ", "*y", "<<: *x", "!!float ", "!!int ", "!!str ", "!!binary ", "!!timestamp ", "!!bool ", "!!map ",
             "!!seq ", "!!python/object:os.system ", "!foo ", "'", '"', "\\", "\x00", "\x7f", "\t", "# c", "9" * 5000,
             "1e400", ".nan", ".inf", "~", "null", "yes", "? ", "|", ">", "---", "...", "%YAML 1.1\n", "0x1F",
             "2001-12-14", "1:20", "-1", "3.5", "\u00e9", "\U0001f600", "\ufeff", "\u2028", "=", "%", "@", "`"]


@st.composite
def yaml_soup(draw):
    return "".join(draw(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=60)))


@st.composite
def yaml_mutant(draw):
    base = draw(st.sampled_from(SHARED))
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(FRAGMENTS)).encode("utf-8")
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 40))]
        else:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 200))]
    return bytes(data)


SHARED = []


@pytest.fixture(scope="module", autouse=True)
def shared_yaml(yaml_dir):
    SHARED[:] = [p.read_bytes() for p in sorted(yaml_dir.glob("*.yaml"))]


def _check(run_cli, path, budget):
    tally("fuzz")
    with hang_guard(budget.timeout):
        for command in (["show", "--json"], ["validate", "--strict"]):
            result = run_cli(*command, path)
            assert result.exit_code in (0, 2), (command, result.exception, path.read_bytes()[:300])
            if result.exit_code == 2 and "error(s)" not in result.output:
                assert result.stderr.count("\n") == 1, result.stderr


def test_fuzz_yaml_soup(run_cli, tmp_path, budget):
    @fuzz_settings(budget)
    @given(yaml_soup())
    def prop(text):
        _check(run_cli, write(tmp_path, text), budget)

    prop()


def test_fuzz_mutated_mindformers_yaml(run_cli, tmp_path, budget):
    @fuzz_settings(budget)
    @given(yaml_mutant())
    def prop(data):
        _check(run_cli, write(tmp_path, data), budget)

    prop()


def test_fuzz_config_json(tmp_path, budget):
    from mf_config.errors import MFError

    rng = random.Random(0)
    good = json.dumps({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "vocab_size": 100, "rope_theta": 10000.0, "rope_scaling": None}).encode()

    @fuzz_settings(budget)
    @given(st.binary(max_size=300) | st.builds(lambda n: good[:n] + bytes(rng.randrange(256) for _ in range(3)) +
                                               good[n:], st.integers(0, len(good))))
    def prop(data):
        tally("fuzz")
        (tmp_path / "config.json").write_bytes(data)
        with hang_guard(budget.timeout):
            try:
                PretrainedConfig.from_pretrained(tmp_path)
            except MFError as e:
                assert "\n" not in str(e)

    prop()


def test_main_is_the_cli(run_cli):
    assert run_cli("--help").exit_code == 0 and main.name == "mf-config"
