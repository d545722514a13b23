import json

from click.testing import CliRunner

from mf_data.cli import main


def test_alpaca_to_conversation_on_real_file(mf_assets, tmp_path, alpaca_records):
    out = tmp_path / "conv.json"
    result = CliRunner().invoke(main, ["alpaca-to-conversation", "--data_path",
                                       str(mf_assets / "text" / "alpaca_pydocs.json"), "--output_path", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{len(alpaca_records)} conversations" in result.output
    conv = json.loads(out.read_text(encoding="utf-8"))
    assert len(conv) == len(alpaca_records)
    for i, (c, r) in enumerate(zip(conv, alpaca_records), 1):
        assert c["id"] == str(i)
        human, gpt = c["conversations"]
        assert human["from"] == "human" and gpt["from"] == "gpt"
        assert gpt["value"] == r["output"]
        assert f"### Instruction:\n{r['instruction']}\n\n" in human["value"]
        assert human["value"].endswith("### Response:")
        # the input block appears exactly when the record has an input (Stanford alpaca's two templates)
        assert ("### Input:\n" + r["input"] + "\n\n" in human["value"]) == (r["input"] != "")
        assert ("paired with an input" in human["value"]) == (r["input"] != "")


def test_alpaca_to_conversation_bad_record(tmp_path):
    src = tmp_path / "a.json"
    src.write_text('[\n {"instruction": "a", "input": "", "output": "b"},\n {"instruction": "c"},\n'
                   ' {"instruction": "d", "input": "", "output": "e"}\n]', encoding="utf-8")
    out = tmp_path / "c.json"
    result = CliRunner().invoke(main, ["alpaca-to-conversation", "--data_path", str(src), "--output_path", str(out)])
    assert result.exit_code == 2
    assert f"{src}:3" in result.output and "record 2" in result.output and "output" in result.output
    assert not out.exists()
    result = CliRunner().invoke(main, ["alpaca-to-conversation", "--data_path", str(src), "--output_path", str(out),
                                       "--skip_bad"])
    assert result.exit_code == 0 and "1 bad records skipped" in result.output
    assert [c["conversations"][1]["value"] for c in json.loads(out.read_text())] == ["b", "e"]
