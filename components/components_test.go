package components

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func parse(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func TestButtonMergesTypeAndClass(t *testing.T) {
	t.Parallel()
	b := parse(t, Button("primary", templ.Attributes{"class": "w-full", "data-testid": "b"})).Find("button")
	if b.Length() != 1 || b.AttrOr("type", "") != "button" {
		t.Fatalf("default type should be button")
	}
	if cls := b.AttrOr("class", ""); !strings.Contains(cls, "bg-indigo-600") || !strings.Contains(cls, "w-full") {
		t.Errorf("class = %q", cls)
	}
	b = parse(t, Button("danger sm", templ.Attributes{"type": "submit"})).Find("button")
	if b.AttrOr("type", "") != "submit" || !strings.Contains(b.AttrOr("class", ""), "text-xs") {
		t.Errorf("submit/sm not applied: %q %q", b.AttrOr("type", ""), b.AttrOr("class", ""))
	}
}

func TestFormFieldError(t *testing.T) {
	t.Parallel()
	doc := parse(t, FormField("Name", "name", "", `<x>`, "Required", templ.Attributes{"data-testid": "f"}))
	in := doc.Find(`input[data-testid="f"]`)
	if in.AttrOr("type", "") != "text" || in.AttrOr("value", "") != "<x>" || in.AttrOr("id", "") != "field-name" {
		t.Errorf("input attrs wrong")
	}
	if in.AttrOr("aria-invalid", "") != "true" || in.AttrOr("aria-describedby", "") != "field-name-error" {
		t.Errorf("error not tied to input")
	}
	if strings.TrimSpace(doc.Find(`#field-name-error[data-testid="field-error-name"]`).Text()) != "Required" {
		t.Errorf("error text missing")
	}
	if doc.Find(`label[for="field-name"]`).Length() != 1 {
		t.Errorf("label not tied to input")
	}
	doc = parse(t, FormField("Name", "name", "text", "", "", nil))
	if _, ok := doc.Find("input").Attr("aria-invalid"); ok {
		t.Errorf("valid field must not be aria-invalid")
	}
}

func TestAlertRoleAndBadgeTone(t *testing.T) {
	t.Parallel()
	if r := parse(t, Alert("error", "x")).Find("div").First().AttrOr("role", ""); r != "alert" {
		t.Errorf("error alert role = %q", r)
	}
	if r := parse(t, Alert("success", "x")).Find("div").First().AttrOr("role", ""); r != "status" {
		t.Errorf("success alert role = %q", r)
	}
	if !strings.Contains(BadgeClass("nope"), "bg-slate-100") || !strings.Contains(BadgeClass("red"), "bg-red-50") {
		t.Errorf("badge tones wrong")
	}
}
