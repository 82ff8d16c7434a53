package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSyncStateRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 12, 30, 0, 123456000, time.UTC)

		if _, err := s.GetSyncState(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetSyncState on empty table: err = %v, want ErrNotFound", err)
		}
		in := SyncState{TableID: "orders", LastSync: at, Rows: 10, FileSizeBytes: 2048, UncompressedSizeBytes: 4096,
			Columns: 5, Hash: "abc"}
		if err := s.UpsertSyncState(ctx, in); err != nil {
			t.Fatalf("UpsertSyncState: %v", err)
		}
		got, err := s.GetSyncState(ctx, "orders")
		if err != nil {
			t.Fatalf("GetSyncState: %v", err)
		}
		want := in
		want.Status = SyncStatusOK
		if *got != want {
			t.Fatalf("GetSyncState = %+v, want %+v", *got, want)
		}

		// Upsert replaces every field.
		in2 := SyncState{TableID: "orders", Rows: 11, Hash: "def", Status: SyncStatusUnavailable, Error: "gone"}
		if err := s.UpsertSyncState(ctx, in2); err != nil {
			t.Fatalf("UpsertSyncState again: %v", err)
		}
		if got, _ := s.GetSyncState(ctx, "orders"); *got != in2 {
			t.Fatalf("after second upsert = %+v, want %+v", *got, in2)
		}
		if err := s.UpsertSyncState(ctx, SyncState{TableID: "a_first", LastSync: at}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListSyncStates(ctx)
		if err != nil || len(list) != 2 || list[0].TableID != "a_first" || list[1].TableID != "orders" {
			t.Fatalf("ListSyncStates = %+v, %v; want a_first, orders", list, err)
		}
		stats, err := s.DataStats(ctx, time.Hour)
		if err != nil || stats.Tables != 2 || stats.TotalRows != 11 {
			t.Fatalf("DataStats = %+v, %v", stats, err)
		}
		if err := s.DeleteSyncState(ctx, "orders"); err != nil {
			t.Fatalf("DeleteSyncState: %v", err)
		}
		if err := s.DeleteSyncState(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second DeleteSyncState: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSyncStateRejectsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		cases := []struct {
			name string
			st   SyncState
		}{
			{"empty id", SyncState{}},
			{"blank id", SyncState{TableID: "  "}},
			{"negative rows", SyncState{TableID: "t", Rows: -1}},
			{"negative size", SyncState{TableID: "t", FileSizeBytes: -1}},
			{"negative columns", SyncState{TableID: "t", Columns: -2}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if err := s.UpsertSyncState(ctx, tc.st); err == nil {
					t.Fatal("UpsertSyncState accepted bad input")
				}
				if err := s.ApplySyncChanges(ctx, SyncChanges{Upsert: []SyncState{{TableID: "ok"}, tc.st}}); err == nil {
					t.Fatal("ApplySyncChanges accepted bad input")
				}
			})
		}
		if list, _ := s.ListSyncStates(ctx); len(list) != 0 {
			t.Fatalf("bad input stored rows: %+v", list)
		}
		for _, h := range []SyncHistory{{}, {TableID: "t", Rows: -1}, {TableID: "t", DurationMS: -5}, {TableID: "t", DurationMS: 1 << 40}} {
			if err := s.AddSyncHistory(ctx, h); err == nil {
				t.Fatalf("AddSyncHistory(%+v) accepted bad input", h)
			}
		}
	})
}

