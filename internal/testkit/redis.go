package testkit

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// RedisServer is a redis-server of a suite's own on 127.0.0.1, in memory only, for specs that
// stop a node or need one configured otherwise than the shared server.
type RedisServer struct {
	// Addr is host:port.
	Addr string
	Port int

	// CAFile is the PEM file of the CA that signed the server's certificate, when it was
	// started with TLS (StartRedisTLS).
	CAFile string

	cmd  *exec.Cmd
	dir  string
	tls  *tls.Config
	done chan struct{}
	once sync.Once
}

// redisReadyTimeout bounds how long a redis-server may take to answer.
const redisReadyTimeout = 20 * time.Second

// StartRedis runs redis-server on port (0 for a free one) with extra configuration directives
// (such as SecuredRedisArgs(), or "--user", "default", "off"), waits until it answers, and
// stops it at cleanup.
func StartRedis(t TB, port int, extra ...string) *RedisServer {
	t.Helper()
	if port == 0 {
		port = FreePort(t)
	}
	return startRedis(t, port, nil, append([]string{"--port", strconv.Itoa(port)}, extra...))
}

// startRedis runs redis-server on port with the configuration directives extra, which say
// where it listens; tlsConf is how a client reaches it over TLS, nil for plain TCP.
func startRedis(t TB, port int, tlsConf *tls.Config, extra []string) *RedisServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "omnibroker-redis-")
	if err != nil {
		t.Fatalf("make the redis-server's directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	args := append([]string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, extra...)
	r := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, dir: dir, tls: tlsConf, done: make(chan struct{})}
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server (scripts/services redis installs it): %v", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(r.Stop)
	if err := r.awaitReady(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		t.Fatalf("redis-server on port %d: %v\n%s", port, err, log)
	}
	return r
}

// Stop kills the server and waits until it has gone; only its first call does anything.
func (r *RedisServer) Stop() {
	r.once.Do(func() {
		_ = r.cmd.Process.Kill()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// awaitReady waits until the server replies to PING: PONG, or NOAUTH when it wants a login.
func (r *RedisServer) awaitReady() error {
	deadline := time.Now().Add(redisReadyTimeout)
	for {
		select {
		case <-r.done:
			return fmt.Errorf("redis-server exited: %v", r.cmd.ProcessState)
		default:
		}
		if redisReplies(r.Addr, r.tls) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no reply to PING within %s", redisReadyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func redisReplies(addr string, tlsConf *tls.Config) bool {
	d := &net.Dialer{Timeout: time.Second}
	var c net.Conn
	var err error
	if tlsConf != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tlsConf)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (line[0] == '+' || line[0] == '-')
}

// SecuredRedisArgs configure a redis-server as scripts/services leaves the local one: the
// default user off (while it has no password anyone may log in as it), and the admin user
// RedisAdminUser with every right and RedisAdminPassword, given as its SHA-256 so that it stays
// out of the process list.
func SecuredRedisArgs() []string {
	sum := sha256.Sum256([]byte(RedisAdminPassword))
	return []string{"--user", "default", "off", "--user", RedisAdminUser, "on", "#" + hex.EncodeToString(sum[:]), "~*", "&*", "+@all"}
}

// Server is the server started with SecuredRedisArgs as a Server, whose URL is its admin's.
// Started with TLS, its URL is rediss://.
func (r *RedisServer) Server() Server {
	scheme := "redis://"
	if r.tls != nil {
		scheme = "rediss://"
	}
	return Server{What: "the private redis-server", Default: scheme + RedisAdminUser + ":" + RedisAdminPassword + "@" + r.Addr}
}
