package argocdhealth

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Where the checks live, in Argo CD's resource_customizations layout:
// <group>/<Kind>/{health.lua,health_test.yaml,testdata/*.yaml}.
var (
	gitopsDir  = filepath.Join("..", "..", "gitops", "argocd")
	customDir  = filepath.Join(gitopsDir, "resource_customizations")
	snippet    = filepath.Join(gitopsDir, "argocd-cm-snippet.yaml")
	group      = "studio-operator.io"
	ourKinds = []string{"Guardrail", "SharedSpace", "StudioDomain", "StudioImage", "StudioLifecycleConfig", "UserProfile"}
	keyPrefix  = "resource.customizations.health."
	regenerate = "hack/argocd-health-test.sh --update"
)

// healthTest is health_test.yaml, as Argo CD's own test (util/lua/health_test.go) reads it.
type healthTest struct {
	Tests []struct {
		HealthStatus HealthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// check is one health.lua with its directory.
type check struct {
	group, kind, dir, script string
}

func checks(t *testing.T) []check {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(customDir, "*", "*", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []check
	for _, m := range matches {
		dir := filepath.Dir(m)
		script, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, check{
			group:  filepath.Base(filepath.Dir(dir)),
			kind:   filepath.Base(dir),
			dir:    dir,
			script: string(script),
		})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].kind < cs[j].kind })
	return cs
}

