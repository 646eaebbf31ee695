"""Model folders of the fake ComfyUI: folder_paths.py's default folders, the YAML subset of
extra_model_paths.yaml, and recursive listing as the loader nodes' COMBO lists show it."""

import os

MODEL_EXTS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf")
FOLDERS = {
    "checkpoints": ["checkpoints"], "configs": ["configs"], "loras": ["loras"], "vae": ["vae"],
    "text_encoders": ["text_encoders", "clip"], "diffusion_models": ["unet", "diffusion_models"],
    "clip_vision": ["clip_vision"], "style_models": ["style_models"], "embeddings": ["embeddings"],
    "diffusers": ["diffusers"], "vae_approx": ["vae_approx"], "controlnet": ["controlnet", "t2i_adapter"],
    "gligen": ["gligen"], "upscale_models": ["upscale_models"], "hypernetworks": ["hypernetworks"],
    "photomaker": ["photomaker"], "classifiers": ["classifiers"],
}
LEGACY = {"clip": "text_encoders", "unet": "diffusion_models"}


def parse_extra_paths(path):
    """Parse the YAML subset of extra_model_paths.yaml: sections of `key: value` pairs, with
    `key: |` blocks of one path per line."""
    sections, cur, block_key, block_indent = {}, None, None, 0
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            stripped = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
            if not stripped.strip():
                continue
            indent = len(stripped) - len(stripped.lstrip())
            if block_key is not None and indent > block_indent:
                cur[block_key] += "\n" + stripped.strip()
                continue
            block_key = None
            key, _, val = stripped.strip().partition(":")
            val = val.strip().strip("'\"")
            if indent == 0:
                cur = sections.setdefault(key, {})
            elif cur is not None:
                if val in ("|", ">"):
                    cur[key], block_key, block_indent = "", key, indent
                else:
                    cur[key] = val
    return sections


def model_dirs(args, here, log):
    """Map folder keys to directories: <base>/models/... first, then the extra paths files
    (<here>/extra_model_paths.yaml if present, then each --extra-model-paths-config)."""
    base = args.base_directory or here
    dirs = {k: [os.path.join(base, "models", d) for d in v] for k, v in FOLDERS.items()}
    configs = []
    default_yaml = os.path.join(here, "extra_model_paths.yaml")
    if os.path.exists(default_yaml):
        configs.append(default_yaml)
    for group in args.extra_model_paths_config or []:
        configs.extend(group)
    for cfg in configs:
        for name, sec in parse_extra_paths(cfg).items():
            root = os.path.dirname(os.path.abspath(cfg))
            bp = sec.get("base_path")
            if bp:
                bp = os.path.expandvars(os.path.expanduser(bp))
                root = bp if os.path.isabs(bp) else os.path.join(root, bp)
            first = str(sec.get("is_default", "")).lower() == "true"
            for key, val in sec.items():
                if key in ("base_path", "is_default"):
                    continue
                key = LEGACY.get(key, key)
                for line in val.split("\n"):
                    line = line.strip()
                    if not line:
                        continue
                    full = os.path.normpath(os.path.join(root, os.path.expandvars(os.path.expanduser(line))))
                    log("Adding extra search path %s %s" % (key, full))
                    lst = dirs.setdefault(key, [])
                    lst.insert(0, full) if first else lst.append(full)
    return dirs


def list_models(dirs, key):
    out = set()
    for d in dirs.get(key, []):
        for root, _, files in os.walk(d, followlinks=True):
            for f in files:
                if key == "configs" and not f.endswith(".yaml"):
                    continue
                if key != "configs" and not f.endswith(MODEL_EXTS):
                    continue
                out.add(os.path.relpath(os.path.join(root, f), d))
    return sorted(out)
