// Package extension is the agent's one registry of extensions: the only way the agent finds a
// workflow parser, a model source or a recovery strategy. Built-ins, WASM modules and
// go-plugin plugins all register here, under one id scheme ("builtin.<name>", "wasm.<name>",
// "plugin.<name>"), with one lifecycle and one set of rules.
//
// # Lifecycle
//
// Construct (no side effects) → decode config strictly → provision → validate → use → close.
// A transport (Opener) does the first four inside Open; Registry.Load verifies the file's
// sha256 before Open runs anything. Built-ins are constructed by the subsystem that owns them
// (their config is launcher.toml's own strictly decoded sections) and added with Register,
// which runs Provisioner and Validator when the value implements them. Registry.Close closes
// every extension in reverse order of registration.
//
// # Rules
//
//   - Ids are unique. Registering an id that is already present is refused with ErrConflict
//     and the first registration stays: a later extension can never silently replace an
//     earlier one (nor a built-in).
//   - Order. Each capability is asked in an order. Without configuration, extensions from
//     [[extensions]] come first, in the order they are declared, then the built-ins in their
//     built-in order. A configured order ([workflow] parsers, [sources] order, [recovery]
//     strategies) is exhaustive: exactly those ids, in that order; built-ins may be named
//     without the "builtin." prefix. An id in an order that is not loaded is skipped and shown
//     as a health warning.
//   - Who wins. Parsers chain: each adds what it recognises, and the first to report a model
//     keeps it (later ones only add details). Sources: the first source that claims a
//     reference resolves it; suggestions from all sources are merged. Strategies: the first
//     that does not answer "not mine" decides.
//   - Containment. A failing extension never stops the agent: a load failure leaves it
//     `failed` with the reason (health turns degraded, a log line names it); a failing call
//     counts as an error in its statistics, records the last error, and the next extension is
//     asked.
package extension
