// Command kube-testenv runs a real kube-apiserver (k8s.io/kubernetes) with an
// embedded etcd in one process, on free loopback ports, for integration tests.
//
// When the apiserver's /readyz answers 200 it writes $dir/kubeconfig and prints
// exactly one JSON line to stdout:
//
//	{"kubeconfig":"/tmp/kube-testenv-123/kubeconfig","server":"https://127.0.0.1:PORT","etcd":"http://127.0.0.1:PORT"}
//
// All logs go to stderr. It exits on SIGINT/SIGTERM or when stdin reaches EOF.
//
// With --with-node it also runs kube-scheduler, the controllers pods need, and one node (the
// kubelet, containerd, runc, CNI and kube-proxy, see node.go); the ready line then also names the
// node and the host address pods reach: "node":"kube-testenv-node","hostIP":"10.201.0.1".
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/component-base/cli/globalflag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as in cmd/kube-apiserver
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as in cmd/kube-apiserver
	"k8s.io/klog/v2"
	apiapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apioptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	ctrlapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	ctrloptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// Controllers run in-process when --with-controllers is set. The clusterrole aggregation
// controller fills ClusterRoles with an aggregationRule (admin, edit, view) from the ClusterRoles
// labelled rbac.authorization.k8s.io/aggregate-to-*, so RBAC tests see what a real cluster grants;
// the ValidatingAdmissionPolicy status controller type-checks each policy's CEL against the
// schemas of the resources it matches (status.typeChecking.expressionWarnings).
const kcmControllers = "namespace-controller,garbage-collector-controller,clusterrole-aggregation-controller," +
	"validatingadmissionpolicy-status-controller"

// nodeControllers run as well with --with-node: Deployments make ReplicaSets make Pods, every
// namespace gets its default ServiceAccount and the kube-root-ca.crt ConfigMap (the pods'
// projected service account volume needs both), Services get EndpointSlices, and the node
// lifecycle controller removes the not-ready taint that admission puts on a new Node once its
// kubelet reports Ready.
const nodeControllers = "deployment-controller,replicaset-controller,serviceaccount-controller," +
	"root-ca-certificate-publisher-controller,endpointslice-controller,node-lifecycle-controller"

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	dir             string
	keep            bool
	withControllers bool
	verbose         int
	ignoreStdin     bool
	readyTimeout    time.Duration
	withNode        bool
	node            nodeOptions
}

func main() {
	// Keep stdout for the single ready line only: anything else that writes to
	// fd 1 (a library printing, a panic handler...) ends up on stderr.
	readyOut, err := reserveStdout()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-testenv: %v\n", err)
		os.Exit(1)
	}

	var o options
	fs := flag.NewFlagSet("kube-testenv", flag.ExitOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&o.dir, "dir", "", "working directory for etcd data, certificates, credentials and the kubeconfig (default: a new temporary directory)")
	fs.BoolVar(&o.keep, "keep", false, "do not remove --dir on exit")
	fs.BoolVar(&o.withControllers, "with-controllers", true, "run the kube-controller-manager controllers "+kcmControllers+" in-process")
	fs.IntVar(&o.verbose, "verbose", -1, "log verbosity of kube-apiserver/controllers (klog -v); -1 logs errors only")
	fs.BoolVar(&o.ignoreStdin, "ignore-stdin", false, "do not exit when stdin reaches EOF (only on SIGINT/SIGTERM)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 180*time.Second, "how long to wait for /readyz")
	fs.BoolVar(&o.withNode, "with-node", false, "also run kube-scheduler and one node (kubelet, containerd, runc, CNI, kube-proxy; needs root and hack/node/build.sh)")
	exe, _ := os.Executable()
	fs.StringVar(&o.node.binDir, "node-bin-dir", filepath.Join(filepath.Dir(exe), "node"), "directory of the node's binaries, CNI plugins and pause image (hack/node/build.sh output)")
	var images stringList
	fs.Var(&images, "node-image", "OCI image archive to import into the node's containerd (repeatable)")
	fs.DurationVar(&o.node.ready, "node-ready-timeout", 180*time.Second, "how long to wait for the node to be Ready")
	_ = fs.Parse(os.Args[1:])
	o.node.images = images
	if o.withNode && !o.withControllers {
		fmt.Fprintln(os.Stderr, "kube-testenv: --with-node needs --with-controllers (Deployments, ServiceAccounts)")
		os.Exit(2)
	}

	os.Exit(run(o, readyOut))
}

