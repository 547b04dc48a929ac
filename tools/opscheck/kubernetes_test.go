package opscheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestKustomizeBuild renders deploy/kubernetes the way `kubectl apply -k` does and checks
// the security settings the base promises. With OPSCHECK_KUSTOMIZE_OUT set it writes the
// rendered manifests there, for kubeconform.
func TestKustomizeBuild(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("OPSCHECK_KUSTOMIZE_OUT"); p != "" {
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var kinds []string
	for _, r := range resMap.Resources() {
		kinds = append(kinds, r.GetKind())
		if r.GetKind() == "Secret" {
			t.Errorf("the base renders a Secret (%s): applying it would overwrite the real token", r.GetName())
		}
	}
	slices.Sort(kinds)
	if want := []string{"Deployment", "PrometheusRule", "Service", "ServiceMonitor"}; !slices.Equal(kinds, want) {
		t.Errorf("rendered kinds %v, want %v", kinds, want)
	}

	dep, err := resMap.GetById(resMap.Resources()[0].CurId())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resMap.Resources() {
		if r.GetKind() == "Deployment" {
			dep = r
		}
	}
	m, err := dep.Map()
	if err != nil {
		t.Fatal(err)
	}
	spec := dig(m, "spec", "template", "spec").(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	checkDeploymentSecurity(t, spec, c)

	// The token comes from the Secret, mounted as a file that --ativo.token-file names.
	var tokenFile string
	for _, a := range c["args"].([]any) {
		if s, ok := strings.CutPrefix(a.(string), "--ativo.token-file="); ok {
			tokenFile = s
		}
	}
	mountDir := ""
	for _, vm := range c["volumeMounts"].([]any) {
		vm := vm.(map[string]any)
		for _, v := range spec["volumes"].([]any) {
			v := v.(map[string]any)
			if v["name"] == vm["name"] && dig(v, "secret", "secretName") == "ativo-exporter-token" {
				mountDir = vm["mountPath"].(string)
			}
		}
	}
	if tokenFile == "" || mountDir == "" || filepath.Dir(tokenFile) != mountDir {
		t.Errorf("--ativo.token-file=%q is not a file of the Secret volume mounted at %q", tokenFile, mountDir)
	}
}

// checkDeploymentSecurity checks what every rendering of the Deployment promises: the pod
// spec's and the container's security settings, probes, port, image and resources.
func checkDeploymentSecurity(t *testing.T, spec, c map[string]any) {
	t.Helper()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"pod runAsNonRoot", dig(spec, "securityContext", "runAsNonRoot"), true},
		{"pod seccompProfile", dig(spec, "securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		{"container runAsNonRoot", dig(c, "securityContext", "runAsNonRoot"), true},
		{"readOnlyRootFilesystem", dig(c, "securityContext", "readOnlyRootFilesystem"), true},
		{"allowPrivilegeEscalation", dig(c, "securityContext", "allowPrivilegeEscalation"), false},
		{"capabilities drop", dig(c, "securityContext", "capabilities", "drop"), []any{"ALL"}},
		{"container seccompProfile", dig(c, "securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		{"liveness path", dig(c, "livenessProbe", "httpGet", "path"), "/-/healthy"},
		{"readiness path", dig(c, "readinessProbe", "httpGet", "path"), "/-/ready"},
		{"container port", dig(c, "ports").([]any)[0].(map[string]any)["containerPort"], 9721},
		{"image", c["image"], "ativo_exporter:latest"},
	}
	for _, ch := range checks {
		if !equalish(ch.got, ch.want) {
			t.Errorf("Deployment %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if dig(c, "resources", "requests") == nil || dig(c, "resources", "limits", "memory") == nil {
		t.Error("Deployment has no resource requests or memory limit")
	}
}

func dig(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func equalish(got, want any) bool {
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		return ok && slices.Equal(g, w)
	case int:
		switch g := got.(type) {
		case int:
			return g == w
		case int64:
			return g == int64(w)
		case float64:
			return g == float64(w)
		}
		return false
	}
	return got == want
}
