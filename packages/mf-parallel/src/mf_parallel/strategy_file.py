"""MindSpore's strategy file (the protobuf ``ParallelStrategyMap`` that ``strategy_ckpt_save_file`` writes) from a
layout in MindSpore's JSON form, so that MindFormers' ``src_strategy_path_or_dir`` and
``mindspore.transform_checkpoints`` read our shards."""


def strategy_bytes(layout_json, stage=0):
    """The serialized ``ParallelStrategyMap`` of ``layout_json["parallel_layout_item"]``."""
    from mindspore.train import node_strategy_pb2

    m = node_strategy_pb2.ParallelStrategyMap()
    m.current_stage = stage
    item = m.parallel_strategy_item.add()
    item.node_name = "mf_parallel"
    item.parallel_strategys.stage = stage
    for name, entry in layout_json["parallel_layout_item"].items():
        layout = m.parallel_layout_item.add()
        layout.param_name = name
        p = layout.parallel_layouts
        p.dev_matrix.add().dim.extend(entry["dev_matrix"])
        p.tensor_map.add().dim.extend(entry["tensor_map"])
        p.param_split_shape.add()
        p.indices_offset.add()
        p.field = 0
        p.opt_weight_shard_step = entry.get("opt_weight_shard_step", 0)
        p.opt_weight_shard_size = entry.get("opt_weight_shard_size", 0)
    return m.SerializeToString()
