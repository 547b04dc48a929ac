package ativotest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveControl is the control API, for tests that drive the fake from
// another process (the end-to-end test):
//
//	POST /-/fake/token/revoke            every request gets 401
//	POST /-/fake/token/restore           undo revoke
//	POST /-/fake/token?value=T           accept T from now on
//	POST /-/fake/fault?endpoint=E&fault=F[&count=N]
//	POST /-/fake/delay?endpoint=E&duration=D
//	GET  /-/fake/requests                JSON: path → request count
//
// E is all, team, teams, version, programs, program, periods or period;
// F is a Fault name or none.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.URL.Path, "/-/fake/")
	if action == "requests" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.RequestCounts())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	switch action {
	case "token/revoke":
		s.Revoke()
	case "token/restore":
		s.Restore()
	case "token":
		s.SetToken(q.Get("value"))
	case "fault":
		path, err := EndpointPath(q.Get("endpoint"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := ParseFault(q.Get("fault"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := -1
		if c := q.Get("count"); c != "" {
			if n, err = strconv.Atoi(c); err != nil {
				http.Error(w, "bad count", http.StatusBadRequest)
				return
			}
		}
		s.SetFaultN(path, f, n)
	case "delay":
		path, err := EndpointPath(q.Get("endpoint"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d, err := time.ParseDuration(q.Get("duration"))
		if err != nil {
			http.Error(w, "bad duration", http.StatusBadRequest)
			return
		}
		s.SetDelay(path, d)
	default:
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