// reserveStdout duplicates fd 1 for the ready line and points fd 1 (and
// os.Stdout) at stderr.
func reserveStdout() (*os.File, error) {
	fd, err := syscall.Dup(1)
	if err != nil {
		return nil, fmt.Errorf("dup stdout: %w", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Dup2(2, 1); err != nil {
		return nil, fmt.Errorf("redirect stdout: %w", err)
	}
	os.Stdout = os.Stderr
	return os.NewFile(uintptr(fd), "ready-out"), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kube-testenv: "+format+"\n", args...)
}

func run(o options, readyOut *os.File) int {
	start := time.Now()
	createdDir := false
	if o.dir == "" {
		d, err := os.MkdirTemp("", "kube-testenv-")
		if err != nil {
			logf("mktemp: %v", err)
			return 1
		}
		o.dir = d
		createdDir = true
	} else {
		if _, err := os.Stat(o.dir); errors.Is(err, os.ErrNotExist) {
			createdDir = true
		}
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			logf("mkdir %s: %v", o.dir, err)
			return 1
		}
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		logf("abs %s: %v", o.dir, err)
		return 1
	}
	cleanupDir := func() {
		if o.keep {
			logf("keeping %s", dir)
			return
		}
		if createdDir {
			if err := os.RemoveAll(dir); err != nil {
				logf("remove %s: %v", dir, err)
			}
			return
		}
		// A --dir that existed before: remove only what we created in it.
		for _, name := range []string{"etcd", "pki", "sa.key", "tokens.csv", "kubeconfig"} {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				logf("remove %s: %v", filepath.Join(dir, name), err)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Stop on SIGINT/SIGTERM, or when stdin reaches EOF (the parent died or
	// closed our stdin).
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigCh
		logf("received %v, shutting down", s)
		cancel()
		s = <-sigCh
		logf("received %v again, exiting immediately", s)
		os.Exit(1)
	}()
	if !o.ignoreStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			logf("stdin closed, shutting down")
			cancel()
		}()
	}

	// Logging: klog to stderr. By default only errors are shown.
	if o.verbose < 0 {
		klog.SetLogger(errorsOnlyLogger())
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	// The node's network first: the API server listens on its host address too.
	var nd *node
	if o.withNode {
		if nd, err = prepareNode(o.node, dir); err != nil {
			logf("node: %v", err)
			cleanupDir()
			return 1
		}
		inner := cleanupDir
		cleanupDir = func() {
			nd.stop()
			inner()
		}
	}

	// etcd.
	etcd, etcdURL, err := startEtcdWithRetry(ctx, filepath.Join(dir, "etcd"))
	if err != nil {
		logf("etcd: %v", err)
		cleanupDir()
		return 1
	}
	shutdownEtcd := func() {
		// etcd logs "server closed" errors while shutting down: drop them.
		etcdClosing.Store(true)
		etcd.Close()
	}

	// Credentials.
	var creds nodeCredentials
	var extraTokens string
	if o.withNode {
		if creds.kubeletToken, creds.proxyToken, extraTokens, err = nodeTokens(); err == nil {
			creds.clientCA, o.node.apiserverClientCert, o.node.apiserverClientKey, err = writeNodePKI(filepath.Join(dir, "pki"))
		}
		if err != nil {
			logf("node credentials: %v", err)
			shutdownEtcd()
			cleanupDir()
			return 1
		}
	}
	token, err := writeCredentials(dir, extraTokens)
	if err != nil {
		logf("credentials: %v", err)
		shutdownEtcd()
		cleanupDir()
		return 1
	}

	// kube-apiserver on a listener we bind ourselves: no port race.
	ln, err := listenLoopback()
	if err != nil {
		logf("apiserver listener: %v", err)
		shutdownEtcd()
		cleanupDir()
		return 1
	}
	apiPort := ln.Addr().(*net.TCPAddr).Port
	server := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	if o.withNode {
		nodeLn, err := listenNode(apiPort)
		if err != nil {
			logf("apiserver listener on %s: %v", hostIP, err)
			ln.Close()
			shutdownEtcd()
			cleanupDir()
			return 1
		}
		ln = newMultiListener(ln, nodeLn)
	}

	apiDone := make(chan error, 1)
	go func() {
		apiDone <- runAPIServer(ctx, o, dir, etcdURL, apiPort, ln)
	}()

	shutdown := func(code int) int {
		// The node first: its pods and components go while the API server still answers.
		if nd != nil {
			nd.stop()
			nd = nil
		}
		cancel()
		select {
		case err := <-apiDone:
			if err != nil && ctx.Err() == nil {
				logf("kube-apiserver: %v", err)
			}
		case <-time.After(30 * time.Second):
			logf("kube-apiserver did not stop within 30s")
		}
		shutdownEtcd()
		cleanupDir()
		return code
	}

	caData, err := waitReady(ctx, o.readyTimeout, server, filepath.Join(dir, "pki", "apiserver.crt"), token, apiDone)
	if err != nil {
		if ctx.Err() == nil {
			logf("waiting for kube-apiserver: %v", err)
			return shutdown(1)
		}
		return shutdown(0)
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, caData, token); err != nil {
		logf("kubeconfig: %v", err)
		return shutdown(1)
	}

	if o.withControllers {
		controllers := kcmControllers
		if o.withNode {
			controllers += "," + nodeControllers
		}
		go func() {
			if err := runControllers(ctx, kubeconfig, controllers, filepath.Join(dir, "pki", "apiserver.crt")); err != nil && ctx.Err() == nil {
				logf("kube-controller-manager: %v", err)
			}
		}()
	}

	var nodeExited <-chan string
	ready := struct {
		Kubeconfig string `json:"kubeconfig"`
		Server     string `json:"server"`
		Etcd       string `json:"etcd"`
		Node       string `json:"node,omitempty"`
		HostIP     string `json:"hostIP,omitempty"`
	}{Kubeconfig: kubeconfig, Server: server, Etcd: etcdURL}
	if o.withNode {
		go func() {
			if err := runScheduler(ctx, kubeconfig); err != nil && ctx.Err() == nil {
				logf("kube-scheduler: %v", err)
			}
		}()
		t0 := time.Now()
		if err := nd.start(ctx, kubeconfig, "https://"+net.JoinHostPort(hostIP, strconv.Itoa(apiPort)), caData, creds); err != nil {
			if ctx.Err() == nil {
				logf("node: %v", err)
				return shutdown(1)
			}
			return shutdown(0)
		}
		logf("node %s Ready in %.1fs", nodeName, time.Since(t0).Seconds())
		ready.Node, ready.HostIP = nodeName, hostIP
		nodeExited = nd.exited()
	}

	line, _ := json.Marshal(ready)
	if _, err := readyOut.Write(append(line, '\n')); err != nil {
		logf("write ready line: %v", err)
	}
	logf("ready in %.1fs: %s", time.Since(start).Seconds(), line)

	select {
	case <-ctx.Done():
	case what := <-nodeExited:
		logf("node: %s", what)
		return shutdown(1)
	case err := <-apiDone:
		// The apiserver stopped on its own: put the error back for shutdown.
		apiDone <- err
		if ctx.Err() == nil {
			logf("kube-apiserver exited unexpectedly: %v", err)
			return shutdown(1)
		}
	}
	return shutdown(0)
}

// errorsOnlyLogger drops klog info messages and prints errors to stderr.
func errorsOnlyLogger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		if prefix != "" {
			fmt.Fprintf(os.Stderr, "%s: %s\n", prefix, args)
		} else {
			fmt.Fprintln(os.Stderr, args)
		}
	}, funcr.Options{Verbosity: -1})
}

