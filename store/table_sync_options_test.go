package store

import (
	"context"
	"fmt"
	"testing"
)

func TestTableSyncOptionsRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		if o, err := s.TableSyncOptions(ctx, "orders"); err != nil || !o.IsZero() {
			t.Fatalf("none yet: %+v %v", o, err)
		}
		want := SyncOptions{Columns: []string{"id", "amount"}, PartitionBy: "day", PartitionGrain: "month",
			WhereFilters: []WhereFilter{{Column: "status", Operator: "eq", Values: []string{"paid", "it's"}}}}
		if err := s.SetTableSyncOptions(ctx, "Orders", want); err != nil {
			t.Fatal(err)
		}
		got, err := s.TableSyncOptions(ctx, "orders")
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %+v %v, want %+v", got, err, want)
		}
		if err := s.SetTableSyncOptions(ctx, "orders", SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		if o, _ := s.TableSyncOptions(ctx, "orders"); !o.IsZero() {
			t.Fatalf("not cleared: %+v", o)
		}
	})
}
