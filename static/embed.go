// Package static holds the built CSS, vendored htmx and images, embedded into the binary.
package static

import "embed"

// FS is the embedded static file tree served under /static.
//
//go:embed app.css htmx.min.js app.js console.js admin.js favicon.svg api-docs.js swagger-ui
var FS embed.FS
