// Package bind connects the project manager to the agent's other packages: the model store,
// the workflow importer and the process supervisor. It lives apart from package project so
// that the lifecycle code and its unit tests build on small interfaces of their own.
package bind

import "github.com/comfylauncher/launcher/agent/internal/project"

// RecoveryOps is project.RecoveryOps (install operations on the durable recovery runner),
// named here with the other adapters the app wires.
type RecoveryOps = project.RecoveryOps
