// Package workflow reads ComfyUI workflows in every format seen in the wild (UI graphs with
// subgraphs and group nodes, API prompts, and the wrappers around them such as launcher.json,
// {"prompt": ...} and RunPod's {"input": {"workflow": ...}}) and turns them into Metadata: the
// nodes, the model files they load keyed by (folder, name), the custom node packs they need, an
// estimate of the VRAM they use and the kind of workflow they are.
//
// The pipeline is:
//
//	Decode (limits, format detection, unwrapping)  ->  Graph (flattened, active/inactive nodes)
//	  ->  parser chain (the extension registry's workflow parsers: extension parsers, then
//	      builtin.loaders, metadata, embeddings, urls, fallback) -> pack resolution (Manager data)
//	  ->  VRAM estimate and classification  ->  Metadata
//
// Model references come from data, not code: data/loaders.tsv maps loader node inputs to folder
// keys and data/folder_hints.tsv guesses folders for unknown nodes. Node packs are resolved with
// ComfyUI-Manager's data files, which the agent's one managerdata.Data downloads, caches and
// indexes (ManagerIndex wraps one version of its index); without them only core nodes are
// recognised and every other type is reported as unresolved, never guessed.
//
// Service adds the HTTP routes (POST /api/workflow/preview and /api/workflow/validate, which
// parse the request body once, and the /api/manager-data routes) and the
// logic behind the original launcher's POST /api/import_project (PrepareImport), which produces a
// LauncherJSON in the original ComfyUI-Launcher format.
//
// # VRAM estimate
//
// EstimateVRAM follows research/comfyui.md §4.2. Each model counts with its resident size: the
// local file (the safetensors header tells an fp32 file, which ComfyUI loads at half size), else
// the size a launcher.json, the Manager model list or a model source gives. A .ckpt checkpoint is
// counted at half its size (fp32 + EMA weights, loaded as fp16). LoRAs count fully (patch memory).
// The activation margin is ComfyUI's own formula, memory_required = 2*batch * latent area *
// 2 bytes * 0.01 * the family's memory_usage_factor MB, at the resolution, frame count and batch
// read from the Empty*Latent* nodes (1024x1024, batch 1 when there are none), plus 1.2 GB for
// the inference minimum and reserve. estimated_vram is the "comfortable" figure: every weight
// resident at once plus the activation margin, so a GPU of that size never swaps models; the
// detail also gives the minimum (the largest single stage) at which ComfyUI still runs by
// offloading.
package workflow
