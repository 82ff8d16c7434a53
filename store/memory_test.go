package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// knowledgeFixture creates items by title: status and author per item, returning title → id.
func knowledgeFixture(t *testing.T, s *Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	items := []KnowledgeItem{
		{Title: "Revenue definition", Content: "Revenue is net of VAT", Category: "finance", Tags: []string{"kpi", "revenue"}, Status: KnowledgeApproved, SourceUser: "ann@example.com"},
		{Title: "Churn rule", Content: "A customer churns after 90 days", Category: "product", Status: KnowledgeMandatory, SourceUser: "bob@example.com"},
		{Title: "Ann's draft", Content: "Refunds reduce revenue", Category: "finance", Status: KnowledgePending, SourceUser: "ann@example.com"},
		{Title: "Bob's draft", Content: "Secret pending idea", Category: "ops", Status: KnowledgePending, SourceUser: "bob@example.com"},
		{Title: "Bob's rejected", Content: "Wrong revenue claim", Category: "finance", Status: KnowledgeRejected, SourceUser: "bob@example.com"},
		{Title: "Old rule", Content: "Superseded", Category: "", Status: KnowledgeRevoked, SourceUser: "bob@example.com"},
	}
	ids := map[string]string{}
	for i := range items {
		if err := s.CreateKnowledge(ctx, &items[i]); err != nil {
			t.Fatalf("create %q: %v", items[i].Title, err)
		}
		ids[items[i].Title] = items[i].ID
		time.Sleep(2 * time.Millisecond) // distinct updated_at for a stable default order
	}
	return ids
}

func titles(items []KnowledgeItem) []string {
	out := make([]string, 0, len(items))
	for _, k := range items {
		out = append(out, k.Title)
	}
	return out
}

func TestListKnowledgeVisibilityAndFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		knowledgeFixture(t, s)
		ctx := context.Background()
		cases := []struct {
			name   string
			f      KnowledgeFilter
			want   []string // in order
			wantN  int      // total
			sorted bool     // compare as sets
		}{
			{name: "ann sees published and own pending", f: KnowledgeFilter{Viewer: "ann@example.com"},
				want: []string{"Old rule", "Churn rule", "Revenue definition", "Ann's draft"}, wantN: 4, sorted: true},
			{name: "bob sees own pending and rejected", f: KnowledgeFilter{Viewer: "bob@example.com"},
				want: []string{"Old rule", "Bob's rejected", "Bob's draft", "Churn rule", "Revenue definition"}, wantN: 5, sorted: true},
			{name: "anonymous viewer sees only published", f: KnowledgeFilter{},
				want: []string{"Old rule", "Churn rule", "Revenue definition"}, wantN: 3, sorted: true},
			{name: "see all", f: KnowledgeFilter{SeeAll: true}, wantN: 6},
			{name: "status filter pending for a stranger", f: KnowledgeFilter{Viewer: "eve@example.com", Status: KnowledgePending}, want: []string{}, wantN: 0},
			{name: "status filter pending for km admin", f: KnowledgeFilter{SeeAll: true, Status: KnowledgePending},
				want: []string{"Bob's draft", "Ann's draft"}, wantN: 2},
			{name: "category", f: KnowledgeFilter{SeeAll: true, Category: "finance"},
				want: []string{"Bob's rejected", "Ann's draft", "Revenue definition"}, wantN: 3},
			{name: "search is case-insensitive over title, content, tags", f: KnowledgeFilter{SeeAll: true, Search: "REVENUE"},
				want: []string{"Bob's rejected", "Ann's draft", "Revenue definition"}, wantN: 3},
			{name: "search matches a tag", f: KnowledgeFilter{SeeAll: true, Search: "kpi"}, want: []string{"Revenue definition"}, wantN: 1},
			{name: "search respects visibility", f: KnowledgeFilter{Viewer: "eve@example.com", Search: "revenue"},
				want: []string{"Revenue definition"}, wantN: 1},
			{name: "search respects status and category", f: KnowledgeFilter{SeeAll: true, Search: "revenue", Status: KnowledgePending, Category: "finance"},
				want: []string{"Ann's draft"}, wantN: 1},
			{name: "search with wildcard characters is literal", f: KnowledgeFilter{SeeAll: true, Search: "%"}, want: []string{}, wantN: 0},
			{name: "search paged", f: KnowledgeFilter{SeeAll: true, Search: "revenue", Limit: 2, Offset: 2},
				want: []string{"Revenue definition"}, wantN: 3},
			{name: "author", f: KnowledgeFilter{SeeAll: true, Author: "ann@example.com"},
				want: []string{"Ann's draft", "Revenue definition"}, wantN: 2},
			{name: "sort by title", f: KnowledgeFilter{SeeAll: true, Sort: "title", Limit: 3},
				want: []string{"Churn rule", "Ann's draft", "Bob's draft"}, wantN: 6}, // mandatory pinned first
			{name: "sort by created_at", f: KnowledgeFilter{SeeAll: true, Sort: "created_at", Limit: 2},
				want: []string{"Churn rule", "Old rule"}, wantN: 6},
			{name: "offset past the end", f: KnowledgeFilter{SeeAll: true, Limit: 10, Offset: 50}, want: []string{}, wantN: 6},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				items, total, err := s.ListKnowledge(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if total != tc.wantN {
					t.Errorf("total %d, want %d", total, tc.wantN)
				}
				if tc.want == nil {
					if len(items) != tc.wantN {
						t.Errorf("%d items, want %d", len(items), tc.wantN)
					}
					return
				}
				got, want := titles(items), slices.Clone(tc.want)
				if tc.sorted {
					slices.Sort(got)
					slices.Sort(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %q, want %q", got, want)
				}
				for _, k := range items {
					if !tc.f.Visible(&k) {
						t.Errorf("Visible disagrees with SQL for %q", k.Title)
					}
				}
			})
		}
	})
}

