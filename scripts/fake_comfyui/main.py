"""A fake ComfyUI server for tests, in the Python standard library only.

It takes ComfyUI's command line (unknown flags exit 2, as argparse does), logs ComfyUI's real
startup lines to stderr, opens its port only after "importing" custom nodes, and serves the
routes a launcher uses: /system_stats, /object_info, /models, /prompt, /queue, /history,
/interrupt, /free, /features, /upload/image (counts the bytes it got) and the /ws websocket
(RFC 6455, written by hand). Every route is also served under /api. See
shared/research/comfyui.md section 1.

Environment knobs:
  FAKE_COMFYUI_DELAY            seconds before the port opens (default 0.5)
  FAKE_COMFYUI_CRASH            startup | after_ready | port_in_use | cuda_oom | missing_module |
                                import_error: die with ComfyUI's real error lines and exit code
  FAKE_COMFYUI_CRASH_AFTER      seconds after the first answered /system_stats (ready) at which
                                the crash happens; unset: during startup (after_ready: 0.5)
  FAKE_COMFYUI_MISSING_MODULE   module named by missing_module / import_error
  FAKE_COMFYUI_IGNORE_SIGTERM=1 ignore SIGTERM (tests the SIGKILL path)
  FAKE_COMFYUI_EXEC_SECONDS     how long a queued prompt "runs" (default 0.2)
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.dont_write_bytecode = True  # keep the checkout clean, like a git status after a run
import comfyui_version  # noqa: E402
from fake_models import LEGACY, list_models, model_dirs  # noqa: E402
from fake_ws import WebSocket  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg, level="INFO"):
    # ComfyUI logs to stderr unless --log-stdout, which sends records below ERROR to stdout.
    out = sys.stdout if (ARGS is not None and ARGS.log_stdout and level != "ERROR") else sys.stderr
    out.write(msg + "\n")
    out.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(prog="main.py")
    p.add_argument("--listen", type=str, default="127.0.0.1", nargs="?", const="0.0.0.0,::")
    p.add_argument("--port", type=int, default=8188)
    p.add_argument("--tls-keyfile", type=str)
    p.add_argument("--tls-certfile", type=str)
    p.add_argument("--enable-cors-header", type=str, nargs="?", const="*", default=None)
    p.add_argument("--max-upload-size", type=float, default=100)
    p.add_argument("--base-directory", type=str)
    p.add_argument("--extra-model-paths-config", type=str, nargs="+", action="append")
    p.add_argument("--output-directory", type=str)
    p.add_argument("--temp-directory", type=str)
    p.add_argument("--input-directory", type=str)
    p.add_argument("--user-directory", type=str)
    p.add_argument("--auto-launch", action="store_true")
    p.add_argument("--disable-auto-launch", action="store_true")
    p.add_argument("--cuda-device", type=int)
    p.add_argument("--default-device", type=int)
    vram = p.add_mutually_exclusive_group()
    for f in ("--gpu-only", "--highvram", "--normalvram", "--lowvram", "--novram", "--cpu"):
        vram.add_argument(f, action="store_true")
    p.add_argument("--reserve-vram", type=float)
    p.add_argument("--async-offload", action="store_true")
    p.add_argument("--fast", nargs="*")
    # Accepted and ignored: precision, attention and cache knobs of comfy/cli_args.py.
    for f in ("--disable-smart-memory", "--force-fp16", "--force-fp32", "--fp16-vae", "--fp32-vae",
              "--bf16-vae", "--cpu-vae", "--bf16-unet", "--fp16-unet", "--fp8_e4m3fn-unet",
              "--fp8_e5m2-unet", "--fp8_e4m3fn-text-enc", "--fp16-text-enc", "--use-sage-attention",
              "--use-flash-attention", "--use-pytorch-cross-attention", "--use-split-cross-attention",
              "--use-quad-cross-attention", "--disable-xformers", "--cache-classic", "--cache-none",
              "--disable-all-custom-nodes", "--disable-api-nodes", "--multi-user", "--log-stdout",
              "--dont-print-server", "--quick-test-for-ci", "--windows-standalone-build",
              "--disable-metadata", "--force-channels-last", "--deterministic", "--disable-ipex-optimize"):
        p.add_argument(f, action="store_true")
    p.add_argument("--cache-lru", type=int, default=0)
    p.add_argument("--whitelist-custom-nodes", nargs="*", default=[])
    p.add_argument("--preview-method", choices=["none", "auto", "latent2rgb", "taesd"], default="none")
    p.add_argument("--front-end-version", type=str)
    p.add_argument("--front-end-root", type=str)
    p.add_argument("--database-url", type=str)
    p.add_argument("--verbose", type=str, nargs="?", const="DEBUG", default="INFO")
    return p.parse_args(argv)


ARGS = None


# ---------------------------------------------------------------------------- nodes

CORE_NODES = {
    # class: (inputs {name: folder key or type}, outputs, output_node)
    "CheckpointLoaderSimple": ({"ckpt_name": "@checkpoints"}, ["MODEL", "CLIP", "VAE"], False),
    "LoraLoader": ({"model": "MODEL", "clip": "CLIP", "lora_name": "@loras", "strength_model": "FLOAT",
                    "strength_clip": "FLOAT"}, ["MODEL", "CLIP"], False),
    "VAELoader": ({"vae_name": "@vae"}, ["VAE"], False),
    "UNETLoader": ({"unet_name": "@diffusion_models"}, ["MODEL"], False),
    "CLIPLoader": ({"clip_name": "@text_encoders"}, ["CLIP"], False),
    "ControlNetLoader": ({"control_net_name": "@controlnet"}, ["CONTROL_NET"], False),
    "UpscaleModelLoader": ({"model_name": "@upscale_models"}, ["UPSCALE_MODEL"], False),
    "CLIPTextEncode": ({"text": "STRING", "clip": "CLIP"}, ["CONDITIONING"], False),
    "EmptyLatentImage": ({"width": "INT", "height": "INT", "batch_size": "INT"}, ["LATENT"], False),
    "KSampler": ({"model": "MODEL", "seed": "INT", "steps": "INT", "cfg": "FLOAT", "sampler_name": "STRING",
                  "scheduler": "STRING", "positive": "CONDITIONING", "negative": "CONDITIONING",
                  "latent_image": "LATENT", "denoise": "FLOAT"}, ["LATENT"], False),
    "VAEDecode": ({"samples": "LATENT", "vae": "VAE"}, ["IMAGE"], False),
    "SaveImage": ({"images": "IMAGE", "filename_prefix": "STRING"}, [], True),
    "PreviewImage": ({"images": "IMAGE"}, [], True),
}


def object_info(dirs, custom):
    info = {}
    for cls, (inputs, outputs, out_node) in CORE_NODES.items():
        req = {}
        for name, t in inputs.items():
            req[name] = [list_models(dirs, t[1:])] if t.startswith("@") else [t, {}]
        info[cls] = {"input": {"required": req}, "input_order": {"required": list(req)}, "output": outputs,
                     "output_is_list": [False] * len(outputs), "output_name": outputs, "name": cls,
                     "display_name": cls, "description": "", "python_module": "nodes", "category": "fake",
                     "output_node": out_node}
    for cls, (mod, obj) in custom.items():
        try:
            req = obj.INPUT_TYPES().get("required", {})
        except Exception:
            req = {}
        outs = list(getattr(obj, "RETURN_TYPES", ()))
        info[cls] = {"input": {"required": {k: list(v) for k, v in req.items()}}, "input_order": {"required": list(req)},
                     "output": outs, "output_is_list": [False] * len(outs), "output_name": outs, "name": cls,
                     "display_name": cls, "description": "", "python_module": "custom_nodes." + mod,
                     "category": getattr(obj, "CATEGORY", ""), "output_node": bool(getattr(obj, "OUTPUT_NODE", False))}
    return info


def load_custom_nodes(args, crash):
    """Import custom_nodes/*/__init__.py the way nodes.py:load_custom_node does, logging
    failures as ComfyUI does (the server still starts)."""
    import importlib.util
    base = os.path.join(args.base_directory or HERE, "custom_nodes")
    custom, times = {}, []
    if not args.disable_all_custom_nodes and os.path.isdir(base):
        for name in sorted(os.listdir(base)):
            path = os.path.join(base, name)
            init = os.path.join(path, "__init__.py")
            if not os.path.isfile(init) or name.startswith(".") or name == "__pycache__":
                continue
            t0 = time.time()
            try:
                spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[path])
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod
                spec.loader.exec_module(mod)
                for cls, obj in getattr(mod, "NODE_CLASS_MAPPINGS", {}).items():
                    custom[cls] = (name, obj)
                times.append((time.time() - t0, path, True))
            except Exception as e:
                log(traceback.format_exc().rstrip(), "WARNING")
                log("Cannot import %s module for custom nodes: %s" % (path, e), "WARNING")
                times.append((time.time() - t0, path, False))
    if crash == "import_error":
        mod = os.environ.get("FAKE_COMFYUI_MISSING_MODULE", "onnxruntime")
        path = os.path.join(base, "ComfyUI-Broken-Pack")
        log("Traceback (most recent call last):\n  File \"%s\", line 2131, in load_custom_node\n"
            "    module_spec.loader.exec_module(module)\n  File \"%s/__init__.py\", line 1, in <module>\n"
            "    import %s\nModuleNotFoundError: No module named '%s'\n" % (os.path.join(HERE, "nodes.py"), path, mod, mod), "WARNING")
        log("Cannot import %s module for custom nodes: No module named '%s'" % (path, mod), "WARNING")
        times.append((0.0, path, False))
    # Printed even without packs: real ComfyUI always has some (websocket_image_save.py).
    log("\nImport times for custom nodes:")
    for t, path, ok in times:
        log("   %.1f seconds%s: %s" % (t, "" if ok else " (IMPORT FAILED)", path))
    log("")
    return custom


# ---------------------------------------------------------------------------- crashes

def crash_lines(kind, args):
    mod = os.environ.get("FAKE_COMFYUI_MISSING_MODULE", "torchsde")
    tb = "Traceback (most recent call last):\n  File \"%s\", line 402, in <module>\n" % os.path.join(HERE, "main.py")
    if kind == "port_in_use":
        return 1, tb + ("  File \"/venv/lib/python3.11/site-packages/aiohttp/web_runner.py\", line 121, in start\n"
                        "    self._server = await loop.create_server(\n"
                        "OSError: [Errno 98] error while attempting to bind on address ('%s', %d): address already in use"
                        % (args.listen.split(",")[0], args.port))
    if kind == "cuda_oom":
        return 1, tb + ("  File \"/comfy/model_management.py\", line 1090, in load_models_gpu\n"
                        "    cur_loaded_model = loaded_model.model_load(lowvram_model_memory, force_patch_weights=force_patch_weights)\n"
                        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
                        "of 23.55 GiB of which 1.12 GiB is free. Of the allocated memory 20.91 GiB is allocated by PyTorch.")
    if kind == "missing_module":
        return 1, tb + ("  File \"%s\", line 1, in <module>\n    import %s\nModuleNotFoundError: No module named '%s'"
                        % (os.path.join(HERE, "comfy", "samplers.py"), mod, mod))
    if kind == "import_error":
        return 1, "Exception: custom node import failed and FAKE_COMFYUI_CRASH=import_error makes the fake exit"
    return 1, tb + "RuntimeError: fake ComfyUI crash (FAKE_COMFYUI_CRASH=%s)" % kind


def die(kind, args):
    code, text = crash_lines(kind, args)
    log(text, "ERROR")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ---------------------------------------------------------------------------- state

class State:
    def __init__(self, args, dirs, custom):
        self.args, self.dirs, self.custom = args, dirs, custom
        self.lock = threading.Lock()
        self.queue, self.history, self.number = [], {}, 0
        self.clients = {}  # sid -> WebSocket
        self.running = None

    def broadcast(self, msg, sid=None):
        with self.lock:
            targets = [self.clients[sid]] if sid in self.clients else ([] if sid else list(self.clients.values()))
        for ws in targets:
            try:
                ws.send_text(json.dumps(msg))
            except OSError:
                pass

    def status(self):
        with self.lock:
            n = len(self.queue) + (1 if self.running else 0)
        return {"exec_info": {"queue_remaining": n}}

    def worker(self):
        delay = float(os.environ.get("FAKE_COMFYUI_EXEC_SECONDS", "0.2"))
        while True:
            with self.lock:
                item = self.queue.pop(0) if self.queue else None
                self.running = item
            if item is None:
                time.sleep(0.05)
                continue
            number, pid, prompt, extra, outputs = item
            sid = extra.get("client_id")
            self.broadcast({"type": "status", "data": {"status": self.status()}})
            self.broadcast({"type": "execution_start", "data": {"prompt_id": pid, "timestamp": now_ms()}}, sid)
            self.broadcast({"type": "execution_cached", "data": {"nodes": [], "prompt_id": pid, "timestamp": now_ms()}}, sid)
            out = {}
            for node_id in prompt:
                self.broadcast({"type": "executing", "data": {"node": node_id, "display_node": node_id, "prompt_id": pid}}, sid)
                if prompt[node_id].get("class_type") == "KSampler":
                    steps = 4
                    for i in range(1, steps + 1):
                        time.sleep(delay / steps)
                        self.broadcast({"type": "progress", "data": {"value": i, "max": steps, "prompt_id": pid, "node": node_id}})
                if node_id in outputs:
                    images = [{"filename": "ComfyUI_%05d_.png" % number, "subfolder": "", "type": "output"}]
                    out[node_id] = {"images": images}
                    self.broadcast({"type": "executed", "data": {"node": node_id, "display_node": node_id,
                                                                 "output": {"images": images}, "prompt_id": pid}}, sid)
            with self.lock:
                self.history[pid] = {"prompt": list(item), "outputs": out,
                                     "status": {"status_str": "success", "completed": True,
                                                "messages": [["execution_start", {"prompt_id": pid}],
                                                             ["execution_success", {"prompt_id": pid}]]},
                                     "meta": {}}
                self.running = None
            self.broadcast({"type": "execution_success", "data": {"prompt_id": pid, "timestamp": now_ms()}}, sid)
            self.broadcast({"type": "executing", "data": {"node": None, "prompt_id": pid}}, sid)
            self.broadcast({"type": "status", "data": {"status": self.status()}})

    def validate(self, prompt):
        """Return (error, node_errors, outputs) like execution.py:validate_prompt."""
        info = object_info(self.dirs, self.custom)
        outputs, node_errors = [], {}
        for nid, node in prompt.items():
            cls = node.get("class_type") if isinstance(node, dict) else None
            if cls is None:
                return {"type": "invalid_prompt", "message": "Cannot execute because a node is missing the class_type property.",
                        "details": "Node ID '#%s'" % nid, "extra_info": {}}, {}, []
            if cls not in info:
                return {"type": "invalid_prompt", "message": "Cannot execute because node %s does not exist." % cls,
                        "details": "Node ID '#%s'" % nid, "extra_info": {}}, {}, []
            if info[cls]["output_node"]:
                outputs.append(nid)
            for name, spec in info[cls]["input"]["required"].items():
                if isinstance(spec[0], list):
                    val = node.get("inputs", {}).get(name)
                    if val not in spec[0]:
                        node_errors[nid] = {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                                        "details": "%s: '%s' not in %s" % (name, val, spec[0]),
                                                        "extra_info": {"input_name": name}}],
                                            "dependent_outputs": [], "class_type": cls}
        if not outputs:
            return {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}}, {}, []
        if node_errors:
            return {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                    "details": "", "extra_info": {}}, node_errors, []
        return None, {}, outputs


# SERVED_STATS is set once /system_stats has been answered (FAKE_COMFYUI_CRASH_AFTER counts from it).
SERVED_STATS = threading.Event()


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Python/aiohttp (fake ComfyUI)"
    state = None

    def log_message(self, fmt, *a):
        if ARGS.verbose == "DEBUG":
            log("%s - %s" % (self.address_string(), fmt % a), "DEBUG")

    def reply(self, code, body=None, ctype="application/json"):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if int(self.headers.get("Content-Length") or 0) and not getattr(self, "body_read", False):
            # The request body was never read: the next request on this keep-alive connection
            # would be parsed from its bytes, so end the connection as aiohttp does.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        self.body_read = True
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return None

    def route(self):
        u = urlparse(self.path)
        path = u.path[4:] if u.path.startswith("/api/") else u.path
        return path, parse_qs(u.query)

    def origin_forbidden(self):
        # server.py:create_origin_only_middleware: on loopback, Host and Origin must match.
        host, origin = self.headers.get("Host"), self.headers.get("Origin")
        if ARGS.enable_cors_header or not host or not origin:
            return False
        if not (host.startswith("127.0.0.1") or host.startswith("localhost") or host.startswith("[::1]")):
            return False
        return urlparse(origin).netloc != host

    def dispatch(self, method):
        self.body_read = False
        if self.origin_forbidden():
            return self.reply(403, b"", "text/plain")
        path, q = self.route()
        s = self.state
        if method in ("GET", "HEAD"):
            if path == "/":
                return self.reply(200, b"<html><body>fake ComfyUI %s</body></html>" % comfyui_version.__version__.encode(), "text/html")
            if path == "/system_stats":
                self.reply(200, system_stats(ARGS))
                SERVED_STATS.set()
                return
            if path == "/features":
                return self.reply(200, {"supports_preview_metadata": True, "max_upload_size": int(ARGS.max_upload_size * 1024 * 1024)})
            if path == "/object_info":
                return self.reply(200, object_info(s.dirs, s.custom))
            if path.startswith("/object_info/"):
                info = object_info(s.dirs, s.custom)
                cls = path[len("/object_info/"):]
                return self.reply(200, {cls: info[cls]} if cls in info else {})
            if path == "/models":
                return self.reply(200, sorted(s.dirs))
            if path.startswith("/models/"):
                key = LEGACY.get(path[8:], path[8:])
                return self.reply(200, list_models(s.dirs, key)) if key in s.dirs else self.reply(404, b"", "text/plain")
            if path == "/prompt":
                return self.reply(200, s.status())
            if path == "/queue":
                with s.lock:
                    return self.reply(200, {"queue_running": [list(s.running)] if s.running else [],
                                            "queue_pending": [list(i) for i in s.queue]})
            if path == "/history":
                with s.lock:
                    return self.reply(200, dict(s.history))
            if path.startswith("/history/"):
                pid = path[len("/history/"):]
                with s.lock:
                    return self.reply(200, {pid: s.history[pid]} if pid in s.history else {})
            if path == "/ws":
                return self.websocket(q)
        if method == "POST" and path == "/upload/image":
            # Like ComfyUI's upload route, minus the multipart parsing: count what arrived.
            self.body_read = True
            left, got = int(self.headers.get("Content-Length") or 0), 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                got += len(chunk)
                left -= len(chunk)
            return self.reply(200, {"name": "upload.png", "subfolder": "", "type": "input", "bytes": got})
        if method == "POST":
            body = self.body()
            if body is None:
                return self.reply(400, {"error": {"type": "invalid_json", "message": "Invalid JSON", "details": "", "extra_info": {}}, "node_errors": {}})
            if path == "/prompt":
                prompt = body.get("prompt")
                if not isinstance(prompt, dict):
                    return self.reply(400, {"error": {"type": "no_prompt", "message": "No prompt provided", "details": "", "extra_info": {}}, "node_errors": {}})
                err, node_errors, outputs = s.validate(prompt)
                if err:
                    return self.reply(400, {"error": err, "node_errors": node_errors})
                pid = body.get("prompt_id") or str(uuid.uuid4())
                extra = dict(body.get("extra_data") or {})
                if body.get("client_id"):
                    extra["client_id"] = body["client_id"]
                with s.lock:
                    s.number += 1
                    number = s.number
                    s.queue.append((number, pid, prompt, extra, outputs))
                s.broadcast({"type": "status", "data": {"status": s.status()}})
                return self.reply(200, {"prompt_id": pid, "number": number, "node_errors": {}})
            if path in ("/queue", "/history"):
                with s.lock:
                    target = s.queue if path == "/queue" else s.history
                    if body.get("clear"):
                        target.clear()
                    for pid in body.get("delete", []):
                        if path == "/queue":
                            s.queue[:] = [i for i in s.queue if i[1] != pid]
                        else:
                            s.history.pop(pid, None)
                return self.reply(200, b"", "text/plain")
            if path in ("/interrupt", "/free"):
                return self.reply(200, b"", "text/plain")
        return self.reply(404, b"404: Not Found", "text/plain")

    def websocket(self, q):
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            return self.reply(400, b"expected a websocket upgrade", "text/plain")
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", WebSocket.accept_key(key))
        self.end_headers()
        self.wfile.flush()
        ws = WebSocket(self)
        sid = (q.get("clientId") or [uuid.uuid4().hex])[0]
        with self.state.lock:
            self.state.clients[sid] = ws
        try:
            ws.send_text(json.dumps({"type": "status", "data": {"status": self.state.status(), "sid": sid}}))
            while True:
                op, data = ws.recv()
                if op is None or op == 0x8:
                    try:
                        ws.send(0x8, data[:2])
                    except OSError:
                        pass
                    return
                if op == 0x9:
                    ws.send(0xA, data)
                elif op == 0x1:
                    try:
                        msg = json.loads(data)
                    except ValueError:
                        msg = None
                    if isinstance(msg, dict) and msg.get("type") == "feature_flags":
                        ws.send_text(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
                    else:
                        ws.send(0x1, data)  # echo, for proxy tests
                elif op == 0x2:
                    ws.send(0x2, data)
        except OSError:
            pass
        finally:
            with self.state.lock:
                self.state.clients.pop(sid, None)
            self.close_connection = True

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_OPTIONS(self):
        self.reply(200, b"", "text/plain")


def visible_devices(args):
    if args.cpu:
        return [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0, "vram_free": 0,
                 "torch_vram_total": 0, "torch_vram_free": 0}]
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i for i in env.split(",") if i.strip()] if env is not None else ["0"]
    total = 24 * 1024 ** 3
    return [{"name": "cuda:%d NVIDIA Fake GPU %s : cudaMallocAsync" % (n, dev), "type": "cuda", "index": n,
             "vram_total": total, "vram_free": total - 512 * 1024 ** 2, "torch_vram_total": 0, "torch_vram_free": 0}
            for n, dev in enumerate(ids)]


def system_stats(args):
    return {"system": {"os": os.name, "ram_total": 64 * 1024 ** 3, "ram_free": 48 * 1024 ** 3,
                       "comfyui_version": comfyui_version.__version__, "required_frontend_version": "1.23.4",
                       "installed_templates_version": "0.1.0", "required_templates_version": "0.1.0",
                       "python_version": sys.version, "pytorch_version": "2.5.1+cu124 (fake)",
                       "embedded_python": False, "argv": sys.argv},
            "devices": visible_devices(args)}


def main():
    global ARGS
    ARGS = args = parse_args(sys.argv[1:])
    if os.environ.get("FAKE_COMFYUI_IGNORE_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.cuda_device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.cuda_device)
    crash = os.environ.get("FAKE_COMFYUI_CRASH", "")
    crash_after = os.environ.get("FAKE_COMFYUI_CRASH_AFTER")
    if crash == "after_ready" and crash_after is None:
        crash_after = "0.5"
    delay = float(os.environ.get("FAKE_COMFYUI_DELAY", "0.5"))

    log("Checkpoint files will always be loaded safely.")
    devs = visible_devices(args)
    log("Total VRAM %d MB, total RAM 65536 MB" % (devs[0]["vram_total"] // 1024 ** 2))
    log("pytorch version: 2.5.1+cu124 (fake)")
    log("Set vram state to: %s" % ("DISABLED" if args.cpu else "LOW_VRAM" if args.lowvram else "NORMAL_VRAM"))
    log("Device: %s" % ("cpu" if args.cpu else devs[0]["name"]))
    log("Using pytorch attention")
    log("Python version: %s" % sys.version.split()[0])
    log("ComfyUI version: %s" % comfyui_version.__version__)
    for d in (args.output_directory, args.input_directory):
        if d:
            os.makedirs(d, exist_ok=True)
    dirs = model_dirs(args, HERE, log)
    log("[Prompt Server] web root: %s" % os.path.join(HERE, "web"))
    time.sleep(delay)
    custom = load_custom_nodes(args, crash)
    if crash and crash != "after_ready" and crash != "port_in_use" and crash_after is None:
        die(crash, args)
    if crash == "port_in_use":
        die(crash, args)
    if args.quick_test_for_ci:
        sys.exit(0)

    Handler.state = State(args, dirs, custom)
    # FAKE_COMFYUI_READY_GATE holds the server back until that file exists, so a test can
    # act while ComfyUI is still starting.
    gate = os.environ.get("FAKE_COMFYUI_READY_GATE", "")
    while gate and not os.path.exists(gate):
        time.sleep(0.02)
    servers = []
    log("Starting server\n")
    for addr in args.listen.split(","):
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        cls = type("Server", (ThreadingHTTPServer,), {"address_family": fam, "daemon_threads": True,
                                                       "allow_reuse_address": True})
        try:
            servers.append(cls((addr, args.port), Handler))
        except OSError as e:
            # aiohttp's site.start() raises the same OSError and nothing catches it.
            log("Traceback (most recent call last):\n  File \"%s\", line 402, in <module>\n"
                "OSError: [Errno %d] error while attempting to bind on address ('%s', %d): %s"
                % (os.path.join(HERE, "main.py"), e.errno or 98, addr, args.port,
                   (e.strerror or "address already in use").lower()), "ERROR")
            os._exit(1)
    if not args.dont_print_server:
        for addr in args.listen.split(","):
            host = "127.0.0.1" if addr in ("0.0.0.0", "::") else addr
            log("To see the GUI go to: http://%s:%d" % (host if ":" not in host else "[%s]" % host, args.port))
    threading.Thread(target=Handler.state.worker, daemon=True).start()
    if crash and crash_after is not None:
        def later():
            # Counted from the first answered /system_stats, the supervisor's readiness probe:
            # "crash after ready" holds however slowly a loaded machine got there.
            SERVED_STATS.wait()
            time.sleep(float(crash_after))
            die("startup" if crash == "after_ready" else crash, args)
        threading.Thread(target=later, daemon=True).start()
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        log("\nStopped server")


if __name__ == "__main__":
    main()
