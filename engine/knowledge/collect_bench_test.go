package knowledge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"da/config"
	"da/llm"
	"da/llm/llmfake"
	"da/store"
)

// timedLLM measures the time spent inside LLM calls.
type timedLLM struct {
	llm.Extractor
	ns atomic.Int64
}

func (t *timedLLM) ExtractJSON(ctx context.Context, r llm.Request) (json.RawMessage, llm.Usage, error) {
	start := time.Now()
	out, u, err := t.Extractor.ExtractJSON(ctx, r)
	t.ns.Add(int64(time.Since(start)))
	return out, u, err
}

// BenchmarkCollectionRun: one collection over 200 users' notes and 2,000 transcripts (10 a
// user, every user consenting) against the in-process fake; reports the wall time and the
// time outside the LLM calls.
func BenchmarkCollectionRun(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		st, err := store.Open(filepath.Join(dir, "state", "system.duckdb"))
		if err != nil {
			b.Fatal(err)
		}
		fake := llmfake.New(llmfake.Anthropic)
		fake.Respond = llmfake.Curator
		x, err := llm.New(config.AIConfig{Provider: "anthropic", APIKey: "k", BaseURL: fake.URL, Model: "claude-haiku-4-5-20251001"}, llm.Options{})
		if err != nil {
			b.Fatal(err)
		}
		tl := &timedLLM{Extractor: x}
		ctx := context.Background()
		for u := 0; u < 200; u++ {
			usr := &store.User{Email: fmt.Sprintf("user%03d@example.com", u), Name: "u", Role: "analyst", Active: true}
			if err := st.CreateUser(ctx, usr); err != nil {
				b.Fatal(err)
			}
			_ = st.SetConsent(ctx, store.KnowledgeConsent{UserID: usr.ID, Notes: true, Transcripts: true})
			notes := fmt.Sprintf("# Notes of user %d\nTIP: Shared rule %d — a rule several users know\nTIP: Own tip of user %d — specific knowledge\n%s",
				u, u%20, u, strings.Repeat("some ordinary line of notes\n", 30))
			p := filepath.Join(dir, NotesDir, usr.ID+".md")
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			_ = os.WriteFile(p, []byte(notes), 0o644)
			sd := filepath.Join(dir, SessionsDir, usr.ID)
			_ = os.MkdirAll(sd, 0o755)
			for s := 0; s < 10; s++ {
				var tr strings.Builder
				for m := 0; m < 20; m++ {
					fmt.Fprintf(&tr, `{"type":"user","message":{"role":"user","content":"question %d about the orders table"}}`+"\n", m)
					fmt.Fprintf(&tr, `{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"answer %d with SQL"}]}}`+"\n", m)
				}
				if s == 0 {
					fmt.Fprintf(&tr, `{"type":"user","message":{"role":"user","content":"TIP: Session insight %d — learnt in a session"}}`+"\n", u%50)
				}
				_ = os.WriteFile(filepath.Join(sd, fmt.Sprintf("2026-01-%02d_s%d.jsonl", s+1, s)), []byte(tr.String()), 0o644)
			}
		}
		c := &Collector{Store: st, LLM: tl, DataDir: dir}
		b.StartTimer()
		start := time.Now()
		stats, err := c.Run(ctx, "bench")
		wall := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if stats.FilesRead != 2200 {
			b.Fatalf("files read %d", stats.FilesRead)
		}
		inLLM := time.Duration(tl.ns.Load())
		b.ReportMetric(float64(wall.Milliseconds()), "wall-ms")
		b.ReportMetric(float64((wall - inLLM).Milliseconds()), "outside-llm-ms")
		b.ReportMetric(float64(stats.Usage.Calls), "llm-calls")
		b.ReportMetric(float64(stats.ItemsProposed), "items")
		b.Logf("files %d, calls %d, proposed %d, merged %d, dropped %d, in %d / out %d tokens, wall %v, in LLM %v",
			stats.FilesRead, stats.Usage.Calls, stats.ItemsProposed, stats.ItemsMerged, stats.ItemsDropped,
			stats.Usage.InputTokens, stats.Usage.OutputTokens, wall, inLLM)
		fake.Close()
		_ = st.Close()
	}
}