// etcdClosing silences etcd's logger once shutdown has started.
var etcdClosing atomic.Bool

type etcdLogCore struct{ zapcore.Core }

func (c etcdLogCore) With(f []zapcore.Field) zapcore.Core { return etcdLogCore{c.Core.With(f)} }

func (c etcdLogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if etcdClosing.Load() || !c.Enabled(e.Level) {
		return ce
	}
	return ce.AddCore(e, c)
}

// etcdLogger logs etcd errors (no stack traces) as JSON lines to stderr.
func etcdLogger() *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), zapcore.ErrorLevel)
	return zap.New(etcdLogCore{core}).Named("etcd")
}

func listenLoopback() (net.Listener, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

func freePort() (int, error) {
	ln, err := listenLoopback()
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startEtcdWithRetry(ctx context.Context, dataDir string) (*embed.Etcd, string, error) {
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		e, u, err := startEtcd(dataDir)
		if err == nil {
			return e, u, nil
		}
		lastErr = err
		logf("etcd start attempt %d failed: %v", attempt+1, err)
		_ = os.RemoveAll(dataDir)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", lastErr
}

// startEtcd follows k8s.io/apiserver/pkg/storage/etcd3/testserver.
func startEtcd(dataDir string) (*embed.Etcd, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}

	cfg := embed.NewConfig()
	cfg.Name = "kube-testenv"
	cfg.Dir = dataDir
	cfg.UnsafeNoFsync = true
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger())
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, "", errors.New("etcd not ready within 60s")
	}
	return e, clientURL.String(), nil
}