func TestKnowledgeVisibleMatchesSQL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		knowledgeFixture(t, s)
		ctx := context.Background()
		all, _, err := s.ListKnowledge(ctx, KnowledgeFilter{SeeAll: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, viewer := range []string{"", "ann@example.com", "bob@example.com", "eve@example.com"} {
			f := KnowledgeFilter{Viewer: viewer}
			seen, _, err := s.ListKnowledge(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			in := map[string]bool{}
			for _, k := range seen {
				in[k.ID] = true
			}
			for _, k := range all {
				if f.Visible(&k) != in[k.ID] {
					t.Errorf("viewer %q, item %q: Visible=%v, listed=%v", viewer, k.Title, f.Visible(&k), in[k.ID])
				}
			}
		}
	})
}

func TestKnowledgeVotes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ids := knowledgeFixture(t, s)
		ctx := context.Background()
		rev, churn, draft := ids["Revenue definition"], ids["Churn rule"], ids["Ann's draft"]
		steps := []struct {
			name             string
			item, user       string
			vote             int
			wantUp, wantDown int
			wantErr          error
		}{
			{name: "u1 up", item: rev, user: "u1", vote: 1, wantUp: 1},
			{name: "u2 up", item: rev, user: "u2", vote: 1, wantUp: 2},
			{name: "u3 down", item: rev, user: "u3", vote: -1, wantUp: 2, wantDown: 1},
			{name: "u1 replaces with down", item: rev, user: "u1", vote: -1, wantUp: 1, wantDown: 2},
			{name: "u1 votes down again (idempotent)", item: rev, user: "u1", vote: -1, wantUp: 1, wantDown: 2},
			{name: "u2 withdraws", item: rev, user: "u2", vote: 0, wantUp: 0, wantDown: 2},
			{name: "u2 withdraws again", item: rev, user: "u2", vote: 0, wantUp: 0, wantDown: 2},
			{name: "u1 up on mandatory", item: churn, user: "u1", vote: 1, wantUp: 1},
			{name: "vote on pending is a conflict", item: draft, user: "u1", vote: 1, wantErr: ErrConflict},
			{name: "withdrawal on pending is allowed", item: draft, user: "u1", vote: 0},
			{name: "unknown item", item: "nope", user: "u1", vote: 1, wantErr: ErrNotFound},
			{name: "withdraw on unknown item", item: "nope", user: "u1", vote: 0, wantErr: ErrNotFound},
		}
		for _, st := range steps {
			up, down, err := s.VoteKnowledge(ctx, st.item, st.user, st.vote)
			if st.wantErr != nil {
				if !errors.Is(err, st.wantErr) {
					t.Errorf("%s: err %v, want %v", st.name, err, st.wantErr)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if up != st.wantUp || down != st.wantDown {
				t.Errorf("%s: %d/%d, want %d/%d", st.name, up, down, st.wantUp, st.wantDown)
			}
		}
		if _, _, err := s.VoteKnowledge(ctx, rev, "u1", 2); err == nil {
			t.Error("vote 2 accepted")
		}
		k, err := s.KnowledgeByID(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		if k.Upvotes != 0 || k.Downvotes != 2 || k.Score() != -2 {
			t.Errorf("item counts %d/%d score %d", k.Upvotes, k.Downvotes, k.Score())
		}
		votes, err := s.KnowledgeVotesOf(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if len(votes) != 2 || votes[rev] != -1 || votes[churn] != 1 {
			t.Errorf("u1 votes %v", votes)
		}
		if votes, _ := s.KnowledgeVotesOf(ctx, "u2"); len(votes) != 0 {
			t.Errorf("u2 withdrew but has %v", votes)
		}

		// Sort by score: churn (+1), then the unvoted items, then revenue (-2).
		items, _, err := s.ListKnowledge(ctx, KnowledgeFilter{Sort: "score", Viewer: "eve@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		got := titles(items)
		if got[0] != "Churn rule" || got[len(got)-1] != "Revenue definition" {
			t.Errorf("score order %q", got)
		}
	})
}

func TestKnowledgeStats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		knowledgeFixture(t, s)
		ctx := context.Background()
		cases := []struct {
			name     string
			f        KnowledgeFilter
			total    int
			byStatus map[string]int
			cats     []string
		}{
			{name: "all", f: KnowledgeFilter{SeeAll: true}, total: 6,
				byStatus: map[string]int{"approved": 1, "mandatory": 1, "pending": 2, "rejected": 1, "revoked": 1},
				cats:     []string{"finance", "ops", "product"}},
			{name: "stranger", f: KnowledgeFilter{Viewer: "eve@example.com"}, total: 3,
				byStatus: map[string]int{"approved": 1, "mandatory": 1, "revoked": 1}, cats: []string{"finance", "product"}},
			{name: "bob; other filter fields ignored", f: KnowledgeFilter{Viewer: "bob@example.com", Status: "approved", Category: "x"}, total: 5,
				byStatus: map[string]int{"approved": 1, "mandatory": 1, "pending": 1, "rejected": 1, "revoked": 1},
				cats:     []string{"finance", "ops", "product"}},
		}
		for _, tc := range cases {
			total, by, cats, err := s.KnowledgeStats(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if total != tc.total || len(by) != len(tc.byStatus) || !slices.Equal(cats, tc.cats) {
				t.Errorf("%s: total %d by %v cats %v", tc.name, total, by, cats)
			}
			for k, v := range tc.byStatus {
				if by[k] != v {
					t.Errorf("%s: by_status[%s] = %d, want %d", tc.name, k, by[k], v)
				}
			}
		}
	})
}

func TestKnowledgeEditAndStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ids := knowledgeFixture(t, s)
		ctx := context.Background()
		id := ids["Ann's draft"]
		before, err := s.KnowledgeByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(before.Tags) != 0 || before.SourceUser != "ann@example.com" || before.Status != KnowledgePending {
			t.Fatalf("fixture item %+v", before)
		}

		// An empty edit changes nothing, not even updated_at.
		fields, err := s.EditKnowledge(ctx, id, KnowledgeEdit{})
		if err != nil || len(fields) != 0 {
			t.Fatalf("empty edit: %v %v", fields, err)
		}
		if k, _ := s.KnowledgeByID(ctx, id); !k.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("empty edit moved updated_at")
		}

		time.Sleep(2 * time.Millisecond)
		title, content, cat, tags := "Refund rule", "Refunds reduce net revenue", "", []string{"refunds"}
		fields, err = s.EditKnowledge(ctx, id, KnowledgeEdit{Title: &title, Content: &content, Category: &cat, Tags: &tags})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fields, []string{"title", "content", "category", "tags"}) {
			t.Errorf("fields %v", fields)
		}
		k, err := s.KnowledgeByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Title != title || k.Content != content || k.Category != "" || !slices.Equal(k.Tags, tags) || !k.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("after edit %+v", k)
		}
		if !k.CreatedAt.Equal(before.CreatedAt) || k.Status != KnowledgePending {
			t.Errorf("edit changed created_at or status: %+v", k)
		}
		empty := []string{}
		if _, err := s.EditKnowledge(ctx, id, KnowledgeEdit{Tags: &empty}); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.KnowledgeByID(ctx, id); len(k.Tags) != 0 {
			t.Errorf("tags not cleared: %v", k.Tags)
		}
		blank := "  "
		if _, err := s.EditKnowledge(ctx, id, KnowledgeEdit{Title: &blank}); err == nil {
			t.Error("blank title accepted")
		}

		aud := "sales team"
		if err := s.SetKnowledgeStatus(ctx, id, KnowledgeMandatory, &aud); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.KnowledgeByID(ctx, id); k.Status != KnowledgeMandatory || k.Audience != aud {
			t.Errorf("after mandate %+v", k)
		}
		if err := s.SetKnowledgeStatus(ctx, id, KnowledgeRevoked, nil); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.KnowledgeByID(ctx, id); k.Status != KnowledgeRevoked || k.Audience != aud {
			t.Errorf("after revoke (audience kept) %+v", k)
		}
		if err := s.SetKnowledgeStatus(ctx, id, "bogus", nil); err == nil {
			t.Error("bogus status accepted")
		}
		if k, _ := s.KnowledgeByID(ctx, id); k.Status != KnowledgeRevoked {
			t.Errorf("bogus status changed the item: %s", k.Status)
		}

		notFound := []struct {
			name string
			err  error
		}{
			{"by id", func() error { _, err := s.KnowledgeByID(ctx, "nope"); return err }()},
			{"status", s.SetKnowledgeStatus(ctx, "nope", KnowledgeApproved, nil)},
			{"edit", func() error { _, err := s.EditKnowledge(ctx, "nope", KnowledgeEdit{Title: &title}); return err }()},
			{"empty edit", func() error { _, err := s.EditKnowledge(ctx, "nope", KnowledgeEdit{}); return err }()},
		}
		for _, tc := range notFound {
			if !errors.Is(tc.err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", tc.name, tc.err)
			}
		}
	})
}

func TestCreateKnowledge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		cases := []struct {
			name    string
			item    KnowledgeItem
			wantErr bool
		}{
			{name: "defaults to pending", item: KnowledgeItem{Title: "T", Content: "C"}},
			{name: "blank title", item: KnowledgeItem{Title: "  "}, wantErr: true},
			{name: "bad status", item: KnowledgeItem{Title: "T", Status: "weird"}, wantErr: true},
		}
		for _, tc := range cases {
			k := tc.item
			err := s.CreateKnowledge(ctx, &k)
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s: err %v", tc.name, err)
			}
			if err != nil {
				continue
			}
			got, err := s.KnowledgeByID(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != KnowledgePending || got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) || got.Tags == nil {
				t.Errorf("%s: stored %+v", tc.name, got)
			}
		}
		if _, n, _ := s.ListKnowledge(ctx, KnowledgeFilter{SeeAll: true}); n != 1 {
			t.Errorf("%d items stored, want 1 (refused items must not be stored)", n)
		}
	})
}
