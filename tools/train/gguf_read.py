"""gguf_read.py - a small GGUF v2/v3 reader in numpy, for the Python references.

Reads the key/value metadata (scalars, strings, arrays of either) and the tensor
directory, and dequantizes tensors of types F32, F16, BF16, Q8_0 and Q4_0 to
float32. Written from the GGUF specification (ggml's docs/gguf.md) and the
published block layouts:
    Q8_0: 32 values = fp16 d, int8 q[32];                 value = d * q
    Q4_0: 32 values = fp16 d, 16 bytes: byte j holds value j in its low nibble
          and value j + 16 in its high nibble;             value = d * (nib - 8)
A tensor with GGUF dims ne = [ne0, ne1, ...] (ne0 contiguous) comes back as a
numpy array of shape ne[::-1], so a torch Linear weight stored as ne [in, out]
is returned as [out][in], ready for x @ w.T.

    g = GGUF("model.gguf")
    g.kv["llama.embedding_length"], g.tensor("token_embd.weight")
"""
import struct

import numpy as np

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
TYPE_NAMES = {GGML_F32: "f32", GGML_F16: "f16", GGML_Q4_0: "q4_0", GGML_Q8_0: "q8_0", GGML_BF16: "bf16"}
# (values per block, bytes per block)
_BLOCK = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2), GGML_Q8_0: (32, 34), GGML_Q4_0: (32, 18)}

# GGUF value types: id -> struct format of a scalar
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NP = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8", 11: "<i8", 12: "<f8"}
T_STRING, T_ARRAY = 8, 9


class GGUFError(Exception):
    pass


class Tensor:
    def __init__(self, name, ne, ttype, offset):
        self.name, self.ne, self.type, self.offset = name, ne, ttype, offset

    @property
    def shape(self):
        return tuple(reversed(self.ne))

    def nbytes(self):
        if self.type not in _BLOCK:
            raise GGUFError(f"{self.name}: tensor type {self.type} not supported by this reader")
        per, size = _BLOCK[self.type]
        n = int(np.prod(self.ne))
        if self.ne[0] % per:
            raise GGUFError(f"{self.name}: row of {self.ne[0]} values is not a multiple of the block {per}")
        return n // per * size


class GGUF:
    """A GGUF file read into memory: .kv (dict), .kv_types (key -> value type,
    ("array", element type) for arrays), .tensors (name -> Tensor, file order)."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        magic = self._take(4)
        if magic != b"GGUF":
            raise GGUFError(f"{path}: not a GGUF file (magic {magic!r})")
        self.version = self._scalar("<I")
        if self.version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {self.version}, expected 2 or 3")
        n_tensors, n_kv = self._scalar("<Q"), self._scalar("<Q")
        self.kv, self.kv_types = {}, {}
        for _ in range(n_kv):
            key = self._string().decode("utf-8")
            vtype = self._scalar("<I")
            self.kv[key], self.kv_types[key] = self._value(vtype)
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._string().decode("utf-8")
            n_dims = self._scalar("<I")
            if not 1 <= n_dims <= 4:
                raise GGUFError(f"{path}: tensor {name}: {n_dims} dims")
            ne = [self._scalar("<Q") for _ in range(n_dims)]
            ttype, offset = self._scalar("<I"), self._scalar("<Q")
            self.tensors[name] = Tensor(name, ne, ttype, offset)
        align = self.kv.get("general.alignment", 32)
        self.data_start = (self.pos + align - 1) // align * align
        for t in self.tensors.values():
            if t.type in _BLOCK and self.data_start + t.offset + t.nbytes() > len(self.buf):
                raise GGUFError(f"{path}: tensor {t.name}: data past the end of the file")

    # ---- parsing
    def _take(self, n):
        if self.pos + n > len(self.buf):
            raise GGUFError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more)")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _scalar(self, fmt):
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _string(self):
        return self._take(self._scalar("<Q"))

    def _value(self, vtype):
        if vtype in _SCALAR:
            return self._scalar(_SCALAR[vtype]), vtype
        if vtype == T_STRING:
            b = self._string()
            try:
                return b.decode("utf-8"), vtype
            except UnicodeDecodeError:
                return b, vtype
        if vtype == T_ARRAY:
            etype, n = self._scalar("<I"), self._scalar("<Q")
            if etype == T_STRING:
                return [self._string() for _ in range(n)], ("array", etype)
            if etype not in _NP:
                raise GGUFError(f"{self.path}: array of value type {etype}")
            dt = np.dtype(_NP[etype])
            a = np.frombuffer(self._take(n * dt.itemsize), dtype=dt).copy()
            return (a.astype(bool) if etype == 7 else a), ("array", etype)
        raise GGUFError(f"{self.path}: value type {vtype} unknown")

    # ---- access
    def tokens(self):
        """The vocabulary's token strings as bytes (tokenizer.ggml.tokens)."""
        return self.kv["tokenizer.ggml.tokens"]

    def raw(self, name):
        t = self.tensors[name]
        start = self.data_start + t.offset
        return t, np.frombuffer(self.buf, dtype=np.uint8, count=t.nbytes(), offset=start)

    def tensor(self, name):
        """The tensor as float32, shape ne[::-1]."""
        if name not in self.tensors:
            raise GGUFError(f"{self.path}: no tensor {name}")
        t, b = self.raw(name)
        return dequantize(b, t.type, int(np.prod(t.ne)), t.name).reshape(t.shape)

    def type_of(self, name):
        return self.tensors[name].type


def dequantize(b, ttype, n, name="tensor"):
    """n values of type ttype from the bytes b, as float32."""
    if ttype == GGML_F32:
        return b.view("<f4").astype(np.float32)
    if ttype == GGML_F16:
        return b.view("<f2").astype(np.float32)
    if ttype == GGML_BF16:
        return (b.view("<u2").astype(np.uint32) << 16).view(np.float32)
    if ttype == GGML_Q8_0:
        blk = b.reshape(-1, 34)
        d = blk[:, :2].copy().view("<f2").astype(np.float32)            # [nb, 1]
        q = blk[:, 2:].copy().view(np.int8).astype(np.float32)          # [nb, 32]
        return (d * q).reshape(-1)
    if ttype == GGML_Q4_0:
        blk = b.reshape(-1, 18)
        d = blk[:, :2].copy().view("<f2").astype(np.float32)
        qs = blk[:, 2:]
        lo = (qs & 0x0F).astype(np.float32) - 8
        hi = (qs >> 4).astype(np.float32) - 8
        return (d * np.concatenate([lo, hi], axis=1)).reshape(-1)
    raise GGUFError(f"{name}: tensor type {ttype} not supported by this reader")