// writeCredentials writes the service-account signing key and the static
// token file (the admin token, then extraTokens lines), and returns the admin token.
func writeCredentials(dir, extraTokens string) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600); err != nil {
		return "", err
	}

	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	// token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n", token) + extraTokens
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(line), 0o600); err != nil {
		return "", err
	}
	return token, nil
}

// runAPIServer follows cmd/kube-apiserver/app.NewAPIServerCommand without
// cobra and without SetupSignalContext.
func runAPIServer(ctx context.Context, o options, dir, etcdURL string, port int, ln net.Listener) error {
	s := apioptions.NewServerRunOptions()
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)

	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	namedFlagSets := s.Flags()
	globalflag.AddGlobalFlags(namedFlagSets.FlagSet("global"), "kube-apiserver", logs.SkipLoggingConfigurationFlags())
	for _, f := range namedFlagSets.FlagSets {
		fs.AddFlagSet(f)
	}

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--enable-priority-and-fairness=false",
	}
	if o.withNode {
		// The kubernetes Service's endpoint is the host address pods reach (the lease
		// reconciler keeps it); kubelets are authorized as nodes; pods get their
		// ServiceAccount's projected token volume (ServiceAccount admission).
		args = append(args,
			"--advertise-address="+hostIP,
			"--authorization-mode=Node,RBAC",
			"--kubelet-client-certificate="+o.node.apiserverClientCert,
			"--kubelet-client-key="+o.node.apiserverClientKey,
			"--kubelet-preferred-address-types=InternalIP",
		)
	} else {
		args = append(args,
			"--advertise-address=127.0.0.1",
			"--authorization-mode=RBAC",
			"--disable-admission-plugins=ServiceAccount",
			// The lease endpoint reconciler rejects a loopback advertise address
			// (k8s >= 1.36); there is nothing to reconcile for a test server.
			"--endpoint-reconciler-type=none",
		)
	}
	if o.verbose >= 0 {
		args = append(args, "--v="+strconv.Itoa(o.verbose))
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Serve on the listener we already hold.
	s.SecureServing.Listener = ln

	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	if o.verbose < 0 {
		// ValidateAndApply may have reset the logger.
		klog.SetLogger(errorsOnlyLogger())
	}

	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	if f, ok := featureGate.(featuregate.MutableFeatureGate); ok {
		f.AddMetrics()
	}
	return apiapp.Run(ctx, completed)
}

// waitReady polls /readyz with the admin token until it returns 200 and
// returns the CA bundle (serving cert + self-signed CA) from the cert dir.
func waitReady(ctx context.Context, timeout time.Duration, server, certFile, token string, apiDone chan error) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not ready after %v: %v", timeout, lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-apiDone:
			apiDone <- err
			return nil, fmt.Errorf("kube-apiserver exited: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
		caData, err := os.ReadFile(certFile)
		if err != nil {
			lastErr = err
			continue
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caData) {
			lastErr = fmt.Errorf("no certificates in %s", certFile)
			continue
		}
		client := &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		client.CloseIdleConnections()
		if resp.StatusCode == http.StatusOK {
			return caData, nil
		}
		lastErr = fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
	}
}

func writeKubeconfig(path, server string, caData []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kube-testenv"] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caData,
	}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kube-testenv"] = &clientcmdapi.Context{Cluster: "kube-testenv", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "kube-testenv"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// runControllers runs kube-controller-manager with only the given controllers,
// no leader election and no serving port.
func runControllers(ctx context.Context, kubeconfig, controllers, rootCA string) error {
	s, err := ctrloptions.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	namedFlagSets := s.Flags(ctrlapp.KnownControllers(), ctrlapp.ControllersDisabledByDefault(), ctrlapp.ControllerAliases())
	for _, f := range namedFlagSets.FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + controllers,
		"--leader-elect=false",
		"--secure-port=0",
		"--root-ca-file=" + rootCA,
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := s.Config(ctx, ctrlapp.KnownControllers(), ctrlapp.ControllersDisabledByDefault(), ctrlapp.ControllerAliases())
	if err != nil {
		return err
	}
	return ctrlapp.Run(ctx, c.Complete())
}
