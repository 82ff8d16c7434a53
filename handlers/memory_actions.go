package handlers

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
)

// Limits of a knowledge item's fields (characters).
const (
	memoryTitleMax    = 200
	memoryContentMax  = 20000
	memoryCategoryMax = 60
	memoryTagMax      = 40
	memoryTagsMax     = 20
	memoryReasonMax   = 2000
)

// memoryActions maps a governance action to the status it sets.
var memoryActions = map[string]string{
	"approve": store.KnowledgeApproved,
	"reject":  store.KnowledgeRejected,
	"mandate": store.KnowledgeMandatory,
	"revoke":  store.KnowledgeRevoked,
}

// memoryFields is a knowledge item's editable content as a contributor or editor sends it.
type memoryFields struct {
	Title    *string
	Content  *string
	Category *string
	Tags     *[]string
}

// validateMemory checks the fields that are set and returns a message per bad field (keys
// title, content, category, tags), or nil. With create, a title and content are required. Tags are
// trimmed, de-duplicated and lower-cased in place.
func validateMemory(f *memoryFields, create bool) map[string]string {
	bad := map[string]string{}
	if f.Title != nil {
		t := strings.TrimSpace(*f.Title)
		*f.Title = t
		switch {
		case t == "":
			bad["title"] = "Title is required"
		case utf8.RuneCountInString(t) > memoryTitleMax:
			bad["title"] = "Title is too long (at most 200 characters)"
		}
	} else if create {
		bad["title"] = "Title is required"
	}
	if f.Content != nil {
		c := strings.TrimSpace(*f.Content)
		*f.Content = c
		switch {
		case c == "" && create:
			bad["content"] = "Content is required"
		case utf8.RuneCountInString(c) > memoryContentMax:
			bad["content"] = "Content is too long (at most 20,000 characters)"
		}
	} else if create {
		bad["content"] = "Content is required"
	}
	if f.Category != nil {
		c := strings.TrimSpace(*f.Category)
		*f.Category = c
		if utf8.RuneCountInString(c) > memoryCategoryMax {
			bad["category"] = "Category is too long (at most 60 characters)"
		}
	}
	if f.Tags != nil {
		seen := map[string]bool{}
		clean := []string{}
		for _, t := range *f.Tags {
			t = strings.ToLower(strings.TrimSpace(t))
			if t == "" || seen[t] {
				continue
			}
			if utf8.RuneCountInString(t) > memoryTagMax {
				bad["tags"] = "Each tag must be at most 40 characters"
			}
			seen[t] = true
			clean = append(clean, t)
		}
		if len(clean) > memoryTagsMax {
			bad["tags"] = "At most 20 tags"
		}
		*f.Tags = clean
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// firstProblem is one message of a validateMemory result, in field order.
func firstProblem(bad map[string]string) string {
	for _, k := range []string{"title", "content", "category", "tags"} {
		if m, ok := bad[k]; ok {
			return m
		}
	}
	return ""
}

// applyMemoryAction sets the status a governance action stands for on one item and audits it
// as km_<action> (resource = item id, params = reason, audience, batch). A mandate's
// audience is stored on the item. store.ErrNotFound for an unknown item; errInvalidAction
// for an unknown action.
func (s *Server) applyMemoryAction(c echo.Context, itemID, action, reason, audience string, batch bool) error {
	status, ok := memoryActions[action]
	if !ok {
		return errInvalidAction
	}
	if msg := governanceReasonProblem(action, reason); msg != "" {
		return apiError(http.StatusUnprocessableEntity, msg)
	}
	var aud *string
	if action == "mandate" {
		a := strings.TrimSpace(audience)
		aud = &a
	}
	params := map[string]any{}
	if reason = strings.TrimSpace(reason); reason != "" {
		params["reason"] = reason
	}
	if aud != nil && *aud != "" {
		params["audience"] = *aud
	}
	if batch {
		params["batch"] = true
	}
	if len(params) == 0 {
		params = nil
	}
	// A *store.TransitionError when the item's status does not allow the action.
	return s.store.GovernKnowledge(s.auditing(c, "km_"+action, itemID, params), itemID, status, aud)
}

// governanceReasonProblem is the one reason rule of governance, for the page, the API, the
// batch and so the CLI: making an item mandatory needs a reason; no reason is too long.
func governanceReasonProblem(action, reason string) string {
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > memoryReasonMax {
		return "The reason may have at most 2,000 characters"
	}
	if action == "mandate" && reason == "" {
		return "Say why the item is mandatory: the reason is required"
	}
	return ""
}

// capitalize upper-cases the first letter of a message.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// errInvalidAction is an unknown governance action.
var errInvalidAction = errors.New("invalid action")

// editMemoryItem applies validated fields to an item and audits km_edit with the names of
// the changed fields. store.ErrNotFound for an unknown item.
func (s *Server) editMemoryItem(c echo.Context, itemID string, f memoryFields) ([]string, error) {
	// The store adds the changed fields to the entry.
	changed, err := s.store.EditKnowledge(s.auditing(c, "km_edit", itemID, nil), itemID, store.KnowledgeEdit{
		Title: f.Title, Content: f.Content, Category: f.Category, Tags: f.Tags})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// memoryFilterFor is the visibility part of a knowledge filter for the current user:
// km_admins and admins see every item, others the published ones and their own.
func memoryFilterFor(c echo.Context) store.KnowledgeFilter {
	u := currentUser(c)
	if u == nil {
		return store.KnowledgeFilter{}
	}
	return store.KnowledgeFilter{Viewer: u.Email, SeeAll: userRole(c).AtLeast(auth.RoleKMAdmin)}
}
