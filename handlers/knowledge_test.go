package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/llm/llmfake"
)

func newKnowledgeEnv(t *testing.T) (*testEnv, *llmfake.Server) {
	t.Helper()
	fake := llmfake.New(llmfake.Anthropic)
	fake.Respond = llmfake.Curator
	t.Cleanup(fake.Close)
	env := newTestEnvWithEnv(t, map[string]string{"LLM_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.URL})
	return env, fake
}

// waitRun polls the job API until the run ends.
func (env *testEnv) waitRun(t *testing.T, id string) map[string]any {
	t.Helper()
	for i := 0; i < 200; i++ {
		rec := env.do(request{method: "GET", path: "/api/memory/admin/collect/" + id, token: env.tokens[auth.RoleKMAdmin]})
		got := decodeJSON(t, rec)
		if got["status"] == "done" || got["status"] == "failed" {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the collection did not finish")
	return nil
}

func TestCollectNowFlow(t *testing.T) {
	env, fake := newKnowledgeEnv(t)
	analyst, km := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleKMAdmin]

	rec := env.do(request{method: "POST", path: "/api/upload/local-md", token: analyst,
		body: `{"content":"TIP: Revenue excludes VAT — orders.total is net of VAT\n"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	// Transcripts are off by default: this one is not sent.
	body, ctype := multipartBody(t, nil, "s1.jsonl", []byte(`{"type":"user","message":"TIP: Secret sauce — from a transcript"}`+"\n"))
	if rec := env.do(request{method: "POST", path: "/api/upload/sessions", body: body, ctype: ctype, token: analyst}); rec.Code != http.StatusOK {
		t.Fatalf("session: %d %s", rec.Code, rec.Body)
	}

	for _, tok := range []string{analyst, env.tokens[auth.RoleViewer]} {
		if rec := env.do(request{method: "POST", path: "/api/memory/admin/collect", token: tok}); rec.Code != http.StatusForbidden {
			t.Fatalf("non-admin collect: %d", rec.Code)
		}
	}
	rec = env.do(request{method: "POST", path: "/api/memory/admin/collect", token: km})
	if rec.Code != http.StatusAccepted {
		t.Fatalf("collect: %d %s", rec.Code, rec.Body)
	}
	id := decodeJSON(t, rec)["job_id"].(string)
	run := env.waitRun(t, id)
	if run["status"] != "done" || run["files_read"] != float64(1) || run["items_proposed"] != float64(1) || run["input_tokens"].(float64) <= 0 {
		t.Fatalf("run %v", run)
	}
	for _, c := range fake.Calls() {
		if strings.Contains(c.Prompt, "Secret sauce") {
			t.Fatal("a transcript was sent without consent")
		}
	}
	if rec := env.do(request{method: "GET", path: "/api/memory/admin/collect/nope", token: km}); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown job: %d", rec.Code)
	}

	// The pending item, with provenance.
	rec = env.do(request{method: "GET", path: "/api/memory/admin/pending", token: km})
	var pending struct {
		Items []struct{ ID, Title string } `json:"items"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &pending)
	if len(pending.Items) != 1 || pending.Items[0].Title != "Revenue excludes VAT" {
		t.Fatalf("pending %s", rec.Body)
	}
	item := pending.Items[0].ID
	rec = env.do(request{method: "GET", path: "/api/memory/admin/provenance/" + item, token: km})
	if !strings.Contains(rec.Body.String(), `"location":"line 1"`) || !strings.Contains(rec.Body.String(), "analyst@example.com") {
		t.Fatalf("provenance %s", rec.Body)
	}

	// Not in the bundle until approved.
	rec = env.do(request{method: "GET", path: "/api/memory/bundle", token: analyst})
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "Revenue excludes VAT") {
		t.Fatalf("bundle before approval: %d %s", rec.Code, rec.Body)
	}
	if rec := env.do(request{method: "POST", path: "/api/memory/admin/approve?item_id=" + item, token: km}); rec.Code != http.StatusOK {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body)
	}
	rec = env.do(request{method: "GET", path: "/api/memory/bundle", token: env.tokens[auth.RoleViewer]})
	if !strings.Contains(rec.Body.String(), "### Revenue excludes VAT") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/markdown") {
		t.Fatalf("bundle: %s", rec.Body)
	}

	// Consent: the analyst allows transcripts; the next run sends it.
	if rec := env.do(request{method: "PUT", path: "/api/memory/consent", token: analyst, body: `{"transcripts": "yes"}`}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad consent: %d", rec.Code)
	}
	rec = env.do(request{method: "PUT", path: "/api/memory/consent", token: analyst, body: `{"transcripts": true}`})
	if got := decodeJSON(t, rec); got["transcripts"] != true || got["notes"] != true {
		t.Fatalf("consent %v", got)
	}
	rec = env.do(request{method: "GET", path: "/api/memory/admin/consent", token: km})
	if !strings.Contains(rec.Body.String(), `"email":"analyst@example.com","notes":true,"transcripts":true`) {
		t.Fatalf("admin consent %s", rec.Body)
	}
	id = decodeJSON(t, env.do(request{method: "POST", path: "/api/memory/admin/collect", token: km}))["job_id"].(string)
	if run := env.waitRun(t, id); run["files_read"] != float64(1) || run["status"] != "done" {
		t.Fatalf("second run %v", run)
	}
	// History.
	rec = env.do(request{method: "GET", path: "/api/memory/admin/collect", token: km})
	if got := decodeJSON(t, rec); len(got["runs"].([]any)) != 2 || got["configured"] != true {
		t.Fatalf("history %v", got)
	}
}

func TestCollectWithoutLLM(t *testing.T) {
	env := newTestEnv(t)
	rec := env.do(request{method: "POST", path: "/api/memory/admin/collect", token: env.tokens[auth.RoleKMAdmin]})
	if rec.Code != http.StatusConflict || !strings.Contains(decodeJSON(t, rec)["detail"].(string), "ANTHROPIC_API_KEY") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rec := env.do(request{method: "GET", path: "/api/memory/admin/collect", token: env.tokens[auth.RoleKMAdmin]}); !strings.Contains(rec.Body.String(), `"configured":false`) {
		t.Fatalf("%s", rec.Body)
	}
	_ = os.Remove(filepath.Join(env.srv.cfg.DataDir, "nothing"))
}

func TestCollectionAdminPage(t *testing.T) {
	env, _ := newKnowledgeEnv(t)
	rec := env.do(request{method: "POST", path: "/api/upload/local-md", token: env.tokens[auth.RoleAnalyst],
		body: `{"content":"intro\nTIP: Fiscal year — starts in April\n"}`})
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Body)
	}
	b := env.browser()
	b.login("km_admin@example.com", testPassword)
	page := b.do("GET", "/corporate-memory/admin?tab=collect", nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `data-testid="km-collect-now"`) ||
		!strings.Contains(page.Body.String(), "analyst@example.com") {
		t.Fatalf("collect tab: %d %s", page.Code, page.Body)
	}
	// Without the CSRF token the form is refused and nothing runs.
	if rec := b.do("POST", "/corporate-memory/admin/collect", url.Values{}); rec.Code != http.StatusForbidden {
		t.Fatalf("no csrf: %d", rec.Code)
	}
	rec = b.do("POST", "/corporate-memory/admin/collect", url.Values{"_csrf": {b.csrf}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("collect now: %d %s", rec.Code, rec.Body)
	}
	env.srv.knowledge.Wait()
	page = b.do("GET", "/corporate-memory/admin?tab=collect", nil)
	if !strings.Contains(page.Body.String(), `data-testid="km-run" data-status="done"`) {
		t.Fatalf("history: %s", page.Body)
	}
	page = b.do("GET", "/corporate-memory/admin", nil)
	body := page.Body.String()
	if !strings.Contains(body, "Fiscal year") || !strings.Contains(body, `data-testid="km-source-excerpt">TIP: Fiscal year — starts in April</pre>`) ||
		!strings.Contains(body, "line 2") {
		t.Fatalf("pending with provenance: %s", body)
	}
	// A viewer cannot see the page.
	v := env.browser()
	v.login("viewer@example.com", testPassword)
	if rec := v.do("GET", "/corporate-memory/admin?tab=collect", nil); rec.Code != http.StatusForbidden {
		t.Fatalf("viewer: %d", rec.Code)
	}
}

func TestCollectionTabWithoutLLM(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser()
	b.login("km_admin@example.com", testPassword)
	page := b.do("GET", "/corporate-memory/admin?tab=collect", nil)
	if !strings.Contains(page.Body.String(), `data-testid="km-collect-unconfigured"`) || !strings.Contains(page.Body.String(), "LLM_PROVIDER") {
		t.Fatalf("%s", page.Body)
	}
}
