"""Read anchor-oracle case files and write result files from Python (numpy; torch optional).

    import anchor_oracle as ao
    results = {}
    for case in ao.read_cases("cases.jsonl", ops="rope."):
        if case.args.get("layout") != "half":
            results[case.id] = ao.Skip("interleaved layout not implemented")
            continue
        x = ao.to_torch(case.inputs["x"], "bf16").cuda()       # bf16 bits -> torch.bfloat16
        results[case.id] = {"y": my_rope(x, ...)}               # a torch tensor or a numpy array
    ao.write_results("results.jsonl", results)                 # sidecar=True: tensors in results.safetensors
    # then: npx anchor-oracle verify --cases cases.jsonl --results results.jsonl

    @ao.parametrize_cases("cases.jsonl", ops="attention.")     # pytest: one test per case, id "op:id"
    def test_attention(case): ...

Wire format (JSON Lines, one case per line): {"id", "op", "args", "in": {name: TENSOR}, "expect"}.
Result lines: {"id", "out": {name: TENSOR}} | {"id", "error": {"code", "message"}} | {"id", "skip": reason}.
TENSOR: {"dtype", "shape", "b64"} (little-endian row-major bytes) or {"dtype", "shape", "file", "key"}
naming a tensor in a safetensors file beside the JSONL file. bf16 is carried as uint16 bits.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import shutil
import struct
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np

__all__ = ["Case", "Skip", "Error", "read_cases", "read_results", "write_results", "bf16_to_f32", "f32_to_bf16",
           "to_torch", "from_torch", "cases", "parametrize_cases"]

# wire dtype -> (numpy dtype, safetensors dtype); explicit little-endian so the bytes are the wire's
DTYPES = {"bf16": ("<u2", "BF16"), "f32": ("<f4", "F32"), "f64": ("<f8", "F64"),
          "i32": ("<i4", "I32"), "i64": ("<i8", "I64"), "u8": ("u1", "U8")}
_ST_SIZE = {**{st: np.dtype(npd).itemsize for npd, st in DTYPES.values()}, "F16": 2}  # F16: allowed, never matched
_MAX_HEADER = 100_000_000  # the safetensors crate's limit
_CHUNK = 3 << 22  # 12 MiB, a multiple of 3 so base64 chunks concatenate without padding
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass
class Case:
    """One case line: `inputs`/`expect` map names to numpy arrays (bf16 as uint16 bits); `line` is 1-based."""
    id: Any
    op: str
    args: Dict[str, Any]
    inputs: Dict[str, np.ndarray]
    expect: Optional[Dict[str, np.ndarray]]
    line: int


@dataclass
class Skip:
    """A result meaning "my implementation does not support this case" (counted as skipped, not failed)."""
    reason: str


@dataclass
class Error:
    """A result meaning "my implementation failed on this case", e.g. Error("OOM", "needs 90 GiB")."""
    code: str
    message: str


# ------------------------------------------------------------------ reading
def read_cases(path: str, ops: Union[str, List[str], None] = None) -> Iterator[Case]:
    """Yield the cases of a JSONL file one line at a time; `ops` keeps one op ("rope.apply"), a prefix
    ending in "." ("rope.") or a list of either. Sidecar tensors are read-only memory maps.

        for case in read_cases("cases.jsonl", ops=["rope.apply", "attention."]): ...
    """
    wanted = None if ops is None else [ops] if isinstance(ops, str) else list(ops)
    headers: Dict[str, Tuple[dict, np.ndarray]] = {}  # each sidecar is opened once
    for lineno, obj in _lines(path):
        op = obj.get("op")
        if wanted is not None and not any(op == w or (w.endswith(".") and str(op).startswith(w)) for w in wanted):
            continue
        where = f"{path}:{lineno}"
        if not isinstance(op, str):
            raise ValueError(f"{where}: \"op\" must be a string")
        args = obj.get("args", {})
        if not isinstance(args, dict):
            raise ValueError(f"{where}: \"args\" must be an object")
        expect = obj.get("expect")
        yield Case(obj.get("id"), op, args, _tensors(obj.get("in", {}), f"{where}: in", path, headers),
                   None if expect is None else _tensors(expect, f"{where}: expect", path, headers), lineno)


def read_results(path: str) -> Iterator[Tuple[Any, Union[Dict[str, np.ndarray], Skip, Error]]]:
    """Yield (id, outputs | Skip | Error) for each line of a results file (the inverse of write_results)."""
    headers: Dict[str, Tuple[dict, np.ndarray]] = {}
    for lineno, obj in _lines(path):
        where = f"{path}:{lineno}"
        if "skip" in obj:
            yield obj.get("id"), Skip(str(obj["skip"]))
        elif "error" in obj:
            err = obj["error"] if isinstance(obj["error"], dict) else {}
            yield obj.get("id"), Error(str(err.get("code", "")), str(err.get("message", "")))
        else:
            yield obj.get("id"), _tensors(obj.get("out", {}), f"{where}: out", path, headers)


def _lines(path: str) -> Iterator[Tuple[int, dict]]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e})") from None
            del raw  # a line of inline tensors can be large: keep only the parsed object
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{lineno}: a line must be a JSON object")
            yield lineno, obj


def _tensors(raw: Any, where: str, jsonl: str, headers: dict) -> Dict[str, np.ndarray]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object of tensors")
    return {name: _tensor(t, f"{where}.{name}", jsonl, headers) for name, t in raw.items()}


def _tensor(t: Any, where: str, jsonl: str, headers: dict) -> np.ndarray:
    if not isinstance(t, dict) or t.get("dtype") not in DTYPES:
        raise ValueError(f"{where}: expected a tensor with dtype one of {', '.join(DTYPES)}")
    shape = t.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise ValueError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    npd, st = DTYPES[t["dtype"]]
    need = int(np.prod(shape, dtype=object)) * np.dtype(npd).itemsize
    if "b64" in t and ("file" in t or "key" in t):
        raise ValueError(f"{where}: give either b64 or file and key, not both")
    if "b64" in t:
        b64 = t["b64"]
        if not isinstance(b64, str):
            raise ValueError(f"{where}: b64 must be a string")
        have = len(b64) // 4 * 3 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0)
        if len(b64) % 4 or have != need:  # checked before decoding: no allocation from a wrong shape
            raise ValueError(f"{where}: {t['dtype']} shape {shape} needs {need} bytes but b64 holds {have}")
        out, pos = np.empty(need, np.uint8), 0
        for k in range(0, len(b64), _CHUNK // 3 * 4):  # in pieces: no whole-size copy besides the result
            piece = b64[k:k + _CHUNK // 3 * 4]
            if not _B64.fullmatch(piece) or ("=" in piece and k + len(piece) < len(b64)):
                raise ValueError(f"{where}: b64 is not valid base64 (near character {k})")
            raw = binascii.a2b_base64(piece)
            out[pos:pos + len(raw)] = np.frombuffer(raw, np.uint8)
            pos += len(raw)
        return out.view(npd).reshape(shape)
    file, key = t.get("file"), t.get("key")
    if not isinstance(file, str) or not file or not isinstance(key, str):
        raise ValueError(f"{where}: a tensor needs b64, or file and key (strings)")
    where = f"{where}: sidecar {file!r} key {key!r}"
    full = os.path.join(os.path.dirname(os.path.abspath(jsonl)), file)  # relative to the JSONL file's folder
    if full not in headers:
        headers[full] = _sidecar_header(full, where)
    header, data = headers[full]
    e = header.get(key) if key != "__metadata__" else None
    if e is None:
        raise ValueError(f"{where}: no such key in the file")
    if e["dtype"] != st or e["shape"] != shape:
        raise ValueError(f"{where}: the file holds {e['dtype']} {e['shape']}, the line says {t['dtype']} {shape}")
    begin = e["data_offsets"][0]
    return data[begin:begin + need].view(npd).reshape(shape)  # a view: no byte is read until it is used


def _sidecar_header(full: str, where: str) -> Tuple[dict, np.ndarray]:
    """Validate a safetensors file's header: (entries by key, its data section as a read-only np.memmap).
    One mapping per file, not per tensor: each mapping holds a file descriptor, and a case file may hold
    thousands of tensors. Mapping reads nothing; only the pages of the tensors used are ever read."""
    try:
        size = os.path.getsize(full)
        with open(full, "rb") as f:
            head = f.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if n < 2 or n > _MAX_HEADER or 8 + n > size:
                raise ValueError(f"header length {n} is not sane for a file of {size} bytes (truncated or not safetensors?)")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except ValueError as e:
                raise ValueError(f"header is not UTF-8 JSON ({e})") from None
    except OSError as e:
        raise ValueError(f"{where}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: header must be a JSON object")
    data_len, spans = size - 8 - n, []
    for k, e in header.items():
        if k == "__metadata__":
            continue
        ok = (isinstance(e, dict) and e.get("dtype") in _ST_SIZE and isinstance(e.get("shape"), list)
              and all(type(d) is int and d >= 0 for d in e["shape"]) and isinstance(e.get("data_offsets"), list)
              and len(e["data_offsets"]) == 2 and all(type(d) is int and d >= 0 for d in e["data_offsets"]))
        if not ok:
            raise ValueError(f"{where}: header entry {k!r} is malformed: {e!r}")
        b, en = e["data_offsets"]
        if not b <= en <= data_len:
            raise ValueError(f"{where}: entry {k!r} data_offsets [{b}, {en}] outside the {data_len}-byte data section")
        if int(np.prod(e["shape"], dtype=object)) * _ST_SIZE[e["dtype"]] != en - b:
            raise ValueError(f"{where}: entry {k!r} {e['dtype']} {e['shape']} does not fill data_offsets [{b}, {en}]")
        spans.append((b, en, k))
    pos = 0
    for b, en, k in sorted(spans):  # tensors tile the data section: no overlap, no hole, no tail
        if b != pos:
            raise ValueError(f"{where}: entry {k!r} starts at {b}, expected {pos} (overlap or hole)")
        pos = en
    if pos != data_len:
        raise ValueError(f"{where}: {data_len - pos} bytes after the last tensor")
    return header, np.memmap(full, dtype=np.uint8, mode="r", offset=8 + n, shape=(data_len,)) if data_len else np.zeros(0, np.uint8)


# ------------------------------------------------------------------ bf16 and torch
def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """bf16 bits (uint16) -> float32 values, exactly (NaN payloads kept): bf16_to_f32(np.uint16(0x3F80)) == 1.0"""
    bits = np.asarray(bits)
    if bits.dtype != np.uint16:
        raise TypeError(f"bf16_to_f32 takes uint16 bits, got {bits.dtype}")
    wide = np.atleast_1d(bits).astype(np.uint32) << np.uint32(16)  # atleast_1d: 0-d views fail on numpy 1.x
    return wide.view(np.float32).reshape(bits.shape)


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits, round to nearest even; NaN stays NaN (sign and top payload kept, quieted).
    Other float dtypes are converted to float32 first (as torch's f64 -> bf16 does)."""
    x = np.asarray(x, dtype=np.float32)
    u = np.atleast_1d(x).view(np.uint32)  # arrays, not scalars: uint32 wraparound is silent only on arrays
    r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)  # wraps only for NaNs, replaced below
    r = np.where(np.isnan(np.atleast_1d(x)), (u >> np.uint32(16)) | np.uint32(0x0040), r)
    return r.astype(np.uint16).reshape(x.shape)


