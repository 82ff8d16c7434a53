package openmetadata

import (
	"html"
	"regexp"
	"strings"
)

var (
	reLi       = regexp.MustCompile(`(?i)<li[^>]*>`)
	reBr       = regexp.MustCompile(`(?i)<br\s*/?>`)
	reBlockEnd = regexp.MustCompile(`(?i)</(p|div|h[1-6]|tr|ul|ol)\s*>`)
	reTag      = regexp.MustCompile(`<[^>]*>`)
	reSpaces   = regexp.MustCompile(`[ \t\f\v]+`)
	reNonAlnum = regexp.MustCompile(`[^a-zA-Z0-9]+`)
)

// StripHTML turns OpenMetadata's rich-text descriptions into plain text: list items become
// "- " lines, line breaks and closing blocks become new lines, other tags are dropped,
// entities are decoded, and blank lines are removed.
func StripHTML(s string) string {
	if s == "" {
		return ""
	}
	s = reLi.ReplaceAllString(s, "\n- ")
	s = reBr.ReplaceAllString(s, "\n")
	s = reBlockEnd.ReplaceAllString(s, "\n")
	s = reTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, "\u00a0", " ")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(reSpaces.ReplaceAllString(l, " "))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// SanitizeFilename makes a file name from a display name: runs of other characters become
// one underscore, trimmed, lower case ("Revenue (USD) - Net" → "revenue_usd_net").
func SanitizeFilename(s string) string {
	return strings.ToLower(strings.Trim(reNonAlnum.ReplaceAllString(s, "_"), "_"))
}

// tagValue is X of the first tag PREFIX.X among tags (split at the first dot only).
func tagValue(tags []TagLabel, prefixes ...string) string {
	for _, t := range tags {
		for _, p := range prefixes {
			if rest, ok := strings.CutPrefix(t.TagFQN, p+"."); ok && rest != "" {
				return rest
			}
		}
	}
	return ""
}

// MetricCategory is the metric's MetricCategory.X or Category.X tag, else "general".
func MetricCategory(m *Metric) string {
	if c := tagValue(m.Tags, "MetricCategory", "Category"); c != "" {
		return c
	}
	return "general"
}

// metricExpression is the metric's expression: metricExpression.code or .expression, or
// metricExpression as a string, else the top-level expression.
func metricExpression(m *Metric) string {
	switch v := m.MetricExpression.(type) {
	case map[string]any:
		for _, k := range []string{"code", "expression"} {
			if s, ok := v[k].(string); ok && s != "" {
				return s
			}
		}
	case string:
		if v != "" {
			return v
		}
	}
	return m.Expression
}

// MetricDoc is a metric as written to docs/metrics/<category>/<name>.yml.
type MetricDoc struct {
	Name        string   `yaml:"name"`
	DisplayName string   `yaml:"display_name"`
	Category    string   `yaml:"category"`
	Type        string   `yaml:"type"`
	Unit        string   `yaml:"unit"`
	Grain       string   `yaml:"grain"`
	TimeColumn  string   `yaml:"time_column"`
	Table       string   `yaml:"table"`
	Expression  string   `yaml:"expression"`
	Description string   `yaml:"description"`
	Dimensions  []string `yaml:"dimensions"`
	Notes       []string `yaml:"notes"`
	Synonyms    []string `yaml:"synonyms"`
}

// MetricToDoc converts a metric entity.
func MetricToDoc(m *Metric) MetricDoc {
	display := m.DisplayName
	if display == "" {
		display = m.Name
	}
	grain := strings.ToLower(m.Granularity)
	if grain == "" {
		grain = strings.ToLower(tagValue(m.Tags, "Grain"))
	}
	typ := strings.ToLower(m.MetricType)
	if typ == "" {
		typ = strings.ToLower(tagValue(m.Tags, "MetricType"))
	}
	unit := m.UnitOfMeasurement
	if unit == "" {
		unit = tagValue(m.Tags, "Unit")
	}
	dims := []string{}
	for _, t := range m.Tags {
		if rest, ok := strings.CutPrefix(t.TagFQN, "Dimension."); ok && rest != "" {
			dims = append(dims, rest)
		}
	}
	notes := []string{"Source: OpenMetadata catalog (FQN: " + m.FullyQualifiedName + ")"}
	if owners := ownerNames(m.Owners, nil); len(owners) > 0 {
		notes = append(notes, "Owners: "+strings.Join(owners, ", "))
	}
	return MetricDoc{Name: SanitizeFilename(m.Name), DisplayName: display, Category: MetricCategory(m), Type: typ, Unit: unit,
		Grain: grain, Expression: metricExpression(m), Description: StripHTML(m.Description), Dimensions: dims, Notes: notes,
		Synonyms: []string{}}
}

// TableColumnDoc is a column in a table document.
type TableColumnDoc struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
}

// TableDoc is a table as written to docs/tables/<name>.yml.
type TableDoc struct {
	Name        string           `yaml:"name"`
	FQN         string           `yaml:"fqn"`
	Description string           `yaml:"description"`
	Owners      []string         `yaml:"owners"`
	Tags        []string         `yaml:"tags"`
	Tier        string           `yaml:"tier"`
	Columns     []TableColumnDoc `yaml:"columns"`
}

// TableToDoc converts a table entity.
func TableToDoc(t *Table) TableDoc {
	d := TableDoc{Name: t.Name, FQN: t.FullyQualifiedName, Description: StripHTML(t.Description), Owners: ownerNames(t.Owners, t.Owner),
		Tags: tagNames(t.Tags), Tier: tier(t.Extension, t.Tags), Columns: []TableColumnDoc{}}
	for _, c := range t.Columns {
		d.Columns = append(d.Columns, TableColumnDoc{Name: c.Name, Type: c.DataType, Description: StripHTML(c.Description)})
	}
	return d
}
