package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// cli runs the command in-process and returns its exit code and output.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// results parses the JSON lines kstatus-check prints.
func results(t *testing.T, out string) []Result {
	t.Helper()
	var rs []Result
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var r Result
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("output line %q is not {\"status\",\"message\"}: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

type stateCase struct {
	File    string `json:"file"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// TestOperatorStates feeds kstatus-check the status shapes the operator writes
// (testdata/cases.yaml) and checks the kstatus verdict on each.
func TestOperatorStates(t *testing.T) {
	raw, err := os.ReadFile("testdata/cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Cases []stateCase `json:"cases"`
	}
	if err := yaml.UnmarshalStrict(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Cases) < 20 {
		t.Fatalf("testdata/cases.yaml has %d cases, expected the full set", len(spec.Cases))
	}
	seen := map[string]bool{}
	for _, c := range spec.Cases {
		seen[c.File] = true
		t.Run(strings.TrimSuffix(c.File, ".yaml"), func(t *testing.T) {
			path := filepath.Join("testdata", c.File)
			code, out, errOut := cli(t, "", "-f", path)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			rs := results(t, out)
			if len(rs) != 1 {
				t.Fatalf("want 1 result, got %q", out)
			}
			want := Result{Status: c.Status, Message: c.Message}
			if rs[0] != want {
				t.Errorf("kstatus-check -f %s\n got: %+v\nwant: %+v", path, rs[0], want)
			}
			// The same object through stdin, as JSON.
			doc, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			asJSON, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errOut = cli(t, string(asJSON), "-f", "-")
			if code != exitOK {
				t.Fatalf("stdin JSON: exit %d: %s", code, errOut)
			}
			if rs := results(t, out); len(rs) != 1 || rs[0] != want {
				t.Errorf("stdin JSON: got %q, want %+v", out, want)
			}
		})
	}
	// Every testdata object is covered by a case.
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "cases.yaml" && !seen[e.Name()] {
			t.Errorf("testdata/%s has no entry in testdata/cases.yaml", e.Name())
		}
	}
}

// TestEveryKindHasEveryVerdict guards against a thinned-out testdata set.
func TestEveryKindHasEveryVerdict(t *testing.T) {
	raw, err := os.ReadFile("testdata/cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Cases []stateCase `json:"cases"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, c := range spec.Cases {
		kind, _, _ := strings.Cut(c.File, "-")
		have[kind+"/"+c.Status] = true
	}
	for _, kind := range []string{"studiodomain", "userprofile", "sharedspace", "guardrail"} {
		for _, st := range []string{"Current", "InProgress", "Failed"} {
			if !have[kind+"/"+st] {
				t.Errorf("no %s case with kstatus %s", kind, st)
			}
		}
	}
}

func TestStreamOfDocumentsAndLists(t *testing.T) {
	ready, err := os.ReadFile("testdata/studiodomain-ready.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := os.ReadFile("testdata/userprofile-reference-denied.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Several YAML documents, with an empty one and a comment.
	stream := "---\n# leading comment\n---\n" + string(ready) + "---\n" + string(stalled)
	code, out, errOut := cli(t, stream, "-f", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rs := results(t, out)
	if len(rs) != 2 || rs[0].Status != "Current" || rs[1].Status != "Failed" {
		t.Fatalf("got %+v", rs)
	}

	// A List, as `kubectl get -o yaml` prints for several objects.
	var a, b map[string]interface{}
	if err := yaml.Unmarshal(ready, &a); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(stalled, &b); err != nil {
		t.Fatal(err)
	}
	list, err := json.Marshal(map[string]interface{}{
		"apiVersion": "v1", "kind": "List", "items": []interface{}{b, a},
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, string(list), "-f", "-")
	if code != exitOK {
		t.Fatalf("List: exit %d: %s", code, errOut)
	}
	rs = results(t, out)
	if len(rs) != 2 || rs[0].Status != "Failed" || rs[1].Status != "Current" {
		t.Fatalf("List: got %+v", rs)
	}
}

func TestBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		code  int
	}{
		"empty stdin":          {"", []string{"-f", "-"}, exitError},
		"only empty documents": {"---\n---\n", []string{"-f", "-"}, exitError},
		"not an object":        {"- a\n- b\n", []string{"-f", "-"}, exitError},
		"missing file":         {"", []string{"-f", "testdata/nope.yaml"}, exitError},
		"generation is text": {"apiVersion: v1\nkind: X\nmetadata: {name: x, generation: \"two\"}\n",
			[]string{"-f", "-"}, exitError},
		"no argument":           {"", nil, exitUsage},
		"two arguments":         {"", []string{"sd/a", "sd/b"}, exitUsage},
		"argument without name": {"", []string{"studiodomains"}, exitUsage},
		"empty name":            {"", []string{"studiodomains/"}, exitUsage},
		"name with slash":       {"", []string{"studiodomains/a/b"}, exitUsage},
		"-f with argument":      {"", []string{"-f", "-", "sd/a"}, exitUsage},
		"unknown flag":          {"", []string{"--nope"}, exitUsage},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := cli(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout must stay empty on errors, got %q", out)
			}
			if errOut == "" {
				t.Errorf("no message on stderr")
			}
		})
	}
	if code, _, _ := cli(t, "", "--help"); code != exitOK {
		t.Errorf("--help exits %d", code)
	}
}

// TestArgoCDHealthAgrees checks that the Argo CD health checks in
// gitops/argocd and kstatus (Flux, kpt) judge every Argo CD test object alike:
// Healthy = Current, Progressing = InProgress, Degraded = Failed. Two
// differences are known and intended: an object the operator has not written
// a status for yet is Current for kstatus but Progressing for Argo CD, and an
// object being deleted is Terminating for kstatus (Argo CD shows "Pending
// deletion" itself before it runs any health check).
func TestArgoCDHealthAgrees(t *testing.T) {
	root := filepath.Join("..", "..", "gitops", "argocd", "resource_customizations", "studio-operator.io")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("no Argo CD health checks: %v", err)
	}
	toKstatus := map[string]string{"Healthy": "Current", "Progressing": "InProgress", "Degraded": "Failed"}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "health_test.yaml" {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var spec struct {
			Tests []struct {
				HealthStatus struct {
					Status  string `json:"status"`
					Message string `json:"message"`
				} `json:"healthStatus"`
				InputPath string `json:"inputPath"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(raw, &spec); err != nil {
			return err
		}
		for _, tc := range spec.Tests {
			n++
			input := filepath.Join(filepath.Dir(path), tc.InputPath)
			doc, err := os.ReadFile(input)
			if err != nil {
				return err
			}
			var m map[string]interface{}
			if err := yaml.Unmarshal(doc, &m); err != nil {
				return err
			}
			objs, err := decodeObjects(bytes.NewReader(doc))
			if err != nil {
				return err
			}
			got, err := compute(objs[0])
			if err != nil {
				return err
			}
			u := &unstructured.Unstructured{Object: m}
			_, hasStatus := m["status"]
			switch {
			case !hasStatus:
				if got.Status != "Current" || tc.HealthStatus.Status != "Progressing" {
					t.Errorf("%s: no status: kstatus %s, Argo CD %s", input, got.Status, tc.HealthStatus.Status)
				}
			case u.GetDeletionTimestamp() != nil:
				if got.Status != "Terminating" {
					t.Errorf("%s: being deleted: kstatus %s", input, got.Status)
				}
			default:
				if want := toKstatus[tc.HealthStatus.Status]; got.Status != want {
					t.Errorf("%s: Argo CD %s (%q) but kstatus %s (%q)", input,
						tc.HealthStatus.Status, tc.HealthStatus.Message, got.Status, got.Message)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no Argo CD health test cases found")
	}
}

// fakeAPIServer serves the discovery documents of the studio-operator.io
// group and the objects in objs (keyed by URL path).
func fakeAPIServer(t *testing.T, objs map[string]string) *httptest.Server {
	t.Helper()
	resources := `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"studio-operator.io/v1alpha1","resources":[
	 {"name":"studiodomains","singularName":"studiodomain","namespaced":true,"kind":"StudioDomain","verbs":["get","list"],"shortNames":["sd"],"categories":["studio"]},
	 {"name":"studiodomains/status","singularName":"","namespaced":true,"kind":"StudioDomain","verbs":["get","patch"]},
	 {"name":"userprofiles","singularName":"userprofile","namespaced":true,"kind":"UserProfile","verbs":["get","list"],"shortNames":["sup"]},
	 {"name":"guardrails","singularName":"guardrail","namespaced":false,"kind":"Guardrail","verbs":["get","list"],"shortNames":["gr"]}]}`
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		send(w, `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}`)
	})
	mux.HandleFunc("/api/v1", func(w http.ResponseWriter, r *http.Request) {
		send(w, `{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get"],"shortNames":["ns"]}]}`)
	})
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		send(w, `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"studio-operator.io","versions":[{"groupVersion":"studio-operator.io/v1alpha1","version":"v1alpha1"}],"preferredVersion":{"groupVersion":"studio-operator.io/v1alpha1","version":"v1alpha1"}}]}`)
	})
	mux.HandleFunc("/apis/studio-operator.io/v1alpha1", func(w http.ResponseWriter, r *http.Request) {
		send(w, resources)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if body, ok := objs[r.URL.Path]; ok && r.Method == http.MethodGet {
			send(w, body)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		parts := strings.Split(r.URL.Path, "/")
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,` +
			`"message":"` + parts[len(parts)-2] + `.studio-operator.io \"` + parts[len(parts)-1] + `\" not found",` +
			`"details":{"name":"` + parts[len(parts)-1] + `","group":"studio-operator.io","kind":"` + parts[len(parts)-2] + `"}}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func objectJSON(t *testing.T, file string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

// writeKubeconfig writes a kubeconfig for server whose context namespace is ns.
func writeKubeconfig(t *testing.T, server, ns string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fake"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["fake"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["fake"] = &clientcmdapi.Context{Cluster: "fake", AuthInfo: "fake", Namespace: ns}
	cfg.Contexts["other"] = &clientcmdapi.Context{Cluster: "fake", AuthInfo: "fake", Namespace: "team-forecasting"}
	cfg.CurrentContext = "fake"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLive(t *testing.T) {
	srv := fakeAPIServer(t, map[string]string{
		"/apis/studio-operator.io/v1alpha1/namespaces/ml-platform/studiodomains/ml-platform":   objectJSON(t, "studiodomain-ready.yaml"),
		"/apis/studio-operator.io/v1alpha1/namespaces/default/studiodomains/ml-platform":       objectJSON(t, "studiodomain-creating.yaml"),
		"/apis/studio-operator.io/v1alpha1/namespaces/team-forecasting/userprofiles/carol":     objectJSON(t, "userprofile-reference-denied.yaml"),
		"/apis/studio-operator.io/v1alpha1/guardrails/baseline":                                objectJSON(t, "guardrail-ready.yaml"),
		"/apis/studio-operator.io/v1alpha1/namespaces/ml-platform/studiodomains/behind":        objectJSON(t, "studiodomain-generation-not-observed.yaml"),
		"/apis/studio-operator.io/v1alpha1/namespaces/ml-platform/studiodomains/being-deleted": objectJSON(t, "studiodomain-deleting.yaml"),
	})
	kc := writeKubeconfig(t, srv.URL, "")
	kcNS := writeKubeconfig(t, srv.URL, "ml-platform")
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")

	for name, tc := range map[string]struct {
		args []string
		want Result
	}{
		"plural":            {[]string{"--kubeconfig", kc, "studiodomains/ml-platform", "-n", "ml-platform"}, Result{"Current", "Resource is Ready"}},
		"singular":          {[]string{"--kubeconfig", kc, "-n", "ml-platform", "studiodomain/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"short name":        {[]string{"--kubeconfig", kc, "--namespace=ml-platform", "sd/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"kind":              {[]string{"--kubeconfig", kc, "-n", "ml-platform", "StudioDomain/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"group":             {[]string{"--kubeconfig", kc, "-n", "ml-platform", "studiodomains.studio-operator.io/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"group and version": {[]string{"--kubeconfig", kc, "-n", "ml-platform", "studiodomains.v1alpha1.studio-operator.io/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"kind and group":    {[]string{"--kubeconfig", kc, "-n", "ml-platform", "StudioDomain.studio-operator.io/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"default namespace": {[]string{"--kubeconfig", kc, "sd/ml-platform"}, Result{"InProgress", "domain d-8kq2m4x7pz1c is being created"}},
		"context namespace": {[]string{"--kubeconfig", kcNS, "sd/ml-platform"}, Result{"Current", "Resource is Ready"}},
		"other context":     {[]string{"--kubeconfig", kcNS, "--context", "other", "sup/carol"}, Result{"Failed", "StudioDomain ml-platform/shared-studio does not allow namespace team-forecasting: its labels do not match spec.tenancy.allowedNamespaces; a platform administrator must add it to the domain's spec.tenancy.allowedNamespaces"}},
		"cluster-scoped":    {[]string{"--kubeconfig", kc, "-n", "ignored", "guardrails/baseline"}, Result{"Current", "Resource is Ready"}},
		"generation":        {[]string{"--kubeconfig", kcNS, "sd/behind"}, Result{"InProgress", "StudioDomain generation is 3, but latest observed generation is 2"}},
		"terminating":       {[]string{"--kubeconfig", kcNS, "sd/being-deleted"}, Result{"Terminating", "Resource scheduled for deletion"}},
		"not found":         {[]string{"--kubeconfig", kcNS, "sd/gone"}, Result{"NotFound", `studiodomains.studio-operator.io "gone" not found`}},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := cli(t, "", tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if rs := results(t, out); len(rs) != 1 || rs[0] != tc.want {
				t.Errorf("got %q, want %+v", out, tc.want)
			}
		})
	}

	t.Run("$KUBECONFIG", func(t *testing.T) {
		t.Setenv("KUBECONFIG", kcNS)
		code, out, errOut := cli(t, "", "sd/ml-platform")
		if code != exitOK || len(results(t, out)) != 1 {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
	})

	for name, args := range map[string][]string{
		"unknown resource":     {"--kubeconfig", kc, "widgets/a"},
		"missing kubeconfig":   {"--kubeconfig", filepath.Join(t.TempDir(), "none"), "sd/a"},
		"server not reachable": {"--kubeconfig", writeKubeconfig(t, "http://127.0.0.1:1", ""), "--request-timeout", "5s", "sd/a"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := cli(t, "", args...)
			if code != exitError || out != "" || errOut == "" {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}
