package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dmdoctor/dmdoctor/bot"
	"github.com/dmdoctor/dmdoctor/ops"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	m := ops.NewMetrics(func() float64 { return 3 })
	srv, err := ops.NewServer("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	ready := errors.New("not yet")
	srv.AddCheck("store", func(context.Context) error { return nil })
	srv.AddCheck("telegram", func(context.Context) error { return ready })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "telegram: not ready") || !strings.Contains(body, "store: ok") {
		t.Fatalf("/readyz %d %q", code, body)
	}
	ready = nil
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d after ready", code)
	}

	// Feed every kind of event, then scrape.
	h := m.Hooks()
	h.Turn("telegram", bot.Turn{Intent: "network", Confidence: 0.9, Cause: "network"}, 3*time.Millisecond)
	h.Handoff("asked")
	h.Claimed(90 * time.Second)
	h.Limited("user_rate")
	m.MessageIn("telegram")
	m.MessageOut("telegram")
	m.APIError("telegram", "sendMessage")
	m.Retry("telegram")
	m.Undelivered("discord")
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{
		`dmdoctor_messages_in_total{channel="telegram"} 1`,
		`dmdoctor_messages_out_total{channel="telegram"} 1`,
		`dmdoctor_channel_api_errors_total{channel="telegram",op="sendMessage"} 1`,
		`dmdoctor_channel_retries_total{channel="telegram"} 1`,
		`dmdoctor_replies_undelivered_total{channel="discord"} 1`,
		`dmdoctor_intents_total{intent="network"} 1`,
		`dmdoctor_causes_total{cause="network"} 1`,
		`dmdoctor_classifier_confidence_count 1`,
		`dmdoctor_turn_seconds_count 1`,
		`dmdoctor_handoffs_total{reason="asked"} 1`,
		`dmdoctor_time_to_claim_seconds_sum 90`,
		`dmdoctor_rate_limited_total{limit="user_rate"} 1`,
		`dmdoctor_open_tickets 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestServerRefusesBadAddress(t *testing.T) {
	if _, err := ops.NewServer("nope", ops.NewMetrics(nil)); err == nil {
		t.Fatal("listened on a bad address")
	}
}
