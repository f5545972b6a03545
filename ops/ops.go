// Package ops is what an operator of dmdoctor looks at: Prometheus metrics
// (through github.com/prometheus/client_golang) fed by the engine's hooks
// and the channels' bot.Observer, and the operations HTTP server with
// /healthz, /readyz and /metrics. It sits beside the pipeline: cmd/dmdoctor
// wires it into the engine and the channels.
package ops

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dmdoctor/dmdoctor/bot"
)

// Metrics holds dmdoctor's Prometheus metrics. It implements bot.Observer
// and provides bot.Hooks for the engine. Safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	messagesIn  *prometheus.CounterVec
	messagesOut *prometheus.CounterVec
	apiErrors   *prometheus.CounterVec
	retries     *prometheus.CounterVec
	undelivered *prometheus.CounterVec
	intents     *prometheus.CounterVec
	causes      *prometheus.CounterVec
	confidence  prometheus.Histogram
	turnLatency prometheus.Histogram
	handoffs    *prometheus.CounterVec
	timeToClaim prometheus.Histogram
	limited     *prometheus.CounterVec
}

var _ bot.Observer = (*Metrics)(nil)

// NewMetrics registers dmdoctor's metrics, plus Go and process metrics, in
// a new registry. openTickets, when not nil, is called at scrape time for
// the open-tickets gauge.
func NewMetrics(openTickets func() float64) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry:    r,
		messagesIn:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_messages_in_total", Help: "User messages received, by channel."}, []string{"channel"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_messages_out_total", Help: "Messages sent, by channel."}, []string{"channel"}),
		apiErrors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_channel_api_errors_total", Help: "Failed calls to a channel's API, by channel and call."}, []string{"channel", "op"}),
		retries:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_channel_retries_total", Help: "Retried calls to a channel's API, by channel."}, []string{"channel"}),
		undelivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_replies_undelivered_total", Help: "Replies that finally could not be delivered, by channel."}, []string{"channel"}),
		intents:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_intents_total", Help: "Intents detected in user messages."}, []string{"intent"}),
		causes:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_causes_total", Help: "Turns that ended with a cause in focus, by cause."}, []string{"cause"}),
		confidence: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dmdoctor_classifier_confidence", Help: "Confidence of the classifier's best intent.",
			Buckets: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99}}),
		turnLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dmdoctor_turn_seconds", Help: "Time to run one turn, store and delivery included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_handoffs_total", Help: "Conversations handed to moderators, by reason."}, []string{"reason"}),
		timeToClaim: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dmdoctor_time_to_claim_seconds", Help: "Time from a ticket's creation to its claim.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600}}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmdoctor_rate_limited_total", Help: "Messages dropped by the abuse limits, by limit."}, []string{"limit"}),
	}
	r.MustRegister(m.messagesIn, m.messagesOut, m.apiErrors, m.retries, m.undelivered, m.intents, m.causes,
		m.confidence, m.turnLatency, m.handoffs, m.timeToClaim, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if openTickets != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dmdoctor_open_tickets", Help: "Hand-off tickets pending or claimed."}, openTickets))
	}
	return m
}

// MessageIn implements bot.Observer.
func (m *Metrics) MessageIn(channel string) { m.messagesIn.WithLabelValues(channel).Inc() }

// MessageOut implements bot.Observer.
func (m *Metrics) MessageOut(channel string) { m.messagesOut.WithLabelValues(channel).Inc() }

// APIError implements bot.Observer.
func (m *Metrics) APIError(channel, op string) { m.apiErrors.WithLabelValues(channel, op).Inc() }

// Retry implements bot.Observer.
func (m *Metrics) Retry(channel string) { m.retries.WithLabelValues(channel).Inc() }

// Undelivered implements bot.Observer.
func (m *Metrics) Undelivered(channel string) { m.undelivered.WithLabelValues(channel).Inc() }

// Limited counts a message dropped by an abuse limit.
func (m *Metrics) Limited(limit string) { m.limited.WithLabelValues(limit).Inc() }

// Hooks returns the engine hooks that feed these metrics.
func (m *Metrics) Hooks() bot.Hooks {
	return bot.Hooks{
		Turn: func(channel string, t bot.Turn, d time.Duration) {
			m.turnLatency.Observe(d.Seconds())
			if t.Intent != "" {
				m.intents.WithLabelValues(t.Intent).Inc()
				m.confidence.Observe(t.Confidence)
			}
			if t.Cause != "" {
				m.causes.WithLabelValues(t.Cause).Inc()
			}
		},
		Handoff: func(reason string) { m.handoffs.WithLabelValues(reason).Inc() },
		Claimed: func(waited time.Duration) { m.timeToClaim.Observe(waited.Seconds()) },
		Limited: m.Limited,
	}
}

// Check is one readiness check: nil when ready.
type Check func(ctx context.Context) error

// Server is the operations HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener

	mu     sync.Mutex
	checks map[string]Check
}

// NewServer listens on addr (host:port; use a loopback address unless
// the metrics are meant to be scraped from elsewhere) and serves /healthz
// (the process is alive), /readyz (every readiness check passes) and
// /metrics.
func NewServer(addr string, m *Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, checks: map[string]Check{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AddCheck adds a readiness check under a name.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	s.checks[name] = c
	s.mu.Unlock()
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var body []byte
	ok := true
	for _, name := range sortedKeys(checks) {
		if err := checks[name](ctx); err != nil {
			ok = false
			body = append(body, name+": not ready\n"...)
		} else {
			body = append(body, name+": ok\n"...)
		}
	}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Write(body)
}

// Run serves until ctx ends, then shuts down within 5 seconds.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

func sortedKeys(m map[string]Check) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
