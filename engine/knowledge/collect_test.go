package knowledge

import (
	"context"
	"da/store/pgtest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/config"
	"da/llm"
	"da/llm/llmfake"
	"da/store"
)

type fixture struct {
	t    *testing.T
	st   *store.Store
	dir  string
	fake *llmfake.Server
	c    *Collector
	ann  *store.User
	bob  *store.User
}

// opener opens a fresh system database for a fixture in dir.
type opener func(t *testing.T, dir string) (*store.Store, error)

// backends are the two databases the store runs on: every collector test runs on each.
var backends = []struct {
	name string
	open opener
}{
	{store.BackendDuckDB, func(t *testing.T, dir string) (*store.Store, error) {
		return store.Open(filepath.Join(dir, "state", "system.duckdb"))
	}},
	{store.BackendPostgres, func(t *testing.T, _ string) (*store.Store, error) {
		return store.OpenPostgres(context.Background(), pgtest.URL(t))
	}},
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// forEachBackend runs fn as the subtests /duckdb and /postgres.
func forEachBackend(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func newFixture(t *testing.T, open opener) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fake := llmfake.New(llmfake.Anthropic)
	fake.Respond = llmfake.Curator
	t.Cleanup(fake.Close)
	x, err := llm.New(config.AIConfig{Provider: "anthropic", APIKey: "k", BaseURL: fake.URL, Model: "claude-haiku-4-5-20251001"},
		llm.Options{Timeout: 5 * time.Second, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, dir: dir, fake: fake, c: &Collector{Store: st, LLM: x, DataDir: dir}}
	for _, u := range []**store.User{&f.ann, &f.bob} {
		name := "ann"
		if u == &f.bob {
			name = "bob"
		}
		*u = &store.User{Email: name + "@example.com", Name: name, Role: "analyst", Active: true}
		if err := st.CreateUser(context.Background(), *u); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) notes(u *store.User, text string) {
	p := filepath.Join(f.dir, NotesDir, u.ID+".md")
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) transcript(u *store.User, name, text string) {
	p := filepath.Join(f.dir, SessionsDir, u.ID, name)
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) run() Stats {
	f.t.Helper()
	st, err := f.c.Run(context.Background(), "run")
	if err != nil {
		f.t.Fatalf("run: %v", err)
	}
	return st
}

func (f *fixture) items() map[string]store.KnowledgeItem {
	items, _, err := f.st.ListKnowledge(context.Background(), store.KnowledgeFilter{SeeAll: true})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]store.KnowledgeItem{}
	for _, k := range items {
		out[k.Title] = k
	}
	return out
}

func TestCollectorLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		f := newFixture(t, open)
		ctx := context.Background()
		f.notes(f.ann, "# Ann\nTIP: Revenue excludes VAT — orders.total is net of VAT\nTIP: Internal pricing — this is confidential margin data\n")
		f.notes(f.bob, "TIP: Revenue excludes VAT — use orders.total, it has no VAT\n")
		f.transcript(f.ann, "s1.jsonl", `{"type":"user","message":{"role":"user","content":"TIP: Churn window — churn means 90 days inactive"}}`+"\n")

		st := f.run()
		if st.FilesRead != 2 { // the transcript is not read: consent is off by default
			t.Fatalf("files read %d, want 2", st.FilesRead)
		}
		for _, c := range f.fake.Calls() {
			if strings.Contains(c.Prompt, "Churn window") {
				t.Fatal("a transcript was sent without consent")
			}
		}
		items := f.items()
		rev, ok := items["Revenue excludes VAT"]
		if !ok || len(items) != 1 {
			t.Fatalf("items %v", items)
		}
		if st.ItemsMerged != 1 || st.ItemsDropped != 1 || st.ItemsProposed != 1 {
			t.Fatalf("stats %+v (merged Ann's and Bob's; dropped the confidential one)", st)
		}
		if rev.Status != store.KnowledgePending || len(rev.Contributors) != 2 || !strings.HasPrefix(rev.ID, "km_") {
			t.Fatalf("item %+v", rev)
		}
		prov, _ := f.st.ProvenanceOf(ctx, []string{rev.ID})
		if len(prov[rev.ID]) != 2 || prov[rev.ID][0].Location != "line 1" && prov[rev.ID][1].Location != "line 1" {
			t.Fatalf("provenance %+v", prov[rev.ID])
		}
		if ex := prov[rev.ID][0].Excerpt + prov[rev.ID][1].Excerpt; !strings.Contains(ex, "orders.total") {
			t.Fatalf("excerpt %q", ex)
		}

		// Nothing changed: no call at all.
		calls := len(f.fake.Calls())
		if st := f.run(); st.FilesRead != 0 || len(f.fake.Calls()) != calls {
			t.Fatalf("unchanged files were read again: %+v", st)
		}

		// The item is approved and voted on; a changed note keeps its id and votes and proposes an edit.
		if err := f.st.GovernKnowledge(ctx, rev.ID, store.KnowledgeApproved, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.st.VoteKnowledge(ctx, rev.ID, f.bob.ID, 1); err != nil {
			t.Fatal(err)
		}
		f.notes(f.ann, "# Ann\nTIP: Revenue excludes VAT — orders.total is net of VAT; gross is in orders.gross\n")
		if err := f.st.SetConsent(ctx, store.KnowledgeConsent{UserID: f.ann.ID, Notes: true, Transcripts: true}); err != nil {
			t.Fatal(err)
		}
		st = f.run()
		items = f.items()
		again := items["Revenue excludes VAT"]
		if again.ID != rev.ID || again.Upvotes != 1 || again.Status != store.KnowledgeApproved || again.Content != rev.Content {
			t.Fatalf("approved item changed: %+v", again)
		}
		states, _ := f.st.KnowledgeItemStates(ctx)
		if !strings.Contains(states[rev.ID].ProposedEdit, "orders.gross") {
			t.Fatalf("no edit proposed: %+v", states[rev.ID])
		}
		if _, ok := items["Churn window"]; !ok || st.FilesRead != 2 {
			t.Fatalf("with consent the transcript is collected: %+v %v", st, items)
		}

		// Ann deletes her notes line: the item stays, flagged "source gone", once Bob's is gone too.
		f.notes(f.ann, "# Ann\nnothing\n")
		f.notes(f.bob, "nothing here\n")
		f.run()
		states, _ = f.st.KnowledgeItemStates(ctx)
		if _, ok := f.items()["Revenue excludes VAT"]; !ok || !states[rev.ID].SourceGone {
			t.Fatalf("item deleted or not flagged: %+v", states[rev.ID])
		}
	})
}

