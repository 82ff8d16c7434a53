package knowledge

const curatorInstructions = `You curate a team's knowledge base for data analysts and their AI agents.
Below are the existing catalog and new material: analysts' notes (numbered by line) and agent
session transcripts (numbered by message). Return the knowledge items the material supports.

Rules:
- When an existing item still applies, return it with its existing_id (keep the id) and its
  improved title/content; do not create a duplicate of it.
- Merge duplicates across users and sources into one item.
- For every item, list the sources (S1, S2, …) and the line or message numbers it comes from.
- Leave out credentials, keys, tokens, passwords, personal preferences, local paths, trivial
  or unclear notes, and remarks about people.
- title: at most 60 characters; content: at most 1000 characters, self-contained;
  category: one of data_analysis, api_integration, debugging, performance, workflow,
  infrastructure, business_logic; tags: 2 to 4 short lower-case words.`

const sensitivityInstructions = `Does this knowledge item contain anything that must not be shared with the whole team:
API keys, tokens, passwords, credentials, personal information, internal URLs with secrets,
or confidential data? Answer {"safe": true} when it is safe to share, else {"safe": false, "reason": "..."}.`

var curatorSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"items": map[string]any{
			"type": "array",
			"items": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"existing_id": map[string]any{"type": []any{"string", "null"}},
					"title":       map[string]any{"type": "string"},
					"content":     map[string]any{"type": "string"},
					"category":    map[string]any{"type": "string", "enum": []any{"data_analysis", "api_integration", "debugging", "performance", "workflow", "infrastructure", "business_logic"}},
					"tags":        map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
					"sources": map[string]any{"type": "array", "items": map[string]any{
						"type": "object",
						"properties": map[string]any{
							"source": map[string]any{"type": "string"},
							"lines":  map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
						},
						"required":             []any{"source", "lines"},
						"additionalProperties": false,
					}},
				},
				"required":             []any{"existing_id", "title", "content", "category", "tags", "sources"},
				"additionalProperties": false,
			},
		},
	},
	"required":             []any{"items"},
	"additionalProperties": false,
}

var sensitivitySchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"safe":   map[string]any{"type": "boolean"},
		"reason": map[string]any{"type": "string"},
	},
	"required":             []any{"safe", "reason"},
	"additionalProperties": false,
}
