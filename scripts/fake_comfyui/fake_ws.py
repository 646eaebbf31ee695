"""A minimal RFC 6455 websocket server side for the fake ComfyUI (stdlib only): the handshake
key, unmasking client frames, fragmented messages and unmasked server frames."""

import base64
import hashlib
import struct
import threading


class WebSocket:
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, handler):
        self.rfile, self.wfile = handler.rfile, handler.wfile
        self.wlock = threading.Lock()

    @classmethod
    def accept_key(cls, key):
        return base64.b64encode(hashlib.sha1((key + cls.GUID).encode()).digest()).decode()

    def send(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([n])
        elif n < 1 << 16:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self.wlock:
            self.wfile.write(head + payload)
            self.wfile.flush()

    def send_text(self, s):
        self.send(0x1, s.encode())

    def recv(self):
        """Return (opcode, payload) of the next complete message, or (None, b'') at EOF."""
        msg, first_op = b"", None
        while True:
            hdr = self.rfile.read(2)
            if len(hdr) < 2:
                return None, b""
            fin, op, masked, n = hdr[0] & 0x80, hdr[0] & 0x0F, hdr[1] & 0x80, hdr[1] & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if masked else b"\0\0\0\0"
            data = bytearray(self.rfile.read(n))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            if op >= 0x8:  # control frames may arrive between fragments
                return op, bytes(data)
            if first_op is None:
                first_op = op
            msg += bytes(data)
            if fin:
                return first_op, msg
