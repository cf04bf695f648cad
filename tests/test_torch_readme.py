"""The README's tutorial "Track the charges of your own PyTorch model" and its self-attention
example, run exactly as written (the python block under each heading is extracted from README.md
and executed in a subprocess)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the tutorial needs the optional extra: pip install -e '.[torch]'")


def _run_block(heading):
    """Run the first python block after ``heading`` (up to the next ``## `` section) as written."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_tutorial_runs_as_written():
    out = _run_block("## Track the charges of your own PyTorch model")
    assert "all laws hold" in out and "(101, 8)" in out


def test_self_attention_example_runs_as_written():
    assert "attention T=3 4->4 heads=2 d_k=2 d_v=2" in _run_block("### Self-attention (`nn.MultiheadAttention`)")
