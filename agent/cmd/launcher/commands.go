package main

func init() {
	extraCommands["model"] = command{runModelCmd, "ls|pull|rm|dedupe: manage the shared model store"}
	extraCommands["workflow"] = command{runWorkflowCmd, "inspect a workflow file: models, node packs, VRAM, type"}
}
