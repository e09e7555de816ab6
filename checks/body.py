"""A response body, decoded under a hard cap whatever its content encodings.

httpx inflates each network chunk in one call, so `Content-Encoding: gzip, gzip`
on a few hundred bytes becomes hundreds of megabytes before any cap can act.
Here every layer inflates at most what the next one asks for, so the memory a
sample takes is bounded by the cap, not by what the server claims.
"""

from __future__ import annotations

import codecs
import zlib

# Layers we decode; anything else (br, zstd, compress…) is kept as the raw bytes.
_ZLIB_FORMATS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": 0}
MAX_LAYERS = 4
_STEP = 16 * 1024  # what one layer asks of the layer below it at a time


class DecodeError(ValueError):
    """The body is not what its Content-Encoding says (corrupt or truncated)."""


class _Inflater:
    """One zlib layer that never returns more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        self._wbits = _ZLIB_FORMATS[encoding]
        self._raw_deflate = False
        self._object = self._new()
        self._started = False
        self.pending = b""

    def _new(self) -> zlib._Decompress:
        if self._wbits:
            return zlib.decompressobj(self._wbits)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    @property
    def eof(self) -> bool:
        return self._object.eof

    def inflate(self, limit: int) -> bytes:
        """Up to `limit` bytes from what is pending (and what zlib still holds)."""
        if self._object.eof:
            self.pending = b""
            return b""
        try:
            out = self._object.decompress(self.pending, limit)
        except zlib.error as exc:
            # `deflate` is sent both zlib-wrapped (as the RFC says) and raw (as IIS did).
            if self._wbits or self._started or self._raw_deflate:
                raise DecodeError(f"the body is not valid {self._name()}: {exc}") from None
            self._raw_deflate = True
            self._object = self._new()
            return self.inflate(limit)
        self._started = self._started or bool(out)
        self.pending = self._object.unconsumed_tail
        return out

    def _name(self) -> str:
        return "gzip" if self._wbits else "deflate"


class BoundedDecoder:
    """Feed raw body bytes, get decoded bytes; never more than `cap` in all."""

    def __init__(self, encodings: list[str], cap: int) -> None:
        names = [e.strip().lower() for e in encodings if e.strip()]
        names = [n for n in names if n != "identity"]
        self.cap = cap
        self.produced = 0
        # Undecodable layers (unknown, or too many to be honest): the body stays as sent.
        self.decodes = bool(names) and len(names) <= MAX_LAYERS
        self.decodes = self.decodes and all(n in _ZLIB_FORMATS for n in names)
        self._layers = [_Inflater(n) for n in reversed(names)] if self.decodes else []

    @property
    def full(self) -> bool:
        return self.produced >= self.cap

    def feed(self, raw: bytes) -> bytes:
        """The decoded bytes `raw` adds, cut at the cap. Raises DecodeError."""
        if not self._layers:
            out = raw[: self.cap - self.produced]
            self.produced += len(out)
            return out
        self._layers[0].pending += raw
        parts: list[bytes] = []
        while not self.full:
            chunk = self._pull(len(self._layers) - 1, min(_STEP, self.cap - self.produced))
            if not chunk:
                break
            parts.append(chunk)
            self.produced += len(chunk)
        return b"".join(parts)

    def _pull(self, index: int, limit: int) -> bytes:
        """Up to `limit` bytes out of layer `index`, asking the layers below for input."""
        layer = self._layers[index]
        while True:
            out = layer.inflate(limit)
            if out or layer.eof:
                return out
            if index == 0:
                return b""  # the raw input is used up: wait for the next network chunk
            more = self._pull(index - 1, _STEP)
            if not more:
                return b""
            layer.pending += more


def text_of(body: bytes, charset: str | None) -> str:
    """The body as text in its declared charset; a bogus charset falls back to UTF-8."""
    if charset:
        try:
            info = codecs.lookup(charset)
            if getattr(info, "_is_text_encoding", True):
                return body.decode(info.name, errors="replace")
        except (LookupError, ValueError, UnicodeError, TypeError):
            pass
    return body.decode("utf-8", errors="replace")
