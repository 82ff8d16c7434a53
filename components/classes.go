// Package components holds the reusable templ building blocks of the web UI: buttons, cards,
// badges, form fields, alerts, toasts, empty states and icons. Pages live in package views.
package components

import (
	"strings"

	"github.com/a-h/templ"

	"da/auth"
)

// ButtonClass returns the Tailwind classes of a button or button-like link. variant is one of
// primary, secondary, danger or ghost, optionally followed by " sm" for the compact size
// (e.g. "secondary sm"). Unknown variants fall back to secondary.
func ButtonClass(variant string) string {
	fields := strings.Fields(variant)
	v, small := "secondary", false
	for _, f := range fields {
		switch f {
		case "sm":
			small = true
		case "primary", "secondary", "danger", "ghost":
			v = f
		}
	}
	base := "inline-flex items-center justify-center gap-2 rounded-lg font-medium transition-colors focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:pointer-events-none disabled:opacity-50"
	size := " px-3.5 py-2 text-sm"
	if small {
		size = " px-2.5 py-1.5 text-xs"
	}
	var tone string
	switch v {
	case "primary":
		tone = " bg-indigo-600 text-white shadow-sm hover:bg-indigo-500 active:bg-indigo-700"
	case "danger":
		tone = " bg-red-600 text-white shadow-sm hover:bg-red-500 active:bg-red-700"
	case "ghost":
		tone = " text-slate-600 hover:bg-slate-100 hover:text-slate-900"
	default:
		tone = " bg-white text-slate-700 shadow-sm ring-1 ring-inset ring-slate-300 hover:bg-slate-50 hover:text-slate-900"
	}
	return base + size + tone
}

// BadgeClass returns the classes of a pill badge in one of the tones gray, green, amber, red,
// blue or indigo (unknown tones render gray).
func BadgeClass(tone string) string {
	base := "inline-flex items-center gap-1 whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset"
	switch tone {
	case "green":
		return base + " bg-emerald-50 text-emerald-700 ring-emerald-600/20"
	case "amber":
		return base + " bg-amber-50 text-amber-800 ring-amber-600/25"
	case "red":
		return base + " bg-red-50 text-red-700 ring-red-600/20"
	case "blue":
		return base + " bg-sky-50 text-sky-700 ring-sky-600/20"
	case "indigo":
		return base + " bg-indigo-50 text-indigo-700 ring-indigo-600/20"
	default:
		return base + " bg-slate-100 text-slate-700 ring-slate-500/20"
	}
}

// RoleTone is the badge tone used for a role everywhere in the UI.
func RoleTone(r auth.Role) string {
	switch r {
	case auth.RoleAdmin:
		return "indigo"
	case auth.RoleKMAdmin:
		return "blue"
	case auth.RoleAnalyst:
		return "green"
	default:
		return "gray"
	}
}

// alertTone normalises an alert tone: the badge tones plus the aliases info, success,
// warning, error and danger.
func alertTone(tone string) string {
	switch tone {
	case "success", "green":
		return "green"
	case "warning", "amber":
		return "amber"
	case "error", "danger", "red":
		return "red"
	case "info", "blue":
		return "blue"
	case "indigo":
		return "indigo"
	default:
		return "gray"
	}
}

func alertClass(tone string) string {
	base := "flex items-start gap-3 rounded-lg border px-4 py-3 text-sm"
	switch alertTone(tone) {
	case "green":
		return base + " border-emerald-200 bg-emerald-50 text-emerald-800"
	case "amber":
		return base + " border-amber-200 bg-amber-50 text-amber-900"
	case "red":
		return base + " border-red-200 bg-red-50 text-red-800"
	case "blue":
		return base + " border-sky-200 bg-sky-50 text-sky-800"
	case "indigo":
		return base + " border-indigo-200 bg-indigo-50 text-indigo-800"
	default:
		return base + " border-slate-200 bg-slate-50 text-slate-700"
	}
}

func alertIcon(tone string) string {
	switch alertTone(tone) {
	case "green":
		return "check-circle"
	case "amber", "red":
		return "alert"
	default:
		return "info"
	}
}

func alertIconClass(tone string) string {
	switch alertTone(tone) {
	case "green":
		return "mt-0.5 h-4 w-4 shrink-0 text-emerald-600"
	case "amber":
		return "mt-0.5 h-4 w-4 shrink-0 text-amber-600"
	case "red":
		return "mt-0.5 h-4 w-4 shrink-0 text-red-600"
	case "blue":
		return "mt-0.5 h-4 w-4 shrink-0 text-sky-600"
	case "indigo":
		return "mt-0.5 h-4 w-4 shrink-0 text-indigo-600"
	default:
		return "mt-0.5 h-4 w-4 shrink-0 text-slate-500"
	}
}

// alertRole is "alert" for errors and warnings (announced at once) and "status" otherwise.
func alertRole(tone string) string {
	switch alertTone(tone) {
	case "red", "amber":
		return "alert"
	}
	return "status"
}

// splitAttrs removes the listed keys from attrs and returns their string values (missing
// keys give ""), so a component can merge them with its own defaults instead of rendering an
// attribute twice.
func splitAttrs(attrs templ.Attributes, keys ...string) (map[string]string, templ.Attributes) {
	picked := make(map[string]string, len(keys))
	rest := make(templ.Attributes, len(attrs))
	for k, v := range attrs {
		rest[k] = v
	}
	for _, k := range keys {
		if v, ok := rest[k]; ok {
			if s, ok := v.(string); ok {
				picked[k] = s
			}
			delete(rest, k)
		}
	}
	return picked, rest
}

func joinClass(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}

// fieldInputClass is the class of a text input, red when the field has an error.
func fieldInputClass(invalid bool) string {
	base := "block w-full rounded-lg border-0 bg-white px-3 py-2 text-sm text-slate-900 shadow-sm ring-1 ring-inset placeholder:text-slate-400 focus:outline-none focus:ring-2 focus:ring-inset disabled:cursor-not-allowed disabled:bg-slate-50 disabled:text-slate-500"
	if invalid {
		return base + " ring-red-400 focus:ring-red-500"
	}
	return base + " ring-slate-300 focus:ring-indigo-600"
}

// statValueClass shrinks long stat values (dates, "12 minutes ago") so they fit the card.
func statValueClass(value string) string {
	base := "mt-2 font-semibold tracking-tight text-slate-900 tabular-nums break-words"
	switch n := len([]rune(value)); {
	case n > 18:
		return base + " text-base leading-snug sm:text-lg"
	case n > 11:
		return base + " text-lg leading-snug sm:text-xl"
	default:
		return base + " text-xl sm:text-2xl"
	}
}
