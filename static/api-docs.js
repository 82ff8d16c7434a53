// The API reference page (/docs): Swagger UI over this server's /openapi.json. Nothing is
// loaded from elsewhere (no validator badge, no remote configuration).
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    configUrl: null,
    queryConfigEnabled: false,
    withCredentials: true,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
  });
});
