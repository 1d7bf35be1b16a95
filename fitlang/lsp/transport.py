"""What the server does with malformed messages: answer every request, never go deaf.

pygls reads the `Content-Length` framing and the JSON-RPC messages; two things are added
around it, with pygls' own types:

- `FitProtocol`: a request whose params do not fit its method (a hover whose `position` is
  `"nope"`) gets an InvalidParams (-32602) error response for its id; pygls alone logs it and
  never answers. A body that is no JSON gets a ParseError (-32700) response with a null id,
  as JSON-RPC asks (its id is unknowable).
- `FramedInput`: the stdin pygls reads from. A wrong `Content-Length` would leave pygls
  reading the rest of one message as headers and swallowing every message after it (a body
  has no newline, so the next header is glued to it). Here a body is cut where the next
  message's header starts, and a header line keeps only the header at its end, so that the
  next message is read again.
"""

from __future__ import annotations

import json
import os
import re

from pygls.exceptions import JsonRpcException, JsonRpcParseError
from pygls.protocol import LanguageServerProtocol

# A message header inside the bytes read as a body: `\r\n` cannot occur raw in a JSON body
# (strings escape it), so this is where the next message starts.
_NEXT_HEADER = re.compile(rb"Content-Length: *\d+\r\n")
_CHUNK = 1 << 16


class _Answered:
    """A request already answered with an error: nothing more to do with it."""

    jsonrpc = None


ANSWERED = _Answered()


class FitProtocol(LanguageServerProtocol):
    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)):
                self._send_response(data["id"], error=error.to_response_error())
                return ANSWERED
            raise

    def handle_message(self, message) -> None:
        if message is ANSWERED:
            return
        super().handle_message(message)


def answer_parse_error(protocol: LanguageServerProtocol, error: Exception) -> bool:
    """Answer a body that is no JSON (JSON-RPC: a ParseError with a null id)."""
    if not isinstance(error, json.JSONDecodeError):
        return False
    # JSON-RPC answers a body it cannot read with a null id; pygls types the id as never null
    protocol._send_response(None, error=  # type: ignore[arg-type]
                            JsonRpcParseError(f"Parse Error: {error}").to_response_error())
    return True


class FramedInput:
    """stdin as pygls reads it (`readline`, `read`), resynchronised after a bad length."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.at_end = False

    def _fill(self) -> bool:
        if self.at_end:
            return False
        chunk = os.read(self.fd, _CHUNK)
        if not chunk:
            self.at_end = True
            return False
        self.buffer += chunk
        return True

    def _take(self, size: int) -> bytes:
        taken = bytes(self.buffer[:size])
        del self.buffer[:size]
        return taken

    def readline(self) -> bytes:
        while (end := self.buffer.find(b"\n")) < 0:
            if not self._fill():
                return self._take(len(self.buffer))
        line = self._take(end + 1)
        header = line.find(b"Content-Length:")
        # the tail of a body whose length was given too short, then the next header
        return line[header:] if header > 0 else line

    def read(self, size: int) -> bytes:
        while True:
            following = _NEXT_HEADER.search(self.buffer, 0, size)
            if following is not None:  # the length given runs into the next message
                return self._take(following.start())
            if len(self.buffer) >= size:
                return self._take(size)
            if self._is_whole_json():  # too long a length, and no message after it yet
                return self._take(len(self.buffer))
            if not self._fill():
                return self._take(len(self.buffer))

    def _is_whole_json(self) -> bool:
        if not self.buffer.rstrip().endswith(b"}"):
            return False
        try:
            json.loads(self.buffer)
        except ValueError:
            return False
        return True
