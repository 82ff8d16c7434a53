package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestProfilesRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)

		if _, _, err := s.GetProfile(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetProfile on empty store: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteProfile(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("DeleteProfile on empty store: err = %v, want ErrNotFound", err)
		}

		before := time.Now().UTC().Truncate(time.Microsecond)
		first := []byte(`{"table_id":"orders","row_count":3,"columns":[{"name":"id","mean":1.5}]}`)
		if err := s.SaveProfile(ctx, "orders", first); err != nil {
			t.Fatalf("SaveProfile: %v", err)
		}
		doc, at1, err := s.GetProfile(ctx, "orders")
		if err != nil {
			t.Fatalf("GetProfile: %v", err)
		}
		var got struct {
			TableID  string `json:"table_id"`
			RowCount int    `json:"row_count"`
			Columns  []struct {
				Name string  `json:"name"`
				Mean float64 `json:"mean"`
			} `json:"columns"`
		}
		if err := json.Unmarshal(doc, &got); err != nil {
			t.Fatalf("stored document is not JSON: %v (%s)", err, doc)
		}
		if got.TableID != "orders" || got.RowCount != 3 || len(got.Columns) != 1 || got.Columns[0].Mean != 1.5 {
			t.Errorf("stored document = %s", doc)
		}
		if at1.Location() != time.UTC || at1.Before(before) || at1.After(time.Now().UTC().Add(time.Second)) {
			t.Errorf("profiled_at = %v, want about now in UTC", at1)
		}

		// Upsert replaces the document and moves profiled_at forward.
		time.Sleep(2 * time.Millisecond)
		if err := s.SaveProfile(ctx, "orders", []byte(` {"table_id":"orders","row_count":7} `)); err != nil {
			t.Fatalf("SaveProfile again: %v", err)
		}
		if err := s.SaveProfile(ctx, "customers", []byte(`{"table_id":"customers"}`)); err != nil {
			t.Fatalf("SaveProfile customers: %v", err)
		}
		doc, at2, err := s.GetProfile(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(doc, &got); err != nil || got.RowCount != 7 {
			t.Errorf("after upsert document = %s (%v)", doc, err)
		}
		if !at2.After(at1) {
			t.Errorf("profiled_at did not move: %v then %v", at1, at2)
		}

		all, err := s.ListProfiles(ctx)
		if err != nil {
			t.Fatalf("ListProfiles: %v", err)
		}
		if len(all) != 2 || !all["orders"].ProfiledAt.Equal(at2) || !json.Valid(all["customers"].Profile) {
			t.Errorf("ListProfiles = %v", all)
		}

		if err := s.DeleteProfile(ctx, "orders"); err != nil {
			t.Fatalf("DeleteProfile: %v", err)
		}
		if _, _, err := s.GetProfile(ctx, "orders"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetProfile after delete: err = %v, want ErrNotFound", err)
		}
		all, err = s.ListProfiles(ctx)
		if err != nil || len(all) != 1 {
			t.Errorf("ListProfiles after delete = %v, %v", all, err)
		}
	})
}

func TestSaveProfileRejectsBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		tests := []struct {
			name, id, doc string
		}{
			{"empty id", "", `{}`},
			{"not json", "t", `{"a":`},
			{"empty document", "t", ``},
			{"array", "t", `[1,2]`},
			{"string", "t", `"x"`},
		}
		for _, tc := range tests {
			if err := s.SaveProfile(ctx, tc.id, []byte(tc.doc)); err == nil {
				t.Errorf("%s: SaveProfile(%q, %q) succeeded", tc.name, tc.id, tc.doc)
			}
		}
		all, err := s.ListProfiles(ctx)
		if err != nil || len(all) != 0 {
			t.Errorf("bad input stored something: %v, %v", all, err)
		}
	})
}
