package broker

import (
	"net"
	"net/http"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
)

const (
	// readHeaderTimeout bounds how long a client may take to send a request's headers.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds how long a client may take to send a whole request, headers and a
	// body of at most maxBodyBytes, so a half-sent body cannot hold a connection for long.
	readTimeout = 30 * time.Second
	// writeTimeout runs from the end of the headers, so it covers reading the body and the
	// longest wait a request may be given (MaxSyncBudget), with room to write the answer.
	writeTimeout = readTimeout + MaxSyncBudget + 10*time.Second
	// idleTimeout closes a keep-alive connection that carries no request. It is longer than
	// the 90 s idle timeout of Go's and gorouter's connection pools, so a client closes an
	// idle connection before the broker does and never sends a request into one the broker
	// is closing.
	idleTimeout = 120 * time.Second

	// MaxConnections is the most connections the API holds open at once, whatever the file
	// limit: enough for several hundred concurrent requests (a burst of 200 provisions
	// leaves room for as many again), while the rest wait in the kernel's accept queue.
	MaxConnections = 4096
	// reservedFiles is what the connection bound leaves of the process's file limit for
	// everything else: the state database pool and its LISTEN session, the pools of the
	// backend nodes (up to 16 connections each), the catalog and TLS files.
	reservedFiles = 256
)

// NewServer returns the HTTP server of handler (from Handler), with the timeouts that belong
// to the connection rather than to the chain. TLS is not a stage of the chain either: it is
// the listener's (tls.NewListener with TLSConfig, whose GetCertificate re-reads the PEM
// files), and the server's handshake deadline is the least of these timeouts.
func NewServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// LimitConnections returns l, accepting no more connections while ConnectionLimit of them
// are open. A connection over the bound waits in the kernel's accept queue instead of taking
// a file descriptor, so a flood of connections can delay requests but not make the process
// fail to open its own files and database connections ("too many open files").
func LimitConnections(l net.Listener) net.Listener {
	return netutil.LimitListener(l, ConnectionLimit())
}

// ConnectionLimit is how many connections LimitConnections lets the API hold open: the
// process's file limit (RLIMIT_NOFILE) less reservedFiles, at most MaxConnections and at
// least 64.
func ConnectionLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return MaxConnections
	}
	return connectionLimit(rl.Cur)
}

func connectionLimit(files uint64) int {
	switch {
	case files < 64+reservedFiles:
		return 64
	case files-reservedFiles > MaxConnections:
		return MaxConnections
	default:
		return int(files - reservedFiles)
	}
}
