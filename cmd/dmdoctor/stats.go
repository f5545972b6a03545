package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// runStats prints what happened since a time: conversations, the share
// resolved without a human, hand-offs by reason, time to claim, top
// causes and ratings.
func runStats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var fv flagValues
	fs := newFlagSet("stats", stderr)
	addFlags(fs, &fv)
	since := fs.Duration("since", 30*24*time.Hour, "report on the last `DURATION` (for example 24h, 168h)")
	asJSON := fs.Bool("json", false, "write the figures as one JSON object")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	c, err := loadConfig(fv, noChannels(getenv))
	if err != nil {
		return err
	}
	if c.DatabaseURL == "" && c.DBPath != memoryDB {
		path := c.DBPath
		if path == "" {
			path = defaultDB
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no database at %s: dmdoctor has not run here yet (or give --db FILE / DMDOCTOR_DATABASE_URL)", path)
		}
	}
	s, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Stats(ctx, time.Now().Add(-*since))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(stdout, "since %s (%s)\n", st.Since.Format(time.RFC3339), *since)
	fmt.Fprintf(stdout, "conversations:        %d\n", st.Conversations)
	fmt.Fprintf(stdout, "ended: resolved %d, handed off %d, abandoned %d\n",
		st.Outcomes["resolved"], st.Outcomes["handed_off"], st.Outcomes["abandoned"])
	fmt.Fprintf(stdout, "deflection:           %.1f%% resolved by the assistant without a human\n", 100*st.Deflection)
	fmt.Fprintf(stdout, "hand-offs by reason:  asked %d, exhausted %d, not understood %d\n",
		st.Handoffs["asked"], st.Handoffs["exhausted"], st.Handoffs["not_understood"])
	if st.MedianClaim > 0 {
		fmt.Fprintf(stdout, "median time to claim: %s\n", st.MedianClaim.Round(time.Second))
	} else {
		fmt.Fprintln(stdout, "median time to claim: - (no claimed tickets)")
	}
	fmt.Fprintf(stdout, "open tickets now:     %d\n", st.OpenTickets)
	fmt.Fprintln(stdout, "top causes:")
	if len(st.TopCauses) == 0 {
		fmt.Fprintln(stdout, "  -")
	}
	for i, cc := range st.TopCauses {
		if i == 5 {
			break
		}
		fmt.Fprintf(stdout, "  %-22s %d\n", cc.Cause, cc.Count)
	}
	if st.Ratings > 0 {
		fmt.Fprintf(stdout, "average rating:       %.2f of 5 (%d ratings)\n", st.AvgRating, st.Ratings)
	} else {
		fmt.Fprintln(stdout, "average rating:       - (no ratings)")
	}
	return nil
}

// healthcheck asks the operations server for /healthz (the Docker
// HEALTHCHECK uses it: the image has no curl).
func healthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv(envHTTPAddr)
	if addr == "" {
		return errors.New("healthcheck: DMDOCTOR_HTTP_ADDR is not set")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: %s: %w", envHTTPAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
	}
	return nil
}
