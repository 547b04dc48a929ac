package opscheck

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestSystemdUnitHardening parses the unit and checks the settings the deployment docs
// promise; scripts/check-ops.sh also runs systemd-analyze verify and security on it.
func TestSystemdUnitHardening(t *testing.T) {
	unit := parseUnit(t, readRepoFile(t, "deploy/systemd/ativo_exporter.service"))
	want := map[string]string{
		"Service.DynamicUser":             "yes",
		"Service.LoadCredential":          "ativo-token:/etc/ativo_exporter/token",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.PrivateDevices":          "yes",
		"Service.CapabilityBoundingSet":   "",
		"Service.MemoryDenyWriteExecute":  "yes",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.SystemCallFilter":        "@system-service",
		"Install.WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		if !slices.Contains(unit[k], v) {
			t.Errorf("%s: got %q, want %q among them", k, unit[k], v)
		}
	}
	exec := unit["Service.ExecStart"]
	if len(exec) != 1 || !strings.Contains(exec[0], "--ativo.token-file=${CREDENTIALS_DIRECTORY}/ativo-token") {
		t.Errorf("ExecStart %q does not read the token from the credential", exec)
	}
	if slices.Contains(unit["Service.User"], "root") {
		t.Error("runs as root")
	}
	for _, e := range unit["Service.Environment"] {
		if strings.Contains(e, "ATIVO_TOKEN=") {
			t.Error("token in Environment=: it would be visible to every local user")
		}
	}
}

// parseUnit returns Section.Key -> values in order (a key may repeat).
func parseUnit(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("line %d: not a plain key=value in a section: %q", n, line)
			}
			out[section+"."+strings.TrimSpace(k)] = append(out[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}
