package api

import "strings"

// routePattern returns the pattern of the route that serves method and path, rebuilt from
// the router's match (httprouter v1 does not report the pattern itself): each parameter's
// segment becomes ":name", a catch-all's rest becomes "*name". "" when no route matches, so
// metrics never get a label per raw path.
func (s *Server) routePattern(method, path string) string {
	h, ps, _ := s.Router.Lookup(method, path)
	if h == nil {
		return ""
	}
	segs := strings.Split(path, "/")
	next := 1
	for _, p := range ps {
		if strings.HasPrefix(p.Value, "/") { // catch-all: the rest of the path
			cut := max(len(segs)-strings.Count(p.Value, "/"), 0)
			segs = append(segs[:cut], "*"+p.Key)
			break
		}
		// A literal segment may equal the value (/api/projects/projects): the right segment is
		// the one whose replacement the router binds to this parameter.
		for i := next; i < len(segs); i++ {
			if segs[i] != p.Value || !s.bindsParam(method, segs, i, p.Key) {
				continue
			}
			segs[i] = ":" + p.Key
			next = i + 1
			break
		}
	}
	return strings.Join(segs, "/")
}

// bindsParam reports whether the router binds segment i of segs to the parameter key.
func (s *Server) bindsParam(method string, segs []string, i int, key string) bool {
	const probe = "\x00probe"
	trial := append([]string(nil), segs...)
	trial[i] = probe
	_, ps, _ := s.Router.Lookup(method, strings.Join(trial, "/"))
	return ps.ByName(key) == probe
}
