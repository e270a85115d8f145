package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
)

// PostgresCluster is a PostgreSQL cluster of a suite's own, for fault tests that stop, kill or
// reconfigure a server: the machine's shared server is never touched. It lives in a temporary
// directory (data, unix socket and log), listens on a free port of 127.0.0.1, and lets the
// postgres superuser in without a password.
type PostgresCluster struct {
	// Server is the cluster's admin URL, for PostgresAdmin, NewDatabase and the backends.
	Server Server
	// Port is the TCP port of 127.0.0.1 the cluster listens on, the same after a restart.
	Port int
	// Dir holds the data directory, the socket and the log.
	Dir string
	// CAFile is the PEM file of the CA that signed the server's certificate, when it was
	// started with TLS (StartPostgresTLS).
	CAFile string

	bin     string
	sslOpts string
	mu      sync.Mutex
	running bool
}

// StartPostgres runs initdb and starts a private cluster; it is stopped and removed at cleanup.
// initdb refuses to run as root, so as root every PostgreSQL program runs as the postgres user
// (runuser), which the Debian postgresql package creates.
func StartPostgres(t TB) *PostgresCluster {
	t.Helper()
	return startPostgres(t, nil)
}

// startPostgres starts a private cluster, with TLS on (see StartPostgresTLS) when ca is set.
func startPostgres(t TB, ca *CA) *PostgresCluster {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		t.Fatalf("%v", err)
	}
	dir, err := os.MkdirTemp("", "omnibroker-pg-")
	if err != nil {
		t.Fatalf("make the cluster's directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := giveToPostgres(dir); err != nil {
		t.Fatalf("%v", err)
	}
	port := FreePort(t)
	c := &PostgresCluster{
		Server: Server{
			What:    "the private PostgreSQL cluster",
			Default: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		},
		Port: port,
		Dir:  dir,
		bin:  bin,
	}
	if out, err := c.run("initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if ca != nil {
		c.serveTLS(t, ca)
	}
	t.Cleanup(func() {
		if err := c.stop("fast"); err != nil {
			t.Logf("stopping the private cluster: %v; stopping it at once", err)
			_ = c.stop("immediate")
		}
	})
	c.Start(t)
	return c
}

func (c *PostgresCluster) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c *PostgresCluster) logFile() string { return filepath.Join(c.Dir, "postgres.log") }

// Start starts the cluster again after Stop (or Kill), on the same port, and waits until it
// accepts connections. Starting a running cluster does nothing.
func (c *PostgresCluster) Start(t TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.Port, c.Dir) + c.sslOpts
	if out, err := c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(), "-o", opts); err != nil {
		log, _ := os.ReadFile(c.logFile())
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	c.running = true
}

// Stop shuts the cluster down cleanly (pg_ctl's fast mode: sessions are ended) and waits until
// it has. Stopping a stopped cluster does nothing.
func (c *PostgresCluster) Stop(t TB) {
	t.Helper()
	if err := c.stop("fast"); err != nil {
		t.Fatalf("%v", err)
	}
}

// Kill stops the cluster as a crash would (pg_ctl's immediate mode: no checkpoint, recovery
// at the next Start).
func (c *PostgresCluster) Kill(t TB) {
	t.Helper()
	if err := c.stop("immediate"); err != nil {
		t.Fatalf("%v", err)
	}
}

func (c *PostgresCluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if out, err := c.run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", c.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	c.running = false
	return nil
}

// run runs one of the cluster's PostgreSQL programs, as the postgres user when we are root,
// in the cluster's directory (the postgres user may not enter ours).
func (c *PostgresCluster) run(program string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, program)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.Dir
	return cmd.CombinedOutput()
}

// postgresBin is the bin directory of the newest PostgreSQL under /usr/lib/postgresql (where
// Debian's postgresql package puts it), else the one of initdb on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(a) - versionOf(b) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[len(dirs)-1]), nil
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no initdb under /usr/lib/postgresql/*/bin nor on PATH; scripts/services postgres installs it")
	}
	return filepath.Dir(initdb), nil
}

// versionOf is the major version in /usr/lib/postgresql/<version>/bin/initdb, 0 if none.
func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// giveToPostgres makes dir the postgres user's when we are root, so that initdb and the
// server, which run as that user, can write there.
func giveToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("a private PostgreSQL cluster runs as the postgres user, and there is none: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to postgres: %v", filepath.Base(dir), err)
	}
	return nil
}
