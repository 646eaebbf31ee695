package hub

// Topic names. A topic is a string so that packages publishing events need no hub types.
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
