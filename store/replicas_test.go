package store

import (
	"context"
	"testing"
	"time"
)

func TestReplicaHeartbeats(t *testing.T) { forEachBackend(t, testReplicaHeartbeats) }

func testReplicaHeartbeats(t *testing.T, open func(testing.TB) *Store) {
	s := open(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.HeartbeatReplica(ctx, Replica{ID: "a", Version: "1.0", StartedAt: t0, HeartbeatAt: t0, Generation: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.HeartbeatReplica(ctx, Replica{ID: "b", Version: "1.1", StartedAt: t0, HeartbeatAt: t0.Add(time.Second), IsLeader: true, Addr: "10.0.0.2:8000"}); err != nil {
		t.Fatal(err)
	}
	// A later heartbeat of a updates it in place.
	if err := s.HeartbeatReplica(ctx, Replica{ID: "a", Version: "1.0", StartedAt: t0, HeartbeatAt: t0.Add(2 * time.Second), Generation: 4}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.ListReplicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != "a" || rs[0].Generation != 4 || !rs[0].HeartbeatAt.Equal(t0.Add(2*time.Second)) ||
		rs[1].ID != "b" || !rs[1].IsLeader || rs[1].Addr != "10.0.0.2:8000" || rs[1].Version != "1.1" {
		t.Fatalf("replicas = %+v", rs)
	}
	if !rs[0].Live(t0.Add(5*time.Second), 10*time.Second) || rs[0].Live(t0.Add(time.Minute), 10*time.Second) {
		t.Fatal("Live is wrong")
	}
	if n, err := s.PruneReplicas(ctx, t0.Add(1500*time.Millisecond)); err != nil || n != 1 {
		t.Fatalf("PruneReplicas = %d, %v; want 1 (b)", n, err)
	}
	if err := s.DeleteReplica(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.ListReplicas(ctx); len(rs) != 0 {
		t.Fatalf("left %+v", rs)
	}
}

func TestSyncJobOwners(t *testing.T) { forEachBackend(t, testSyncJobOwners) }

func testSyncJobOwners(t *testing.T, open func(testing.TB) *Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.SaveSyncJob(ctx, SyncJob{ID: "j1", Trigger: "manual", Status: "running", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, o := range [][2]string{{"j1", "a"}, {"gone", "a"}, {"j1", "b"}} {
		if err := s.SetSyncJobOwner(ctx, o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PruneReplicas(ctx, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	owners, err := s.SyncJobOwners(ctx)
	if err != nil || len(owners) != 1 || owners["j1"] != "b" {
		t.Fatalf("owners = %v, %v; want j1 -> b only", owners, err)
	}
}
