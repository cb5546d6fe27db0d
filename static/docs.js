// Starts Swagger UI on /docs (templates/api_docs.html): a file rather than an
// inline script, so the page runs under `script-src 'self'`.
"use strict";

window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    deepLinking: true,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    showExtensions: true,
    showCommonExtensions: true,
    url: root.getAttribute("data-openapi-url"),
  });
});
