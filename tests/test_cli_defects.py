"""Defects a new user hit (issue 11): each one line and the right exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from test_cli import SPEC, cli


def _spec(tmp_path, fn="relu"):
    p = tmp_path / "m.toml"
    p.write_text(SPEC.format(fn=fn))
    return str(p)


def _one_line_error(r, field):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"noether: error: {field}"), r.stderr


def test_codegen_out_below_a_file_is_one_line(tmp_path):
    spec = _spec(tmp_path)
    _one_line_error(cli("codegen", spec, "--out", os.path.join(spec, "sub")), "--out")


def test_codegen_out_in_an_impossible_place_is_one_line(tmp_path):
    _one_line_error(cli("codegen", _spec(tmp_path), "--out", "/proc/noether-cannot-be-here"), "--out")


def test_json_into_a_closed_pipe_is_not_a_traceback(tmp_path):
    # `noether derive --json | head -1`: the reader closes after one line.  Width 64 makes the JSON
    # (explicit generators and charges) far larger than a pipe buffer, so the writer does hit the pipe.
    wide = tmp_path / "wide.toml"
    wide.write_text(SPEC.format(fn="relu").replace("out = 4", "out = 64"))
    p = subprocess.Popen([sys.executable, "-m", "noether.cli", "derive", str(wide), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert p.returncode in (0, 141)


def test_bare_z_is_accepted_by_derive(tmp_path):
    r = cli("derive", _spec(tmp_path, "z"), "--json")
    assert r.returncode == 0, r.stderr
