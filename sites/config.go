// Package sites serves many Ativo sites (Jira sites, each with its own
// token and rate-limit budget) from one exporter through /probe, the way
// blackbox_exporter serves many targets. Sites come from a YAML file that
// can be reloaded without a restart.
package sites

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/ativo-exporter/ativo_exporter/ativo"
	"github.com/ativo-exporter/ativo_exporter/collector"
)

// NameRE is what a site name must match.
var NameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Defaults of a site's optional keys.
const (
	DefaultTimeout = 10 * time.Second
)

// Site is one validated site of the file.
type Site struct {
	Name            string
	URL             string // normalised, without credentials
	Platform        ativo.Platform
	TokenFile       string // absolute, or "" with TokenEnv
	TokenEnv        string
	CAFile          string
	Timeout         time.Duration
	CacheTTL        time.Duration
	MaxResponseSize int64
	Collectors      []string // sorted
}

// Config is a validated sites file.
type Config struct {
	Sites []Site
}

// keys are the accepted keys of a site, in the order of the README.
var keys = []string{"name", "url", "platform", "token_file", "token_env", "ca_file", "timeout", "cache_ttl", "max_response_size", "collectors"}

// Load reads, parses and validates a sites file, including that each
// token source is readable and not empty.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, filepath.Dir(abs), getenv)
}

