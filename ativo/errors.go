package ativo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Cause classifies why a call to the Ativo API failed. The values are the
// `cause` label values of ativo_api_request_failures_total.
type Cause string

// The failure causes, in the order SPEC §4 lists them.
const (
	CauseAuth        Cause = "auth"         // 401, 403, or Jira's HTML login page
	CauseRateLimited Cause = "rate_limited" // 429 that retries could not clear, or site backoff
	CauseNotFound    Cause = "not_found"    // 404 with no fallback left
	CauseClientError Cause = "client_error" // any other non-2xx below 500
	CauseServerError Cause = "server_error" // 5xx
	CauseTimeout     Cause = "timeout"      // the collection deadline passed
	CauseNetwork     Cause = "network"      // no answer: DNS, connect, TLS, reset, cut-off body
	CauseDecode      Cause = "decode"       // a 2xx whose body is not what the data model says
	CauseTooLarge    Cause = "too_large"    // body above --ativo.max-response-size
	CauseNoToken     Cause = "no_token"     // the token source is missing or empty
)

// Causes lists every Cause, for pre-creating counter series.
var Causes = []Cause{
	CauseAuth, CauseRateLimited, CauseNotFound, CauseClientError, CauseServerError,
	CauseTimeout, CauseNetwork, CauseDecode, CauseTooLarge, CauseNoToken,
}

// Error is the error every Client method returns. Its text names the
// endpoint, path and status, never the token or the response body.
type Error struct {
	Endpoint string // endpoint label: team, teams, version, programs, periods
	Path     string // request path, without host
	Status   int    // HTTP status of the last response, 0 when none arrived
	Cause    Cause
	Err      error
}

func (e *Error) Error() string {
	status := "no response"
	if e.Status != 0 {
		status = fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Err == nil {
		return fmt.Sprintf("ativo %s: GET %s: %s: %s", e.Endpoint, e.Path, status, e.Cause)
	}
	return fmt.Sprintf("ativo %s: GET %s: %s: %s: %v", e.Endpoint, e.Path, status, e.Cause, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// CauseOf returns the failure cause of err. Errors that did not come from a
// Client are classified by what they wrap.
func CauseOf(err error) Cause {
	if ae, ok := errors.AsType[*Error](err); ok {
		return ae.Cause
	}
	return classifyTransport(err)
}

// StatusOf returns the HTTP status recorded in err, or 0.
func StatusOf(err error) int {
	if ae, ok := errors.AsType[*Error](err); ok {
		return ae.Status
	}
	return 0
}

// ErrNoToken is wrapped by errors caused by a missing or empty token.
var ErrNoToken = errors.New("no bearer token available")

// ErrTooLarge is wrapped by errors caused by a body above the size limit.
var ErrTooLarge = errors.New("response body exceeds the size limit")

// ErrLoginPage is wrapped when a 2xx answer carried an HTML page: that is
// what Jira Data Center serves to a REST call without valid credentials.
var ErrLoginPage = errors.New("answer is an HTML page (Jira login), not JSON")

// DecodeError reports a body that is not valid JSON or not of the expected shape.
type DecodeError struct {
	Offset int64
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decoding body at byte %d: %s", e.Offset, e.Msg)
}

func classifyStatus(code int) Cause {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return CauseAuth
	case code == http.StatusNotFound:
		return CauseNotFound
	case code == http.StatusTooManyRequests:
		return CauseRateLimited
	case code >= 500:
		return CauseServerError
	default:
		return CauseClientError
	}
}

// classifyTransport maps an error from sending a request or reading a body.
func classifyTransport(err error) Cause {
	var de *DecodeError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoToken):
		return CauseNoToken
	case errors.Is(err, ErrTooLarge):
		return CauseTooLarge
	case errors.Is(err, ErrLoginPage):
		return CauseAuth
	case errors.As(err, &de):
		return CauseDecode
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return CauseTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return CauseTimeout
	default:
		return CauseNetwork
	}
}
