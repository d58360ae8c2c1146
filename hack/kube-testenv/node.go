package main

// The node of --with-node: containerd (with runc and the CNI bridge, host-local and loopback
// plugins), the kubelet and kube-proxy, all in one network namespace of their own that is joined
// to the host by a veth pair, so that pods, their bridge and kube-proxy's nftables rules never
// touch the host's network. See README.md, "The node".

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The node's fixed names and addresses. Only one node runs per machine (a lock guards it): the
// network namespace, the host's veth and route, and the kubepods cgroups are machine-wide.
const (
	nodeName      = "kube-testenv-node"
	nodeNetns     = "kube-testenv-node"
	hostVeth      = "kt-host"       // host side of the veth pair
	nodeVeth      = "eth0"          // node side, inside the node's network namespace
	hostIP        = "10.201.0.1"    // the host as pods see it: API server, emulators
	nodeIP        = "10.201.0.2"    // the node's InternalIP (kubelet :10250)
	linkCIDR      = "10.201.0.0/24" // the veth link
	podCIDR       = "10.202.0.0/24" // the CNI bridge's subnet
	podGateway    = "10.202.0.1"    // the bridge's address in the node
	nodeLockFile  = "/run/kube-testenv-node.lock"
	nodeStateFile = "/run/kube-testenv-node.dir" // the running node's directory, for a cleanup after a crash
)

// kernelTunables are the machine-wide sysctls the kubelet sets at start (container manager's
// setupKernelTunables, not configurable other than by failing). They are restored on exit.
var kernelTunables = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

type nodeOptions struct {
	binDir string   // kubelet, kube-proxy, containerd, shim, ctr, runc, cni/, images/
	images []string // OCI archives imported into the node's containerd
	ready  time.Duration
	// The API server's client certificate for the kubelet (writeNodePKI).
	apiserverClientCert, apiserverClientKey string
}

// node is a started (or partly started) node; stop undoes whatever was done.
type node struct {
	opts      nodeOptions
	dir       string // $dir/node
	lock      *os.File
	procs     []*nodeProc
	sysctls   map[string]string
	apiServer string // https://hostIP:port
}

type nodeProc struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// nodeCredentials are the tokens and the certificate files the node's components use.
type nodeCredentials struct {
	kubeletToken, proxyToken string
	clientCA                 string // CA the kubelet trusts for clients (the API server's client cert)
}

// prepareNode takes the node lock, cleans up what a crashed run left, checks the binaries, saves
// the kernel tunables and creates the node's network namespace: everything the API server
// needs before it starts (it listens on hostIP too).
func prepareNode(o nodeOptions, dir string) (*node, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("--with-node needs root (network namespaces, mounts, cgroups)")
	}
	n := &node{opts: o, dir: filepath.Join(dir, "node")}
	lock, err := os.OpenFile(nodeLockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("another kube-testenv node runs on this machine (%s is locked)", nodeLockFile)
	}
	n.lock = lock
	if err := n.checkBinaries(); err != nil {
		n.stop()
		return nil, err
	}
	if prev, err := os.ReadFile(nodeStateFile); err == nil && len(prev) > 0 {
		logf("node: cleaning up after a run that did not stop (%s)", strings.TrimSpace(string(prev)))
		cleanupNodeState(strings.TrimSpace(string(prev)))
	}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		n.stop()
		return nil, err
	}
	if err := os.WriteFile(nodeStateFile, []byte(n.dir+"\n"), 0o600); err != nil {
		n.stop()
		return nil, err
	}
	n.sysctls = map[string]string{}
	for _, k := range kernelTunables {
		v, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			n.stop()
			return nil, fmt.Errorf("read sysctl %s: %w", k, err)
		}
		n.sysctls[k] = strings.TrimSpace(string(v))
	}
	if err := n.setupNetwork(); err != nil {
		n.stop()
		return nil, fmt.Errorf("node network: %w", err)
	}
	return n, nil
}

func (n *node) bin(name string) string { return filepath.Join(n.opts.binDir, name) }