def to_torch(array: np.ndarray, dtype_name: Optional[str] = None):
    """numpy -> torch tensor; bf16 (dtype_name "bf16", or any uint16 array) becomes torch.bfloat16 by
    reinterpreting the bits. Read-only arrays (sidecar memory maps) are copied so the tensor can be written."""
    import torch
    a = np.asarray(array, order="C")
    if not a.flags.writeable:
        a = a.copy()
    if dtype_name == "bf16" or (dtype_name is None and a.dtype == np.uint16):
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)  # int16: old torch has no uint16
    return torch.from_numpy(a)


def from_torch(t) -> np.ndarray:
    """torch tensor (any device) -> numpy array; torch.bfloat16 becomes uint16 bits, bit for bit."""
    import torch
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


# ------------------------------------------------------------------ writing
def _wire(value: Any, where: str) -> Tuple[str, np.ndarray]:
    if type(value).__module__.startswith("torch"):
        value = from_torch(value)
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"{where}: expected a numpy array or torch tensor, got {type(value).__name__}")
    a = np.asarray(value)
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    for name, (npd, _) in DTYPES.items():
        if a.dtype.kind == np.dtype(npd).kind and a.dtype.itemsize == np.dtype(npd).itemsize:
            return name, np.asarray(a, dtype=npd, order="C")  # not ascontiguousarray: it makes 0-d 1-d
    raise TypeError(f"{where}: dtype {a.dtype} has no wire dtype (uint16 = bf16 bits, float32, float64, int32, int64, uint8, bool)")


