// Command makefixtures writes the test fixture repositories (projecttest.Build) as bare
// repositories for the demo and for manual runs, offline:
//
//	DEST/ComfyUI.git      the fake ComfyUI, branch master: v0.3.0, then v0.3.1
//	DEST/custom-node.git  a custom node pack, tag v1.0.0, whose install.py writes installed.marker
//
// Existing repositories in DEST are replaced. Run: go run ./agent/internal/project/projecttest/makefixtures DEST
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/comfylauncher/launcher/agent/internal/project/projecttest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: makefixtures DEST")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "makefixtures:", err)
		os.Exit(1)
	}
}

func run(dest string) error {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "makefixtures-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	f, err := projecttest.Build(work)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	for _, repo := range []string{f.ComfyUI, f.Node} {
		bare := filepath.Join(dest, filepath.Base(repo)+".git")
		if err := os.RemoveAll(bare); err != nil {
			return err
		}
		if _, err := projecttest.RunGit(dest, "clone", "-q", "--bare", repo, bare); err != nil {
			return err
		}
		head, err := projecttest.RunGit(bare, "rev-parse", "master")
		if err != nil {
			return err
		}
		fmt.Println(bare, head)
	}
	return nil
}
