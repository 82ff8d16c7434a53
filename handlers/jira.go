package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"da/engine/connectors/jira"
	"da/store"
)

// jiraWebhookMaxBytes caps a webhook body; Jira's largest issue payloads stay far below it.
const jiraWebhookMaxBytes = 10 << 20

// receiveJiraWebhook answers POST /webhooks/jira and POST /api/jira/webhook (public; the
// signature is the authentication). The order is the original's: signature over the raw
// body first, then the body checks; an accepted event is persisted in the durable queue
// before the answer, and applied after it.
func (s *Server) receiveJiraWebhook(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, jiraWebhookMaxBytes+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "Could not read the request body")
	}
	if len(body) > jiraWebhookMaxBytes {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Payload larger than %d bytes", jiraWebhookMaxBytes))
	}
	jc := s.cfg.Jira
	switch {
	case jc.WebhookSecret != "":
		if !validJiraSignature(jc.WebhookSecret, body, c.Request().Header) {
			return c.JSON(http.StatusUnauthorized, map[string]string{"detail": "Invalid signature"})
		}
	case !jc.Insecure:
		return c.JSON(http.StatusUnauthorized, map[string]string{
			"detail": "Invalid signature: no JIRA_WEBHOOK_SECRET is configured (set JIRA_WEBHOOK_INSECURE=true to accept unsigned events)"})
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return c.JSON(http.StatusBadRequest, map[string]string{"detail": "Empty payload"})
	}
	var payload map[string]any
	if err := json.Unmarshal(body, &payload); err != nil {
		if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			return c.JSON(http.StatusBadRequest, map[string]string{"detail": "Empty payload"})
		}
		return c.JSON(http.StatusBadRequest, map[string]string{"detail": "Invalid JSON payload"})
	}
	if len(payload) == 0 {
		return c.JSON(http.StatusBadRequest, map[string]string{"detail": "Empty payload"})
	}
	event, _ := payload["webhookEvent"].(string)
	if event == "" {
		return c.JSON(http.StatusBadRequest, map[string]string{"detail": "Invalid JSON payload: webhookEvent is missing"})
	}
	if s.jira == nil || !s.jira.Configured() {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "error",
			"message": "Jira service not configured", "detail": "Jira service not configured"})
	}
	key := jira.EventKey(payload)
	if key == "" {
		key = "unknown"
	}
	id := c.Request().Header.Get("X-Atlassian-Webhook-Identifier")
	if len(id) > 200 {
		return c.JSON(http.StatusBadRequest, map[string]string{"detail": "X-Atlassian-Webhook-Identifier is too long"})
	}
	switch err := s.jira.Queue.Enqueue(id, event, body); {
	case errors.Is(err, jira.ErrDuplicate):
		return c.JSON(http.StatusOK, jiraWebhookAccepted{Status: "ok", Event: event, Issue: key, Duplicate: true})
	case err != nil:
		s.log.Error("jira webhook: persist event", "error", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "error",
			"message": "Event could not be stored, retry later", "detail": "Event could not be stored, retry later"})
	}
	return c.JSON(http.StatusOK, jiraWebhookAccepted{Status: "ok", Event: event, Issue: key})
}

// jiraWebhookEvent is the part of a Jira webhook payload the server reads first; the whole
// event is kept as sent.
type jiraWebhookEvent struct {
	WebhookEvent string         `json:"webhookEvent" required:"true" example:"jira:issue_updated"`
	Timestamp    int64          `json:"timestamp,omitempty"`
	Issue        map[string]any `json:"issue,omitempty"`
}

// jiraWebhookAccepted is the answer to an accepted (or already seen) Jira event.
type jiraWebhookAccepted struct {
	Status    string `json:"status" example:"ok"`
	Event     string `json:"event"`
	Issue     string `json:"issue" description:"the issue key, or unknown"`
	Duplicate bool   `json:"duplicate,omitempty" description:"the event was received before; nothing changed"`
}

// jiraWebhookHealth is the answer of GET /webhooks/jira/health.
type jiraWebhookHealth struct {
	Status           string `json:"status"`
	Configured       bool   `json:"configured"`
	WebhookSecretSet bool   `json:"webhook_secret_set"`
	JiraDomain       string `json:"jira_domain"`
}

// validJiraSignature checks X-Hub-Signature-256 (or else X-Hub-Signature), "sha256=<hex>",
// against HMAC-SHA256 of the raw body, in constant time.
func validJiraSignature(secret string, body []byte, h http.Header) bool {
	sig := h.Get("X-Hub-Signature-256")
	if sig == "" {
		sig = h.Get("X-Hub-Signature")
	}
	if sig == "" {
		return false
	}
	if algo, hexSig, ok := strings.Cut(sig, "="); ok {
		if !strings.EqualFold(algo, "sha256") {
			return false
		}
		sig = hexSig
	}
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// showJiraWebhookHealth answers GET /webhooks/jira/health (public, as in the original).
func (s *Server) showJiraWebhookHealth(c echo.Context) error {
	domain := s.cfg.Jira.Domain
	if domain == "" {
		domain = "(not set)"
	}
	return c.JSON(http.StatusOK, jiraWebhookHealth{Status: "ok", Configured: s.jira != nil && s.jira.Configured(),
		WebhookSecretSet: s.cfg.Jira.WebhookSecret != "", JiraDomain: domain})
}

// publishJira makes the Jira store's changes queryable: the catalog is rebuilt and the six
// tables are registered on first sight (private, folder jira), so that an admin can query
// them at once and grant them as usual.
func (s *Server) publishJira(ctx context.Context) error {
	if s.engine == nil {
		return nil
	}
	if _, err := s.engine.RebuildSource(ctx, jira.Source); err != nil {
		return err
	}
	for _, t := range jira.Tables {
		if _, err := s.store.GetTable(ctx, t.Name); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		row := &store.Table{ID: t.Name, Name: t.Name, SourceType: jira.Source, SourceTable: t.Name, Folder: "jira",
			Description: "Jira " + t.Name, RegisteredBy: "jira-webhook", IsPublic: false}
		if err := s.store.RegisterTable(ctx, row); err != nil {
			return err
		}
	}
	return nil
}

// jiraStatus is the connector's state for health and the admin page.
func (s *Server) jiraStatus() map[string]any {
	out := map[string]any{"configured": s.jira != nil && s.jira.Configured(), "webhook_secret_set": s.cfg.Jira.WebhookSecret != "",
		"domain": s.cfg.Jira.Domain}
	if s.jira == nil {
		out["status"] = "not_configured"
		return out
	}
	st := s.jira.Queue.Stats()
	out["sla_configured"] = s.jira.SLAConfigured()
	out["queue"] = st
	out["status"] = "ok"
	if !s.jira.Configured() {
		out["status"] = "not_configured"
	} else if st.Failed > 0 {
		out["status"] = "warning"
	}
	if r := s.jira.Report("consistency"); r != nil {
		out["consistency"] = r
	}
	return out
}
