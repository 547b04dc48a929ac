// Package opscheck holds the tests that check the operations content of ativo_exporter
// (Dockerfile, deploy/, dashboards/) with the parsers and validators of the tools a user
// would run. It lives in its own module so that these heavy dependencies stay out of the
// exporter's go.mod. Run it with scripts/check-ops.sh, or `go test ./...` from tools/.
package opscheck
