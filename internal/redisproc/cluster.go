package redisproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cluster is a Redis Cluster of private redis-server processes on
// loopback ports.
type Cluster struct {
	Nodes []*Server // masters first, then replicas in creation order
}

// StartCluster starts masters × (1 + replicas) redis-servers with cluster
// mode on, each in its own directory under dir, joins them with
// redis-cli --cluster create, and waits until the cluster reports ok.
func StartCluster(dir string, masters, replicas int, args ...string) (*Cluster, error) {
	if masters < 3 {
		return nil, errors.New("redisproc: a cluster needs at least 3 masters")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli not found in PATH (it comes with redis-server): %w", err)
	}
	cl := &Cluster{}
	var addrs []string
	for i := range masters * (1 + replicas) {
		d := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			cl.Kill()
			return nil, err
		}
		s, err := Start(d, append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
			"--appendonly", "yes",
		}, args...)...)
		if err != nil {
			cl.Kill()
			return nil, err
		}
		cl.Nodes = append(cl.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	create := append([]string{"--cluster", "create"}, addrs...)
	create = append(create, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, create...).CombinedOutput(); err != nil {
		cl.Kill()
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, lastLines(string(out), 5))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, n := range cl.Nodes {
			out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(n.port), "cluster", "info").Output()
			if err != nil || !strings.Contains(string(out), "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return cl, nil
		}
		if time.Now().After(deadline) {
			cl.Kill()
			return nil, errors.New("redisproc: the cluster did not reach cluster_state:ok in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addrs returns every node's host:port.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// URL returns a redis:// URL naming every node, for redstream.Dial.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr()
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			u += "?"
		} else {
			u += "&"
		}
		u += "addr=" + n.Addr()
	}
	return u
}

// Kill stops every node.
func (c *Cluster) Kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
