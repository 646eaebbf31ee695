// Package bind connects the project manager to the agent's other packages: the model store,
// the workflow importer and the process supervisor. It lives apart from package project so
// that the lifecycle code and its unit tests build on small interfaces of their own.
package bind
