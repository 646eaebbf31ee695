package wasm

import "context"

// ctx is what handlers receive: a guest has no cancellation of its own (the host enforces the
// deadline by closing the instance).
var ctx = context.Background()
