package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"da/views"
)

// replicaLive is how recent a replica's heartbeat must be for it to count as running (the
// replicas write theirs every few seconds).
const replicaLive = 15 * time.Second

// replicaView is one replica as the API and the admin page show it.
type replicaView struct {
	ID          string    `json:"id"`
	Version     string    `json:"version"`
	Addr        string    `json:"addr,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Generation  uint64    `json:"generation"`
	IsLeader    bool      `json:"is_leader"`
	Live        bool      `json:"live"`
	Self        bool      `json:"self"`
}

// replicaViews lists the replicas on record, live ones first.
func (s *Server) replicaViews(ctx context.Context) ([]replicaView, error) {
	rows, err := s.store.ListReplicas(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	out := make([]replicaView, 0, len(rows))
	var gone []replicaView
	for _, r := range rows {
		v := replicaView{ID: r.ID, Version: r.Version, Addr: r.Addr, StartedAt: r.StartedAt, HeartbeatAt: r.HeartbeatAt,
			Generation: r.Generation, Live: r.Live(now, replicaLive), Self: r.ID == s.coord.ReplicaID()}
		v.IsLeader = r.IsLeader && v.Live
		if v.Live {
			out = append(out, v)
		} else {
			gone = append(gone, v)
		}
	}
	return append(out, gone...), nil
}

// replicaHealth is the health report's part on this replica: where the state lives, which
// replica answered, which one leads, and the generation of the catalog it serves.
func (s *Server) replicaHealth(ctx context.Context) map[string]any {
	out := map[string]any{
		"id":         s.coord.ReplicaID(),
		"backend":    s.coord.Backend(),
		"is_leader":  s.coord.IsLeader(),
		"generation": s.engineGeneration(),
	}
	leader := ""
	if s.coord.IsLeader() {
		leader = s.coord.ReplicaID()
	} else if views, err := s.replicaViews(ctx); err == nil {
		for _, v := range views {
			if v.IsLeader {
				leader = v.ID
				break
			}
		}
	}
	out["leader"] = leader
	return out
}

func (s *Server) engineGeneration() uint64 {
	if s.engine == nil {
		return 0
	}
	return s.engine.Catalog().Generation
}

// listReplicas answers GET /api/admin/replicas.
func (s *Server) listReplicas(c echo.Context) error {
	views, err := s.replicaViews(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, replicaList{Replicas: views, Self: s.coord.ReplicaID(), Backend: s.coord.Backend()})
}

// replicaList is the answer of GET /api/admin/replicas.
type replicaList struct {
	Replicas []replicaView `json:"replicas"`
	Self     string        `json:"self" description:"the id of the replica that answered"`
	Backend  string        `json:"backend" description:"duckdb or postgres"`
}

// showAdminReplicas renders GET /admin/replicas (admin): the replicas and their heartbeats.
func (s *Server) showAdminReplicas(c echo.Context) error {
	list, err := s.replicaViews(c.Request().Context())
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	d := views.AdminReplicasData{Backend: s.coord.Backend(), Self: s.coord.ReplicaID()}
	for _, r := range list {
		d.Replicas = append(d.Replicas, views.ReplicaRow{ID: r.ID, Version: r.Version, Addr: r.Addr,
			StartedAt: shortTime(r.StartedAt), HeartbeatAt: r.HeartbeatAt.Format("2006-01-02 15:04:05 UTC"),
			HeartbeatAgo: agoLabel(now.Sub(r.HeartbeatAt)), Generation: r.Generation, Leader: r.IsLeader, Live: r.Live, Self: r.Self})
	}
	return render(c, http.StatusOK, views.AdminReplicas(s.pageShell(c, "admin-replicas", "Replicas"), d))
}

// agoLabel is a short "how long ago" for a heartbeat.
func agoLabel(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	default:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
}