func readObject(t *testing.T, path string) map[string]interface{} {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]interface{}{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// TestEveryKindHasAHealthCheck: one check per kind of the operator, nothing else.
func TestEveryKindHasAHealthCheck(t *testing.T) {
	var got []string
	for _, c := range checks(t) {
		if c.group != group {
			t.Errorf("%s: unexpected API group %q", c.dir, c.group)
		}
		got = append(got, c.kind)
	}
	if strings.Join(got, ",") != strings.Join(ourKinds, ",") {
		t.Errorf("health checks for %v, want %v", got, ourKinds)
	}
}

// TestHealthChecks runs every case of every health_test.yaml, like Argo CD's
// TestLuaHealthScript, in the strict mode of argocd-cm scripts (no useOpenLibs)
// and with all libraries open (how built-in checks run): both must agree.
func TestHealthChecks(t *testing.T) {
	for _, c := range checks(t) {
		raw, err := os.ReadFile(filepath.Join(c.dir, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var spec healthTest
		if err := yaml.UnmarshalStrict(raw, &spec); err != nil {
			t.Fatalf("%s/health_test.yaml: %v", c.dir, err)
		}
		used := map[string]bool{}
		seen := map[string]bool{}
		for _, tc := range spec.Tests {
			used[filepath.Clean(tc.InputPath)] = true
			seen[tc.HealthStatus.Status] = true
			t.Run(c.kind+"/"+strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
				obj := readObject(t, filepath.Join(c.dir, tc.InputPath))
				if kind, _ := obj["kind"].(string); kind != c.kind {
					t.Errorf("%s is a %q, not a %s", tc.InputPath, kind, c.kind)
				}
				for _, open := range []bool{false, true} {
					got, err := ExecuteHealthLua(obj, c.script, Options{OpenLibs: open})
					if err != nil {
						t.Fatalf("openLibs=%v: %v", open, err)
					}
					if got != tc.HealthStatus {
						t.Errorf("openLibs=%v:\n got: %+v\nwant: %+v", open, got, tc.HealthStatus)
					}
				}
			})
		}
		// Every testdata file is a test case, and every verdict is covered.
		files, err := filepath.Glob(filepath.Join(c.dir, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(c.dir, f)
			if !used[rel] {
				t.Errorf("%s is in no test of %s/health_test.yaml", f, c.dir)
			}
		}
		for _, st := range []string{Healthy, Progressing, Degraded} {
			if !seen[st] {
				t.Errorf("%s/health_test.yaml has no %s case", c.dir, st)
			}
		}
		if seen[Suspended] {
			t.Errorf("%s: the operator's resources are never Suspended", c.dir)
		}
	}
}

// TestOddObjects: whatever the API server may hold, a check returns a verdict
// instead of failing (a Lua error shows as an error in Argo CD's UI).
func TestOddObjects(t *testing.T) {
	odd := map[string]string{
		"no metadata.generation":      `{"metadata":{"name":"x"},"status":{"conditions":[{"type":"Ready","status":"True","message":"ok"}]}}`,
		"empty status":                `{"metadata":{"name":"x","generation":1},"status":{}}`,
		"no observedGeneration":       `{"metadata":{"name":"x","generation":1},"status":{"conditions":[{"type":"Ready","status":"True"}]}}`,
		"empty conditions":            `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":1,"conditions":[]}}`,
		"condition without fields":    `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":1,"conditions":[{}]}}`,
		"stalled without message":     `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Stalled","status":"True"}]}}`,
		"stalled without any text":    `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Stalled","status":"True","reason":""}]}}`,
		"ready Unknown":               `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"Unknown","reason":"Pending"}]}}`,
		"ready without message":       `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True"}]}}`,
		"observed ahead (restore)":    `{"metadata":{"name":"x","generation":1},"status":{"observedGeneration":5,"conditions":[{"type":"Ready","status":"True"}]}}`,
		"reconciling without message": `{"metadata":{"name":"x","generation":2},"status":{"observedGeneration":2,"conditions":[{"type":"Reconciling","status":"True","reason":"Updating"}]}}`,
	}
	want := map[string]HealthStatus{
		"no metadata.generation":      {Healthy, "ok"},
		"empty status":                {Progressing, "Waiting for the operator to observe generation 1"},
		"no observedGeneration":       {Progressing, "Waiting for the operator to observe generation 1"},
		"empty conditions":            {Progressing, "Waiting for the operator to report status"},
		"condition without fields":    {Progressing, "Waiting for the Ready condition"},
		"stalled without message":     {Degraded, "Stalled"},
		"stalled without any text":    {Degraded, "Stalled"},
		"ready Unknown":               {Progressing, "Not ready: Pending"},
		"ready without message":       {Healthy, "Ready"},
		"observed ahead (restore)":    {Progressing, "Waiting for the operator to observe generation 1 (status is for generation 5)"},
		"reconciling without message": {Progressing, "Reconciling: Updating"},
	}
	for _, c := range checks(t) {
		for name, doc := range odd {
			obj := map[string]interface{}{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatal(err)
			}
			obj["apiVersion"] = group + "/v1alpha1"
			obj["kind"] = c.kind
			got, err := ExecuteHealthLua(obj, c.script, Options{})
			if err != nil {
				t.Errorf("%s, %s: %v", c.kind, name, err)
				continue
			}
			if got != want[name] {
				t.Errorf("%s, %s: got %+v, want %+v", c.kind, name, got, want[name])
			}
		}
	}
}

// TestStrictSandbox: the runner is as strict as argocd-cm scripts without
// useOpenLibs, so a check that needs the string library would fail here too.
func TestStrictSandbox(t *testing.T) {
	obj := map[string]interface{}{"metadata": map[string]interface{}{"generation": int64(3)}}
	for _, script := range []string{
		`return { status = string.format("%s", "Healthy") }`,
		`return { status = ("Healthy"):lower() }`,
		`return { status = tostring(math.floor(1)) }`,
		`return { status = os.getenv("HOME") }`,
		`while true do end`,
	} {
		if got, err := ExecuteHealthLua(obj, script, Options{}); err == nil {
			t.Errorf("%q ran in the strict sandbox: %+v", script, got)
		}
	}
	got, err := ExecuteHealthLua(obj, `return { status = "Healthy", message = "gen " .. obj.metadata.generation .. " " .. table.concat({"a","b"}, ",") }`, Options{})
	if err != nil || got != (HealthStatus{Healthy, "gen 3 a,b"}) {
		t.Errorf("base and table libraries: %+v, %v", got, err)
	}
	got, err = ExecuteHealthLua(obj, `return { status = "Fine" }`, Options{})
	if err != nil || got != (HealthStatus{Unknown, invalidHealthStatus}) {
		t.Errorf("invalid status: %+v, %v", got, err)
	}
	if _, err := ExecuteHealthLua(obj, `return "Healthy"`, Options{}); err == nil {
		t.Error("a string return value must be an error")
	}
}

// TestConfigMapSnippet: gitops/argocd/argocd-cm-snippet.yaml holds exactly the
// health.lua files (regenerate it with hack/argocd-health-test.sh --update).
func TestConfigMapSnippet(t *testing.T) {
	raw, err := os.ReadFile(snippet)
	if err != nil {
		t.Fatalf("%v (run %s)", err, regenerate)
	}
	var cm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatalf("%s: %v", snippet, err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Name != "argocd-cm" {
		t.Errorf("%s is not the argocd-cm ConfigMap: %s %s %s", snippet, cm.APIVersion, cm.Kind, cm.Metadata.Name)
	}
	want := map[string]string{}
	for _, c := range checks(t) {
		// Argo CD's key: resource.customizations.health.<group>_<kind>.
		want[keyPrefix+c.group+"_"+c.kind] = c.script
	}
	for key, script := range want {
		got, ok := cm.Data[key]
		switch {
		case !ok:
			t.Errorf("%s lacks %s: run %s", snippet, key, regenerate)
		case got != script:
			t.Errorf("%s: %s differs from its health.lua: run %s", snippet, key, regenerate)
		}
	}
	for key := range cm.Data {
		if _, ok := want[key]; !ok {
			t.Errorf("%s has %s, which matches no health.lua: run %s", snippet, key, regenerate)
		}
	}
	// The snippet's scripts give the same verdicts (they are the same text, but
	// this also proves the YAML block scalars kept every line).
	for _, c := range checks(t) {
		obj := readObject(t, filepath.Join(c.dir, "testdata", "ready.yaml"))
		got, err := ExecuteHealthLua(obj, cm.Data[keyPrefix+c.group+"_"+c.kind], Options{})
		if err != nil || got.Status != Healthy {
			t.Errorf("%s from the snippet on testdata/ready.yaml: %+v, %v", c.kind, got, err)
		}
	}
	if bytes.Contains(raw, []byte("\t")) {
		t.Errorf("%s contains a tab", snippet)
	}
}