func (n *node) checkBinaries() error {
	var missing []string
	for _, b := range []string{"kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc",
		"cni/bridge", "cni/host-local", "cni/loopback", "images/pause.oci.tar", "images/pause.ref"} {
		if _, err := os.Stat(n.bin(b)); err != nil {
			missing = append(missing, b)
		}
	}
	for _, tool := range []string{"ip", "nsenter", "nft", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (on PATH)")
		}
	}
	for _, img := range n.opts.images {
		if _, err := os.Stat(img); err != nil {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--with-node: missing in %s: %s (run hack/node/build.sh)", n.opts.binDir, strings.Join(missing, ", "))
	}
	return nil
}

func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNetns runs a command in the node's network namespace.
func inNetns(name string, args ...string) error {
	return runCmd("nsenter", append([]string{"--net=/run/netns/" + nodeNetns, "--", name}, args...)...)
}

// setupNetwork: the namespace, the veth pair (hostIP on the host, nodeIP in the node), the
// host's route to the pods through the node, and the node's own sysctls. The node gets no
// default route: pods reach the host and each other, nothing beyond.
func (n *node) setupNetwork() error {
	steps := [][]string{
		{"ip", "netns", "add", nodeNetns},
		{"ip", "link", "add", hostVeth, "type", "veth", "peer", "name", nodeVeth, "netns", nodeNetns},
		{"ip", "addr", "add", hostIP + "/24", "dev", hostVeth},
		{"ip", "link", "set", hostVeth, "up"},
		{"ip", "route", "add", podCIDR, "via", nodeIP, "dev", hostVeth},
	}
	for _, s := range steps {
		if err := runCmd(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, s := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", nodeIP + "/24", "dev", nodeVeth},
		{"ip", "link", "set", nodeVeth, "up"},
		// Per network namespace: forwarding between the pods' bridge and the veth, and bridged
		// pod traffic through nftables (a pod reaching a Service whose endpoint is on the bridge).
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"},
	} {
		if err := inNetns(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// start runs containerd, imports the images, then the kubelet and kube-proxy, and waits until
// the node is Ready. server is the API server's host-side URL (https://hostIP:port).
func (n *node) start(ctx context.Context, adminKubeconfig, server string, caData []byte, creds nodeCredentials) error {
	n.apiServer = server
	for _, d := range []string{"containerd", "kubelet", "cni/net.d", "cni/ipam", "logs", "pki"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return err
		}
	}
	ca := filepath.Join(n.dir, "pki", "apiserver-ca.crt")
	if err := os.WriteFile(ca, caData, 0o644); err != nil {
		return err
	}
	kubeletKC := filepath.Join(n.dir, "kubelet.kubeconfig")
	proxyKC := filepath.Join(n.dir, "kube-proxy.kubeconfig")
	if err := writeKubeconfig(kubeletKC, server, caData, creds.kubeletToken); err != nil {
		return err
	}
	if err := writeKubeconfig(proxyKC, server, caData, creds.proxyToken); err != nil {
		return err
	}

	// containerd.
	sock := filepath.Join(n.dir, "containerd", "containerd.sock")
	pauseRef, err := os.ReadFile(n.bin("images/pause.ref"))
	if err != nil {
		return err
	}
	if err := n.writeContainerdConfig(sock, strings.TrimSpace(string(pauseRef))); err != nil {
		return err
	}
	if err := n.spawn("containerd", n.bin("containerd"), "--config", filepath.Join(n.dir, "containerd", "config.toml")); err != nil {
		return err
	}
	if err := n.waitFor(ctx, 60*time.Second, "containerd's socket", func() error {
		_, err := os.Stat(sock)
		return err
	}); err != nil {
		return err
	}
	images := append([]string{n.bin("images/pause.oci.tar")}, n.opts.images...)
	for _, img := range images {
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, n.bin("ctr"), "--address", sock, "--namespace", "k8s.io",
			"images", "import", "--local", "--platform", "linux/amd64", img).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s: %v: %s", img, err, out)
		}
		logf("node: imported %s in %.1fs: %s", filepath.Base(img), time.Since(t0).Seconds(), strings.TrimSpace(string(out)))
	}

	// CNI: one bridge in the node, pods on podCIDR, the bridge their gateway.
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "kube-testenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    }
  ]
}
`, podCIDR, podGateway, filepath.Join(n.dir, "cni", "ipam"))
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "net.d", "10-kube-testenv.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}

	// kubelet.
	kubeletCfg := filepath.Join(n.dir, "kubelet-config.yaml")
	if err := os.WriteFile(kubeletCfg, []byte(kubeletConfig(sock, creds.clientCA, filepath.Join(n.dir, "pod-logs"))), 0o644); err != nil {
		return err
	}
	if err := n.spawn("kubelet", n.bin("kubelet"),
		"--config="+kubeletCfg,
		"--kubeconfig="+kubeletKC,
		"--hostname-override="+nodeName,
		"--node-ip="+nodeIP,
		"--root-dir="+filepath.Join(n.dir, "kubelet"),
		"--cert-dir="+filepath.Join(n.dir, "kubelet", "pki"),
		"--v=1",
	); err != nil {
		return err
	}

	// kube-proxy, nftables mode: its table lives in the node's namespace only.
	proxyCfg := filepath.Join(n.dir, "kube-proxy-config.yaml")
	if err := os.WriteFile(proxyCfg, []byte(kubeProxyConfig(proxyKC)), 0o644); err != nil {
		return err
	}
	if err := n.spawn("kube-proxy", n.bin("kube-proxy"), "--config="+proxyCfg, "--v=1"); err != nil {
		return err
	}

	client, err := clientFor(adminKubeconfig)
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, n.opts.ready, "node "+nodeName+" Ready", func() error {
		nd, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			}
		}
		return errors.New("no Ready condition yet")
	}); err != nil {
		return err
	}
	return n.waitFor(ctx, 60*time.Second, "kube-proxy healthy", func() error {
		resp, err := httpClient.Get("http://" + nodeIP + ":10256/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	})
}

// spawn starts a node component in the node's network namespace (same mount namespace as the
// host, so the kubelet's volume mounts are what containerd sees), logging to logs/NAME.log.
func (n *node) spawn(name, bin string, args ...string) error {
	logPath := filepath.Join(n.dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + nodeNetns, "--", bin}, args...)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// containerd finds its shim and the kubelet/kube-proxy find nft, mount... on PATH.
	cmd.Env = append(os.Environ(), "PATH="+n.opts.binDir+":"+os.Getenv("PATH"))
	// Its own process group: a Ctrl-C in the terminal reaches kube-testenv only, which stops
	// the node in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &nodeProc{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		logFile.Close()
	}()
	n.procs = append(n.procs, p)
	logf("node: %s started (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	return nil
}

// waitFor polls check every 500 ms until it succeeds, a node component exits, or timeout.
func (n *node) waitFor(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		for _, p := range n.procs {
			select {
			case perr := <-p.done:
				p.done <- perr
				return fmt.Errorf("waiting for %s: %s exited (%v); see %s", what, p.name, perr,
					filepath.Join(n.dir, "logs", p.name+".log"))
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v: %v", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// exited reports a node component that stopped on its own.
func (n *node) exited() <-chan string {
	ch := make(chan string, 1)
	for _, p := range n.procs {
		go func(p *nodeProc) {
			err := <-p.done
			p.done <- err
			select {
			case ch <- fmt.Sprintf("%s exited: %v", p.name, err):
			default:
			}
		}(p)
	}
	return ch
}

func (n *node) writeContainerdConfig(sock, pauseRef string) error {
	c := filepath.Join(n.dir, "containerd")
	// Version 4 (containerd 2.x). Every path is under the node's directory; NRI (a machine-wide
	// socket) and the optional plugins' host paths are off or moved. The sandbox these machines
	// run in withholds CAP_SYS_RESOURCE, so no process may lower its oom_score_adj: containers
	// get at least containerd's (restrict_oom_score_adj) instead of the kubelet's negative values
	// for the pause container and Guaranteed pods.
	cfg := fmt.Sprintf(`version = 4
