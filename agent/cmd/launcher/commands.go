package main

func init() {
	extraCommands["workflow"] = command{runWorkflowCmd, "inspect a workflow file: models, node packs, VRAM, type"}
}
