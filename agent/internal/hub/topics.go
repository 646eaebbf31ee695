package hub

import "github.com/comfylauncher/launcher/agent/internal/events"

// The topics, subscription kinds and event type are defined in package events, which domain
// packages publish through; these names let hub code and its callers read naturally.
const (
	TopicAllOps   = events.TopicAllOps
	TopicBreakers = events.TopicBreakers
	TopicGlobal   = events.TopicGlobal

	KindProject  = events.KindProject
	KindLogs     = events.KindLogs
	KindRecovery = events.KindRecovery
)

// Event is one named event with a JSON-encodable payload (events.Event).
type Event = events.Event

// SnapshotFunc provides subscription snapshots (events.SnapshotFunc).
type SnapshotFunc = events.SnapshotFunc

// ProjectTopic, LogsTopic and OpTopic name per-project and per-operation topics.
var (
	ProjectTopic = events.ProjectTopic
	LogsTopic    = events.LogsTopic
	OpTopic      = events.OpTopic
)

// Hub delivers events for the domain packages.
var _ events.Publisher = (*Hub)(nil)
