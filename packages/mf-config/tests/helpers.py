"""Shared by the tests: the MindFormers YAML files of the shared assets, and writing a test file."""

SHARED = ["finetune_llama2_7b.yaml", "finetune_mixtral-8x7b.yaml", "predict_llama2_7b.yaml",
          "predict_llama3_8b_800T_A2_64G.yaml", "predict_mixtral-8x7b.yaml", "pretrain_mixtral-8x7b.yaml",
          "run_bloom_560m.yaml", "run_bloom_7.1b.yaml", "run_gpt2.yaml", "run_llama3_8b_8k_800T_A2_64G.yaml"]


def write(path, text):
    path.write_text(text)
    return path
