package workflow

import "github.com/comfylauncher/launcher/agent/internal/workflow/workflowtest"

// sharedCorpus is the team's shared corpus, a sibling of the repository.
var sharedCorpus, _ = workflowtest.Corpus("")
