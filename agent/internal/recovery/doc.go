// Package recovery turns long jobs (model downloads, project installs, custom-node setup) into
// durable operations: a Runner executes an operation's steps one at a time, persists every
// state change in the store's "ops" bucket before acting on it, classifies each failure
// (network, timeout, resource, permission, not_found, auth, integrity, cancelled, unknown),
// retries retryable classes with full-jitter backoff (honouring Retry-After), guards each
// (operation type, target host) with a circuit breaker, publishes recovery_update /
// recovery_completed / circuit_breaker_update events, and after a crash resumes every
// unfinished operation from its first incomplete step. It knows nothing of HTTP: package
// recoveryhttp serves its /api/recovery endpoints.
//
// # Adding an operation type
//
// A subsystem registers a Definition once, before Runner.Start, and submits operations by
// name. Steps must be idempotent: a step that was running when the agent died runs again
// (completed steps never do), so it should look at its checkpoint or at what is on disk.
//
//	r.Register(recovery.Definition{
//		Name:        "download_model",
//		MaxAttempts: 0, // 0: [recovery] max_attempts
//		// One breaker per host: a dead mirror does not block downloads from others.
//		Target: func(meta map[string]any) string {
//			u, _ := url.Parse(fmt.Sprint(meta["url"]))
//			return u.Host
//		},
//		Steps: []recovery.Step{
//			{Name: "fetch", Run: func(ctx context.Context, op *recovery.Op) error {
//				var url, dest string
//				_ = op.DecodeMeta("url", &url)
//				_ = op.DecodeMeta("destination", &dest)
//				var cp struct{ Offset int64 }
//				op.LoadCheckpoint(&cp) // where a killed attempt got to
//				resp, err := client.Do(req.WithContext(ctx))
//				if err != nil {
//					return err // classified: timeouts, resets, DNS ... are retried
//				}
//				if resp.StatusCode >= 400 {
//					// 404 fails at once, 401/403 is "auth", 429/503 honour Retry-After.
//					return recovery.HTTPError(resp.StatusCode, resp.Header, "download "+url)
//				}
//				// ... copy, calling op.Progress(pct, map[string]any{"current_file": dest})
//				// and op.SaveCheckpoint(cp) after each fsync ...
//				return nil
//			}},
//			{Name: "verify", Run: func(ctx context.Context, op *recovery.Op) error {
//				if sum != want {
//					return recovery.WithClass(recovery.ClassIntegrity, fmt.Errorf("sha256 mismatch"))
//				}
//				return nil
//			}},
//		},
//		OnTerminal: func(ctx context.Context, op recovery.Operation) { /* update the model index */ },
//	})
//	id, err := r.Submit(ctx, "download_model", map[string]any{"url": u, "destination": dest})
//	op, err := r.Wait(ctx, id) // or follow recovery_update events on events.OpTopic(id)
//
// A step returns an error to fail the attempt. WithClass forces a class, WithRetryAfter
// carries a server's hint, and subprocess failures (*exec.ExitError) are classified from
// their stderr ("No space left on device" is resource, "Could not resolve host" network).
// Steps must honour ctx: Cancel cancels it (exec.CommandContext kills the subprocess) and
// Stop cancels it at shutdown without marking the operation, which then resumes on the next
// Start.
//
// # Retry semantics
//
// Attempt counts the current step's attempts from 1 and is reset when a step completes. After
// a failure the recovery strategies of the extension registry decide, in order (extensions
// first, then builtin.policy, the per-class policy of [recovery.policy.<class>]; [recovery]
// strategies reorders them); the first that does not answer "not mine" decides. A retry sets state recovering,
// attempt+1 and re-runs the same step after the delay; reaching min(max_attempts, the class's
// max_attempts) ends in exhausted, a non-retryable class in failed.
//
// # Errors in API responses
//
// APIError turns any classified error into an *apierr.Error with the class's Suggestions, so
// every package answers with actionable text.
package recovery
