// Command bigworkflow prints a POST /api/import_project body whose workflow is the shared
// corpus merged to at least -size bytes (workflowtest.Merged), for scripts/bench/import.sh.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"
)

func main() {
	dir := flag.String("corpus", "../shared/corpus/workflows", "the corpus' workflows folder")
	size := flag.Int("size", 4<<20, "least size of the workflow in bytes")
	name := flag.String("name", "big import", "project name")
	flag.Parse()
	wf, err := workflowtest.Merged(*dir, *size)
	if err == nil {
		wf, err = workflowtest.ImportBody(*name, wf)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigworkflow:", err)
		os.Exit(1)
	}
	os.Stdout.Write(wf)
}