root = %q
state = %q
imports = []

[plugins.'io.containerd.server.v1.grpc']
  address = %q

[plugins.'io.containerd.server.v1.ttrpc']
  address = %q

[plugins.'io.containerd.internal.v1.opt']
  path = %q

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %q

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %q
        Root = %q
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%q]
    conf_dir = %q

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
`, filepath.Join(c, "root"), filepath.Join(c, "state"), sock, sock+".ttrpc", filepath.Join(c, "opt"), pauseRef,
		n.bin("runc"), filepath.Join(c, "runc"), n.bin("cni"), filepath.Join(n.dir, "cni", "net.d"))
	return os.WriteFile(filepath.Join(c, "config.toml"), []byte(cfg), 0o644)
}

// kubeletConfig: cgroup v1 allowed (failCgroupV1: false), the cgroupfs driver (no systemd here),
// client certificates of clientCA and ServiceAccount tokens accepted (webhook), every request
// authorized by the API server (webhook). No cluster DNS. Images are never garbage-collected
// (they cannot be pulled back), and eviction thresholds are low: a busy development machine must
// not evict the pods under test.
func kubeletConfig(containerdSock, clientCA, podLogs string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
resolvConf: ""
failSwapOn: false
maxPods: 30
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
  imagefs.inodesFree: 1%%
serializeImagePulls: false
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
podLogsDir: %s
`, containerdSock, nodeIP, clientCA, podLogs)
}

