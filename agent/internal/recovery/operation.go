package recovery

import (
	"encoding/json"
	"time"
)

// State is an operation's (or a step's) state.
type State string

// Operation states. Success, failed, exhausted and cancelled are terminal.
const (
	StatePending    State = "pending"
	StateInProgress State = "in_progress"
	StateRecovering State = "recovering"
	StateSuccess    State = "success"
	StateFailed     State = "failed"
	StateExhausted  State = "exhausted"
	StateCancelled  State = "cancelled"
)

// States lists every state.
var States = []State{StatePending, StateInProgress, StateRecovering, StateSuccess, StateFailed, StateExhausted, StateCancelled}

// Terminal reports whether s is a final state.
func (s State) Terminal() bool {
	switch s {
	case StateSuccess, StateFailed, StateExhausted, StateCancelled:
		return true
	}
	return false
}

// Active reports whether an operation in state s is queued, running or waiting to retry.
func (s State) Active() bool {
	return s == StatePending || s == StateInProgress || s == StateRecovering
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, k := range States {
		if k == s {
			return true
		}
	}
	return false
}

// Operation is the persisted record of one durable job; its JSON is the spec's operation
// object plus the extra fields below.
type Operation struct {
	ID           string         `json:"operation_id"`
	FunctionName string         `json:"function_name"`
	State        State          `json:"state"`
	Attempt      int            `json:"attempt"`
	MaxAttempts  int            `json:"max_attempts"`
	Error        string         `json:"error,omitempty"`
	ErrorClass   Class          `json:"error_class,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Metadata     map[string]any `json:"metadata"`
	Steps        []StepState    `json:"steps"`

	// CurrentStep indexes Steps: the first step not yet completed.
	CurrentStep int `json:"current_step"`
	// TotalAttempts counts step attempts across all steps and retries.
	TotalAttempts int `json:"total_attempts"`
	// Retries counts the retry attempts (attempts after a failure) of this run.
	Retries int `json:"retries"`
	// NextAttemptAt is when a recovering operation runs again.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// FirstFailureAt is when this run first failed; recovery time is measured from it.
	FirstFailureAt *time.Time `json:"first_failure_at,omitempty"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	// RetryID names the latest manual retry, empty before any.
	RetryID string `json:"retry_id,omitempty"`
	// Suggestions for the last error's class.
	Suggestions []string `json:"suggestions,omitempty"`
}

// StepState is the persisted state of one step.
type StepState struct {
	Name       string          `json:"name"`
	State      State           `json:"state"`
	Attempts   int             `json:"attempts"`
	Error      string          `json:"error,omitempty"`
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// clone copies o deeply enough that the copy can be marshalled while o keeps changing:
// metadata values and checkpoints are replaced, never mutated in place.
func (o Operation) clone() Operation {
	c := o
	c.Metadata = make(map[string]any, len(o.Metadata))
	for k, v := range o.Metadata {
		c.Metadata[k] = v
	}
	c.Steps = append([]StepState(nil), o.Steps...)
	c.Suggestions = append([]string(nil), o.Suggestions...)
	return c
}

// Filter selects operations in List. Zero fields match everything.
type Filter struct {
	States   []State
	Function string
	// Limit caps the result (newest first); 0 means no limit.
	Limit int
}

func (f Filter) match(o *Operation) bool {
	if f.Function != "" && o.FunctionName != f.Function {
		return false
	}
	if len(f.States) == 0 {
		return true
	}
	for _, s := range f.States {
		if o.State == s {
			return true
		}
	}
	return false
}

func ptrTime(t time.Time) *time.Time { return &t }
