package extension

// The cmfy WASM ABI v1 (research/plugins.md §1.3): names and codes the host and the guest SDK
// share. Every capability export has the signature (input_len i32) -> status i32; the guest
// pulls its input with the host import input_read(ptr) and pushes its output with
// output_write(ptr, len).
const (
	// ABIVersion is the ABI major version; a module answering anything else is refused.
	ABIVersion = 1
	// ABIMinor is the additive revision this SDK implements.
	ABIMinor = 0

	ExportABIVersion = "cmfy_abi_version"
	ExportInit       = "cmfy_init"
	ExportParse      = "cmfy_workflow_parse"
	ExportResolve    = "cmfy_model_resolve"
	ExportClassify   = "cmfy_recovery_classify"

	// ImportModule is the host module the guest imports from.
	ImportModule      = "cmfy"
	ImportInputRead   = "input_read"
	ImportOutputWrite = "output_write"
	ImportLog         = "log"

	// StatusOK: the output holds the JSON result. StatusError: the output holds an Error.
	// Any other status, a trap, an exit or a deadline means the instance is dead.
	StatusOK    = 0
	StatusError = 1
)

// ExportFor returns the export that implements capability c.
func ExportFor(c Capability) string {
	switch c {
	case CapWorkflowParser:
		return ExportParse
	case CapModelSource:
		return ExportResolve
	case CapRecoveryStrategy:
		return ExportClassify
	}
	return ""
}