def write_results(path: str, results: Union[Mapping[Any, Any], Iterable[Tuple[Any, Any]]], sidecar: bool = False) -> None:
    """Write result lines atomically. `results`: {id: {name: array | tensor} | Skip | Error} or (id, value)
    pairs. With sidecar=True the tensors go to <stem>.safetensors beside `path`, keyed c<line>.out.<name>.

        write_results("results.jsonl", {"c1": {"y": y_bits}, "c2": Skip("D > 256")}, sidecar=True)
    """
    items = results.items() if isinstance(results, Mapping) else results
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    side = os.path.join(folder, (stem if ext in (".jsonl", ".json", ".ndjson") else stem + ext) + ".safetensors")
    tmp, side_tmp, spool = (os.path.join(folder, f".{os.path.basename(p)}.{os.getpid()}{s}.tmp")
                            for p, s in ((path, ""), (side, ""), (side, ".data")))
    entries, seen = {}, set()
    try:
        with open(tmp, "wb") as out, (open(spool, "wb") if sidecar else contextlib.nullcontext()) as data:
            for ordinal, (cid, value) in enumerate(items):
                if type(cid) not in (str, int):
                    raise TypeError(f"result id {cid!r}: ids are strings or integers")
                if cid in seen:
                    raise ValueError(f"result id {cid!r} appears twice")
                seen.add(cid)
                head = b'{"id":' + json.dumps(cid).encode()
                if isinstance(value, Skip):
                    out.write(head + b',"skip":' + json.dumps(str(value.reason)).encode() + b"}\n")
                    continue
                if isinstance(value, Error):
                    out.write(head + b',"error":' + json.dumps({"code": str(value.code), "message": str(value.message)}).encode() + b"}\n")
                    continue
                if not isinstance(value, Mapping):
                    raise TypeError(f"result {cid!r}: expected a dict of tensors, Skip or Error, got {type(value).__name__}")
                out.write(head + b',"out":{')
                for i, (name, t) in enumerate(value.items()):
                    dtype, a = _wire(t, f"result {cid!r} tensor {name!r}")
                    meta = json.dumps(name) + ':{"dtype":"' + dtype + '","shape":' + json.dumps(list(a.shape))
                    out.write((("," if i else "") + meta).encode())
                    buf = memoryview(a.reshape(-1).view(np.uint8))
                    if sidecar:
                        key, begin = f"c{ordinal}.out.{name}", data.tell()
                        data.write(buf)
                        entries[key] = {"dtype": DTYPES[dtype][1], "shape": list(a.shape), "data_offsets": [begin, data.tell()]}
                        out.write(b',"file":' + json.dumps(os.path.basename(side)).encode() + b',"key":' + json.dumps(key).encode() + b"}")
                    else:
                        out.write(b',"b64":"')
                        for k in range(0, len(buf), _CHUNK):  # chunked: no second copy of a big tensor
                            out.write(base64.b64encode(buf[k:k + _CHUNK]))
                        out.write(b'"}')
                out.write(b"}}\n")
            _sync(out)
        if sidecar:
            header = json.dumps(entries).encode()
            header += b" " * (-(8 + len(header)) % 8)  # data starts 8-aligned
            with open(side_tmp, "wb") as f, open(spool, "rb") as data:
                f.write(struct.pack("<Q", len(header)) + header)
                shutil.copyfileobj(data, f, 16 << 20)
                _sync(f)
            os.replace(side_tmp, side)  # the sidecar first: a reader of the new JSONL finds its tensors
        os.replace(tmp, path)
    finally:
        for p in (tmp, side_tmp, spool):
            if os.path.exists(p):
                os.remove(p)


def _sync(f) -> None:
    f.flush()
    os.fsync(f.fileno())


# ------------------------------------------------------------------ pytest
def cases(path: str, ops: Union[str, List[str], None] = None) -> list:
    """pytest params, one per case, with ids "op:id":

        @pytest.mark.parametrize("case", anchor_oracle.cases("cases.jsonl", ops="rope.apply"))
        def test_rope(case): ...
    """
    import pytest
    return [pytest.param(c, id=f"{c.op}:{c.id}") for c in read_cases(path, ops)]


def parametrize_cases(path: str, ops: Union[str, List[str], None] = None, argname: str = "case"):
    """Decorator form of cases(): @parametrize_cases("cases.jsonl", ops="attention.") def test_attn(case): ..."""
    import pytest
    return pytest.mark.parametrize(argname, cases(path, ops))