// kubeProxyConfig: nftables mode, in the node's network namespace; conntrack sysctls that are
// machine-wide (nf_conntrack_max) are left alone.
func kubeProxyConfig(kubeconfig string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: %s:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: %s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, kubeconfig, nodeName, nodeIP, nodeIP, podCIDR)
}

// stop undoes start and prepareNode: the kubelet and kube-proxy, every container, containerd,
// the mounts, the kubepods cgroups, the network namespace, the kernel tunables and the lock.
func (n *node) stop() {
	if n == nil {
		return
	}
	// kube-proxy and the kubelet first (SIGTERM, then SIGKILL after 10 s), containerd last.
	for i := len(n.procs) - 1; i >= 0; i-- {
		p := n.procs[i]
		if p.name == "containerd" {
			continue
		}
		stopProc(p, 10*time.Second)
	}
	killContainers(n.dir)
	for _, p := range n.procs {
		if p.name == "containerd" {
			stopProc(p, 10*time.Second)
		}
	}
	n.procs = nil
	cleanupNodeState(n.dir) // also removes the network
	for k, v := range n.sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			logf("node: restore sysctl %s=%s: %v", k, v, err)
		}
	}
	if n.lock != nil {
		_ = os.Remove(nodeStateFile)
		n.lock.Close()
	}
}

func stopProc(p *nodeProc, grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		logf("node: %s did not stop within %v, killing it", p.name, grace)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// killContainers kills every process in the kubepods cgroups and every containerd shim serving
// the node's containerd (shims outlive containerd on purpose).
func killContainers(nodeDir string) {
	for _, pid := range kubepodsPids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	sock := filepath.Join(nodeDir, "containerd", "containerd.sock")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "containerd-shim-runc-v2" && containsArg(args, sock+".ttrpc", sock) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(200 * time.Millisecond)
}

func containsArg(args []string, want ...string) bool {
	for _, a := range args {
		for _, w := range want {
			if a == w {
				return true
			}
		}
	}
	return false
}

// kubepodsPids lists the processes in any kubepods cgroup (cgroup v1 hierarchies and v2).
func kubepodsPids() []int {
	seen := map[int]bool{}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	var pids []int
	for pid := range seen {
		pids = append(pids, pid)
	}
	return pids
}

// cleanupNodeState removes what a node left under nodeDir: its processes' containers, every
// mount below it (deepest first), the kubepods cgroups and the directory itself. It also serves
// after a crash, from the directory recorded in nodeStateFile.
func cleanupNodeState(nodeDir string) {
	killContainers(nodeDir)
	unmountBelow(nodeDir)
	removeKubepodsCgroups()
	removeHostLeftovers(nodeDir)
	if err := os.RemoveAll(nodeDir); err != nil {
		logf("node: remove %s: %v", nodeDir, err)
	}
	deleteNodeNetwork()
}

func unmountBelow(dir string) {
	prefix := filepath.Clean(dir) + "/"
	for attempt := 0; attempt < 3; attempt++ {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var points []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(unescapeMount(f[4])+"/", prefix) {
				points = append(points, unescapeMount(f[4]))
			}
		}
		if len(points) == 0 {
			return
		}
		sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
		for _, p := range points {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && attempt == 2 {
				logf("node: unmount %s: %v", p, err)
			}
		}
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeKubepodsCgroups removes the kubelet's pod cgroups, children first.
func removeKubepodsCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				logf("node: remove cgroup %s: %v", d, err)
			}
		}
	}
}

