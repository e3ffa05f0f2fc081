"""gguf_write.py - a small GGUF v3 writer (the format llama.cpp reads and
Ember's core/gguf.c reads): typed key/values, then F32/F16 tensors, each
aligned to 32 bytes. Shapes are given as torch shapes (row-major); GGUF
stores dimensions innermost first, so they are written reversed."""
import struct

import numpy as np

U32, I32, F32, BOOL, STR, ARR, U64 = 4, 5, 6, 7, 8, 9, 10
ALIGN = 32


def _s(b, s):
    e = s.encode("utf-8")
    b += struct.pack("<Q", len(e)) + e


def _val(b, t, v):
    if t == U32:
        b += struct.pack("<I", v)
    elif t == I32:
        b += struct.pack("<i", v)
    elif t == F32:
        b += struct.pack("<f", v)
    elif t == BOOL:
        b += struct.pack("<B", 1 if v else 0)
    elif t == STR:
        _s(b, v)
    elif t == U64:
        b += struct.pack("<Q", v)
    else:
        raise ValueError(t)


class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []

    def add(self, key, t, v, elem=None):
        self.kv.append((key, t, v, elem))

    def tensor(self, name, arr, f16=False):
        a = np.ascontiguousarray(arr, dtype=np.float16 if f16 else np.float32)
        self.tensors.append((name, a))

    def write(self, path):
        b = bytearray(b"GGUF")
        b += struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, t, v, elem in self.kv:
            _s(b, key)
            b += struct.pack("<I", t)
            if t == ARR:
                b += struct.pack("<IQ", elem, len(v))
                for x in v:
                    _val(b, elem, x)
            else:
                _val(b, t, v)
        off = 0
        for name, a in self.tensors:
            _s(b, name)
            dims = list(reversed(a.shape))
            b += struct.pack("<I", len(dims))
            for d in dims:
                b += struct.pack("<Q", d)
            b += struct.pack("<IQ", 1 if a.dtype == np.float16 else 0, off)
            off += (a.nbytes + ALIGN - 1) // ALIGN * ALIGN
        b += bytes((-len(b)) % ALIGN)
        for name, a in self.tensors:
            b += a.tobytes()
            b += bytes((-a.nbytes) % ALIGN)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b)
        import os
        os.replace(tmp, path)