func TestSyncHistoryListAndPrune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, tbl := range []string{"a", "b", "a", "a", "b"} {
			h := SyncHistory{TableID: tbl, SyncedAt: base.Add(time.Duration(i) * time.Hour), Rows: int64(i), DurationMS: int64(10 * i)}
			if err := s.AddSyncHistory(ctx, h); err != nil {
				t.Fatalf("AddSyncHistory: %v", err)
			}
		}
		dup := SyncHistory{ID: "fixed", TableID: "a"}
		if err := s.AddSyncHistory(ctx, dup); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSyncHistory(ctx, dup); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate history id: err = %v, want ErrConflict", err)
		}

		cases := []struct {
			table    string
			limit    int
			wantRows []int64 // newest first
		}{
			{"a", 0, []int64{0, 3, 2, 0}}, // "fixed" was synced now, the newest
			{"a", 2, []int64{0, 3}},
			{"b", 10, []int64{4, 1}},
			{"", 3, []int64{0, 4, 3}},
			{"nope", 5, nil},
		}
		for _, tc := range cases {
			got, err := s.ListSyncHistory(ctx, tc.table, tc.limit)
			if err != nil {
				t.Fatalf("ListSyncHistory(%q, %d): %v", tc.table, tc.limit, err)
			}
			var rows []int64
			for i, h := range got {
				rows = append(rows, h.Rows)
				if h.Status != SyncStatusOK || h.ID == "" || (tc.table != "" && h.TableID != tc.table) {
					t.Fatalf("row %+v", h)
				}
				if i > 0 && h.SyncedAt.After(got[i-1].SyncedAt) {
					t.Fatalf("ListSyncHistory(%q) not newest first: %+v", tc.table, got)
				}
			}
			if len(rows) != len(tc.wantRows) {
				t.Fatalf("ListSyncHistory(%q, %d) rows = %v, want %v", tc.table, tc.limit, rows, tc.wantRows)
			}
			for i := range rows {
				if rows[i] != tc.wantRows[i] {
					t.Fatalf("ListSyncHistory(%q, %d) rows = %v, want %v", tc.table, tc.limit, rows, tc.wantRows)
				}
			}
		}

		n, err := s.PruneSyncHistory(ctx, base.Add(2*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("PruneSyncHistory = %d, %v; want 2", n, err)
		}
		if all, _ := s.ListSyncHistory(ctx, "", 0); len(all) != 4 {
			t.Fatalf("after prune %d rows, want 4", len(all))
		}
		if n, err := s.PruneSyncHistory(ctx, base); err != nil || n != 0 {
			t.Fatalf("second prune = %d, %v; want 0", n, err)
		}
	})
}

func TestApplySyncChangesIsAtomic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		if err := s.UpsertSyncState(ctx, SyncState{TableID: "old", Rows: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSyncHistory(ctx, SyncHistory{ID: "taken", TableID: "old"}); err != nil {
			t.Fatal(err)
		}
		// The history id collides: nothing of the batch may be stored.
		bad := SyncChanges{
			Upsert:  []SyncState{{TableID: "new", Rows: 2}},
			Delete:  []string{"old"},
			History: []SyncHistory{{TableID: "new"}, {ID: "taken", TableID: "new"}},
		}
		if err := s.ApplySyncChanges(ctx, bad); !errors.Is(err, ErrConflict) {
			t.Fatalf("ApplySyncChanges with a duplicate id: err = %v, want ErrConflict", err)
		}
		if list, _ := s.ListSyncStates(ctx); len(list) != 1 || list[0].TableID != "old" {
			t.Fatalf("a failed batch changed sync_state: %+v", list)
		}
		if h, _ := s.ListSyncHistory(ctx, "new", 0); len(h) != 0 {
			t.Fatalf("a failed batch added history: %+v", h)
		}
		good := SyncChanges{Upsert: []SyncState{{TableID: "new", Rows: 2}}, Delete: []string{"old", "never_there"},
			History: []SyncHistory{{TableID: "new", Rows: 2}}}
		if err := s.ApplySyncChanges(ctx, good); err != nil {
			t.Fatalf("ApplySyncChanges: %v", err)
		}
		if list, _ := s.ListSyncStates(ctx); len(list) != 1 || list[0].TableID != "new" || list[0].Rows != 2 {
			t.Fatalf("sync_state after batch: %+v", list)
		}
		if h, _ := s.ListSyncHistory(ctx, "new", 0); len(h) != 1 {
			t.Fatalf("history after batch: %+v", h)
		}
	})
}

func TestApplySyncChangesLargeBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		var c SyncChanges
		for i := range 450 {
			id := fmt.Sprintf("t%03d", i)
			c.Upsert = append(c.Upsert, SyncState{TableID: id, Rows: int64(i), Hash: "h"})
			c.History = append(c.History, SyncHistory{TableID: id, Rows: int64(i)})
		}
		c.Upsert = append(c.Upsert, SyncState{TableID: "t007", Rows: 7000, Hash: "last wins"})
		if err := s.ApplySyncChanges(ctx, c); err != nil {
			t.Fatalf("ApplySyncChanges: %v", err)
		}
		list, _ := s.ListSyncStates(ctx)
		if len(list) != 450 {
			t.Fatalf("%d sync_state rows, want 450", len(list))
		}
		if got, _ := s.GetSyncState(ctx, "t007"); got.Rows != 7000 || got.Hash != "last wins" {
			t.Fatalf("duplicate upsert: %+v, want the last row", got)
		}
		if h, _ := s.ListSyncHistory(ctx, "", 0); len(h) != 450 {
			t.Fatalf("%d history rows, want 450", len(h))
		}
		var del SyncChanges
		for i := range 300 {
			del.Delete = append(del.Delete, fmt.Sprintf("t%03d", i))
		}
		if err := s.ApplySyncChanges(ctx, del); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.ListSyncStates(ctx); len(list) != 150 || list[0].TableID != "t300" {
			t.Fatalf("after deleting 300: %d rows", len(list))
		}
	})
}