func TestCollectorAutoPublishAndNoLLM(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		f := newFixture(t, open)
		f.c.Approval = "auto_publish"
		f.notes(f.ann, "TIP: Fiscal year — starts in April\n")
		f.run()
		if k := f.items()["Fiscal year"]; k.Status != store.KnowledgeApproved {
			t.Fatalf("auto_publish: %+v", k)
		}
		f.c.LLM = nil
		if _, err := f.c.Run(context.Background(), "x"); err != llm.ErrNotConfigured {
			t.Fatalf("no LLM: %v", err)
		}
	})
}

func TestCollectorLLMFailureChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		f := newFixture(t, open)
		f.fake.Respond = nil
		f.fake.Queue(llmfake.Reply{StopReason: "max_tokens", Text: `{"items": [`})
		f.notes(f.ann, "TIP: Something — useful\n")
		if _, err := f.c.Run(context.Background(), "x"); llm.KindOf(err) != llm.KindFormat {
			t.Fatalf("truncated answer: %v", err)
		}
		if len(f.items()) != 0 {
			t.Fatal("items created from a failed run")
		}
		seen, _ := f.st.CollectedFiles(context.Background())
		if len(seen) != 0 {
			t.Fatal("files marked collected after a failed run")
		}
	})
}

// TestCollectorOnOpenAICompatWithoutJSONSchema: a server without json_schema support falls
// back to json_object and the collection still works.
func TestCollectorOnOpenAICompatWithoutJSONSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		f := newFixture(t, open)
		fake := llmfake.New(llmfake.OpenAI)
		fake.NoJSONSchema = true
		fake.Respond = llmfake.Curator
		t.Cleanup(fake.Close)
		x, err := llm.New(config.AIConfig{Provider: "openai_compat", APIKey: "k", BaseURL: fake.URL + "/v1", Model: "local-model", StructuredOutput: "auto"},
			llm.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f.c.LLM = x
		f.notes(f.ann, "TIP: Weekly report — runs on Mondays\n")
		if st := f.run(); st.ItemsProposed != 1 {
			t.Fatalf("stats %+v", st)
		}
		calls := fake.Calls()
		if calls[0].Strategy != "json_schema" || calls[1].Strategy != "json_object" || len(calls) != 3 || calls[2].Strategy != "json_object" {
			t.Fatalf("strategies %+v (the refused one is not tried again)", calls)
		}
		if _, ok := f.items()["Weekly report"]; !ok {
			t.Fatal("item not created")
		}
	})
}
