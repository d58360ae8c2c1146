// Command kstatus-check prints the kstatus result of Kubernetes objects as JSON,
// computed by sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute: the same
// library Flux (Kustomization health checks), kpt and `kubectl wait`-like
// tools use to decide whether a resource is Current, InProgress or Failed.
//
//	kstatus-check [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] RESOURCE/NAME
//	kstatus-check -f FILE            (FILE "-" is stdin; YAML or JSON, several documents or a List)
//
// One line per object on stdout: {"status":"Current","message":"Resource is Ready"}.
// See README.md for the exact contract (exit codes, NotFound, resource names).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Exit codes.
const (
	exitOK    = 0 // a result was printed for every object (whatever its status)
	exitError = 1 // the object could not be read or its status not computed
	exitUsage = 2 // bad command line
)

// Result is what kstatus-check prints, one JSON object per line.
type Result struct {
	// Status is a kstatus status: Current, InProgress, Failed, Terminating,
	// NotFound (live mode only: the object does not exist) or Unknown.
	Status string `json:"status"`
	// Message is kstatus' message (for Failed and InProgress, usually the
	// message of the Stalled / Reconciling / Ready condition).
	Message string `json:"message"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Usage:
  kstatus-check [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] RESOURCE/NAME
  kstatus-check -f FILE    (FILE "-" reads stdin; YAML or JSON, several documents or a List)

Prints the kstatus result of each object as one line of JSON:
  {"status":"Current|InProgress|Failed|Terminating|NotFound|Unknown","message":"..."}

RESOURCE is what kubectl accepts: plural, singular, short name or kind, optionally
qualified with the group (studiodomains, studiodomain, sd, StudioDomain,
studiodomains.studio-operator.io, studiodomains.v1alpha1.studio-operator.io).
A missing object prints status NotFound (exit 0). Exit 1 on any other error, 2 on usage errors.

Flags:
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("kstatus-check", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current context)")
	namespace := fs.StringP("namespace", "n", "", "namespace of a namespaced resource (default: the context's namespace, else \"default\"); ignored for cluster-scoped kinds")
	filename := fs.StringP("filename", "f", "", "read objects from FILE instead of the cluster (\"-\" for stdin)")
	timeout := fs.Duration("request-timeout", 30*time.Second, "timeout of the whole lookup in live mode")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "kstatus-check: %v\n", err)
		fmt.Fprintln(stderr, "Run 'kstatus-check --help' for usage.")
		return exitUsage
	}

	out := json.NewEncoder(stdout)
	out.SetEscapeHTML(false)

	if *filename != "" {
		if fs.NArg() != 0 {
			fmt.Fprintf(stderr, "kstatus-check: -f takes no RESOURCE/NAME argument (got %q)\n", fs.Args())
			return exitUsage
		}
		objs, err := readObjects(*filename, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "kstatus-check: %v\n", err)
			return exitError
		}
		for _, obj := range objs {
			res, err := compute(obj)
			if err != nil {
				fmt.Fprintf(stderr, "kstatus-check: %s: %v\n", describe(obj), err)
				return exitError
			}
			if err := out.Encode(res); err != nil {
				fmt.Fprintf(stderr, "kstatus-check: %v\n", err)
				return exitError
			}
		}
		return exitOK
	}

	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "kstatus-check: expected exactly one RESOURCE/NAME argument, or -f FILE")
		fs.Usage()
		return exitUsage
	}
	resource, name, ok := strings.Cut(fs.Arg(0), "/")
	if !ok || resource == "" || name == "" || strings.Contains(name, "/") {
		fmt.Fprintf(stderr, "kstatus-check: %q is not RESOURCE/NAME\n", fs.Arg(0))
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := live(ctx, liveOptions{
		kubeconfig: *kubeconfig,
		context:    *kubeContext,
		namespace:  *namespace,
		resource:   resource,
		name:       name,
	})
	if err != nil {
		fmt.Fprintf(stderr, "kstatus-check: %v\n", err)
		return exitError
	}
	if err := out.Encode(res); err != nil {
		fmt.Fprintf(stderr, "kstatus-check: %v\n", err)
		return exitError
	}
	return exitOK
}

// compute runs kstatus on one object.
func compute(obj *unstructured.Unstructured) (Result, error) {
	res, err := status.Compute(obj)
	if err != nil {
		return Result{}, err
	}
	return Result{Status: res.Status.String(), Message: res.Message}, nil
}

func describe(obj *unstructured.Unstructured) string {
	s := obj.GetKind() + " " + obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		s += " in namespace " + ns
	}
	return s
}

// readObjects reads every object of a YAML or JSON stream; a List is expanded
// into its items, empty documents are skipped.
func readObjects(filename string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	var r io.Reader
	if filename == "-" {
		r = stdin
	} else {
		f, err := os.Open(filename)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return decodeObjects(r)
}

func decodeObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		// utiljson keeps integers as int64 (encoding/json would make them
		// float64, which kstatus rejects for metadata.generation).
		var m map[string]interface{}
		if err := utiljson.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("document %d: not an object: %w", doc, err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			err := u.EachListItem(func(item runtime.Object) error {
				objs = append(objs, item.(*unstructured.Unstructured))
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", doc, err)
			}
			continue
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		return nil, errors.New("no object in the input")
	}
	return objs, nil
}

type liveOptions struct {
	kubeconfig, context, namespace string
	resource, name                 string
}

// live fetches RESOURCE/NAME from the cluster and computes its status.
func live(ctx context.Context, o liveOptions) (Result, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	clientConfig := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	config, err := clientConfig.ClientConfig()
	if err != nil {
		return Result{}, fmt.Errorf("kubeconfig: %w", err)
	}
	namespace := o.namespace
	if namespace == "" {
		namespace, _, err = clientConfig.Namespace()
		if err != nil {
			return Result{}, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	return liveWithConfig(ctx, config, namespace, o.resource, o.name)
}

func liveWithConfig(ctx context.Context, config *rest.Config, namespace, resource, name string) (Result, error) {
	config = rest.CopyConfig(config)
	config.UserAgent = "kstatus-check"
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return Result{}, err
	}
	mapping, err := resolve(ctx, dc, resource)
	if err != nil {
		return Result{}, err
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return Result{}, err
	}
	var client dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		client = dyn.Resource(mapping.Resource).Namespace(namespace)
	}
	obj, err := client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Result{Status: status.NotFoundStatus.String(), Message: err.Error()}, nil
	}
	if err != nil {
		return Result{}, err
	}
	res, err := compute(obj)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", describe(obj), err)
	}
	return res, nil
}

// resolve maps a kubectl-style resource argument (plural, singular, short
// name or kind, optionally with version and group) to its REST mapping.
func resolve(ctx context.Context, dc *discovery.DiscoveryClient, arg string) (*meta.RESTMapping, error) {
	groups, err := restmapper.GetAPIGroupResourcesWithContext(ctx, dc)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	mapper := restmapper.NewShortcutExpanderWithContext(
		restmapper.NewDiscoveryRESTMapperWithContext(groups), dc, func(string) {})

	// As kubectl does: first as a resource (resource[.version.group]), then as a kind.
	fullySpecified, groupResource := schema.ParseResourceArg(arg)
	gvk := schema.GroupVersionKind{}
	if fullySpecified != nil {
		if gvk, err = mapper.KindForWithContext(ctx, *fullySpecified); err != nil {
			gvk = schema.GroupVersionKind{}
		}
	}
	if gvk.Empty() {
		gvk, err = mapper.KindForWithContext(ctx, groupResource.WithVersion(""))
		if err != nil {
			gvk = schema.GroupVersionKind{}
		}
	}
	if !gvk.Empty() {
		return mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	}
	fullKind, groupKind := schema.ParseKindArg(arg)
	if fullKind != nil {
		if m, err := mapper.RESTMappingWithContext(ctx, fullKind.GroupKind(), fullKind.Version); err == nil {
			return m, nil
		}
	}
	if m, err := mapper.RESTMappingWithContext(ctx, groupKind); err == nil {
		return m, nil
	}
	return nil, fmt.Errorf("the server doesn't have a resource type %q", arg)
}
