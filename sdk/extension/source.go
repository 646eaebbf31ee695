package extension

// ResolveRequest asks a model source about one model. Exactly one of two questions:
//   - Reference set: "download this" ("hf:org/repo/file@rev", a URL, "civitai:123", ...);
//     a source that understands it answers with one candidate, the download.
//   - Reference empty: "where can this model come from" for a model a workflow needs, described
//     by Query; a source answers with any candidates it knows.
type ResolveRequest struct {
	Reference string     `json:"reference,omitempty"`
	Query     ModelQuery `json:"query"`
}

// ResolveResponse is a source's answer; no candidates means "not mine".
type ResolveResponse struct {
	Candidates []Download `json:"candidates,omitempty"`
}

// Download is a candidate as it crosses a transport: a ModelCandidate with the headers the
// download needs (the agent never returns headers through its API).
type Download struct {
	ModelCandidate
	Headers map[string]string `json:"headers,omitempty"`
}

// Candidate returns d as a ModelCandidate with its headers.
func (d Download) Candidate() ModelCandidate {
	c := d.ModelCandidate
	c.Headers = d.Headers
	return c
}