// Parse validates a sites file; relative paths are resolved from dir.
func Parse(data []byte, dir string, getenv func(string) string) (*Config, error) {
	var raw struct {
		Sites []yaml.MapSlice `yaml:"sites"`
	}
	if err := yaml.UnmarshalStrict(data, &raw); err != nil {
		return nil, fmt.Errorf("parsing YAML: %s", oneLine(err.Error()))
	}
	if len(raw.Sites) == 0 {
		return nil, errors.New("no sites: the file needs a non-empty sites list")
	}
	cfg := &Config{}
	seen := map[string]bool{}
	for i, ms := range raw.Sites {
		s, err := parseSite(ms, dir, getenv)
		where := fmt.Sprintf("sites[%d]", i)
		if s != nil && s.Name != "" {
			where += fmt.Sprintf(" (%s)", s.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%s: name: duplicate site name %q", where, s.Name)
		}
		seen[s.Name] = true
		cfg.Sites = append(cfg.Sites, *s)
	}
	return cfg, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// parseSite checks one site. On error it returns what it parsed so far
// (for the name in the message).
func parseSite(ms yaml.MapSlice, dir string, getenv func(string) string) (*Site, error) {
	s := &Site{Platform: ativo.PlatformAuto, Timeout: DefaultTimeout, MaxResponseSize: ativo.DefaultMaxResponseSize}
	vals := map[string]any{}
	var keyErr error
	for _, item := range ms {
		k, ok := item.Key.(string)
		switch {
		case keyErr != nil:
		case !ok:
			keyErr = fmt.Errorf("key %v is not a string", item.Key)
		case !slices.Contains(keys, k):
			keyErr = fmt.Errorf("%s: unknown key (known: %s)", k, strings.Join(keys, ", "))
		default:
			if _, dup := vals[k]; dup {
				keyErr = fmt.Errorf("%s: given twice", k)
			}
			vals[k] = item.Value
		}
	}
	// Read the name first, so every message can name the site.
	if name, ok := vals["name"].(string); ok && NameRE.MatchString(name) {
		s.Name = name
	}
	if keyErr != nil {
		return s, keyErr
	}
	str := func(k string) (string, error) {
		v, ok := vals[k]
		if !ok || v == nil {
			return "", nil
		}
		switch t := v.(type) {
		case string:
			return t, nil
		case int, float64, bool:
			return fmt.Sprint(t), nil
		}
		return "", fmt.Errorf("%s: want a string", k)
	}
	var err error
	if s.Name, err = str("name"); err != nil {
		return s, err
	}
	if !NameRE.MatchString(s.Name) {
		name := s.Name
		s.Name = ""
		return s, fmt.Errorf("name: %q must match %s", name, NameRE)
	}
	rawURL, err := str("url")
	if err != nil {
		return s, err
	}
	if rawURL == "" {
		return s, errors.New("url: missing")
	}
	u, err := ativo.ParseURL(rawURL)
	if err != nil {
		return s, fmt.Errorf("url: %w", err)
	}
	s.URL = u.String()
	p, err := str("platform")
	if err != nil {
		return s, err
	}
	if p != "" {
		if s.Platform, err = ativo.ParsePlatform(p); err != nil {
			return s, fmt.Errorf("platform: %w", err)
		}
	}
	s.Platform = ativo.ResolvePlatform(s.Platform, u)
	if s.TokenFile, err = str("token_file"); err != nil {
		return s, err
	}
	if s.TokenEnv, err = str("token_env"); err != nil {
		return s, err
	}
	switch {
	case s.TokenFile != "" && s.TokenEnv != "":
		return s, errors.New("token_file, token_env: two token sources; set exactly one")
	case s.TokenFile == "" && s.TokenEnv == "":
		return s, errors.New("token_file, token_env: no token source; set exactly one")
	case s.TokenFile != "":
		s.TokenFile = resolve(dir, s.TokenFile)
		tok, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return s, fmt.Errorf("token_file: cannot read the token: %s", pathError(err))
		}
		if strings.TrimSpace(string(tok)) == "" {
			return s, fmt.Errorf("token_file: %s is empty", s.TokenFile)
		}
	default:
		if getenv(s.TokenEnv) == "" {
			return s, fmt.Errorf("token_env: environment variable %s is unset or empty", s.TokenEnv)
		}
	}
	if s.CAFile, err = str("ca_file"); err != nil {
		return s, err
	}
	if s.CAFile != "" {
		s.CAFile = resolve(dir, s.CAFile)
		if _, err := ativo.LoadCAFile(s.CAFile); err != nil {
			return s, fmt.Errorf("ca_file: %s", pathError(err))
		}
	}
	if s.Timeout, err = duration(vals, "timeout", DefaultTimeout, false); err != nil {
		return s, err
	}
	if s.CacheTTL, err = duration(vals, "cache_ttl", 0, true); err != nil {
		return s, err
	}
	if v, ok := vals["max_response_size"]; ok && v != nil {
		if s.MaxResponseSize, err = size(v); err != nil {
			return s, fmt.Errorf("max_response_size: %w", err)
		}
	}
	if s.Collectors, err = collectors(vals["collectors"]); err != nil {
		return s, fmt.Errorf("collectors: %w", err)
	}
	return s, nil
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func pathError(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// duration takes the Prometheus duration format (10s, 1m30s, 1d).
func duration(vals map[string]any, k string, def time.Duration, zeroOK bool) (time.Duration, error) {
	v, ok := vals[k]
	if !ok || v == nil {
		return def, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return 0, fmt.Errorf("%s: want a duration such as 10s", k)
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: invalid duration %q (want a duration such as 10s)", k, s)
	}
	if d == 0 && !zeroOK {
		return 0, fmt.Errorf("%s: must be above 0s", k)
	}
	return time.Duration(d), nil
}

func size(v any) (int64, error) {
	switch t := v.(type) {
	case int:
		return ativo.ParseSize(strconv.Itoa(t))
	case string:
		return ativo.ParseSize(t)
	}
	return 0, errors.New("want a size such as 64MiB")
}

func collectors(v any) ([]string, error) {
	if v == nil {
		var out []string
		for _, c := range collector.Collectors {
			if c.Default {
				out = append(out, c.Name)
			}
		}
		return out, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("want a list such as [team, version]")
	}
	var out []string
	for _, item := range list {
		name, ok := item.(string)
		known := slices.ContainsFunc(collector.Collectors, func(c collector.Info) bool { return c.Name == name })
		if !ok || !known {
			var names []string
			for _, c := range collector.Collectors {
				names = append(names, c.Name)
			}
			return nil, fmt.Errorf("unknown collector %v (known: %s)", item, strings.Join(names, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty: enable at least one collector")
	}
	sort.Strings(out)
	return out, nil
}

// token returns the site's token source.
func (s *Site) token(getenv func(string) string) config.SecretReader {
	if s.TokenFile != "" {
		return config.NewFileSecret(s.TokenFile)
	}
	return config.NewInlineSecret(getenv(s.TokenEnv))
}