// removeHostLeftovers removes what the kubelet, CNI and containerd write outside the node's
// directory: the /var/log/containers links into its pod logs, libcni's cached results of its
// networks and the shims' dead sockets.
func removeHostLeftovers(nodeDir string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, nodeDir+"/") {
			_ = os.Remove(l)
		}
	}
	// (containerd runs the loopback plugin under the network name cni-loopback.)
	results, _ := filepath.Glob("/var/lib/cni/results/kube-testenv-*")
	loopbacks, _ := filepath.Glob("/var/lib/cni/results/cni-loopback-*")
	for _, r := range append(results, loopbacks...) {
		_ = os.Remove(r)
	}
	// containerd's shims put their sockets in /run/containerd/s whatever the state dir: remove
	// the ones nothing listens on any more (no other containerd runs here; a live one answers).
	sockets, _ := filepath.Glob("/run/containerd/s/*")
	for _, sock := range sockets {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
		} else {
			_ = os.Remove(sock)
		}
	}
	// Only empty directories go (rmdir), children first.
	for _, d := range []string{"/run/containerd/s", "/run/containerd", "/var/lib/cni/results", "/var/lib/cni"} {
		_ = syscall.Rmdir(d)
	}
}

// deleteNodeNetwork removes the node's network namespace (its veth end, bridge, pods' veths and
// nftables rules go with it), the host's veth and the route to the pods.
func deleteNodeNetwork() {
	_ = runCmd("ip", "route", "del", podCIDR, "via", nodeIP)
	_ = runCmd("ip", "link", "del", hostVeth)
	if _, err := os.Stat("/run/netns/" + nodeNetns); err != nil {
		return
	}
	if err := runCmd("ip", "netns", "del", nodeNetns); err != nil {
		logf("node: %v", err)
	}
}

// nodeTokens: bearer tokens for the kubelet (system:node:<name> in system:nodes, for the Node
// authorizer) and kube-proxy (system:kube-proxy, bound to system:node-proxier by default).
func nodeTokens() (kubelet, proxy string, lines string, err error) {
	gen := func() (string, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	if kubelet, err = gen(); err != nil {
		return
	}
	if proxy, err = gen(); err != nil {
		return
	}
	lines = fmt.Sprintf("%s,system:node:%s,system:node:%s,\"system:nodes\"\n%s,system:kube-proxy,system:kube-proxy\n",
		kubelet, nodeName, nodeName, proxy)
	return
}

// writeNodePKI writes a CA that the kubelet trusts for client certificates, and the API server's
// client certificate of it (kube-apiserver-kubelet-client in system:masters, which the
// kubelet's webhook authorization allows): logs, exec and port-forward reach the kubelet as the
// API server. Returns the CA file.
func writeNodePKI(pkiDir string) (ca, cert, key string, err error) {
	if err = os.MkdirAll(pkiDir, 0o700); err != nil {
		return
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kube-testenv-node-client-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	clientTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		return
	}
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		return
	}
	ca = filepath.Join(pkiDir, "node-client-ca.crt")
	cert = filepath.Join(pkiDir, "apiserver-kubelet-client.crt")
	key = filepath.Join(pkiDir, "apiserver-kubelet-client.key")
	for path, block := range map[string]*pem.Block{
		ca:   {Type: "CERTIFICATE", Bytes: caDER},
		cert: {Type: "CERTIFICATE", Bytes: clientDER},
		key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err = os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return
		}
	}
	return
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

func clientFor(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// listenNode binds the API server's port on hostIP as well, so pods (through the kubernetes
// Service) and the node's components reach it.
func listenNode(port int) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(hostIP, strconv.Itoa(port)))
}
