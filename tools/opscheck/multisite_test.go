package opscheck

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const multisiteDir = "deploy/kubernetes/multisite"

// sitesFile is the part of a sites file these tests look at.
type sitesFile struct {
	Sites []struct {
		Name      string `yaml:"name"`
		TokenFile string `yaml:"token_file"`
		TokenEnv  string `yaml:"token_env"`
	} `yaml:"sites"`
}

func (f sitesFile) names() []string {
	var out []string
	for _, s := range f.Sites {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// TestKustomizeMultisite renders the base with the multi-site component, from an overlay
// outside the repository as its kustomization.yaml shows, and checks that the pieces fit
// together: the sites file comes from the generated ConfigMap named by --config.file, every
// site's token file is an item of the projected Secret volume, the base's single token is
// gone, and the ServiceMonitor probes exactly the sites of the file. With
// OPSCHECK_KUSTOMIZE_MULTISITE_OUT set it writes the rendered manifests there, for kubeconform.
func TestKustomizeMultisite(t *testing.T) {
	root := repoRoot(t)
	overlay := t.TempDir()
	rel := func(p string) string { // kustomize wants relative paths
		r, err := filepath.Rel(overlay, filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources:\n  - " + rel("deploy/kubernetes") + "\n" +
		"components:\n  - " + rel(multisiteDir) + "\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), overlay)
	if err != nil {
		t.Fatalf("kustomize build of the base with %s: %v", multisiteDir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("OPSCHECK_KUSTOMIZE_MULTISITE_OUT"); p != "" {
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var kinds []string
	byKind := map[string][]map[string]any{}
	for _, r := range resMap.Resources() {
		kinds = append(kinds, r.GetKind())
		if r.GetKind() == "Secret" {
			t.Errorf("the overlay renders a Secret (%s): applying it would overwrite a real token", r.GetName())
		}
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		byKind[r.GetKind()] = append(byKind[r.GetKind()], m)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "PrometheusRule", "Service", "ServiceMonitor", "ServiceMonitor"}; !slices.Equal(kinds, want) {
		t.Fatalf("rendered kinds %v, want %v", kinds, want)
	}

	spec := dig(byKind["Deployment"][0], "spec", "template", "spec").(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	checkDeploymentSecurity(t, spec, c)

	// --config.file names a file of the ConfigMap volume; no default token.
	var configFile string
	for _, a := range c["args"].([]any) {
		a := a.(string)
		if s, ok := strings.CutPrefix(a, "--config.file="); ok {
			configFile = s
		}
		if strings.HasPrefix(a, "--ativo.token-file") {
			t.Errorf("the multi-site Deployment still passes %s", a)
		}
	}
	mounts := map[string]map[string]any{} // mount path → volume
	for _, vm := range c["volumeMounts"].([]any) {
		vm := vm.(map[string]any)
		for _, v := range spec["volumes"].([]any) {
			v := v.(map[string]any)
			if v["name"] == vm["name"] {
				mounts[vm["mountPath"].(string)] = v
			}
		}
	}
	for _, v := range spec["volumes"].([]any) {
		if dig(v, "secret", "secretName") == "ativo-exporter-token" {
			t.Error("the base's token Secret is still a volume of the multi-site Deployment")
		}
	}
	cm := byKind["ConfigMap"][0]
	cmVol := mounts[path.Dir(configFile)]
	if configFile == "" || cmVol == nil || dig(cmVol, "configMap", "name") != dig(cm, "metadata", "name") {
		t.Fatalf("--config.file=%q is not a file of the ConfigMap %v", configFile, dig(cm, "metadata", "name"))
	}
	data, _ := dig(cm, "data", path.Base(configFile)).(string)
	if data != string(readRepoFile(t, multisiteDir+"/sites.yml")) {
		t.Fatalf("ConfigMap key %s is not %s/sites.yml", path.Base(configFile), multisiteDir)
	}
	var sites sitesFile
	if err := yaml.Unmarshal([]byte(data), &sites); err != nil {
		t.Fatal(err)
	}
	if len(sites.Sites) < 2 {
		t.Fatalf("sites.yml lists %d sites, want an example with at least 2", len(sites.Sites))
	}

	// Every site's token is a file of a projected Secret volume.
	for _, s := range sites.Sites {
		if s.TokenFile == "" {
			t.Errorf("site %s: want token_file (a Secret file, re-read when rotated)", s.Name)
			continue
		}
		vol := mounts[path.Dir(s.TokenFile)]
		found := false
		for _, src := range asSlice(dig(vol, "projected", "sources")) {
			for _, it := range asSlice(dig(src, "secret", "items")) {
				if dig(it, "path") == path.Base(s.TokenFile) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("site %s: token_file %s is not an item of a projected Secret volume", s.Name, s.TokenFile)
		}
	}

	// The ServiceMonitor of the sites probes each site once, labelled with its site.
	var probed []string
	for _, sm := range byKind["ServiceMonitor"] {
		for _, ep := range asSlice(dig(sm, "spec", "endpoints")) {
			if dig(ep, "path") != "/probe" {
				continue
			}
			targets := asSlice(dig(ep, "params", "target"))
			if len(targets) != 1 {
				t.Errorf("ServiceMonitor endpoint params.target = %v, want one site", targets)
				continue
			}
			probed = append(probed, targets[0].(string))
			checkSiteRelabeling(t, "ServiceMonitor endpoint "+targets[0].(string), asSlice(dig(ep, "relabelings")))
			if dig(ep, "scrapeTimeout") == nil || dig(ep, "interval") == nil {
				t.Errorf("ServiceMonitor endpoint %v: want interval and scrapeTimeout", targets[0])
			}
		}
	}
	slices.Sort(probed)
	if !slices.Equal(probed, sites.names()) {
		t.Errorf("ServiceMonitor probes %v, sites.yml lists %v", probed, sites.names())
	}

	// The Probe alternative lists the same sites.
	var probe map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, multisiteDir+"/probe.yaml"), &probe); err != nil {
		t.Fatal(err)
	}
	var static []string
	for _, s := range asSlice(dig(probe, "spec", "targets", "staticConfig", "static")) {
		static = append(static, s.(string))
	}
	slices.Sort(static)
	if !slices.Equal(static, sites.names()) {
		t.Errorf("Probe targets %v, sites.yml lists %v", static, sites.names())
	}
	if dig(probe, "spec", "prober", "path") != "/probe" || dig(probe, "spec", "scrapeTimeout") == nil {
		t.Error("Probe: want prober path /probe and a scrapeTimeout")
	}
	checkSiteRelabeling(t, "Probe", asSlice(dig(probe, "spec", "targets", "staticConfig", "relabelingConfigs")))
	checkOverlayResources(t, resMap)
}

// checkSiteRelabeling: the `site` label is copied from the target parameter.
func checkSiteRelabeling(t *testing.T, what string, rels []any) {
	t.Helper()
	for _, r := range rels {
		src := asSlice(dig(r, "sourceLabels"))
		if dig(r, "targetLabel") == "site" && len(src) == 1 && src[0] == "__param_target" {
			return
		}
	}
	t.Errorf("%s: no relabeling sets site from __param_target", what)
}

// checkOverlayResources: the ConfigMap's name carries the content hash, so a changed sites
// file rolls the Deployment out.
func checkOverlayResources(t *testing.T, rm resmap.ResMap) {
	t.Helper()
	for _, r := range rm.Resources() {
		if r.GetKind() == "ConfigMap" && r.GetName() == "ativo-exporter-sites" {
			t.Error("the sites ConfigMap has no content hash in its name")
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
