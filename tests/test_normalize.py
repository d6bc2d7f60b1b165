import json

import pyarrow as pa
import pytest

import assay
from assay.steps.normalize import NormalizeStep

from conftest import SAMPLES


def test_flan_escaped_newlines_and_nfkc():
    batch = assay.read(SAMPLES / "flan_cot" / "aqua_train.json", format="alpaca", source="f").read_all().to_batches()[0]
    assert "\\n" in batch.column("instruction")[0].as_py()
    out = NormalizeStep(unescape_newlines=True)(batch)
    first = out.column("instruction")[0].as_py()
    assert "\\n" not in first and "\nOptions:\n(A) 300" in first
    # text stays the rendering of the other columns
    row = out.slice(0, 1).to_pylist()[0]
    assert row["text"] == "\n\n".join(p for p in (row["instruction"], row["input"], row["output"]) if p)


def test_t2s_and_chat_messages_including_nulls_and_slices(tmp_path):
    path = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": "ＨＩ，學習機器"}, {"role": "assistant", "content": "好的"}]},
            {"conversations": [{"from": "human", "value": "繁體"}]}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    batch = assay.read(path, format="sharegpt", source="c").read_all().to_batches()[0]
    out = NormalizeStep(t2s=True)(batch.slice(1, 1))
    assert out.column("messages").to_pylist() == [[{"role": "user", "content": "繁体"}]]
    out = NormalizeStep(t2s=True)(batch)
    assert out.column("messages")[0].as_py()[0]["content"] == "HI,学习机器"
    assert out.column("text")[0].as_py() == "HI,学习机器\n\n好的"
    with_null = pa.record_batch({"messages": pa.array([None, [{"role": "user", "content": "ａ"}]], type=batch.schema.field("messages").type)})
    assert NormalizeStep()(with_null).column("messages").to_pylist() == [None, [{"role": "user", "content": "a"}]]


def test_in_a_pipeline(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"""
name: norm
inputs: [{{path: "{SAMPLES}/flan_cot/*.json", format: alpaca, source: flan}}]
steps: [normalize: {{unescape_newlines: true, strip: true}}, text_stats: {{}}]
output: {{dir: "{tmp_path}/out"}}
""")
    m = assay.run_pipeline(pipeline)
    assert m.rows_out == 300
    with pytest.raises(assay.pipeline.PipelineError, match=r"steps\[0\]\.normalize\.nfkd: unknown key"):
        pipeline.write_text(pipeline.read_text().replace("unescape_newlines: true", "nfkd: true"))
        assay.load_pipeline(pipeline)
