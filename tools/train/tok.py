"""tok.py - the default model's byte-level BPE tokenizer: trained here on the
domain's text, applied exactly as Ember and llama.cpp apply a GGUF "gpt2"
vocabulary with tokenizer.ggml.pre = "smollm":

  1. special tokens (<|im_start|>, ...) are cut out of the text first;
  2. pre-tokenization: every digit is its own piece, then the GPT-2 regex
     splits the rest (its matches and the gaps between them are pieces);
  3. each piece's UTF-8 bytes, in GPT-2's byte-to-character mapping, are
     merged by rank (lowest first) until no merge applies.

The domain text is ASCII (checked), so the regex's \\p{L} and \\p{N} are
[A-Za-z] and [0-9]. tests/test_default_model.sh holds this tokenizer to
Ember's on every item of a held-out split.
"""
import collections
import re

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>",
            "<image>", "<global-img>", "<row_1_col_1>"]
GPT2_RE = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)")
DIGIT_RE = re.compile(r"[0-9]")


def _byte_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHAR = _byte_chars()
SPACE = BYTE_CHAR[ord(" ")]


def _split(regex, text):
    out, pos = [], 0
    for m in regex.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(m.group())
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def pretokenize(text):
    if not text.isascii():
        raise ValueError("non-ASCII text: %r" % text[:60])
    pieces = []
    for p in _split(DIGIT_RE, text):
        pieces.extend(_split(GPT2_RE, p))
    return pieces


def to_chars(piece):
    return "".join(BYTE_CHAR[b] for b in piece.encode("utf-8"))


def train(texts, vocab_size, forced=("\n\n",), bare_words=True):
    """BPE merges over the pre-tokenized pieces of texts (each a string
    without specials) until vocab_size tokens (bytes + merges + specials).

    bare_words: never merge the space (Ġ) into a following letter, so " white"
    is Ġ + "white", the very token the object id "white_cylinder" starts
    with. With GPT-2's usual merges the instruction's " white" and the id's
    "white" are unrelated tokens, and a model of this size did not learn to
    map one to the other (teacher-forced, it wrote the same colour for every
    plan); with bare words, writing a plan is copying tokens it has seen
    (needed, not enough alone: see --copy-weight in train.py).
    The pre-tokenizer is unchanged (llama.cpp's), so Ember and llama.cpp
    apply the merges as before; prompts get ~25% longer."""
    words = collections.Counter()
    for t in texts:
        for p in pretokenize(t):
            words[to_chars(p)] += 1
    seqs = {w: list(w) for w in words}
    merges = []
    # forced merges first (the image layout needs "\n\n" as one token)
    for f in forced:
        c = to_chars(f)
        assert len(c) == 2
        merges.append((c[0], c[1]))
        for w, s in seqs.items():
            seqs[w] = _apply(s, c[0], c[1])
    n_target = vocab_size - 256 - len(SPECIALS)
    while len(merges) < n_target:
        pairs = collections.Counter()
        for w, s in seqs.items():
            f = words[w]
            for a, b in zip(s, s[1:]):
                if not (bare_words and a == SPACE and b[0].isalpha()):
                    pairs[(a, b)] += f
        if not pairs:
            break
        (a, b), cnt = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if cnt < 2:
            break
        merges.append((a, b))
        for w, s in seqs.items():
            if len(s) > 1:
                seqs[w] = _apply(s, a, b)
    tokens = [BYTE_CHAR[b] for b in range(256)] + [a + b for a, b in merges]
    # a merge result may repeat an existing token: keep ids unique
    seen, uniq = set(), []
    for t in tokens:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    return Tokenizer(uniq + SPECIALS, merges)


def _apply(s, a, b):
    out, i = [], 0
    while i < len(s):
        if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(s[i])
            i += 1
    return out


class Tokenizer:
    def __init__(self, tokens, merges):
        self.tokens = tokens
        self.merges = merges
        self.id = {t: i for i, t in enumerate(tokens)}
        self.rank = {m: i for i, m in enumerate(merges)}
        self.special = {s: self.id[s] for s in SPECIALS}
        self.special_re = re.compile("|".join(re.escape(s) for s in SPECIALS))
        self.cache = {}

    def _bpe(self, chars):
        s = list(chars)
        while len(s) > 1:
            best, bi = None, -1
            for i in range(len(s) - 1):
                r = self.rank.get((s[i], s[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            s[bi:bi + 2] = [s[bi] + s[bi + 1]]
        return [self.id[t] for t in s]

    def encode_text(self, text):
        """Text without specials -> ids."""
        out = []
        for p in pretokenize(text):
            ids = self.cache.get(p)
            if ids is None:
                ids = self.cache[p] = self._bpe(to_chars(p))
            out.extend(ids)
        return out

    def encode(self, text):
        """Text with specials parsed -> ids."""
        out, pos = [], 0
        for m in self.special_re.finditer(text):
            if m.start() > pos:
                out.extend(self.encode_text(text[pos:m.start()]))
            out.append(self.special[m.group()])
            pos = m.end()
        if pos < len(text):
            out.extend(self.encode_text(text[pos:]))
        return out

    def decode(self, ids):
        inv = {c: b for b, c in BYTE_CHAR.items()}
        bs = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t in self.special:
                bs.extend(t.encode())
            else:
                bs.extend(inv[c] for c in t)
        return bs.decode("utf-8", errors="replace")

    def to_json(self):
        return {"tokens": self.tokens, "merges": [a + " " + b for a, b in self.merges]}

    @staticmethod
    def from_json(d):
        return Tokenizer(d["tokens"], [tuple(m.split(" ")) for m in d["merges"]])
