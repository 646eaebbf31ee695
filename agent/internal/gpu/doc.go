// Package gpu discovers the machine's GPUs, pins projects to them by UUID and admits a project
// only when its estimated VRAM fits.
//
// Discovery goes through a Provider: nvidia-smi (the CSV query interface, run with a deadline),
// a fake described in launcher.toml for demos and tests, or none (ComfyUI gets --cpu). "auto"
// uses nvidia-smi when the binary is found and none otherwise. A missing, failing or hanging
// nvidia-smi never stops the agent: it becomes a health warning and GPU placements are refused
// with a clear error until it answers again.
//
// Placement. Each running project holds a reservation on one GPU. The room left on a GPU is
//
//	total - reserve headroom - foreign use - sum over placed projects of max(reserved, measured)
//
// where foreign use is what nvidia-smi reports as used minus what our projects' processes use.
// Counting max(reserved, measured) rather than both keeps a running project from being counted
// twice once it has loaded its models, and still protects the room of a project that has been
// placed but has not allocated anything yet. "auto" picks the GPU with the most room after
// placement: ComfyUI keeps models resident while memory allows, so spare VRAM is speed.
//
// Measurement. nvidia-smi lists compute processes with their pid and memory. The supervisor
// binds each project to the process group it starts ComfyUI in (BindProcess); a compute
// process whose pgid is that group counts for the project. The peak seen is remembered and the
// next placement of that project reserves max(workflow estimate, measured peak).
//
// MIG: a GPU in MIG mode is reported (mig_mode "Enabled") but never used for placement, since
// CUDA sees only its MIG instances there and their memory is not queried yet.
package gpu
