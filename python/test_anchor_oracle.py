"""Tests for anchor_oracle.py against the real CLI. pytest style; also runs without pytest:

    python3 -m pytest -q python/test_anchor_oracle.py
    python3 python/test_anchor_oracle.py

Tests named test_cli_* need verify's newer features (sidecar result tensors, "skip" lines,
matching results to cases by id): they fail against a CLI that does not have them yet.
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import anchor_oracle as ao  # noqa: E402

NODE = os.environ.get("NODE") or shutil.which("node")


# ANCHOR_ORACLE_CLI overrides how the CLI is run, e.g. "npx anchor-oracle" or another checkout's bin
CLI = shlex.split(os.environ["ANCHOR_ORACLE_CLI"]) if os.environ.get("ANCHOR_ORACLE_CLI") else \
    [NODE, os.path.join(ROOT, "bin", "anchor-oracle.js")] if NODE else None


def cli(*args):
    if not CLI:
        raise unittest.SkipTest("node is not on PATH")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


_tmp = tempfile.mkdtemp(prefix="anchor-oracle-py-")
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
_gen_cache = {}


def tmp(name):
    return os.path.join(_tmp, name)


def gen(op="bf16.add", seed=1, level=1):
    """a case file written by the real CLI (generated once per argument set)"""
    path = tmp(f"cases-{op}-{seed}-{level}.jsonl")
    if path not in _gen_cache:
        r = cli("gen", "--op", op, "--seed", str(seed), "--level", str(level), "--out", path)
        assert r.returncode == 0, r.stderr
        _gen_cache[path] = True
    return path


def verify(cases_path, results_path):
    """(exit code, output cut to its first and last lines: enough to read a failure)"""
    r = cli("verify", "--cases", cases_path, "--results", results_path)
    text = r.stdout + r.stderr
    return r.returncode, text if len(text) < 3000 else text[:2000] + "\n...\n" + text[-800:]


def bf16_add(case):
    """bf16.add in numpy: f32 add of two bf16 values then RNE is the correctly rounded bf16 sum
    (24 >= 2*8 + 2 bits: the double rounding is innocuous); ftz flushes subnormal inputs and results."""
    a, b = case.inputs["a"], case.inputs["b"]
    ftz = case.args.get("profile") == "ftz"
    if ftz:
        a, b = (np.where((t & 0x7F80) == 0, t & 0x8000, t).astype(np.uint16) for t in (a, b))
    with np.errstate(invalid="ignore", over="ignore"):
        y = ao.f32_to_bf16(ao.bf16_to_f32(a) + ao.bf16_to_f32(b))
    if ftz:
        y = np.where((y & 0x7F80) == 0, y & 0x8000, y).astype(np.uint16)
    return {"y": y}


def raw_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------ reading
def test_read_inline_cases_written_by_the_cli():
    path = gen()
    lines = raw_lines(path)
    cs = list(ao.read_cases(path))
    assert len(cs) == len(lines) > 100
    for c, raw in zip(cs, lines):
        assert c.id == raw["id"] and c.op == "bf16.add" and c.args == raw["args"]
        assert set(c.inputs) == {"a", "b"} and set(c.expect) == {"y"}
        for t in (*c.inputs.values(), *c.expect.values()):
            assert t.dtype == np.uint16 and list(t.shape) == raw["in"]["a"]["shape"]
        assert c.inputs["a"].tobytes() == base64.b64decode(raw["in"]["a"]["b64"])
    assert [c.line for c in cs[:3]] == [1, 2, 3]
    # the ops filter: exact name, prefix ending in ".", a list
    assert len(list(ao.read_cases(path, ops="bf16."))) == len(cs)
    assert len(list(ao.read_cases(path, ops=["rope.apply", "bf16.add"]))) == len(cs)
    assert list(ao.read_cases(path, ops="bf16.ad")) == [] and list(ao.read_cases(path, ops="rope.")) == []


def test_blank_lines_skipped_and_inline_byte_counts_checked():
    good = raw_lines(gen())[0]
    path = tmp("blank.jsonl")
    with open(path, "w") as f:
        f.write("\n" + json.dumps(good) + "\n\n" + json.dumps(good) + "\n")
    assert [c.line for c in ao.read_cases(path)] == [2, 4]
    for mutate, msg in [(lambda t: t.update(shape=[5]), "needs 10 bytes but b64 holds 8"),
                        (lambda t: t.update(b64="!!!!" + t["b64"][4:]), "not valid base64"),
                        (lambda t: t.update(dtype="f16"), "dtype"),
                        (lambda t: t.update(shape=[-1]), "non-negative")]:
        bad = json.loads(json.dumps(good))
        mutate(bad["in"]["b"])
        with open(path, "w") as f:
            f.write(json.dumps(bad) + "\n")
        try:
            list(ao.read_cases(path))
        except ValueError as e:
            assert msg in str(e) and "in.b" in str(e) and ":1:" in str(e), str(e)
        else:
            raise AssertionError(f"no error for {msg}")


# ------------------------------------------------------------------ bf16
def test_bf16_conversions():
    def bits(*u32):
        return ao.f32_to_bf16(np.array(u32, dtype=np.uint32).view(np.float32)).tolist()
    assert bits(0x3F800000) == [0x3F80]                          # 1.0
    assert bits(0x3F808000, 0x3F818000) == [0x3F80, 0x3F82]      # ties go to even, down and up
    assert bits(0x3F808001, 0x3F807FFF) == [0x3F81, 0x3F80]      # just above / below a tie
    assert bits(0x3FFF8000, 0x7F7F8000, 0x7F7F7FFF) == [0x4000, 0x7F80, 0x7F7F]  # carry; overflow to inf
    assert bits(0x00000000, 0x80000000) == [0x0000, 0x8000]      # signed zeros
    assert bits(0x7F800000, 0xFF800000) == [0x7F80, 0xFF80]      # infinities
    assert bits(0x00010000, 0x00008000, 0x80018000) == [0x0001, 0x0000, 0x8002]  # subnormals, ties
    nan = bits(0x7FC00000, 0x7F800001, 0xFFC00001, 0x7FFFFFFF)  # quiet, signalling (payload in low bits), negative
    assert nan == [0x7FC0, 0x7FC0, 0xFFC0, 0x7FFF]
    assert all(np.isnan(ao.bf16_to_f32(np.array(nan, dtype=np.uint16))))
    assert ao.f32_to_bf16(np.float32(1.0)).shape == () and ao.f32_to_bf16(np.float32(-0.0)) == 0x8000
    # every bf16 pattern survives bf16 -> f32 -> bf16 (NaNs stay NaN: quiet bit forced)
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    f = ao.bf16_to_f32(every)
    assert f.dtype == np.float32 and f[0x3F80] == 1.0 and f[0xC000] == -2.0 and f[0x0001] == 2.0 ** -133
    back = ao.f32_to_bf16(f)
    nans = np.isnan(f)
    assert (back[~nans] == every[~nans]).all() and (back[nans] == every[nans] | 0x40).all()
    # random f32 values against an independent rule: the nearer neighbour, ties to the even one
    rng = np.random.default_rng(1)
    u = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    u = u[~np.isnan(u.view(np.float32)) & ((u & 0x7F800000) != 0x7F800000)]
    lo = (u >> 16).astype(np.uint16)
    with np.errstate(over="ignore", invalid="ignore"):
        x = u.view(np.float32).astype(np.float64)
        dlo = np.abs(x - ao.bf16_to_f32(lo).astype(np.float64))
        hi = ao.bf16_to_f32((lo + 1).astype(np.uint16)).astype(np.float64)
        hi = np.where(np.isinf(hi), np.sign(hi) * 2.0 ** 128, hi)  # rounding treats inf as 2^128
        dhi = np.abs(hi - x)
    want = np.where((dhi < dlo) | ((dhi == dlo) & ((lo & 1) == 1)), lo + 1, lo).astype(np.uint16)
    assert (ao.f32_to_bf16(u.view(np.float32)) == want).all()
    try:
        ao.bf16_to_f32(np.array([1.0]))
    except TypeError:
        pass
    else:
        raise AssertionError("bf16_to_f32 must refuse float input")


def test_torch_bits_round_trip_when_torch_is_importable():
    try:
        import torch
    except ImportError:
        raise unittest.SkipTest("torch is not importable") from None
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    t = ao.to_torch(every, "bf16")
    assert t.dtype == torch.bfloat16 and t[0x3F80].item() == 1.0
    assert (ao.from_torch(t) == every).all()  # bit for bit, NaN payloads included
    ro = np.frombuffer(every.tobytes(), np.uint16)  # read-only, as sidecar memory maps are
    assert (ao.from_torch(ao.to_torch(ro)) == every).all()
    assert ao.from_torch(torch.ones(3, dtype=torch.float64)).dtype == np.float64
    out = tmp("results-torch.jsonl")  # write_results takes torch tensors as they are
    ao.write_results(out, {"a": {"y": t, "n": torch.arange(3, dtype=torch.int32)}})
    assert raw_lines(out)[0]["out"]["y"]["dtype"] == "bf16" and raw_lines(out)[0]["out"]["n"]["dtype"] == "i32"
    assert (dict(ao.read_results(out))["a"]["y"] == every).all()


# ------------------------------------------------------------------ writing, then the CLI's verify
def test_inline_results_verify_and_read_back():
    cases_path = gen()
    results = {c.id: bf16_add(c) for c in ao.read_cases(cases_path)}
    out = tmp("results-inline.jsonl")
    ao.write_results(out, results)
    code, text = verify(cases_path, out)
    assert code == 0, text
    back = dict(ao.read_results(out))
    assert list(back) == list(results)
    assert all((back[i]["y"] == results[i]["y"]).all() for i in results)
    assert not [n for n in os.listdir(_tmp) if n.endswith(".tmp")], "temporary files left behind"


def test_planted_wrong_result_fails_verify():
    cases_path = gen()
    results = [(c.id, bf16_add(c)) for c in ao.read_cases(cases_path)]
    i, y = next((i, r["y"]) for i, (_, r) in enumerate(results) if r["y"].size > 1 and not np.isnan(ao.bf16_to_f32(r["y"][0])))
    y = y.copy()
    y[0] ^= 1
    results[i] = (results[i][0], {"y": y})
    out = tmp("results-wrong.jsonl")
    ao.write_results(out, results)
    code, text = verify(cases_path, out)
    assert code == 1, text
    assert "1 failed" in text and json.dumps(results[i][0], ensure_ascii=False) in text, text


def test_skip_error_lines_and_type_checks():
    out = tmp("results-mixed.jsonl")
    y = np.array([0x3F80, 0x7FC0], dtype=np.uint16)
    ao.write_results(out, [("a", {"y": y}), (7, ao.Skip("D > 256 not implemented")), ("c", ao.Error("OOM", 'needs "90" GiB'))])
    lines = raw_lines(out)
    assert lines[0] == {"id": "a", "out": {"y": {"dtype": "bf16", "shape": [2], "b64": base64.b64encode(y.tobytes()).decode()}}}
    assert lines[1] == {"id": 7, "skip": "D > 256 not implemented"}
    assert lines[2] == {"id": "c", "error": {"code": "OOM", "message": 'needs "90" GiB'}}
    assert dict(ao.read_results(out)).keys() == {"a", 7, "c"}
    before = open(out, "rb").read()
    for results, exc, msg in [({"x": {"y": np.zeros(2, np.float16)}}, TypeError, "'x' tensor 'y'"),
                              ({"x": {"y": [1, 2]}}, TypeError, "got list"),
                              ({1.5: {"y": y}}, TypeError, "ids are strings or integers"),
                              ([("x", {"y": y}), ("x", ao.Skip(""))], ValueError, "twice"),
                              ({"x": None}, TypeError, "dict of tensors")]:
        try:
            ao.write_results(out, results, sidecar=True)
        except exc as e:
            assert msg in str(e), str(e)
        else:
            raise AssertionError(f"no {exc.__name__} for {results!r}")
    assert open(out, "rb").read() == before, "a failed write must leave the old file"
    assert not os.path.exists(tmp("results-mixed.safetensors")), "nor create a sidecar"
    assert not [n for n in os.listdir(_tmp) if n.endswith(".tmp")], "temporary files left behind"


# ------------------------------------------------------------------ sidecars
def _all_dtypes():
    rng = np.random.default_rng(2)
    return {
        "bf": rng.integers(0, 1 << 16, (3, 5), dtype=np.uint16),
        "f32": rng.standard_normal((2, 3)).astype(np.float32),
        "f64": rng.standard_normal(7),
        "i32": np.arange(-3, 3, dtype=np.int32),
        "i64": np.array([-(1 << 62), 1 << 40], dtype=np.int64),
        "u8": np.arange(5, dtype=np.uint8),
        "flag": np.array([True, False, True]),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 4), np.float32),
        "big_endian": np.arange(3, dtype=">f4"),
    }


def test_every_dtype_round_trips_inline():
    out = tmp("results-dtypes.jsonl")
    tensors = _all_dtypes()
    ao.write_results(out, {"t": tensors})
    got = dict(ao.read_results(out))["t"]
    assert raw_lines(out)[0]["out"]["flag"]["dtype"] == "u8" and raw_lines(out)[0]["out"]["scalar"]["shape"] == []
    for name, want in tensors.items():
        assert got[name].shape == np.shape(want) and (got[name] == np.asarray(want)).all(), name


def test_sidecar_round_trip():
    out = tmp("results-side.jsonl")
    tensors = _all_dtypes()
    ao.write_results(out, [("z", ao.Skip("no")), ("t", tensors), (3, {"y": tensors["bf"][:, 1]})], sidecar=True)
    side = tmp("results-side.safetensors")
    lines = raw_lines(out)
    assert lines[0] == {"id": "z", "skip": "no"}
    ref = lines[1]["out"]["bf"]
    assert ref == {"dtype": "bf16", "shape": [3, 5], "file": "results-side.safetensors", "key": "c1.out.bf"}
    assert lines[2]["out"]["y"]["key"] == "c2.out.y" and lines[1]["out"]["flag"]["dtype"] == "u8"
    with open(side, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    assert (8 + n) % 8 == 0 and header["c1.out.bf"]["dtype"] == "BF16"
    back = dict(ao.read_results(out))
    assert isinstance(back["z"], ao.Skip) and back["z"].reason == "no"
    for name, want in tensors.items():
        got = back["t"][name]
        assert got.shape == np.shape(want) and (got == np.asarray(want)).all(), name
        assert got.dtype.itemsize == np.asarray(want).dtype.itemsize
    assert isinstance(back["t"]["bf"], np.memmap) and not back["t"]["bf"].flags.writeable
    assert (back[3]["y"] == tensors["bf"][:, 1]).all()


def _sidecar_case_file(name, source_cases):
    """a case file whose tensors live in <name>.safetensors (written by write_results, keys as it chose)"""
    path = tmp(f"{name}.jsonl")
    cs = list(ao.read_cases(source_cases))
    ao.write_results(path, [(i, c.inputs) for i, c in enumerate(cs)], sidecar=True)
    refs = [line["out"] for line in raw_lines(path)]
    with open(path, "w") as f:
        for c, ins in zip(cs, refs):
            f.write(json.dumps({"id": c.id, "op": c.op, "args": c.args, "in": ins}) + "\n")
    return path, cs


def test_sidecar_case_file_reads_like_the_inline_one():
    path, inline = _sidecar_case_file("cases-side", gen())
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    side = list(ao.read_cases(path))  # 600 tensors held at once
    if fds is not None:  # one mapping (one descriptor) per sidecar, not one per tensor
        assert len(os.listdir("/proc/self/fd")) - fds <= 2
    assert [c.id for c in side] == [c.id for c in inline]
    for a, b in zip(side, inline):
        assert a.expect is None and all((a.inputs[k] == b.inputs[k]).all() for k in b.inputs)


def _build(path, header, data=b"", raw_len=None):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) if raw_len is None else raw_len) + h + data)


def test_sidecar_bad_files_are_rejected_with_clear_messages():
    line = {"id": 1, "op": "bf16.add", "args": {}, "in": {"a": {"dtype": "bf16", "shape": [2], "file": "bad.safetensors", "key": "k"}}}
    good = {"k": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}
    cases = [
        (dict(header=good, data=b"\0" * 4, raw_len=1 << 40), "header length"),
        (dict(header=good, data=b"\0" * 4, raw_len=1), "header length"),
        (dict(header={"k": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, data=b"\0" * 4), "the file holds F32 [1]"),
        (dict(header={"k": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}, data=b"\0" * 6), "the line says bf16 [2]"),
        (dict(header={"k": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, data=b"\0" * 2), "outside the 2-byte data section"),
        (dict(header={"k": {"dtype": "BF16", "shape": [2], "data_offsets": [2, 6]}}, data=b"\0" * 6), "overlap or hole"),
        (dict(header={"k": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 6]}}, data=b"\0" * 6), "does not fill"),
        (dict(header=good, data=b"\0" * 5), "1 bytes after the last tensor"),
        (dict(header={"other": good["k"]}, data=b"\0" * 4), "no such key"),
        (dict(header={"k": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 4]}}, data=b"\0" * 4), "malformed"),
    ]
    path = tmp("bad.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps(line) + "\n")
    for kw, msg in cases:
        _build(tmp("bad.safetensors"), **kw)
        try:
            list(ao.read_cases(path))
        except ValueError as e:
            assert msg in str(e) and "'bad.safetensors'" in str(e) and "'k'" in str(e) and "in.a" in str(e), (msg, str(e))
        else:
            raise AssertionError(f"accepted a file that should fail with: {msg}")
    with open(tmp("bad.safetensors"), "wb") as f:
        f.write(b"\x10\0\0\0\0\0\0\0{not json at all}")
    try:
        list(ao.read_cases(path))
    except ValueError as e:
        assert "not UTF-8 JSON" in str(e), str(e)
    os.remove(tmp("bad.safetensors"))
    try:
        list(ao.read_cases(path))
    except ValueError as e:
        assert "cannot read" in str(e), str(e)
    _build(tmp("bad.safetensors"), good, b"\x80\x3f\0\0")  # and the good one reads
    assert list(ao.read_cases(path))[0].inputs["a"].tolist() == [0x3F80, 0]


def test_sidecar_beyond_2_gib():
    """a tensor past the 2 GiB mark of a sparse file: read by offset, never the whole file"""
    path = tmp("huge.safetensors")
    pad = (1 << 31) + 6  # an odd-sized filler so the tensor sits unaligned past 2 GiB
    header = {"filler": {"dtype": "U8", "shape": [pad], "data_offsets": [0, pad]},
              "c0.in.x": {"dtype": "F32", "shape": [2], "data_offsets": [pad, pad + 8]}}
    h = json.dumps(header).encode()
    try:
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            f.seek(8 + len(h) + pad)
            f.write(np.array([1.5, -2.0], np.float32).tobytes())
    except OSError as e:
        raise unittest.SkipTest(f"cannot write a sparse 2 GiB file here ({e})") from None
    try:
        line = {"id": 0, "op": "x.y", "args": {}, "in": {"x": {"dtype": "f32", "shape": [2], "file": "huge.safetensors", "key": "c0.in.x"}}}
        with open(tmp("huge.jsonl"), "w") as f:
            f.write(json.dumps(line) + "\n")
        assert list(ao.read_cases(tmp("huge.jsonl")))[0].inputs["x"].tolist() == [1.5, -2.0]
    finally:
        os.remove(path)


# ------------------------------------------------------------------ pytest helper
def test_pytest_helper_parametrizes():
    try:
        import pytest
    except ImportError:
        raise unittest.SkipTest("pytest is not importable") from None
    params = ao.cases(gen(), ops="bf16.")
    assert len(params) == len(raw_lines(gen()))
    assert params[0].id == "bf16.add:" + raw_lines(gen())[0]["id"] and isinstance(params[0].values[0], ao.Case)
    mark = ao.parametrize_cases(gen(), ops="bf16.add")
    assert isinstance(mark, pytest.MarkDecorator) and mark.args[0] == "case" and len(mark.args[1]) == len(params)


# ------------------------------------------------------------------ the worked example
def test_example_numpy_backend_passes_verify():
    if not CLI:
        raise unittest.SkipTest("node is not on PATH")
    r = subprocess.run([sys.executable, os.path.join(HERE, "example_torch.py"), "--backend", "numpy", "--out", tmp("example"),
                        "--cli", shlex.join(CLI)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr


# ------------------------------------------------------------------ through the CLI (sidecar, skip, ids)
def test_cli_sidecar_results_verify():
    cases_path = gen()
    out = tmp("results-side-verify.jsonl")
    ao.write_results(out, ((c.id, bf16_add(c)) for c in ao.read_cases(cases_path)), sidecar=True)
    code, text = verify(cases_path, out)
    assert code == 0, text


def test_cli_sidecar_cases_verify():
    path, cs = _sidecar_case_file("cases-side-verify", gen())
    out = tmp("results-for-side-cases.jsonl")
    ao.write_results(out, [(c.id, bf16_add(c)) for c in cs])
    code, text = verify(path, out)
    assert code == 0, text


def test_cli_skips_and_any_order():
    cases_path = gen()
    results = [(c.id, ao.Skip("not supported") if i % 10 == 0 else bf16_add(c)) for i, c in enumerate(ao.read_cases(cases_path))]
    out = tmp("results-skip.jsonl")
    ao.write_results(out, results[::-1])
    code, text = verify(cases_path, out)
    assert code == 0, text
    assert "skip" in text.lower(), text


def _run_plain():
    """the runner used when pytest is not installed: every test_* function, skips reported"""
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    failed, skipped = [], 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok    {name}")
        except unittest.SkipTest as e:
            skipped += 1
            print(f"skip  {name}: {e}")
        except Exception as e:  # report and go on
            failed.append(name)
            print(f"FAIL  {name}: {type(e).__name__}: {str(e)[:2000]}")
    print(f"{len(tests) - len(failed) - skipped} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_run_plain())
