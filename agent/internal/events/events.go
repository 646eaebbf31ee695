// Package events names what the agent announces: the topics events are published on, the event
// names, the payloads that have a fixed shape, and the Publisher interface domain packages send
// them through. It is a leaf: it imports nothing of the agent, so domain packages (project,
// models, recovery) publish without knowing which transport (the WebSocket hub, a test recorder)
// delivers the events.
package events

// Publisher delivers an event to the subscribers of topic. The hub implements it; tests record.
// Publish must not block on slow subscribers.
type Publisher interface {
	Publish(topic, event string, data any)
}

// Nop is a Publisher that drops every event, for components run without subscribers.
type Nop struct{}

// Publish drops the event.
func (Nop) Publish(string, string, any) {}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(topic, event string, data any)

// Publish calls f.
func (f PublisherFunc) Publish(topic, event string, data any) { f(topic, event, data) }

// Topic names. A topic is a string so that publishers need no transport types.
const (
	// TopicAllOps receives every recovery_update / recovery_completed.
	TopicAllOps = "ops"
	// TopicBreakers receives circuit_breaker_update.
	TopicBreakers = "breakers"
	// TopicGlobal receives events every connected client gets without subscribing.
	TopicGlobal = "global"
)

// ProjectTopic carries progress_update events of one project.
func ProjectTopic(projectID string) string { return "project:" + projectID }

// LogsTopic carries log_entry events of one project.
func LogsTopic(projectID string) string { return "logs:" + projectID }

// OpTopic carries recovery events of one operation.
func OpTopic(opID string) string { return "op:" + opID }

// DownloadTopic carries progress_update events of one model download operation.
func DownloadTopic(opID string) string { return "download:" + opID }

// Event names (spec: api.md, WebSocket events).
const (
	Progress          = "progress_update"
	LogEntry          = "log_entry"
	RecoveryUpdate    = "recovery_update"
	RecoveryCompleted = "recovery_completed"
	BreakerUpdate     = "circuit_breaker_update"
)

// Subscription kinds, passed to snapshot functions.
const (
	KindProject  = "project"
	KindLogs     = "logs"
	KindRecovery = "recovery" // id is an operation id, or "all"
)

// Event is one named event with a JSON-encodable payload.
type Event struct {
	Name string
	Data any
}

// SnapshotFunc returns the current state a new subscriber of kind/id receives before any change,
// for example the project's progress_update or its recent log_entry events. It must not block
// for long: the subscriber's stream waits for it.
type SnapshotFunc func(kind, id string) []Event

// ProjectProgress is the progress_update payload on a project topic.
type ProjectProgress struct {
	ProjectID string `json:"project_id"`
	Progress  any    `json:"progress"`
}

// ProjectLog is the log_entry payload on a logs topic.
type ProjectLog struct {
	ProjectID string `json:"project_id"`
	Log       any    `json:"log"`
}
