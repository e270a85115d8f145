package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/broker"
)

// processCollectors are the metrics of the process that /metrics serves beside the broker's:
// the backends' call latency (calls), omnibroker_build_info, and the Go runtime's and the
// process's own (go_*, process_*).
func processCollectors(calls *backends.CallMetrics) []prometheus.Collector {
	v, c := build()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "omnibroker_build_info",
		Help:        "Always 1; its labels say which build of the broker runs.",
		ConstLabels: prometheus.Labels{"version": v, "commit": c, "goversion": runtime.Version()},
	})
	info.Set(1)
	return []prometheus.Collector{
		calls, info,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}

// metricsShutdown bounds how long the metrics listener's last scrapes may take at shutdown.
const metricsShutdown = 5 * time.Second

// serveMetrics serves scrape at /metrics on a listener of its own at address, with the API's
// TLS when it has one; an empty address serves nothing (the API's port serves /metrics). It
// returns the function that stops it.
func serveMetrics(logger lager.Logger, address string, tlsConfig *tls.Config, scrape http.Handler) (func(), error) {
	if address == "" {
		return func() {}, nil
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("OMNIBROKER_METRICS_LISTEN %s: %w", address, err)
	}
	if tlsConfig != nil {
		listener = tls.NewListener(listener, tlsConfig)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", scrape)
	server := broker.NewServer(mux)
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics-serve-failed", err)
		}
	}()
	logger.Info("serving-metrics", lager.Data{"address": listener.Addr().String(), "tls": tlsConfig != nil})
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdown)
		defer cancel()
		_ = server.Shutdown(ctx)
	}, nil
}
